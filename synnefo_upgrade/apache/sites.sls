{#- Upgrade guide, "Adjust configuration files": add the ".conf" suffix to apache's site
    files; "change the header's key from X-FORWARDED-PROTOCOL to X-FORWARDED-PROTO". After
    the dist-upgrade (Apache 2.4 and gunicorn 19 come with it), and checked with apache2ctl
    configtest before Apache starts on it. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}

include:
  - {{ tplroot }}.apt.dist_upgrade

synnefo-upgrade-apache-sites-renamed-and-proto-header-set:
  apache_sites.migrated:
    - fire_event: synnefo_upgrade/apache.sites
    - name: {{ synnefo_upgrade.apache.config_dir }}
    - require:
      - sls: {{ tplroot }}.apt.dist_upgrade

synnefo-upgrade-apache-config-tested:
  apache_sites.config_tested:
    - fire_event: synnefo_upgrade/apache.sites
    - require:
      - sls: {{ tplroot }}.apt.dist_upgrade
      - apache_sites: synnefo-upgrade-apache-sites-renamed-and-proto-header-set
