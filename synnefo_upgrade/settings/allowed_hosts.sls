{#- Upgrade guide, "Adjust configuration files": "Since Django 1.5, the ALLOWED_HOSTS setting is
    required in production. Synnefo v0.19 adds a default value for this setting to ['*'] ...
    You can change this setting on each node". The node's list from pillar; without one the
    state warns. After the dist-upgrade (Django 1.7 comes with it). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.apt.dist_upgrade

synnefo-upgrade-settings-allowed-hosts-set:
  synnefo_settings.allowed_hosts:
    - fire_event: synnefo_upgrade/settings.allowed_hosts
    - name: {{ synnefo_upgrade.settings.allowed_hosts_file }}
    - hosts: {{ synnefo_upgrade.settings.allowed_hosts | json }}
    - config_dir: {{ synnefo_upgrade.settings.config_dir }}
    - require:
      - sls: {{ tplroot }}.apt.dist_upgrade
