{#- Upgrade guide: "Fix IP history inconsistencies" with fix_ip_history, once per cloud, on
    the cyclades host that migrates the cyclades database (pillar
    synnefo_upgrade:databases:cyclades:minion), after that migration (0.19's migration builds
    the table it repairs). Skipped when pillar names no changelog, and on every other host. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- if synnefo_upgrade.ip_history.changelog and synnefo_upgrade.databases.cyclades.minion == grains["id"] %}

include:
  - {{ tplroot }}.version.check
  - {{ tplroot }}.db.migrated

synnefo-upgrade-cyclades-ip-history-fixed:
  ip_history.fixed:
    - fire_event: synnefo_upgrade/cyclades.ip_history
    - name: {{ synnefo_upgrade.ip_history.changelog }}
    - apply: {{ synnefo_upgrade.ip_history.apply }}
    - tool: {{ synnefo_upgrade.ip_history.tool }}
    - require:
      - sls: {{ tplroot }}.version.check
      - synnefo_db: synnefo-upgrade-databases-backed-up-and-migrated-once
{%- endif %}
