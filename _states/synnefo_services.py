"""
The service phase of the upgrade, run by the orchestration on the salt-master after the
Ganeti phase (upgrade guide, "Upgrade Service nodes"): every node with a service role
(astakos, cyclades, pithos, cms) at once, so that the cloud's API is down once and briefly.

.. code-block:: yaml

    synnefo-upgrade-orch-service-nodes-upgraded:
      synnefo_services.nodes_upgraded:
        - name: service nodes
        - databases: {astakos: astakos1, cyclades: cyclades1}
        - ip_history_minion: cyclades1
        - changelog: /root/owner-changes.log
        - reboot_timeout: 900

Before the outage every node downloads what its dist-upgrade needs (and the IP-history
changelog, if any, is validated); then snf-ganeti-eventd stops on every master candidate of
every Ganeti cluster and each
node applies the formula's per-node upgrade (``synnefo_upgrade``: the guide's services down,
the dist-upgrade under the policy-rc.d guard, the IP-history fix after the migration,
the configuration, the database migration on the node pillar names for it, cyclades'
re-registration on the astakos node pillar names), every node reboots, and the result is checked (services,
each service's API answering as upstream's does without credentials, Apache's
configuration, snf-ganeti-eventd on every master candidate, each cluster's ``gnt-cluster verify``,
Synnefo 0.19 and jessie everywhere). Each node's stage is kept on the node
(``synnefo_files.progress``) and announced as ``synnefo_upgrade/services/<node>/<step>``;
every step is safe to run again, so a second run resumes. In test mode nothing changes:
each node's upgrade is reported from the formula's own dry run.
"""

from __future__ import absolute_import, print_function, unicode_literals

import logging
import time

import salt.utils.event
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "synnefo_services"

WEB_ROLES = ("astakos", "cyclades", "pithos", "cms")
EXPECTED_SERVICES = {
    "astakos": ["gunicorn", "apache2"],
    "cyclades": ["gunicorn", "apache2", "archipelago", "snf-dispatcher"],
    "pithos": ["gunicorn", "apache2", "archipelago"],
    "cms": ["gunicorn", "apache2"],
}
IP_HISTORY_STATE = "synnefo-upgrade-cyclades-ip-history-fixed"
KAMAKI_NOTE = "API clients (kamaki) need Kamaki >= 0.15 against Synnefo 0.19"


def __virtual__():
    if "saltutil.cmd" not in __salt__:
        return (False, "synnefo_services states run on the salt-master (they need saltutil.cmd)")
    if "synnefo_orch.call" not in __utils__:
        return (False, "the formula's synnefo_orch utils are not synced (salt-run saltutil.sync_all)")
    return __virtualname__


class StepFailed(CommandExecutionError):
    """A step failed; the message names the host(s) and the step."""


def _call(minion, fun, args=(), kwargs=None, timeout=None, check=True):
    return __utils__["synnefo_orch.call"](__salt__, minion, fun, args, kwargs, timeout=timeout, check=check)


def _sls_on_each(minions, mods, test=False, exclude=None):
    return __utils__["synnefo_orch.sls_on_each"](__salt__, minions, mods, test=test, exclude=exclude)


# The database steps, taken out of the nodes' upgrade run side by side and run on one database
# minion at a time: the services usually share one database (upstream's install guide:
# snf_apps for astakos and cyclades), Django 1.7's migrate takes no lock, and each backup must
# be of a database that no migration is changing.
DATABASE_SLS = ("synnefo_upgrade.db.migrated", "synnefo_upgrade.cyclades.ip_history")


def _migrate_in_turn(phase, databases):
    """Each database minion's backups, migrations (and on the cyclades one, the IP history
    fix), one minion after the other in the services' order: ``{minion: results}``."""
    results = {}
    for minion in sorted(set(databases.values()), key=lambda m: min(s for s, n in databases.items() if n == m)):
        results.update(phase.step("databases", [minion], _sls_on_each, [minion], ",".join(DATABASE_SLS)))
    return results


def _set_progress(nodes, stage, error=None):
    """Each node's stage, kept on the node (one job for all)."""
    __utils__["synnefo_orch.call_each"](__salt__, nodes, "synnefo_files.set_progress", ["services", stage], {"error": error})


