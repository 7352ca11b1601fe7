{#- Upgrade guide: "After package installation some services automatically start ...
    you can use the policy-rc.d functionality to disallow this." apt/dist_upgrade.sls takes
    the guard away again after the upgrade, whether it succeeded or failed. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.version.check

synnefo-upgrade-apt-policy-rc-d-keeps-services-down:
  apt_jessie.policy_rc_d_installed:
    - fire_event: synnefo_upgrade/apt.policy_rc_d
    - name: {{ synnefo_upgrade.apt.policy_rc_d }}
    - require:
      - sls: {{ tplroot }}.version.check
