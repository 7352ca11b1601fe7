{#- Upgrade guide: "apt-get update; apt-get dist-upgrade" (non-interactive, local conffiles
    kept, the salt-minion held). While the upgrade is still to do, the services are brought
    down first and the policy-rc.d guard keeps them down; the guard goes afterwards, also when
    the upgrade failed. A dry run simulates against the sources and pin the earlier steps
    would leave. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- set pending = synnefo_upgrade.upgrade_pending %}

include:
  - {{ tplroot }}.apt.sources
  - {{ tplroot }}.apt.backports
{%- if pending %}
  - {{ tplroot }}.services.stopped
  - {{ tplroot }}.apt.policy_rc_d
{%- endif %}

synnefo-upgrade-apt-dist-upgraded-to-jessie:
  apt_jessie.dist_upgraded:
    - fire_event: synnefo_upgrade/apt.dist_upgrade
    - name: dist-upgrade to {{ synnefo_upgrade.to_codename }}
    - from_codename: {{ synnefo_upgrade.from_codename }}
    - to_codename: {{ synnefo_upgrade.to_codename }}
    - hold: {{ synnefo_upgrade.apt.minion_packages | json }}
    - backports:
        suite: {{ synnefo_upgrade.apt.backports_suite }}
        packages: {{ synnefo_upgrade.apt.backports_pins | json }}
    - require:
      - sls: {{ tplroot }}.apt.sources
      - sls: {{ tplroot }}.apt.backports
{%- if pending %}
      - sls: {{ tplroot }}.services.stopped
      - sls: {{ tplroot }}.apt.policy_rc_d

synnefo-upgrade-apt-policy-rc-d-removed-after-upgrade:
  apt_jessie.policy_rc_d_removed:
    - fire_event: synnefo_upgrade/apt.dist_upgrade
    - name: {{ synnefo_upgrade.apt.policy_rc_d }}
    - require:
      - apt_jessie: synnefo-upgrade-apt-dist-upgraded-to-jessie

synnefo-upgrade-apt-policy-rc-d-removed-after-failed-upgrade:
  apt_jessie.policy_rc_d_removed:
    - fire_event: synnefo_upgrade/apt.dist_upgrade
    - name: {{ synnefo_upgrade.apt.policy_rc_d }}
    - onfail:
      - apt_jessie: synnefo-upgrade-apt-dist-upgraded-to-jessie
{%- endif %}
