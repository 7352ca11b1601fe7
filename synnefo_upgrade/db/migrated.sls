{#- Upgrade guide, "Upgrade Service nodes": snf-manage migrate, once per service (astakos,
    cyclades), on one node of that service only, after the packages are upgraded; a backup of
    each database first (the 0.16 guide's advice). Pillar names the minion of each service
    (synnefo_upgrade:databases:<service>:minion); on any other minion this SLS does nothing. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- set mine = [] %}
{%- set backups = {} %}
{%- for service, database in synnefo_upgrade.databases | dictsort %}
{%-   if database.minion == grains["id"] %}
{%-     set _ = mine.append(service) %}
{%-     if database.backup %}
{%-       set _ = backups.update({service: database.backup}) %}
{%-     endif %}
{%-   endif %}
{%- endfor %}

include:
  - {{ tplroot }}.apt.dist_upgrade
{%- if mine %}

synnefo-upgrade-databases-backed-up-and-migrated-once:
  synnefo_db.migrated:
    - fire_event: synnefo_upgrade/db.migrated
    - name: snf-manage migrate ({{ mine | join(", ") }})
    - services: {{ mine | json }}
    - backups: {{ backups | json }}
    - require:
      - sls: {{ tplroot }}.apt.dist_upgrade
{%- endif %}
