{#- Synnefo 0.19 migrates only from 0.18.1's schema (South to Django migrations): any other
    installed version is refused before anything changes. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- if synnefo_upgrade.upgrade_refused %}

synnefo-upgrade-version-refused:
  test.fail_without_changes:
    - name: {{ synnefo_upgrade.version_package }} version
    - comment: >-
        {{ synnefo_upgrade.version_package }} {{ synnefo_upgrade.installed_version }} is installed:
        this upgrade to {{ synnefo_upgrade.to_version }} starts from {{ synnefo_upgrade.from_version }} only
    - fire_event: synnefo_upgrade/version.check
    - failhard: True
{%- endif %}
