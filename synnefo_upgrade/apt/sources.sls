{#- Upgrade guide, both phases: "Change all APT repos to jessie, including apt.dev.grnet.gr
    and also ceph's if they exist." #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.version.check

synnefo-upgrade-apt-sources-switched-to-jessie:
  apt_jessie.sources_switched:
    - fire_event: synnefo_upgrade/apt.sources
    - name: {{ synnefo_upgrade.apt.config_dir }}
    - from_codename: {{ synnefo_upgrade.from_codename }}
    - to_codename: {{ synnefo_upgrade.to_codename }}
    - require:
      - sls: {{ tplroot }}.version.check
