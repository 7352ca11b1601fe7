{#- Upgrade guide: "use the gevent 1.1.1-2 and greenlet 0.4.10-1 from jessie-backports"
    (jessie's gevent 1.0.1 has two SSL bugs). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.apt.sources

synnefo-upgrade-apt-backports-gevent-greenlet-pinned:
  apt_jessie.backports_pinned:
    - fire_event: synnefo_upgrade/apt.backports
    - name: {{ synnefo_upgrade.apt.config_dir }}
    - suite: {{ synnefo_upgrade.apt.backports_suite }}
    - packages: {{ synnefo_upgrade.apt.backports_pins | json }}
    - require:
      - sls: {{ tplroot }}.apt.sources
