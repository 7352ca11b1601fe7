{#- Synnefo 0.19 migrates only from 0.18.1's schema (South to Django migrations): any other
    installed version is refused before anything changes, in a dry run too. Every SLS of the
    formula includes and requires this one, so that none of them, applied alone, touches such
    a host; failhard stops the whole run there. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

synnefo-upgrade-version-checked:
  synnefo_version.checked:
    - fire_event: synnefo_upgrade/version.check
    - name: {{ synnefo_upgrade.version_package }}
    - from_version: {{ synnefo_upgrade.from_version }}
    - to_version: {{ synnefo_upgrade.to_version }}
    - packages: {{ synnefo_upgrade.synnefo_packages | json }}
    - failhard: True
