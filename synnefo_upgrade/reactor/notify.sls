{#- The orchestration's progress events, posted to a webhook by Salt's reactor: for operators
    who would rather have the master's reactor notify than the orchestration itself
    (pillar synnefo_upgrade:orchestration:notify). In the master's configuration:

        reactor:
          - 'synnefo_upgrade/*':
            - salt://synnefo_upgrade/reactor/notify.sls

    and the URL in the master's configuration too (the reactor sees no pillar):

        synnefo_upgrade_notify_webhook: https://hooks.example.org/synnefo-upgrade #}
{%- set webhook = salt["config.get"]("synnefo_upgrade_notify_webhook", "") %}
{#- What the orchestration's own notify posts: a node's start and end, a stop as asked, the
    service phase's start and end, and every failure. #}
{%- set wanted = data.get("outcome") == "failed" or data.get("step") in ("node", "run", "phase") %}
{%- if webhook and wanted %}
synnefo-upgrade-notify-webhook:
  runner.http.query:
    - args:
      - url: {{ webhook | json }}
      - method: POST
      - header_dict: {"Content-Type": "application/json"}
      - data: {{ data | json | json }}
{%- endif %}
