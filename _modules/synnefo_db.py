"""
The Synnefo databases' migration to 0.19, exactly once per service.

Upgrade guide, "Upgrade Service nodes": run ``snf-manage migrate`` for each service (astakos,
cyclades) on one node of that service only, after the packages are upgraded. The 0.16 guide
advised a backup of each database first; the 0.19 one does not say so, the formula does: a
command per service from pillar runs before the migration.

Each migration is recorded under ``<state_dir>/db/<service>.json`` (see
``synnefo_files.state_dir``) before ``snf-manage`` runs (``running``) and after (``migrated``
or ``failed``), so a second call knows it was done, and a run cut in the middle is not
repeated blindly. Pithos has no Django migration in 0.19 (its backend's schema is
alembic's): nothing to run for it.
"""

from __future__ import absolute_import, print_function, unicode_literals

import datetime
import logging
import os
import re

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "synnefo_db"

MIGRATED_SERVICES = ("astakos", "cyclades")
_APPLYING = re.compile(r"^\s*Applying (\S+)\.\.\.", re.M)
# What a backup command may carry that no one else may read: NAME=value where the name says
# password or secret (PGPASSWORD=, password= in a conninfo), --password VALUE, -pVALUE (MySQL),
# and the password of a URI (postgresql://user:password@host).
_SECRETS = (
    (re.compile(r"(\b[\w.-]*(?:pass|pwd|secret|token)[\w.-]*\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s;&|]+)", re.I), r"\1****"),
    (re.compile(r"((?:^|\s)--?(?:password|passwd|pass)(?:=|\s+))(\"[^\"]*\"|'[^']*'|[^\s;&|]+)", re.I), r"\1****"),
    (re.compile(r"((?:^|\s)-p)(?=\S)(\"[^\"]*\"|'[^']*'|[^\s;&|]+)"), r"\1****"),
    (re.compile(r"(\w+://[^:/@\s]*:)[^@\s]+@"), r"\1****@"),
)


def __virtual__():
    return __virtualname__


def applied(output):
    """
    The migrations ``snf-manage migrate`` (Django 1.7) reports applied, and what each printed:
    ``[[name, outcome, [lines printed]]]``. A migration that prints (0.19's
    ``db.0003_auto_ip_ownership`` names the IP history it created and each NIC and IP whose
    owner it changed) writes on its "Applying" line and its `` OK`` comes on a line of its own.

    CLI Example:

    .. code-block:: bash

        salt cyclades1 synnefo_db.applied "$(cat migrate.log)"
    """
    found = []
    starts = list(_APPLYING.finditer(output))
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(output)
        lines = [line.strip() for line in output[start.end() : end].splitlines() if line.strip()]
        outcome = ""
        if lines and lines[-1].split()[-1] in ("OK", "FAKED"):
            last = lines.pop().rsplit(None, 1)
            outcome = last[-1]
            if len(last) > 1:
                lines.append(last[0])
        if outcome:
            found.append([start.group(1), outcome, lines])
    return found


def _now():
    return datetime.datetime.utcnow().isoformat() + "Z"


def _record_path(service):
    return os.path.join(__salt__["synnefo_files.state_dir"](), "db", service + ".json")


def record(service):
    """
    Return the record of this service's migration on this minion, or ``None``.

    CLI Example:

    .. code-block:: bash

        salt cyclades1 synnefo_db.record cyclades
    """
    return __salt__["synnefo_files.read_record"](_record_path(service), "the {} database".format(service))


def _write_record(service, data):
    __salt__["synnefo_files.write_record"](_record_path(service), data)


def masked_command(command):
    """
    Return a backup command as it may be shown (state returns, events, the job cache, the
    report, the minion's log, the records): every password in it replaced by ``****``.

    CLI Example:

    .. code-block:: bash

        salt cyclades1 synnefo_db.masked_command 'PGPASSWORD=x pg_dump cyclades > /var/backups/c.dump'
    """
    for pattern, replacement in _SECRETS:
        command = pattern.sub(replacement, command)
    return command


