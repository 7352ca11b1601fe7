{#- The guard's end, on its own: for an operator (or the orchestration) cleaning up after an
    interrupted run. apt/dist_upgrade.sls removes the guard itself after the upgrade. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

synnefo-upgrade-apt-policy-rc-d-removed:
  apt_jessie.policy_rc_d_removed:
    - fire_event: synnefo_upgrade/apt.policy_rc_d_clean
    - name: {{ synnefo_upgrade.apt.policy_rc_d }}
