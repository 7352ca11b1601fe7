{#- A service node's upgrade as one highstate, in the guide's order ("Upgrade Service nodes"
    1-4). The Ganeti nodes' rolling upgrade, the database migrations and the reboots need
    the orchestration (orch/), which runs these same SLS files.
    A host on another Synnefo version than 0.18.1 (below 0.19) is refused and nothing else
    runs; once a host is on 0.19 the one-shot steps (stopping services, the guard) are not
    rendered, so the highstate can be applied again. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as synnefo_upgrade with context %}
{%- set roles = salt["grains.get"]("roles", []) %}
{%- set web = roles | select("in", ["astakos", "cyclades", "pithos", "cms"]) | list %}
{%- set pending = synnefo_upgrade.upgrade_pending %}

{%- if synnefo_upgrade.upgrade_refused %}
include:
  - .version.check
{%- else %}
include:
  - .apt.sources
  - .apt.backports
{%-   if pending %}
  - .services.stopped
  - .apt.policy_rc_d
{%-   endif %}
  - .apt.dist_upgrade
{%-   if pending %}
  - .apt.policy_rc_d_clean
{%-   endif %}
{%-   if web %}
  - .gunicorn.wsgi
{%-   endif %}
{%-   if "cyclades" in roles %}
  - .cyclades.caches
{%-   endif %}

{#- Nothing after the dist-upgrade may run if it failed: 0.19's settings and gunicorn's wsgi
    entry point need 0.19 installed, and the guard stays until the upgrade is done. #}
{%-   if pending or web or "cyclades" in roles %}
extend:
{%-   endif %}
{%-   if pending %}
  synnefo-upgrade-apt-policy-rc-d-removed:
    apt_jessie.policy_rc_d_removed:
      - require:
        - apt_jessie: synnefo-upgrade-apt-dist-upgraded-to-jessie
{%-   endif %}
{%-   if web %}
  synnefo-upgrade-gunicorn-config-wsgi-mode:
    gunicorn_wsgi.configured:
      - require:
        - apt_jessie: synnefo-upgrade-apt-dist-upgraded-to-jessie
{%-   endif %}
{%-   if "cyclades" in roles %}
  synnefo-upgrade-cyclades-caches-django-format:
    cyclades_caches.managed:
      - require:
        - apt_jessie: synnefo-upgrade-apt-dist-upgraded-to-jessie
{%-   endif %}
{%- endif %}
