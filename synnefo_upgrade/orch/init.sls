{#- The whole upgrade: `salt-run state.orchestrate synnefo_upgrade.orch`. Preflight and the
    Ganeti nodes now; the service nodes' phase comes after it. #}
include:
  - .ganeti