# The webhook (pillar orchestration:notify:webhook), what its messages carry besides the
# event, and what it could not be told: set by the phase's state for its run.
_NOTIFY = {"webhook": None, "context": {"phase": "services"}, "warnings": []}


def _fire(node, step, outcome, **data):
    data.update(node=node, step=step, outcome=outcome)
    __utils__["synnefo_orch.fire"](__opts__, "synnefo_upgrade/services/{}/{}".format(node, step), data, hook=_NOTIFY)


def _version_at_least(minion, version, wanted):
    """``version`` (the minion's) is ``wanted`` or later, in Debian's order (computed here)."""
    return bool(version) and __utils__["synnefo_orch.version_cmp"](version, wanted) >= 0


def _upgraded(minion, to_version):
    """On ``to_version`` and booted into jessie's systemd since."""
    version = _call(minion, "pkg.version", ["snf-common"])
    return _version_at_least(minion, version, to_version) and _call(minion, "file.directory_exists", ["/run/systemd/system"]) is True


def _not_upgraded(minions, to_version):
    """Those of ``minions`` not :py:func:`_upgraded`, asked in two jobs."""
    if not minions:
        return []
    versions = __utils__["synnefo_orch.call_each"](__salt__, minions, "pkg.version", ["snf-common"])
    upgraded = sorted(m for m in minions if _version_at_least(m, versions.get(m), to_version))
    booted = __utils__["synnefo_orch.call_each"](__salt__, upgraded, "file.directory_exists", ["/run/systemd/system"]) if upgraded else {}
    return [m for m in minions if booted.get(m) is not True]


def _done(minion, to_version):
    progress = _call(minion, "synnefo_files.progress") or {}
    if progress.get("phase") == "services" and progress.get("stage") != "done":
        return False
    return _upgraded(minion, to_version)


class _Phase(object):
    """The phase's steps over the nodes still to do; each step sets their stage first."""

    def __init__(self, nodes, roles, timeline):
        self.nodes = nodes
        self.roles = roles
        self.timeline = timeline  # every node's steps with their times (the report's picture)
        self.done = []

    def step(self, step, nodes, action, *args):
        _set_progress(nodes, step)
        for node in nodes:
            _fire(node, step, "started")
        entries = [{"host": node, "step": step, "start": time.time()} for node in nodes]
        self.timeline.extend(entries)
        try:
            result = action(*args)
        except CommandExecutionError as exc:
            # The hosts the error names failed; when it names none, all of them did.
            named = [e for e in entries if "{}: ".format(e["host"]) in exc.error] or entries
            for entry in entries:
                entry.update(end=time.time(), outcome="failed" if entry in named else "done")
                if entry in named:
                    entry["error"] = exc.error
            try:
                _set_progress(nodes, "failed", "{}: {}".format(step, exc.error))
            except CommandExecutionError as record_error:
                log.warning("synnefo_services: cannot record the failure: %s", record_error)
            for node in nodes:
                _fire(node, step, "failed", error=exc.error)
            raise StepFailed("step '{}' failed: {}".format(step, exc.error))
        for entry in entries:
            entry.update(end=time.time(), outcome="done")
        for node in nodes:
            _fire(node, step, "done")
        if step not in self.done:  # the databases step runs once per database minion
            self.done.append(step)
        return result


def _reboot(nodes, timeout):
    bus = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=True)
    try:
        # In the background: the minions' answers get out before the hosts go down.
        __utils__["synnefo_orch.call_each"](__salt__, nodes, "cmd.run_bg", ["sleep 1; reboot"], {"python_shell": True})
        waiting = set(nodes)
        deadline = time.time() + timeout
        while waiting:
            event = bus.get_event(wait=5, full=True)
            if event and event.get("tag", "").startswith("salt/minion/") and event["tag"].endswith("/start"):
                waiting.discard(event["tag"].split("/")[2])
            if waiting and time.time() > deadline:
                raise CommandExecutionError("{}: did not come back within {} s of the reboot".format(", ".join(sorted(waiting)), timeout))
    finally:
        bus.destroy()
    for node in nodes:
        for _attempt in range(30):
            if __salt__["saltutil.cmd"](node, "test.ping", timeout=10).get(node, {}).get("ret") is True:
                break
            time.sleep(2)
        else:
            raise CommandExecutionError("{}: booted but its minion does not answer".format(node))


