"""
Migrate the Synnefo databases to 0.19 once per service, each backed up first.

.. code-block:: yaml

    synnefo-upgrade-databases-migrated:
      synnefo_db.migrated:
        - name: snf-manage migrate
        - services: [cyclades]
        - backups:
            cyclades: pg_dump -Fc cyclades > /var/backups/cyclades-0.18.1.dump

Apply it on the one minion that migrates each service's database (pillar names it); a
second run knows the migration was done (``synnefo_db.record``) and runs nothing.
"""

from __future__ import absolute_import, print_function, unicode_literals

from salt.exceptions import CommandExecutionError

__virtualname__ = "synnefo_db"


def __virtual__():
    if "synnefo_db.migrate" in __salt__:
        return __virtualname__
    return (False, "the synnefo_db execution module is not available")


def migrated(name="snf-manage migrate", services=None, backups=None, manage="snf-manage"):
    """
    Run each service's backup command, then ``snf-manage migrate`` once, for the services of
    ``services`` not migrated here yet.

    name
        A label for the step.

    services
        The services whose database this minion migrates (astakos, cyclades; pithos has no
        Django migration in 0.19).

    backups
        ``{service: shell command}`` run before the migration; a service without one is
        migrated with a warning.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    services = list(services or [])
    backups = backups or {}
    try:
        todo = __salt__["synnefo_db.pending"](services)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment="{}; nothing was run".format(exc))
    warnings = [
        "warning: no backup command for the {} database (pillar synnefo_upgrade:databases:{}:backup)".format(s, s)
        for s in todo
        if not backups.get(s)
    ]
    if not todo:
        return dict(ret, comment="the databases of {} are migrated already: nothing to run".format(", ".join(services) or "no service"))
    if __opts__["test"]:
        ret["changes"] = dict(
            (
                s,
                {
                    "backup": __salt__["synnefo_db.masked_command"](backups[s]) if backups.get(s) else None,
                    "migrate": "{} migrate".format(manage),
                },
            )
            for s in todo
        )
        return dict(
            ret, result=None, comment="; ".join(["would back up and migrate the {} database(s)".format(", ".join(todo))] + warnings)
        )
    try:
        records = __salt__["synnefo_db.migrate"](services, backups=backups, manage=manage)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=str(exc))
    # "printed": what a migration said it changed in the data (0.19's 0003 moves NIC and IP
    # owners to the VM's owner), for the operator to review.
    ret["changes"] = dict(
        (s, {"backup": r.get("backup"), "applied": r.get("applied", []), "printed": r.get("printed", {})})
        for s, r in records.items()
        if not r.get("already")
    )
    ret["comment"] = "; ".join(["migrated the {} database(s)".format(", ".join(todo))] + warnings)
    return ret
