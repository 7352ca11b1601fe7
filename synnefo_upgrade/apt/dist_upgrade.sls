{#- Upgrade guide: "apt-get update; apt-get dist-upgrade" (non-interactive, local
    conffiles kept, the salt-minion held). A dry run simulates against the sources and pin
    the earlier steps would leave. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

synnefo-upgrade-apt-dist-upgraded-to-jessie:
  apt_jessie.dist_upgraded:
    - fire_event: synnefo_upgrade/apt.dist_upgrade
    - name: dist-upgrade to {{ synnefo_upgrade.to_codename }}
    - from_codename: {{ synnefo_upgrade.from_codename }}
    - to_codename: {{ synnefo_upgrade.to_codename }}
    - backports:
        suite: {{ synnefo_upgrade.apt.backports_suite }}
        packages: {{ synnefo_upgrade.apt.backports_pins | json }}
