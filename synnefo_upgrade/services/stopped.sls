{#- Upgrade guide: "Bring services down": gunicorn on all hosts, archipelago on pithos and
    cyclades hosts, snf-dispatcher on cyclades hosts (the services of each role grain).
    Before the dist-upgrade only: between the dist-upgrade and the reboot Salt's service
    states may do nothing (systemd installed, not running). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- set services = [] %}
{%- for role in salt["grains.get"]("roles", []) %}
{%-   for service in synnefo_upgrade.services.get(role, []) if service not in services %}
{%-     do services.append(service) %}
{%-   endfor %}
{%- endfor %}

{%- set ganeti = "ganeti" in salt["grains.get"]("roles", []) %}

include:
  - {{ tplroot }}.version.check
{%- if ganeti %}

{#- Never on a Ganeti node that runs instances: archipelago's stop and the reboot after would
    take them down. The orchestration moves them away first. #}
synnefo-upgrade-services-ganeti-node-runs-no-primary:
  ganeti_node.no_running_primary:
    - fire_event: synnefo_upgrade/services.stopped
    - name: {{ grains["id"] }}
    - failhard: True
    - require:
      - sls: {{ tplroot }}.version.check
{%- endif %}

{%- for service in services %}

synnefo-upgrade-services-{{ service }}-stopped:
  service.dead:
    - fire_event: synnefo_upgrade/services.stopped
    - name: {{ service }}
    - require:
      - sls: {{ tplroot }}.version.check
{%- if ganeti %}
      - ganeti_node: synnefo-upgrade-services-ganeti-node-runs-no-primary
{%- endif %}
{%- else %}

synnefo-upgrade-services-none-to-stop:
  test.succeed_without_changes:
    - name: no service of the guide's runs here (roles {{ salt["grains.get"]("roles", []) | json }})
    - fire_event: synnefo_upgrade/services.stopped
    - require:
      - sls: {{ tplroot }}.version.check
{%- endfor %}
