{#- Upgrade guide, "Re-register service and resource definitions": "On the Astakos node, run
    snf-component-register cyclades", here without its prompts, on the minion pillar names
    (synnefo_upgrade:register:minion) with the URLs pillar gives; after the dist-upgrade
    (0.19's export has the unversioned endpoints). Elsewhere this SLS does nothing. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- set register = synnefo_upgrade.register %}

include:
  - {{ tplroot }}.apt.dist_upgrade
{%- if register.minion and register.minion == grains["id"] %}

synnefo-upgrade-astakos-cyclades-registered-again:
  synnefo_components.registered:
    - fire_event: synnefo_upgrade/astakos.register
    - name: cyclades
    - base_url: {{ register.cyclades_base_url | json }}
    - ui_url: {{ register.cyclades_ui_url | json }}
    - require:
      - sls: {{ tplroot }}.apt.dist_upgrade
{%- endif %}
