{#- Upgrade guide: "Bring services down": gunicorn on all hosts, archipelago on pithos and
    cyclades hosts, snf-dispatcher on cyclades hosts (the services of each role grain). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- set services = [] %}
{%- for role in salt["grains.get"]("roles", []) %}
{%-   for service in synnefo_upgrade.services.get(role, []) if service not in services %}
{%-     do services.append(service) %}
{%-   endfor %}
{%- endfor %}

{%- for service in services %}

synnefo-upgrade-services-{{ service }}-stopped:
  service.dead:
    - fire_event: synnefo_upgrade/services.stopped
    - name: {{ service }}
{%- endfor %}
