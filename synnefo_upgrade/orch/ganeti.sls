{#- Upgrade guide, "Upgrade Ganeti nodes": every node, strictly one at a time (in each Ganeti
    cluster; the clusters side by side, pillar orchestration:parallel_clusters), evacuated,
    upgraded, rebooted and given its VMs back, with no VM downtime; the Ganeti master last,
    after a master failover. Preflight first: any problem stops the run before a change.
        salt-run saltutil.sync_all; salt '*' saltutil.sync_all
        salt-run state.orchestrate synnefo_upgrade.orch.ganeti [test=True] [pillar='{...}']
    Rendered on the master: nothing here asks the master's own packages (map.jinja would);
    the nodes and their versions come from the minions, at run time. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- import_yaml tplroot ~ "/parameters/defaults.yaml" as defaults %}
{%- set config = salt["slsutil.merge"](defaults["values"], salt["pillar.get"]("synnefo_upgrade", {}), merge_lists=False) %}
{%- set orchestration = config.orchestration %}

synnefo-upgrade-orch-preflight-passed:
  ganeti_rolling.preflight_passed:
    - name: synnefo upgrade preflight
    - from_version: {{ config.from_version }}
    - to_version: {{ config.to_version }}
    - from_codename: {{ config.from_codename }}
    - databases: {{ config.databases | json }}
    - synnefo_packages: {{ config.synnefo_packages | json }}
    - allow_downtime: {{ orchestration.allow_downtime | json }}
    - clusters: {{ orchestration.clusters | json }}
    - exclude_clusters: {{ orchestration.exclude_clusters | json }}
    - failhard: True

synnefo-upgrade-orch-ganeti-nodes-upgraded:
  ganeti_rolling.nodes_upgraded:
    - name: ganeti nodes, one at a time
    - to_version: {{ config.to_version }}
    - node_order: {{ orchestration.node_order | json }}
    - reboot_timeout: {{ orchestration.reboot_timeout }}
    - return_master: {{ orchestration.return_master }}
    - synnefo_packages: {{ config.synnefo_packages | json }}
    - allow_downtime: {{ orchestration.allow_downtime | json }}
    - drbd_sync_timeout: {{ orchestration.drbd_sync_timeout }}
    - stop_after: {{ orchestration.stop_after }}
    - undo_on_failure: {{ orchestration.undo_on_failure }}
    - health_gate: {{ orchestration.health_gate | json }}
    - notify: {{ orchestration.notify | json }}
    - window: {{ orchestration.window | json }}
    - parallel_clusters: {{ orchestration.parallel_clusters }}
    - continue_other_clusters: {{ orchestration.continue_other_clusters }}
    - clusters: {{ orchestration.clusters | json }}
    - exclude_clusters: {{ orchestration.exclude_clusters | json }}
    - failhard: True
    - require:
      - ganeti_rolling: synnefo-upgrade-orch-preflight-passed
