{#- Upgrade guide, "Backend Allocator Module": an explicit BACKEND_ALLOCATOR_MODULE set to the
    old DefaultAllocator is switched to 0.19's FilterAllocator; a custom one is kept, with a
    warning. After the dist-upgrade (the FilterAllocator is new in 0.19). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.apt.dist_upgrade

synnefo-upgrade-cyclades-backend-allocator-switched:
  synnefo_settings.allocator_switched:
    - fire_event: synnefo_upgrade/cyclades.allocator
    - name: {{ synnefo_upgrade.settings.config_dir }}
    - old: {{ synnefo_upgrade.cyclades.allocator.old }}
    - new: {{ synnefo_upgrade.cyclades.allocator.new }}
    - require:
      - sls: {{ tplroot }}.apt.dist_upgrade
