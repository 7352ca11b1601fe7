{#- Before a Ganeti node is drained: its APT on jessie and the packages of the dist-upgrade
    downloaded while its VMs still run, so that it is drained only for the upgrade and the
    reboot, not for the download. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.apt.sources
  - {{ tplroot }}.apt.backports

synnefo-upgrade-apt-packages-downloaded:
  apt_jessie.dist_upgraded:
    - fire_event: synnefo_upgrade/apt.download
    - name: download for the dist-upgrade to {{ synnefo_upgrade.to_codename }}
    - download_only: True
    - from_codename: {{ synnefo_upgrade.from_codename }}
    - to_codename: {{ synnefo_upgrade.to_codename }}
    - hold: {{ synnefo_upgrade.apt.minion_packages | json }}
    - backports:
        suite: {{ synnefo_upgrade.apt.backports_suite }}
        packages: {{ synnefo_upgrade.apt.backports_pins | json }}
    - require:
      - sls: {{ tplroot }}.apt.sources
      - sls: {{ tplroot }}.apt.backports
