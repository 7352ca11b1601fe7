{#- Upgrade guide: "Change gunicorn configuration file": wsgi mode, synnefo.webproject.wsgi
    as the last item of args. Only after Synnefo 0.19 is installed (the module is new), so
    this SLS includes and requires the dist-upgrade. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.apt.dist_upgrade

synnefo-upgrade-gunicorn-config-wsgi-mode:
  gunicorn_wsgi.configured:
    - fire_event: synnefo_upgrade/gunicorn.wsgi
    - name: {{ synnefo_upgrade.gunicorn.config }}
    - wsgi_app: {{ synnefo_upgrade.gunicorn.wsgi_app }}
    - settings_module: {{ synnefo_upgrade.gunicorn.settings_module }}
    - require:
      - sls: {{ tplroot }}.apt.dist_upgrade
