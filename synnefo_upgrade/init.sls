{#- A service node's upgrade as one highstate, in the guide's order ("Upgrade Service nodes"
    1-4): it only includes; each SLS includes and requires what it needs (the version check,
    the dist-upgrade before the configuration), so each is safe applied alone too.
    The Ganeti nodes' rolling upgrade, the database migrations and the reboots need the
    orchestration (orch/), which runs these same SLS files.
    A host on another Synnefo version than 0.18.1 (below 0.19) is refused and nothing else
    runs; once a host is on 0.19 the one-shot steps (stopping services, the guard) are not
    rendered, so the highstate can be applied again. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- set roles = salt["grains.get"]("roles", []) %}
{%- set web = roles | select("in", ["astakos", "cyclades", "pithos", "cms"]) | list %}

include:
  - .version.check
  - .apt.sources
  - .apt.backports
  - .apt.dist_upgrade
{%- if web %}
  - .gunicorn.wsgi
  - .apache.sites
  - .settings.allowed_hosts
  - .db.migrated
{%- endif %}
{%- if "astakos" in roles %}
  - .astakos.register
{%- endif %}
{%- if "cyclades" in roles %}
  - .cyclades.caches
  - .cyclades.allocator
  - .cyclades.ip_history
{%- endif %}
