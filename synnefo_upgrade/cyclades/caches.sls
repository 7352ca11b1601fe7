{#- Upgrade guide: "Update cache settings": PUBLIC_STATS_CACHE, VM_PASSWORD_CACHE and
    VMAPI_CACHE in Django's cache format; the obsolete settings commented out. 0.19's settings
    need 0.19 installed: this SLS includes and requires the dist-upgrade. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.apt.dist_upgrade

synnefo-upgrade-cyclades-caches-django-format:
  cyclades_caches.managed:
    - fire_event: synnefo_upgrade/cyclades.caches
    - name: {{ synnefo_upgrade.cyclades.caches_file }}
    - config_dir: {{ synnefo_upgrade.cyclades.config_dir }}
    - caches: {{ synnefo_upgrade.cyclades.caches | json }}
    - require:
      - sls: {{ tplroot }}.apt.dist_upgrade
