{#- The guard's end: packages may start services again (the reboot starts them). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

synnefo-upgrade-apt-policy-rc-d-removed:
  apt_jessie.policy_rc_d_removed:
    - fire_event: synnefo_upgrade/apt.policy_rc_d_clean
    - name: {{ synnefo_upgrade.apt.policy_rc_d }}
