{#- Upgrade guide, "Upgrade Service nodes": every node with a service role at once, after the
    Ganeti nodes (refused while one is still on wheezy): download before the outage, bring
    the services down, upgrade and reconfigure each node (synnefo_upgrade), migrate each
    database once on the node pillar names, fix the IP history, re-register cyclades,
    reboot, check.
        salt-run state.orchestrate synnefo_upgrade.orch.services [test=True] [pillar='{...}'] #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- import_yaml tplroot ~ "/parameters/defaults.yaml" as defaults %}
{%- set config = salt["slsutil.merge"](defaults["values"], salt["pillar.get"]("synnefo_upgrade", {}), merge_lists=False) %}
{%- set databases = {} %}
{%- for service, database in config.databases | dictsort %}
{%-   set _ = databases.update({service: database.minion}) %}
{%- endfor %}

synnefo-upgrade-orch-service-nodes-upgraded:
  synnefo_services.nodes_upgraded:
    - name: service nodes, together
    - to_version: {{ config.to_version }}
    - databases: {{ databases | json }}
    - ip_history_minion: {{ config.databases.cyclades.minion | json }}
    - changelog: {{ config.ip_history.changelog | json }}
    - reboot_timeout: {{ config.orchestration.reboot_timeout }}
    - synnefo_packages: {{ config.synnefo_packages | json }}
    - health: {{ config.health | json }}
    - ganeti_stop_after: {{ config.orchestration.stop_after }}
    - notify: {{ config.orchestration.notify | json }}
    - window: {{ config.orchestration.window | json }}
    - failhard: True