def pending(services):
    """
    The services of ``services`` whose migration is still to run here. A service with a
    ``running`` record (a run cut in the middle) is an error: check its database first.

    CLI Example:

    .. code-block:: bash

        salt cyclades1 synnefo_db.pending '[cyclades]'
    """
    unknown = [s for s in services if s not in MIGRATED_SERVICES + ("pithos",)]
    if unknown:
        raise CommandExecutionError("unknown service(s) {} (expected astakos, cyclades, pithos)".format(", ".join(unknown)))
    todo = []
    for service in services:
        if service not in MIGRATED_SERVICES:
            continue
        earlier = record(service)
        if earlier is None or earlier.get("outcome") == "failed":
            todo.append(service)
        elif earlier.get("outcome") == "running":
            raise CommandExecutionError(
                "an earlier migration of the {} database did not finish ({}, started {}); check the "
                "database by hand, then remove the record".format(service, _record_path(service), earlier.get("started"))
            )
    return todo


def migrate(services, backups=None, manage="snf-manage"):
    """
    Back up and migrate the databases of ``services`` that are still to migrate here: each
    one's backup command (``backups``: ``{service: shell command}``) first, then
    ``snf-manage migrate`` once. Return ``{service: record}``; a service done before is
    returned with ``'already': True`` and nothing runs for it.

    CLI Example:

    .. code-block:: bash

        salt cyclades1 synnefo_db.migrate '[cyclades]' '{cyclades: "pg_dump -Fc cyclades > /var/backups/cyclades.dump"}'

    Backup commands run as root in a shell with umask 077 (a dump is readable by root only);
    returns, records and the log show them masked (:py:func:`masked_command`).
    """
    backups = backups or {}
    todo = pending(services)
    done = dict((s, dict(record(s), already=True)) for s in services if s in MIGRATED_SERVICES and s not in todo)
    if not todo:
        return done
    entries = {}
    for service in todo:
        entries[service] = {"service": service, "started": _now(), "outcome": "running"}
        command = backups.get(service)
        if command:
            # A dump holds password hashes and tokens: readable by root only, whatever the
            # command does; the command itself (it may carry a password) is never logged.
            log.info("synnefo_db: backing up the %s database: %s", service, masked_command(command))
            result = __salt__["cmd.run_all"](command, python_shell=True, ignore_retcode=True, umask="077", output_loglevel="quiet")
            if result["retcode"] != 0:
                raise CommandExecutionError(
                    "the {} database backup failed (exit code {}): {}; nothing was migrated".format(
                        service, result["retcode"], masked_command((result["stderr"] or result["stdout"]).strip())
                    )
                )
            entries[service]["backup"] = masked_command(command)
        else:
            log.warning("synnefo_db: no backup command for the %s database", service)
    for service in todo:
        _write_record(service, entries[service])
    # --noinput: Django 1.7 may ask (stale content types) and would read a minion's stdin.
    result = __salt__["cmd.run_all"]([manage, "migrate", "--noinput"], python_shell=False, ignore_retcode=True)
    migrations = applied(result["stdout"])
    names = [name for name, _, _ in migrations]
    printed = dict((name, lines) for name, _, lines in migrations if lines)
    for service in todo:
        entries[service].update(finished=_now(), applied=names, printed=printed, output=result["stdout"][-4000:])
        if result["retcode"] != 0:
            entries[service].update(outcome="failed", error=(result["stderr"] or result["stdout"]).strip()[-2000:])
        else:
            entries[service]["outcome"] = "migrated"
        _write_record(service, entries[service])
    if result["retcode"] != 0:
        raise CommandExecutionError("{} migrate failed (exit code {}): {}".format(manage, result["retcode"], entries[todo[0]]["error"]))
    log.info("synnefo_db: migrated %s: %s", ", ".join(todo), ", ".join(names) or "nothing to apply")
    done.update(entries)
    return done