def _bind(node):
    config = _call(node, "config.get", ["synnefo_upgrade:gunicorn:config", "/etc/gunicorn.d/synnefo"])
    return _call(node, "gunicorn_wsgi.bind", [config]) or "127.0.0.1:8080"


def _host_header(node, bind):
    """A Host the node's ALLOWED_HOSTS lets through (Django answers 400 to any other): its
    first host name from pillar (a leading-dot domain stands for itself), or the bound
    address where it allows any."""
    for pattern in _call(node, "config.get", ["synnefo_upgrade:settings:allowed_hosts", []]) or []:
        pattern = "{}".format(pattern).lstrip(".")
        if pattern and pattern != "*":
            return pattern
    return bind


def _health_problems(node, roles, health):
    """Ask the node's gunicorn, as each of its roles' API answers without credentials (pillar
    ``synnefo_upgrade:health``), for one of the answers that mean the application is up."""
    problems = []
    bind = _bind(node)
    host = _host_header(node, bind)
    for role in roles:
        wanted = (health or {}).get(role)
        if not wanted:
            continue
        url = "http://{}{}".format(bind, wanted["path"])
        answer = _call(node, "http.query", [url], {"status": True, "header_dict": {"Host": host}}, check=False)
        status = answer.get("status") if isinstance(answer, dict) else None
        if status not in wanted["ok"]:
            detail = answer.get("error") if isinstance(answer, dict) else answer
            problems.append(
                "{}: {} (Host: {}) answered {}, not {}{}".format(
                    node, url, host, status, " or ".join("{}".format(c) for c in wanted["ok"]), ": {}".format(detail) if detail else ""
                )
            )
    return problems


def _master_candidates(masters):
    """The master candidates of every Ganeti cluster (each master among them), as Ganeti
    lists them on each cluster's master."""
    return sorted(
        set(n for m in masters for n, info in _call(m, "ganeti_rolling.nodes").items() if info["master_candidate"] or info["master"])
    )


def _eventd_stop(candidates):
    """Stop snf-ganeti-eventd on every master candidate where it runs (upgrade guide, "Bring
    services down": eventd runs on each candidate and acts while its node is the master,
    grnet/synnefo snf-cyclades-gtools/synnefo/ganeti/eventd.py)."""
    for node in candidates:
        if _call(node, "service.status", ["snf-ganeti-eventd"]):
            _call(node, "service.stop", ["snf-ganeti-eventd"])


def _check(nodes, roles, to_version, ganeti_masters, health, candidates=()):
    problems = []
    for node in nodes:
        codename = _call(node, "grains.get", ["oscodename"])
        if codename != "jessie":
            problems.append("{}: runs {}, not jessie".format(node, codename))
        if not _upgraded(node, to_version):
            problems.append("{}: not on Synnefo {} booted with systemd".format(node, to_version))
        wanted = []
        for role in roles[node]:
            wanted += [s for s in EXPECTED_SERVICES.get(role, []) if s not in wanted]
        for service in wanted:
            if not _call(node, "service.status", [service]):
                problems.append("{}: {} is not running".format(node, service))
        problems += _health_problems(node, roles[node], health)
        try:
            _call(node, "apache_sites.configtest")
            # Every site Apache 2.4 loads (*.conf), and the proxy header gunicorn 19 trusts.
            left = _call(node, "apache_sites.planned")
            if left["renames"] or left["edits"]:
                problems.append(
                    "{}: Apache's sites still need {}".format(node, ", ".join([r["from"] for r in left["renames"]] + sorted(left["edits"])))
                )
        except CommandExecutionError as exc:
            problems.append(exc.error)
    for node in sorted(set(candidates) | set(ganeti_masters)):
        if not _call(node, "service.status", ["snf-ganeti-eventd"]):
            what = "a Ganeti master" if node in ganeti_masters else "a Ganeti master candidate"
            problems.append("{}: snf-ganeti-eventd is not running on {}".format(node, what))
    for master in ganeti_masters:
        verify = _call(master, "cmd.run_all", [["gnt-cluster", "verify"]], {"python_shell": False}, check=False)
        if verify.get("retcode") != 0:
            problems.append("{}: gnt-cluster verify failed: {}".format(master, verify.get("stdout", "").strip()))
    if problems:
        raise CommandExecutionError("; ".join(problems))


