{#- The whole upgrade: `salt-run state.orchestrate synnefo_upgrade.orch`. Preflight and the
    Ganeti nodes one at a time (orch/ganeti.sls), then the service nodes together
    (orch/services.sls). #}
include:
  - .ganeti
  - .services

extend:
  synnefo-upgrade-orch-service-nodes-upgraded:
    synnefo_services.nodes_upgraded:
      - require:
        - ganeti_rolling: synnefo-upgrade-orch-ganeti-nodes-upgraded
