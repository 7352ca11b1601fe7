{#- A service node's upgrade as one highstate, in the guide's order ("Upgrade Service nodes"
    1-4). The Ganeti nodes' rolling upgrade, the database migrations and the reboots need
    the orchestration (orch/), which runs these same SLS files. #}
{%- set roles = salt["grains.get"]("roles", []) %}
{%- set web = roles | select("in", ["astakos", "cyclades", "pithos", "cms"]) | list %}

include:
  - .apt.sources
  - .apt.backports
  - .services.stopped
  - .apt.policy_rc_d
  - .apt.dist_upgrade
  - .apt.policy_rc_d_clean
{%- if web %}
  - .gunicorn.wsgi
{%- endif %}
{%- if "cyclades" in roles %}
  - .cyclades.caches
{%- endif %}

{#- Nothing after the dist-upgrade may run if it failed: 0.19's settings and gunicorn's wsgi
    entry point need 0.19 installed, and the guard stays until the upgrade is done. #}
extend:
  synnefo-upgrade-apt-policy-rc-d-removed:
    apt_jessie.policy_rc_d_removed:
      - require:
        - apt_jessie: synnefo-upgrade-apt-dist-upgraded-to-jessie
{%- if web %}
  synnefo-upgrade-gunicorn-config-wsgi-mode:
    gunicorn_wsgi.configured:
      - require:
        - apt_jessie: synnefo-upgrade-apt-dist-upgraded-to-jessie
{%- endif %}
{%- if "cyclades" in roles %}
  synnefo-upgrade-cyclades-caches-django-format:
    cyclades_caches.managed:
      - require:
        - apt_jessie: synnefo-upgrade-apt-dist-upgraded-to-jessie
{%- endif %}