def _warnings(results):
    return [
        "{}: {}".format(node, warning)
        for node, states in sorted(results.items())
        for warning in __utils__["synnefo_orch.predicted"](states)["warnings"]
    ]


def _add_ip_history(ret, results, minion):
    """The IP-history fix's plan (or what was applied) into the report, with its minion."""
    fixed = results.get(minion, {}).get(IP_HISTORY_STATE)
    if fixed:
        ret["changes"]["ip_history"] = {"minion": minion, "comment": fixed.get("comment"), "changes": fixed.get("changes")}


def _ganeti_masters(roles):
    """Each Ganeti cluster's master (a cloud may run several clusters), as Ganeti answers on
    its nodes (``ganeti_rolling.cluster``: ``gnt-cluster getmaster``)."""
    nodes = sorted(m for m, r in roles.items() if "ganeti" in r)
    answers = __utils__["synnefo_orch.answers"](__salt__, nodes, "ganeti_rolling.cluster") if nodes else {}
    return sorted(set(a["master"] for ok, a in answers.values() if ok and isinstance(a, dict) and a.get("master")))


def _what_is_down(timeline):
    """After a failure: what the run left down, from its timeline (the API is down from the
    upgrade step on, until the check passes)."""
    started = [e["host"] for e in timeline if e["step"] == "upgrade" and not e.get("parent")]
    if not started:
        return "; nothing was stopped: the API is up"
    return (
        "; THE API MAY BE DOWN: the upgrade of {} began (its first step stops their services; snf-ganeti-eventd was "
        "stopped on the Ganeti master candidates) and what it stopped stays down until a run finishes; "
        "see salt-run synnefo_upgrade.status".format(", ".join(sorted(set(started))))
    )


def _validate_changelog(minion, changelog):
    checked = _call(minion, "ip_history.validate", [changelog])
    if not checked["valid"]:
        raise CommandExecutionError(
            "{}: {}: {}".format(minion, changelog, "; ".join("line {}: {}".format(e["line"], e["error"]) for e in checked["errors"]))
        )
    return checked


