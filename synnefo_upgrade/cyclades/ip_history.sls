{#- Upgrade guide: "Fix IP history inconsistencies" with fix_ip_history, on one cyclades host,
    after the migrations. Skipped when no changelog is given in pillar. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- if synnefo_upgrade.ip_history.changelog %}

include:
  - {{ tplroot }}.version.check

synnefo-upgrade-cyclades-ip-history-fixed:
  ip_history.fixed:
    - fire_event: synnefo_upgrade/cyclades.ip_history
    - name: {{ synnefo_upgrade.ip_history.changelog }}
    - apply: {{ synnefo_upgrade.ip_history.apply }}
    - tool: {{ synnefo_upgrade.ip_history.tool }}
    - require:
      - sls: {{ tplroot }}.version.check
{%- endif %}