def nodes_upgraded(
    name,
    to_version="0.19-1~jessie",
    databases=None,
    ip_history_minion=None,
    changelog=None,
    reboot_timeout=900,
    synnefo_packages=None,
    health=None,
    ganeti_stop_after=0,
    notify=None,
    window=None,
):
    """
    Upgrade every service node at once, as the guide's "Upgrade Service nodes" does, once
    the Ganeti nodes are on ``to_version`` (refused before). Stops at the first failure,
    naming the host(s) and the step; run again, it resumes.

    name
        A label for the step.

    databases
        ``{service: minion}``: where each service's database is migrated (the formula's
        ``synnefo_upgrade:databases``); each must carry the service's role.

    ip_history_minion, changelog
        The cyclades minion that fixes the IP history from ``changelog`` (pillar
        ``synnefo_upgrade:ip_history``); the changelog is validated before the outage.

    reboot_timeout
        Seconds to wait for the nodes' minions to start again after their reboot.

    synnefo_packages
        The packages built from Synnefo's own source tree; the other ``snf-*`` packages are
        reported with their versions before and after (and in the dry run, planned).

    health
        ``{role: {'path', 'ok': [status]}}`` (pillar ``synnefo_upgrade:health``): what the
        check after the reboots asks each node's gunicorn, without credentials, with a Host
        its ALLOWED_HOSTS allows.

    ganeti_stop_after
        The Ganeti phase's ``stop_after`` (pillar ``orchestration:stop_after``): when it
        stopped as asked with Ganeti nodes still to upgrade, this phase does not start, and
        says so without failing the run.

    notify
        ``{webhook: URL}``: a JSON message POSTed when the phase starts and ends, when each
        node is done and for each failure; a hook that fails is a warning in the result
        (``notify_warnings``), never a failure of the run.

    window
        ``{start, end, timezone, service_minutes}``: the phase (the API's outage) starts only
        if ``service_minutes`` from now end inside the maintenance window; else it does not
        start, and says when the window opens again. A Ganeti phase the window stopped is no
        failure here either.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    _NOTIFY.update(webhook=None if __opts__["test"] else (notify or {}).get("webhook"), warnings=[])
    test = __opts__["test"]
    synnefo_packages = synnefo_packages or ["snf-common"]
    databases = dict((s, m) for s, m in (databases or {}).items() if m)
    try:
        lock = None if test else __utils__["synnefo_orch.lock"](__opts__, "orchestration")
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=exc.error)
    try:
        roles = __utils__["synnefo_orch.role_minions"](__salt__)
        ganeti = sorted(m for m, r in roles.items() if "ganeti" in r)
        behind = _not_upgraded(ganeti, to_version)
        if behind and int(ganeti_stop_after or 0):
            return dict(
                ret,
                comment="not started: the Ganeti phase stopped as asked (stop_after: {}) with {} still to upgrade; "
                "the next run goes on".format(ganeti_stop_after, ", ".join(behind)),
            )
        window = dict(window or {})
        if behind and window.get("start") and not test:  # a dry run has every Ganeti node behind
            return dict(
                ret,
                comment="not started: the Ganeti phase stopped at its maintenance window with {} still to upgrade".format(
                    ", ".join(behind)
                ),
            )
        outside = None if test else __utils__["synnefo_orch.window_refusal"](window, float(window.get("service_minutes", 30)) * 60)
        if outside:
            return dict(ret, comment="not started: {}; run the orchestration again then".format(outside))
        if behind and not test:
            return dict(
                ret,
                result=False,
                comment="refused: Ganeti node(s) {} not on {} yet: run synnefo_upgrade.orch.ganeti first; nothing was changed".format(
                    ", ".join(behind), to_version
                ),
            )
        nodes = sorted(m for m, r in roles.items() if set(r) & set(WEB_ROLES))
        wrong = [
            "databases:{}: {} does not carry the {} role".format(s, m, s) for s, m in sorted(databases.items()) if s not in roles.get(m, [])
        ]
        missing = [
            "databases:{}: no minion named, and {} has the role".format(s, ", ".join(n for n in nodes if s in roles[n]))
            for s in ("astakos", "cyclades")
            if s not in databases and any(s in roles[n] for n in nodes)
        ]
        if wrong or missing:
            return dict(ret, result=False, comment="pillar synnefo_upgrade: " + "; ".join(wrong + missing) + "; nothing was changed")
        pending = [n for n in nodes if not _done(n, to_version)]
        if not pending:
            return dict(ret, comment="every service node is on {}: nothing to do".format(to_version))
        if test:
            results = _sls_on_each(pending, "synnefo_upgrade", test=True)
            changes = dict((node, dict(__utils__["synnefo_orch.predicted"](results[node]), roles=roles[node])) for node in pending)
            installed = __utils__["synnefo_orch.call_each"](__salt__, pending, "pkg.list_pkgs")
            for node in pending:
                changes[node]["own_versions"] = __utils__["synnefo_orch.own_versions_planned"](
                    installed[node], changes[node]["packages"], synnefo_packages
                )
            ret["changes"] = dict(changes, migrations=databases, warnings=_warnings(results) + [KAMAKI_NOTE])
            _add_ip_history(ret, results, ip_history_minion)
            lines = [
                "{}: upgrade {} packages; change {}".format(n, len(changes[n]["packages"]), ", ".join(changes[n]["files"]) or "no file")
                for n in pending
            ]
            in_turn = [m for s, m in sorted(databases.items()) if m in pending]
            if in_turn:
                lines.append("then the databases, one minion after the other: " + ", ".join(sorted(set(in_turn), key=in_turn.index)))
            first = "after the Ganeti phase ({} still on wheezy), ".format(", ".join(behind)) if behind else ""
            return dict(ret, result=None, comment=first + "the service nodes would be upgraded together:\n" + "\n".join(lines))
        ret["changes"]["timeline"] = timeline = []
        phase = _Phase(pending, roles, timeline)
        _fire("services", "phase", "started", nodes=pending)
        before = __utils__["synnefo_orch.host_facts"](__salt__, pending, synnefo_packages)
        to_upgrade = [n for n in pending if not _version_at_least(n, before[n]["snf_common"], to_version)]
        # Decided before the outage: a node not booted into 0.19 yet reboots after it.
        to_reboot = [n for n in pending if n in to_upgrade or not _upgraded(n, to_version)]
        if to_upgrade:
            phase.step("download", to_upgrade, _sls_on_each, to_upgrade, "synnefo_upgrade.apt.download")
        if ip_history_minion and changelog:
            phase.step("ip-history-check", [ip_history_minion], _validate_changelog, ip_history_minion, changelog)
        if to_upgrade:
            # The whole per-node upgrade as a dry run, while the API is still up: every check
            # the old system allows (versions, sources, pins, the simulated dist-upgrade, the
            # configuration edits parsed, Apache's sites) fails here rather than in the outage.
            phase.step("rehearsal", to_upgrade, _sls_on_each, to_upgrade, "synnefo_upgrade", True)
        masters = _ganeti_masters(roles)
        candidates = _master_candidates(masters)
        if to_upgrade:
            _eventd_stop(candidates)
        # The per-node upgrade brings the node's services down first (services.stopped), then
        # upgrades and reconfigures it: the API's outage starts here. Then the databases (backup,
        # migration, on the cyclades minion the IP history), one database minion at a time.
        results = phase.step("upgrade", pending, _sls_on_each, pending, "synnefo_upgrade", False, list(DATABASE_SLS))
        for minion, migrated in _migrate_in_turn(phase, dict((s, m) for s, m in databases.items() if m in pending)).items():
            results[minion] = dict(results.get(minion, {}), **migrated)
        # States time themselves on the minion's clock, in its zone (Europe/Athens, say).
        offsets = __utils__["synnefo_orch.answers"](__salt__, pending, "cmd.run", ["date +%z"])
        for entry in [e for e in timeline if e["step"] in ("upgrade", "databases") and not e.get("parent")]:
            ok, said = offsets[entry["host"]]
            offset = __utils__["synnefo_orch.utc_offset"](said) if ok else None
            for part in __utils__["synnefo_orch.parts"](results[entry["host"]], entry["start"], entry["end"], offset):
                timeline.append(dict(part, host=entry["host"], parent=entry["step"], outcome="done"))
        if to_reboot:
            phase.step("reboot", to_reboot, _reboot, to_reboot, int(reboot_timeout))
        # On every master candidate, as jessie's enabled unit runs it from boot on.
        for node in candidates:
            _call(node, "service.start", ["snf-ganeti-eventd"])
        phase.step("check", pending, _check, pending, roles, to_version, masters, health, candidates)
        _set_progress(pending, "done")
        for node in pending:
            _fire(node, "node", "done")
        after = __utils__["synnefo_orch.host_facts"](__salt__, pending, synnefo_packages)
        ret["changes"] = {
            "hosts": dict(
                (
                    n,
                    {
                        "codename_before": before[n]["codename"],
                        "codename_after": after[n]["codename"],
                        "snf_common_before": before[n]["snf_common"],
                        "snf_common_after": after[n]["snf_common"],
                        "own_versions_before": before[n]["own_versions"],
                        "own_versions_after": after[n]["own_versions"],
                    },
                )
                for n in pending
            ),
            "migrations": databases,
            "warnings": _warnings(results) + [KAMAKI_NOTE],
            "steps": phase.done,
            "timeline": timeline,
        }
        _add_ip_history(ret, results, ip_history_minion)
        ret["comment"] = "service nodes upgraded: {}; {}".format(", ".join(pending), KAMAKI_NOTE)
        _fire("services", "phase", "done", nodes=pending)
        return ret
    except StepFailed as exc:
        down = _what_is_down(ret["changes"].get("timeline", []))
        return dict(ret, result=False, comment="{}{} (run the orchestration again to resume)".format(exc.error, down))
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=exc.error)
    finally:
        __utils__["synnefo_orch.end_run"](lock, _NOTIFY, ret)
