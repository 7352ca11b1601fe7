"""
The Ganeti phase of the upgrade, run by the orchestration on the salt-master (upgrade guide,
"Upgrade Ganeti nodes": one node at a time, evacuate it, stop archipelago, upgrade it to
jessie, reboot it, migrate its VMs back).

.. code-block:: yaml

    synnefo-upgrade-orch-preflight-passed:
      ganeti_rolling.preflight_passed:
        - name: synnefo upgrade preflight
        - failhard: True

    synnefo-upgrade-orch-ganeti-nodes-upgraded:
      ganeti_rolling.nodes_upgraded:
        - name: ganeti nodes
        - reboot_timeout: 900
        - require:
          - ganeti_rolling: synnefo-upgrade-orch-preflight-passed

These states talk to the minions through ``saltutil.cmd`` and to Ganeti through the
``ganeti_rolling`` execution module on its master node; minion ids are the Ganeti node
names. A cloud with several Ganeti clusters has each node in the cluster Ganeti names on it
(``ganeti_rolling.cluster``): the clusters are checked, planned and upgraded side by side,
each in a thread of its own, one node at a time within each. Progress is kept where a crash
of the orchestration cannot lose it: in Ganeti's own node tags (``synnefo-upgrade:stage:<stage>``, ``synnefo-upgrade:vm:<instance>`` for the
instances to bring back), so a second run resumes each node from the step it reached. Every
step fires ``synnefo_upgrade/ganeti/<node>/<step>`` on the master's event bus. In test mode
nothing changes: the states report, per node in order, the instances it would move and
where, the files it would change and the packages it would upgrade.
"""

from __future__ import absolute_import, print_function, unicode_literals

import logging
import re
import threading
import time

import salt.utils.event
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "ganeti_rolling"

TAG = "synnefo-upgrade"


def __virtual__():
    if "saltutil.cmd" not in __salt__:
        return (False, "ganeti_rolling states run on the salt-master (they need saltutil.cmd)")
    if "synnefo_orch.call" not in __utils__:
        return (False, "the formula's synnefo_orch utils are not synced (salt-run saltutil.sync_all)")
    return __virtualname__


class StepFailed(CommandExecutionError):
    """A step of one node failed; the message names the node and the step. ``safe``: the
    message still needs the standard note (the node drained, its VMs elsewhere)."""

    def __init__(self, message, safe=True):
        super(StepFailed, self).__init__(message)
        self.safe = safe


# --- talking to the minions (synnefo_orch, shared with the service phase) ------------------


def _call(minion, fun, args=(), kwargs=None, timeout=None, check=True):
    return __utils__["synnefo_orch.call"](__salt__, minion, fun, args, kwargs, timeout=timeout, check=check)


def _run(minion, command):
    return __utils__["synnefo_orch.run"](__salt__, minion, command)


def _sls(minion, mods, test=False, pillar=None):
    return __utils__["synnefo_orch.sls"](__salt__, minion, mods, test=test, pillar=pillar)


# The webhook (pillar orchestration:notify:webhook), what its messages carry besides the
# event, and what it could not be told: set by the phase's state for its run.
_NOTIFY = {"webhook": None, "context": {"phase": "ganeti"}, "warnings": []}


def _fire(node, step, outcome, **data):
    data.update(node=node, step=step, outcome=outcome)
    if node in _CLUSTER_OF:
        data.setdefault("cluster", _CLUSTER_OF[node])
    __utils__["synnefo_orch.fire"](__opts__, "synnefo_upgrade/ganeti/{}/{}".format(node, step), data, hook=_NOTIFY)


def _ganeti_master(nodes):
    for node in nodes:
        try:
            return _run(node, ["gnt-cluster", "getmaster"])["stdout"].strip()
        except CommandExecutionError:
            continue
    raise CommandExecutionError("no Ganeti node answered gnt-cluster getmaster")


def _role_minions():
    return __utils__["synnefo_orch.role_minions"](__salt__)


def _ganeti_nodes(role_minions=None):
    role_minions = _role_minions() if role_minions is None else role_minions
    return sorted(m for m, roles in role_minions.items() if "ganeti" in roles)


# --- where a node stands ------------------------------------------------------------------


def _version_cmp(left, right):
    """Debian's order of two versions, computed here (no minion asked)."""
    return __utils__["synnefo_orch.version_cmp"](left, right)


def _packages_upgraded(node, to_version):
    version = _call(node, "pkg.version", ["snf-common"])
    return bool(version) and _version_cmp(version, to_version) >= 0


def _packages_upgraded_nodes(nodes, to_version):
    """The nodes of ``nodes`` whose snf-common is at ``to_version`` at least (one job)."""
    versions = __utils__["synnefo_orch.call_each"](__salt__, nodes, "pkg.version", ["snf-common"])
    return set(n for n in nodes if versions.get(n) and _version_cmp(versions[n], to_version) >= 0)


def _upgraded_nodes(nodes, to_version):
    """:py:func:`_upgraded` for several nodes, in two jobs: the set of those upgraded."""
    upgraded = _packages_upgraded_nodes(nodes, to_version)
    if not upgraded:
        return upgraded
    booted = __utils__["synnefo_orch.call_each"](__salt__, sorted(upgraded), "file.directory_exists", ["/run/systemd/system"])
    return set(n for n in upgraded if booted.get(n) is True)


def _upgraded(node, to_version):
    """The node runs jessie's packages and was rebooted into them: systemd is its init, which
    /run/systemd/system tells (as sd_booted does); installing systemd-sysv is not enough."""
    if not _packages_upgraded(node, to_version):
        return False
    return _call(node, "file.directory_exists", ["/run/systemd/system"]) is True


def _facts(node, synnefo_packages):
    """``{'codename', 'snf_common', 'own_versions'}`` as the node reports them."""
    return __utils__["synnefo_orch.host_facts"](__salt__, [node], synnefo_packages)[node]


def _tags(master, node):
    return _call(master, "ganeti_rolling.tags", [node])


def _all_tags(master, nodes):
    """``{node: the upgrade's tags}`` for ``nodes``, in one call on the master."""
    found = _call(master, "ganeti_rolling.all_tags")
    return dict((n, found.get(n, [])) for n in nodes)


# What a node's tags keep of the instances it held when its upgrade began, and what brings
# each back: a running instance migrates back, a stopped one fails over back (stopped), one
# shut down for the upgrade (pillar allow_downtime) starts again.
RECORD_KINDS = ("vm", "stopped", "down")


def _progress(tags):
    """A node's tags of an unfinished upgrade (its stage, the instances to bring back, the
    step that failed)."""
    prefixes = tuple("{}:{}:".format(TAG, kind) for kind in ("stage", "since", "failed", "shut-down") + RECORD_KINDS)
    return [t for t in tags if t.startswith(prefixes)]


def _stage(tags):
    for tag in tags:
        if tag.startswith(TAG + ":stage:"):
            return tag.split(":", 2)[2]
    return None


def _recorded(tags):
    """``{instance: 'vm' | 'stopped' | 'down'}`` from a node's tags."""
    found = {}
    for tag in tags:
        parts = tag.split(":", 2)
        if len(parts) == 3 and parts[0] == TAG and parts[1] in RECORD_KINDS:
            found[parts[2]] = parts[1]
    return found


def _shut_down_since(tags):
    """When this node's instances allowed downtime were shut down (``shut-down:EPOCH``), by
    this run or an interrupted one; None when they were not."""
    for tag in tags:
        if tag.startswith(TAG + ":shut-down:") and tag.rsplit(":", 1)[1].isdigit():
            return int(tag.rsplit(":", 1)[1])
    return None


def _recorded_instances(tags):
    return sorted(_recorded(tags))


def _set_stage(master, node, stage):
    return _call(master, "ganeti_rolling.set_stage", [node, stage])


# --- preflight ----------------------------------------------------------------------------


def _as_restored(cluster, instances, resuming):
    """The cluster as it will be once the nodes an interrupted run left drained have their
    VMs back: the room the next nodes' evacuations can count on."""
    cluster = dict((n, dict(info)) for n, info in cluster.items())
    instances = dict((i, dict(info)) for i, info in instances.items())
    for node, tags in resuming.items():
        cluster[node]["drained"] = False
        for instance in _recorded_instances(tags):
            if instance in instances and instances[instance]["pnode"] != node:
                cluster[instances[instance]["pnode"]]["mfree"] += instances[instance]["memory"]
                cluster[node]["mfree"] -= instances[instance]["memory"]
                instances[instance]["pnode"] = node
    return cluster, instances


def _codenames(nodes):
    """Each Ganeti node's Debian codename, as its minion reports it (None when silent)."""
    answered = __salt__["saltutil.cmd"](nodes, "grains.get", arg=["oscodename"], tgt_type="list", timeout=30)
    return dict((n, (answered.get(n) or {}).get("ret") if isinstance(answered.get(n), dict) else None) for n in nodes)


# What a half-upgraded cluster shows in gnt-cluster verify and that is no fault (ganeti/ganeti
# v2.10.7 lib/cmdlib/cluster.py): Ganeti's own version and DRBD's differ between wheezy and
# jessie nodes (warnings), and an OS definition may differ between the two builds of its
# package (ENODEOS "differs from reference node", an error).
_MIXED_WARNINGS = ("software version mismatch", "DRBD version mismatch")
_OS_DIFFERS = re.compile(r"differs from reference node (\S+?):")
# "disk/0 on gnt2 is degraded" (lib/cmdlib/cluster.py _VerifyInstance)
_FAULTY_DISK = re.compile(r"^disk/\d+ on (\S+)")


def _judge_verify(found, codenames, resuming=()):
    """``(problems, tolerated)`` from :py:func:`ganeti_rolling.verify`'s answer: each
    difference a half-upgraded cluster must have is tolerated (with why) while its nodes run
    different codenames, and is a problem once they all run the same; what an interrupted
    run left on its own node is tolerated while it resumes; every other error is a problem."""
    problems, tolerated = [], []
    mixed = len(set(c for c in codenames.values() if c)) > 1
    for level, entries in (("ERROR", found["errors"]), ("WARNING", found["warnings"])):
        for entry in entries:
            text = "{} {} {}: {}".format(level, entry["kind"], entry["item"], entry["message"]).strip()
            reference = _OS_DIFFERS.search(entry["message"])
            disk = _FAULTY_DISK.match(entry["message"]) if entry["code"] == "EINSTANCEFAULTYDISK" else None
            if (entry["kind"] == "node" and entry["item"] in resuming) or (disk and disk.group(1) in resuming):
                tolerated.append("{} (its node is the interrupted run's, being resumed)".format(text))
            elif entry["code"] == "ENODEOS" and reference and codenames.get(entry["item"]) != codenames.get(reference.group(1)):
                tolerated.append(
                    "{} (a {} node against a {} one: the OS definition's two builds)".format(
                        text, codenames.get(entry["item"]), codenames.get(reference.group(1))
                    )
                )
            elif any(w in entry["message"] for w in _MIXED_WARNINGS):
                if mixed:
                    tolerated.append("{} (wheezy and jessie nodes side by side during the rolling upgrade)".format(text))
                else:
                    problems.append("{} (every node runs {} now: the versions must agree)".format(text, next(iter(codenames.values()))))
            elif level == "ERROR":
                problems.append(text)
    return problems, tolerated


def _verify_problems(master, nodes, resuming=()):
    found = _call(master, "ganeti_rolling.verify")
    return _judge_verify(found, _codenames(nodes), resuming)


def _ganeti_problems(nodes, to_version, allow_downtime=(), include=None, exclude=None):
    """Each Ganeti cluster's problems (:py:func:`_cluster_problems`), and the nodes an
    interrupted run left in the middle of their upgrade."""
    try:
        groups = _clusters(nodes, include, exclude)
    except CommandExecutionError as exc:
        return [exc.error], {}
    problems, resuming = [], {}
    names = sorted(groups)
    jobs = [_in_this_context(lambda members=groups[c]: _cluster_problems(members, to_version, allow_downtime)) for c in names]
    for cluster, (ok, answer) in zip(names, __utils__["synnefo_orch.in_parallel"](jobs, len(jobs))):
        found, left = answer if ok else (["Ganeti's checks could not run: {}".format(getattr(answer, "error", answer))], {})
        problems += found if len(groups) == 1 else ["cluster {}: {}".format(cluster, p) for p in found]
        resuming.update(left)
    return problems, resuming


def _cluster_problems(nodes, to_version, allow_downtime=()):
    problems = []
    master = _ganeti_master(nodes)
    all_tags = _all_tags(master, nodes)
    resuming = dict((n, _progress(tags)) for n, tags in all_tags.items())
    resuming = dict((n, tags) for n, tags in resuming.items() if tags)
    errors, _tolerated = _verify_problems(master, nodes, resuming)
    if errors:
        problems.append("{}: gnt-cluster verify is not clean: {}".format(master, " | ".join(errors)))
    cluster = _call(master, "ganeti_rolling.nodes")
    # A candidate an interrupted run drained (Ganeti demoted it) is one again at the end.
    if not [n for n, info in cluster.items() if (info["master_candidate"] or CANDIDATE_TAG in all_tags[n]) and not info["master"]]:
        problems.append("{}: no master candidate besides the master (the master's turn needs a failover)".format(master))
    cluster, instances = _as_restored(cluster, _call(master, "ganeti_rolling.instances"), resuming)
    upgraded = _packages_upgraded_nodes(sorted(n for n in cluster if n in nodes), to_version)
    to_plan = sorted(n for n in cluster if n not in resuming and n not in upgraded)
    plans = _call(
        master,
        "ganeti_rolling.plan_evacuations",
        [to_plan],
        {"cluster_nodes": cluster, "cluster_instances": instances, "allow_downtime": list(allow_downtime)},
    )
    for node in to_plan:
        plan = plans[node]
        for instance, why in sorted(plan["refused"].items()):
            problems.append(
                "{}: {} ({}) cannot leave it without downtime: {}; list it under "
                "synnefo_upgrade:orchestration:allow_downtime to have it shut down during its node's upgrade".format(
                    node, instance, instances[instance]["disk_template"], why
                )
            )
        if plan["missing"]:
            short = ", ".join("{} {} MiB short".format(i, m) for i, m in sorted(plan["missing"].items()))
            problems.append(
                "{}: its VMs do not fit on the other nodes while it is drained: {} MiB missing ({}; counting {})".format(
                    node, sum(plan["missing"].values()), short, plan["memory_figure"]
                )
            )
    return problems, resuming


def _preflight_problems(from_version, to_version, from_codename, synnefo_packages, allow_downtime=(), include=None, exclude=None):
    problems = []
    # The formula's execution modules on every minion, as a state run would sync them.
    __salt__["saltutil.cmd"]("*", "saltutil.sync_modules", timeout=60)
    expected = _role_minions()
    answered = __salt__["saltutil.cmd"]("*", "grains.item", arg=["oscodename", "roles"], timeout=30)
    for minion in sorted(expected):
        if minion not in answered:
            problems.append("{}: the minion does not answer".format(minion))
    nodes = [n for n in _ganeti_nodes(expected) if n in answered]
    # Service nodes an interrupted service phase left (their stage kept on each host).
    progress = __salt__["saltutil.cmd"]("*", "synnefo_files.progress", timeout=30)
    in_progress = set(
        m
        for m, answer in progress.items()
        if isinstance(answer, dict)
        and isinstance(answer.get("ret"), dict)
        and answer["ret"].get("phase") == "services"
        and answer["ret"].get("stage") != "done"
    )
    ganeti_problems, resuming = _ganeti_problems(nodes, to_version, allow_downtime, include, exclude) if nodes else ([], {})
    upgraded_hosts = 0
    # A node an interrupted run left in the middle of its upgrade is the run's to finish.
    checked = sorted(m for m in expected if m in answered and m not in resuming and m not in in_progress)
    # Each question to every host in one job: the plan and the run wait for the slowest host once.
    listed = __utils__["synnefo_orch.answers"](__salt__, checked, "pkg.list_pkgs") if checked else {}
    audits = __utils__["synnefo_orch.answers"](__salt__, checked, "apt_jessie.audit") if checked else {}
    for minion in checked:
        try:
            codename = answered[minion]["ret"]["oscodename"]
            for ok, value in (listed[minion], audits[minion]):
                if not ok:
                    raise CommandExecutionError(value)
            # Synnefo's own packages move together; the other snf-* have versions of their own.
            packages = dict((name, version) for name, version in listed[minion][1].items() if name in synnefo_packages)
            audit = audits[minion][1]
        except (CommandExecutionError, KeyError, TypeError, AttributeError) as exc:
            problems.append("{}: cannot be checked: {}".format(minion, getattr(exc, "error", exc)))
            continue
        if packages and all(_version_cmp(v, to_version) >= 0 for v in packages.values()):
            upgraded_hosts += 1
            continue
        wrong = sorted("{} {}".format(n, v) for n, v in packages.items() if v != from_version)
        if not packages:
            problems.append("{}: no Synnefo package installed".format(minion))
        elif wrong:
            problems.append("{}: Synnefo must be exactly {} everywhere, found {}".format(minion, from_version, ", ".join(wrong)))
        if codename != from_codename:
            problems.append("{}: Debian {} (expected {})".format(minion, codename, from_codename))
        if audit:
            problems.append("{}: dpkg --audit reports unfinished work: {}".format(minion, " | ".join(audit)))
    return problems + ganeti_problems, upgraded_hosts, len(expected)


def preflight_passed(
    name,
    from_version="0.18.1-1~wheezy",
    to_version="0.19-1~jessie",
    from_codename="wheezy",
    databases=None,
    synnefo_packages=None,
    allow_downtime=None,
    clusters=None,
    exclude_clusters=None,
):
    """
    Check, changing nothing, that the cloud can be upgraded: every minion with a role answers,
    runs Debian ``from_codename`` with every package of ``synnefo_packages`` it has at exactly
    ``from_version`` (or is already fully on ``to_version``), ``dpkg --audit`` is clean,
    ``gnt-cluster verify`` is clean, a master candidate besides the master exists, and each
    Ganeti node's VMs fit in the other nodes' free memory. Any failure names every offending
    host and why. Runs in test mode too (it only reads).

    name
        A label for the step.

    synnefo_packages
        The packages built from Synnefo's own source tree (pillar
        ``synnefo_upgrade:synnefo_packages``; default: snf-common alone). Other ``snf-*``
        packages (snf-image, snf-ganeti...) have versions of their own and are not checked.

    databases
        The formula's ``synnefo_upgrade:databases``: a service migrated without a backup
        command is reported as a warning.

    allow_downtime
        Instances that may be shut down during their node's upgrade (pillar
        ``synnefo_upgrade:orchestration:allow_downtime``): those whose disks cannot move
        (``plain``, ``file``...) or that Ganeti always fails over.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    warnings = [
        "warning: no backup command for the {} database (pillar synnefo_upgrade:databases:{}:backup)".format(s, s)
        for s, d in sorted((databases or {}).items())
        if d.get("minion") and not d.get("backup")
    ]
    try:
        problems, upgraded, total = _preflight_problems(
            from_version, to_version, from_codename, synnefo_packages or ["snf-common"], allow_downtime or [], clusters, exclude_clusters
        )
    except CommandExecutionError as exc:
        problems, upgraded, total = ["preflight could not run: {}".format(exc)], 0, 0
    if problems:
        ret["result"] = False
        ret["comment"] = "preflight failed, nothing was changed:\n" + "\n".join("- " + p for p in problems)
        return ret
    ret["comment"] = "; ".join(["preflight passed: {} hosts checked, {} already on {}".format(total, upgraded, to_version)] + warnings)
    return ret


# --- the rolling upgrade ------------------------------------------------------------------


class _Run(object):
    """One node's upgrade, step by step, each step skipped when Ganeti's tags and the node
    show it done."""

    def __init__(self, node, nodes, to_version, reboot_timeout, timeline, allow_downtime=(), drbd_sync_timeout=3600):
        self.node = node
        self.nodes = nodes
        self.to_version = to_version
        self.reboot_timeout = reboot_timeout
        self.timeline = timeline  # every step of the phase, with its times (the report's picture)
        self.allow_downtime = list(allow_downtime)
        self.drbd_sync_timeout = drbd_sync_timeout
        self.done = []
        self.failed = None  # the step that failed
        self.tolerated = []  # what gnt-cluster verify showed that a half-upgraded cluster must
        self.downtime = {}  # instance: seconds it was shut down (allowed downtime)
        self.shut_down_at = {}  # instance: when this run shut it down
        self.shut_down = False  # the instances allowed downtime were shut down in this run
        self.resumed_from = None  # the stage an interrupted run left the node in

    def others(self):
        return [n for n in self.nodes if n != self.node]

    def master(self):
        return _ganeti_master(self.others() + [self.node])

    def _mark_failed(self, step):
        """Best effort: a ``failed:<step>`` tag tells synnefo_upgrade.status what stopped (the
        next stage set clears it)."""
        try:
            _call(self.master(), "ganeti_rolling.add_tags", [self.node, "{}:failed:{}".format(TAG, step)])
        except CommandExecutionError as exc:
            log.warning("ganeti_rolling: %s: cannot record the failure in Ganeti's tags: %s", self.node, exc)

    def step(self, step, action, *args):
        _fire(self.node, step, "started")
        log.info("ganeti_rolling: %s: %s", self.node, step)
        try:
            result = self._timed({"step": step}, action, *args)
        except CommandExecutionError as exc:
            _fire(self.node, step, "failed", error=exc.error)
            self.failed = step
            self._mark_failed(step)
            raise StepFailed("{}: step '{}' failed: {}".format(self.node, step, exc.error))
        _fire(self.node, step, "done")
        self.done.append(step)
        return result

    def _timed(self, entry, action, *args):
        """Run ``action`` with its times and outcome kept in the timeline (the report's bars)."""
        entry.update(host=self.node, start=time.time())
        self.timeline.append(entry)
        try:
            result = action(*args)
        except CommandExecutionError as exc:
            entry.update(end=time.time(), outcome="failed", error=exc.error)
            raise
        entry.update(end=time.time(), outcome="done")
        return result

    def migrate(self, master, instance, target, parent):
        """One live migration, under its step in the timeline."""
        entry = {"step": "migrate {} to {}".format(instance, target), "parent": parent}
        self._timed(entry, _call, master, "ganeti_rolling.migrate", [instance, target])

    def failover(self, master, instance, target, parent):
        """A stopped instance moved (it stays stopped), under its step in the timeline."""
        entry = {"step": "fail over stopped {} to {}".format(instance, target), "parent": parent}
        self._timed(entry, _call, master, "ganeti_rolling.failover", [instance, target])

    def wait_in_sync(self, master, parent, node=None):
        """Wait until every running drbd instance (with a replica on ``node``, when given) is
        in sync on both its nodes. The wait is a step of its own in the timeline."""
        self._wait_disks(master, parent, "ganeti_rolling.disks_out_of_sync", [node] if node else [], "DRBD resync of {}")

    def wait_replicas_safe(self, master, parent, late=None):
        """Wait until no running drbd instance with a replica on this node has its other
        replica behind: this node must not take the only up-to-date copy down with it."""
        self._wait_disks(master, parent, "ganeti_rolling.replicas_at_risk", [self.node], "the other replica of {} to be up to date", late)

    def _wait_disks(self, master, parent, fun, args, what, late=None):
        """Poll ``fun`` until it names no disk (``late``: its first answer, when the caller
        has it already)."""
        late = _call(master, fun, args) if late is None else late
        if not late:
            return
        # A replica whose node rebooted resynchronises only once its disks are activated:
        # Ganeti's watcher would, within five minutes, unless an operator paused it.
        activated = _call(master, "ganeti_rolling.activate_disks")
        entry = {"step": "wait for " + what.format(", ".join(sorted(late))), "parent": parent}
        if activated:
            entry["step"] += " (disks activated by gnt-cluster verify-disks: {})".format(", ".join(activated))

        def wait(late):
            deadline = time.time() + self.drbd_sync_timeout
            while late:
                if time.time() > deadline:
                    raise CommandExecutionError(
                        "DRBD disks still not in sync after {} s: {}; see gnt-instance info and /proc/drbd on their nodes, "
                        "then run the orchestration again (pillar synnefo_upgrade:orchestration:drbd_sync_timeout)".format(
                            self.drbd_sync_timeout,
                            "; ".join("{}: {}".format(i, lines) for i, lines in sorted(late.items())),
                        )
                    )
                time.sleep(2)
                late = _call(master, fun, args)

        self._timed(entry, wait, late)

    # the steps

    def download(self):
        return _sls(self.node, "synnefo_upgrade.apt.download")

    def drain(self, master):
        # The stage first: the instances are recorded before anything moves all the same.
        tags = _set_stage(master, self.node, "draining")
        cluster = _call(master, "ganeti_rolling.nodes")
        instances = _call(master, "ganeti_rolling.instances")
        if not _recorded(tags):
            record = []
            for name in cluster[self.node]["primaries"]:
                info = instances[name]
                kind = "stopped" if info["status"] == "ADMIN_down" else "vm"
                if info["how"] == "downtime":
                    kind = "down" if info["status"] == "running" else "stopped"
                record.append("{}:{}:{}".format(TAG, kind, name))
            if record:
                _call(master, "ganeti_rolling.add_tags", [self.node] + record)
        self.wait_in_sync(master, "drain")
        if not cluster[self.node]["drained"]:
            # A master candidate drained is demoted; Ganeti promotes another one when the pool
            # would run short (the set is put back as it was at the end of the phase).
            _run(master, ["gnt-node", "modify", "--drained=yes", "--auto-promote", self.node])
        plan = _call(master, "ganeti_rolling.plan_evacuation", [self.node], {"allow_downtime": self.allow_downtime})
        if plan["missing"] or plan["refused"]:
            reasons = ["{} ({} MiB short)".format(i, m) for i, m in sorted(plan["missing"].items())]
            reasons += ["{} ({})".format(i, why) for i, why in sorted(plan["refused"].items())]
            raise CommandExecutionError("cannot move {} off the node: not touching it".format(", ".join(reasons)))
        for instance, target in sorted(plan["moves"].items()):
            if plan["methods"][instance] == "failover":
                self.failover(master, instance, target, "drain")
            else:
                self.migrate(master, instance, target, "drain")
        left = [i for i in _call(master, "ganeti_rolling.nodes")[self.node]["primaries"] if i not in plan["downtime"]]
        if left:
            raise CommandExecutionError("the node still holds {}: not touching it".format(", ".join(left)))
        return plan["moves"]

    def running_primaries(self, master):
        """The running instances whose primary is this node, as Ganeti lists them now."""
        return _call(master, "ganeti_rolling.running_primaries", [self.node])

    def refuse_with_running_primaries(self, master, action):
        """Right before a dist-upgrade or a reboot, whatever path led here: a running primary
        on the node would go down with it, and so would the only up-to-date replica of a drbd
        disk whose other replica is still behind."""
        blockers = _call(master, "ganeti_rolling.stop_blockers", [self.node])
        if blockers["running_primaries"]:
            raise CommandExecutionError(
                "still the primary of running {}: not {} it".format(", ".join(blockers["running_primaries"]), action)
            )
        if blockers["replicas_at_risk"]:
            self.wait_replicas_safe(master, action.split()[0], blockers["replicas_at_risk"])

    def shut_down_for_upgrade(self, master):
        """The instances allowed downtime (pillar allow_downtime) stop right before their
        node's dist-upgrade; they start again after its reboot."""
        if self.shut_down:
            return
        self.shut_down = True
        recorded = _recorded(_tags(master, self.node))
        if "down" not in recorded.values():
            return
        instances = _call(master, "ganeti_rolling.instances")
        going = sorted(n for n, kind in recorded.items() if kind == "down" and instances.get(n, {}).get("status") == "running")
        if going:
            # Kept with the node: a resumed run measures the whole downtime.
            _call(master, "ganeti_rolling.add_tags", [self.node, "{}:shut-down:{}".format(TAG, int(time.time()))])
        for name in going:
            self.shut_down_at[name] = time.time()
            entry = {"step": "shut down {} (allowed downtime)".format(name), "parent": "upgrade"}
            self._timed(entry, _call, master, "ganeti_rolling.shutdown", [name])

    def upgrade(self, master):
        self.shut_down_for_upgrade(master)
        self.refuse_with_running_primaries(master, "dist-upgrading")
        if self.resumed_from == "upgrading" and _call(self.node, "apt_jessie.audit"):
            # Resuming an upgrade this orchestration left half done (a maintainer script
            # failed): finish dpkg's work first, as an operator would once the cause is fixed.
            _run(self.node, ["dpkg", "--configure", "-a", "--force-confdef", "--force-confold"])
        _set_stage(master, self.node, "upgrading")
        return _sls(self.node, "synnefo_upgrade.apt.dist_upgrade")

    def reboot(self, master):
        self.shut_down_for_upgrade(master)
        self.refuse_with_running_primaries(master, "rebooting")
        _set_stage(master, self.node, "rebooting")
        bus = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=True)
        try:
            # In the background: the minion's answer gets out before the host goes down.
            _call(self.node, "cmd.run_bg", ["sleep 1; reboot"], {"python_shell": True})
            deadline = time.time() + self.reboot_timeout
            tag = "salt/minion/{}/start".format(self.node)
            while bus.get_event(wait=5, tag=tag) is None:
                if time.time() > deadline:
                    raise CommandExecutionError(
                        "did not come back within {} s of its reboot (no {} event)".format(self.reboot_timeout, tag)
                    )
        finally:
            bus.destroy()
        for _attempt in range(30):
            answer = __salt__["saltutil.cmd"](self.node, "test.ping", timeout=10)
            if answer.get(self.node, {}).get("ret") is True:
                return True
            time.sleep(2)
        raise CommandExecutionError("booted but its minion does not answer")

    def restore(self, master):
        tags = _set_stage(master, self.node, "restoring")
        codename = _call(self.node, "grains.get", ["oscodename"])
        if codename != "jessie":
            raise CommandExecutionError("runs {} after the upgrade, not jessie".format(codename))
        for service in ("ganeti", "archipelago"):
            if not _call(self.node, "service.status", [service]):
                raise CommandExecutionError("{} is not running after the reboot".format(service))
        # The node's DRBD replicas catch up now that it is back: verify would call them
        # degraded until they have.
        self.wait_in_sync(master, "restore", self.node)
        self.tolerated += _verify(master, self.nodes)
        _run(master, ["gnt-node", "modify", "--drained=no", self.node])
        recorded = _recorded(tags)
        instances = _call(master, "ganeti_rolling.instances")
        for name, kind in sorted(recorded.items()):
            info = instances.get(name)
            if info is None or info["pnode"] == self.node:
                continue
            if kind == "stopped":
                self.failover(master, name, self.node, "restore")
            else:
                self.migrate(master, name, self.node, "restore")
        for name in sorted(n for n, kind in recorded.items() if kind == "down"):
            if instances.get(name, {}).get("status") != "running":
                entry = {"step": "start {} (allowed downtime)".format(name), "parent": "restore"}
                self._timed(entry, _call, master, "ganeti_rolling.startup", [name])
                since = self.shut_down_at.get(name, _shut_down_since(tags))
                if since is not None:
                    self.downtime[name] = round(time.time() - since, 1)
        instances = _call(master, "ganeti_rolling.instances")
        wanted = {"vm": "running", "down": "running", "stopped": "ADMIN_down"}
        misplaced = [
            "{} ({} on {})".format(n, instances[n]["status"], instances[n]["pnode"])
            for n, kind in sorted(recorded.items())
            if n in instances and (instances[n]["pnode"] != self.node or instances[n]["status"] != wanted[kind])
        ]
        if misplaced:
            raise CommandExecutionError("not back on it as they were: {}".format(", ".join(misplaced)))
        _call(master, "ganeti_rolling.remove_tags", [self.node] + _progress(_tags(master, self.node)))
        return sorted(recorded)

    def undo(self, master):
        """After a failure before the node's dist-upgrade began (its stage still
        ``draining``): the node as it was before this run touched it, undrained, each recorded
        instance back (migrated, failed over back stopped, started again after an allowed
        shutdown), its progress tags gone. Return ``(undone, left)``: what was put back, and
        what could not be (the node then stays drained, its tags kept for a resume)."""
        tags = _tags(master, self.node)
        if _stage(tags) != "draining":
            return [], []
        recorded = _recorded(tags)
        undone, left = [], []

        def attempt(what, action, *args):
            entry = {"step": "undo: " + what, "parent": "undo"}
            try:
                self._timed(entry, action, *args)
                undone.append(what)
            except CommandExecutionError as exc:
                left.append("{} ({})".format(what, exc.error))

        if _call(master, "ganeti_rolling.nodes")[self.node]["drained"]:
            attempt("undrain {}".format(self.node), _run, master, ["gnt-node", "modify", "--drained=no", self.node])
        instances = _call(master, "ganeti_rolling.instances")
        for name in sorted(recorded):
            info = instances.get(name)
            if info is None or info["pnode"] == self.node or left:
                continue
            if info["status"] == "ADMIN_down":
                attempt("fail {} back over to {}".format(name, self.node), _call, master, "ganeti_rolling.failover", [name, self.node])
            else:
                attempt("migrate {} back to {}".format(name, self.node), _call, master, "ganeti_rolling.migrate", [name, self.node])
        shut_down = set(self.shut_down_at) | (set(recorded) if _shut_down_since(tags) else set())
        for name in sorted(n for n, kind in recorded.items() if kind == "down" and n in shut_down):
            if instances.get(name, {}).get("status") == "ADMIN_down":
                attempt("start {} again".format(name), _call, master, "ganeti_rolling.startup", [name])
        if not left:
            _call(master, "ganeti_rolling.remove_tags", [self.node] + _progress(_tags(master, self.node)))
        return undone, left


def _wait_idle(node, timeout=1800):
    """Wait until no state run is going on on the node: an orchestration killed in the middle
    of a node leaves its minion's job (a dist-upgrade) running, which a rerun must not race."""
    deadline = time.time() + timeout
    while True:
        running = [job for job in (_call(node, "saltutil.running") or []) if str(job.get("fun", "")).startswith("state.")]
        if not running:
            return
        if time.time() > deadline:
            raise CommandExecutionError(
                "{}: a state run ({}) is still going on after {} s".format(node, ", ".join(str(job.get("jid")) for job in running), timeout)
            )
        log.info("ganeti_rolling: %s: waiting for %d running state job(s) to end", node, len(running))
        time.sleep(5)


def _verify(master, nodes):
    """``gnt-cluster verify`` judged by :py:func:`_judge_verify`: fail on any problem, return
    what was tolerated (and why)."""
    problems, tolerated = _verify_problems(master, nodes)
    if problems:
        raise CommandExecutionError("gnt-cluster verify failed: {}".format(" | ".join(problems)))
    for line in tolerated:
        log.info("ganeti_rolling: gnt-cluster verify: tolerated %s", line)
    return tolerated


EVENTD_DEFAULTS = "/etc/default/snf-ganeti-eventd"


def _eventd_text(minion, enabled):
    """The minion's defaults file with SNF_EVENTD_ENABLE set, or ``None`` when it has none or
    it is set so already."""
    text = _call(minion, "synnefo_files.read", [EVENTD_DEFAULTS])
    if text is None:
        return None
    wanted = "SNF_EVENTD_ENABLE={}".format("true" if enabled else "false")
    lines = [wanted if line.startswith("SNF_EVENTD_ENABLE=") else line for line in text.split("\n")]
    new = "\n".join(lines)
    if wanted not in lines:
        new = new.rstrip("\n") + "\n" + wanted + "\n"
    return None if new == text else new


def _eventd_enabled(minion, enabled):
    """Set SNF_EVENTD_ENABLE in the minion's defaults file (through synnefo_files: backup,
    owner and mode kept); wheezy's init script honours it, jessie's unit ignores it."""
    new = _eventd_text(minion, enabled)
    if new is not None:
        # As keyword arguments: Salt would take a positional "NAME=value" for one.
        _call(minion, "synnefo_files.replace", kwargs={"path": EVENTD_DEFAULTS, "new_text": new})


def _predict_failover(predicted, master, candidate):
    """The master failover's edit of snf-ganeti-eventd's defaults on both nodes (enabled on the
    candidate, disabled on the master; set back when the role returns), into their plans."""
    for node, enabled in ((candidate, True), (master, False)):
        new = _eventd_text(node, enabled)
        if new is None:
            continue
        entry = predicted.setdefault(
            node,
            {
                "moves": {},
                "missing": {},
                "free_mib": {},
                "packages": {},
                "download_bytes": 0,
                "services": [],
                "warnings": [],
                "files": [],
                "diffs": {},
            },
        )
        entry["diffs"][EVENTD_DEFAULTS] = _call(node, "synnefo_files.diff", kwargs={"path": EVENTD_DEFAULTS, "new_text": new})
        entry["files"] = sorted(set(entry["files"]) | {EVENTD_DEFAULTS})


def _move_master(new, old):
    """Make ``new`` the Ganeti master (run on it, as Ganeti wants), snf-ganeti-eventd with it."""
    _run(new, ["gnt-cluster", "master-failover"])
    _eventd_enabled(new, True)
    _call(new, "service.start", ["snf-ganeti-eventd"])
    _call(old, "service.stop", ["snf-ganeti-eventd"])
    _eventd_enabled(old, False)
    _fire(new, "master-failover", "done", old=old)


CANDIDATE_TAG = TAG + ":was-candidate"
NOT_CANDIDATE_TAG = TAG + ":was-not-candidate"


def _record_candidates(master, nodes):
    """Once per upgrade, the master candidate set as it was before anything changed, in each
    node's tags (a resumed run keeps the first record)."""
    cluster = _call(master, "ganeti_rolling.nodes")
    if any(t in (CANDIDATE_TAG, NOT_CANDIDATE_TAG) for n in nodes for t in _tags(master, n)):
        return
    for node in nodes:
        _call(master, "ganeti_rolling.add_tags", [node, CANDIDATE_TAG if cluster[node]["master_candidate"] else NOT_CANDIDATE_TAG])


def _restore_candidates(master, nodes):
    """Put the master candidate set back as recorded (draining demoted nodes, Ganeti promoted
    others): promote first, then demote, so that the pool never runs short. Return what was
    done and what could not be, with why."""
    tags = dict((n, _tags(master, n)) for n in nodes)
    wanted = dict((n, CANDIDATE_TAG in t) for n, t in tags.items() if CANDIDATE_TAG in t or NOT_CANDIDATE_TAG in t)
    cluster = _call(master, "ganeti_rolling.nodes")
    done, failed = [], []
    changes = [(n, True) for n in sorted(wanted) if wanted[n] and not cluster[n]["master_candidate"]]
    changes += [(n, False) for n in sorted(wanted) if not wanted[n] and cluster[n]["master_candidate"] and not cluster[n]["master"]]
    for node, value in changes:
        try:
            _run(master, ["gnt-node", "modify", "--master-candidate={}".format("yes" if value else "no"), node])
            done.append("{} {}".format(node, "promoted back to master candidate" if value else "demoted back to a regular node"))
        except CommandExecutionError as exc:
            failed.append("{}: could not be {}: {}".format(node, "promoted" if value else "demoted", exc.error))
    for node, node_tags in tags.items():
        recorded = [t for t in node_tags if t in (CANDIDATE_TAG, NOT_CANDIDATE_TAG)]
        if recorded:
            _call(master, "ganeti_rolling.remove_tags", [node] + recorded)
    return done, failed


def _failover_target(master, done):
    """The upgraded node the master role goes to: a master candidate (Ganeti wants one),
    promoted first when none of them is."""
    cluster = _call(master, "ganeti_rolling.nodes")
    candidates = [n for n in done if cluster[n]["master_candidate"]]
    if candidates:
        return candidates[0]
    _run(master, ["gnt-node", "modify", "--master-candidate=yes", done[0]])
    return done[0]


def _finish_master(nodes, home, return_master, ret):
    """The master role back home (unless asked to leave it), snf-ganeti-eventd on the master,
    the candidate set as it was, the home tag gone, and a clean verify."""
    master = _ganeti_master(nodes)
    # The candidates first: the role returns only to a master candidate, which the home
    # node was (draining it demoted it).
    done, failed = _restore_candidates(master, nodes)
    if done or failed:
        ret["changes"]["master_candidates"] = {"restored": done, "not_restored": failed}
    if return_master and master != home:
        _move_master(home, master)
        ret["changes"]["master"] = "returned to {}".format(home)
        master = home
    else:
        _eventd_enabled(master, True)
        _call(master, "service.start", ["snf-ganeti-eventd"])
    _call(master, "ganeti_rolling.remove_tags", [home, "{}:master-home".format(TAG)])
    # Every node upgraded: no difference is tolerated any more.
    _verify(master, nodes)
    return failed


def _order(nodes, master, wanted):
    wanted = wanted or []
    ordered = [n for n in wanted if n in nodes] + sorted(n for n in nodes if n not in wanted)
    return [n for n in ordered if n != master] + ([master] if master in nodes else [])


def _lock():
    return __utils__["synnefo_orch.lock"](__opts__, "orchestration")


def _predict(nodes, master, synnefo_packages, allow_downtime=()):
    """Each node's evacuation plan (with the targets' free memory), its dist-upgrade's dry run
    (on all the nodes in one job) and its own-versioned snf-* packages before and after."""
    dry_runs = __utils__["synnefo_orch.sls_on_each"](__salt__, nodes, "synnefo_upgrade.apt.dist_upgrade", test=True)
    installed = __utils__["synnefo_orch.call_each"](__salt__, nodes, "pkg.list_pkgs")
    predicted = {}
    plans = _call(master, "ganeti_rolling.plan_evacuations", [list(nodes)], {"allow_downtime": list(allow_downtime)})
    for node in nodes:
        plan = plans[node]
        predicted[node] = dict(
            __utils__["synnefo_orch.predicted"](dry_runs[node]),
            moves=plan["moves"],
            methods=plan["methods"],
            downtime=plan["downtime"],
            refused=plan["refused"],
            missing=plan["missing"],
            free_mib=plan["free"],
            memory_figure=plan["memory_figure"],
        )
        predicted[node]["own_versions"] = __utils__["synnefo_orch.own_versions_planned"](
            installed[node], predicted[node]["packages"], synnefo_packages
        )
    return predicted


def _instance_states(master, nodes=None):
    """``{instance: (primary, status)}``; with ``nodes``, as the cluster will be once the nodes
    an interrupted run left have their instances back (what the health gate expects)."""
    states = dict((name, (info["pnode"], info["status"])) for name, info in _call(master, "ganeti_rolling.instances").items())
    wanted = {"vm": "running", "down": "running", "stopped": "ADMIN_down"}
    for node in nodes or ():
        for name, kind in _recorded(_tags(master, node)).items():
            if name in states:
                states[name] = (node, wanted[kind])
    return states


def _health_failures(master, nodes, baseline):
    """What is not healthy now, one text per failed check (none: healthy): ``gnt-cluster
    verify`` (what a half-upgraded cluster must show aside), every DRBD disk in sync, every
    instance where and as it was at the run's start, every minion of the cluster answering."""
    failures = []
    answered = __salt__["saltutil.cmd"](list(nodes), "test.ping", tgt_type="list", timeout=10)
    silent = [n for n in nodes if (answered.get(n) or {}).get("ret") is not True]
    if silent:
        failures.append("minions: {} did not answer".format(", ".join(silent)))
        return failures  # Ganeti's checks need the master's minion
    problems, _tolerated = _verify_problems(master, nodes)
    if problems:
        failures.append("gnt-cluster verify: " + " | ".join(problems))
    late = _call(master, "ganeti_rolling.disks_out_of_sync")
    if late:
        failures.append("DRBD disks not in sync: " + ", ".join(sorted(late)))
    now = _instance_states(master)
    changed = [
        "{} {} on {} (was {} on {})".format(n, now[n][1], now[n][0], was[1], was[0])
        for n, was in sorted(baseline.items())
        if now.get(n) != was
    ]
    if changed:
        failures.append("instances not as they were: " + ", ".join(changed))
    return failures


def _health_gate(master, nodes, baseline, gate, timeline):
    """Wait for ``gate['passes']`` consecutive healthy looks, ``gate['interval']`` s apart,
    within ``gate['timeout']`` s; the wait is a step of its own in the timeline. An error
    naming the check that failed last when the time runs out."""
    passes, interval, timeout = int(gate.get("passes", 0)), float(gate.get("interval", 10)), float(gate.get("timeout", 600))
    entry = {"step": "health gate ({} passes, {:g} s apart)".format(passes, interval), "host": master, "start": time.time()}
    timeline.append(entry)
    deadline, streak, last = time.time() + timeout, 0, []
    while True:
        last = _health_failures(master, nodes, baseline)
        streak = 0 if last else streak + 1
        if streak >= passes:
            entry.update(end=time.time(), outcome="done")
            return
        if time.time() + (interval if not last else 0) > deadline:
            error = "health gate: not {} healthy looks in a row within {:g} s; last: {}".format(
                passes, timeout, "; ".join(last) or "healthy"
            )
            entry.update(end=time.time(), outcome="failed", error=error)
            raise StepFailed(error + "; the next node was not touched; run the orchestration again to go on", safe=False)
        time.sleep(interval)


def _upgrade_node(run, node, nodes, order, pending, to_version, synnefo_packages, ret):
    """One node's turn: the master role away first when it is the master, then its steps
    from the stage it was left in."""
    _fire(node, "node", "started")
    before = _facts(node, synnefo_packages)
    master = _ganeti_master(nodes)
    if node == master:
        done = [n for n in order if n != node and n not in pending]
        done += [n for n in order if n != node and n in pending and _upgraded(n, to_version) and not _progress(_tags(master, n))]
        if not done:
            raise StepFailed("{}: no upgraded master candidate to fail the master role over to".format(node))
        target = _failover_target(master, done)
        run.step("master-failover", _move_master, target, node)
        master = target
    run.resumed_from = _stage(_tags(master, node))
    if run.resumed_from is not None:
        _wait_idle(node)
    if not _upgraded(node, to_version):
        if not _packages_upgraded(node, to_version):
            if run.resumed_from is None:
                run.step("download", run.download)
            run.step("drain", run.drain, master)
            run.step("upgrade", run.upgrade, master)
        elif run.running_primaries(master):
            # Upgraded by a highstate or by hand, not rebooted yet, its VMs still on
            # it: they move away before the reboot, as on every other path.
            run.step("drain", run.drain, master)
        run.step("reboot", run.reboot, master)
    run.step("restore", run.restore, master)
    after = _facts(node, synnefo_packages)
    ret["changes"][node] = {
        "steps": run.done,
        "codename_before": before["codename"],
        "codename_after": after["codename"],
        "snf_common_before": before["snf_common"],
        "snf_common_after": after["snf_common"],
        "own_versions_before": before["own_versions"],
        "own_versions_after": after["own_versions"],
    }
    if run.tolerated:
        ret["changes"][node]["verify_tolerated"] = run.tolerated
    if run.downtime:
        ret["changes"][node]["downtime_seconds"] = run.downtime
    _fire(node, "node", "done")


def nodes_upgraded(
    name,
    to_version="0.19-1~jessie",
    node_order=None,
    reboot_timeout=900,
    return_master=True,
    synnefo_packages=None,
    allow_downtime=None,
    drbd_sync_timeout=3600,
    stop_after=0,
    undo_on_failure=True,
    health_gate=None,
    notify=None,
    window=None,
    parallel_clusters=0,
    continue_other_clusters=False,
    clusters=None,
    exclude_clusters=None,
):
    """
    Upgrade every Ganeti node, strictly one at a time in each Ganeti cluster (pillar
    ``synnefo_upgrade:orchestration:node_order``, else by name; the Ganeti master last, after
    a master failover to an upgraded master candidate): download the packages while its VMs
    still run, record its primaries in its tags, wait for every DRBD disk to be in sync, drain
    it (``--auto-promote``), live-migrate its running primaries away (``drbd`` ones to their
    secondary) and fail its stopped ones over (they stay stopped), shut down the instances
    allowed downtime, stop archipelago and dist-upgrade it (``synnefo_upgrade.apt.dist_upgrade``),
    reboot it and wait for its minion, check it, undrain it and bring every instance back as it
    was. Never dist-upgrades or reboots a node holding a running primary, or the only
    up-to-date replica of a DRBD disk. At the end the master candidate set is put back as it
    was and ``gnt-cluster verify`` must be clean. Stops at the first failure, naming the node
    and the step; a node left drained keeps its VMs running elsewhere. Run again, it skips
    finished nodes and resumes the interrupted one.

    name
        A label for the step.

    node_order
        Ganeti nodes to upgrade first, in this order (the others follow by name).

    reboot_timeout
        Seconds to wait for a node's minion to start again after its reboot.

    return_master
        Give the master role (and snf-ganeti-eventd) back to the original master at the end.

    synnefo_packages
        The packages built from Synnefo's own source tree; the other ``snf-*`` packages are
        reported with their versions before and after (and in the dry run, planned).

    allow_downtime
        Instances that cannot leave their node without downtime (disks on the node only, or
        ``be/always_failover``) and may be shut down during its upgrade.

    drbd_sync_timeout
        Seconds to wait for DRBD disks to be in sync before a node is touched.

    stop_after
        Stop cleanly once this many nodes are done in this run (``1``: a canary); ``0``: no
        limit. The next run goes on from the next node. With several clusters the count is
        the run's, shared out among the clusters in turn, by name.

    undo_on_failure
        When a node's step fails before its dist-upgrade began, undrain it and bring its
        instances back, so that the cluster is as before; a failure after that leaves the
        node drained with its instances elsewhere, as it must.

    health_gate
        ``{passes, interval, timeout}``: before each next node, ``passes`` consecutive
        healthy looks ``interval`` s apart (``gnt-cluster verify`` with a half-upgraded
        cluster's differences aside, every DRBD disk in sync, every instance where and as it
        was at the run's start, every minion of the cluster answering), within ``timeout``
        s, else the run stops before the node, resumable. ``passes: 0``: no gate.

    notify
        ``{webhook: URL}``: a JSON message (cluster, node, step, outcome, error, time) POSTed
        for each node's start, end and failure and a stop as asked; a hook that fails is a
        warning in the result (``notify_warnings``), never a failure of the run.

    parallel_clusters
        How many Ganeti clusters are upgraded side by side (each one node at a time, with its
        own master failover); ``0``: all of them. Each node belongs to the cluster Ganeti
        names on it (``gnt-cluster getmaster``, then ``gnt-cluster info`` on its master).

    continue_other_clusters
        When a cluster fails, the others go on to their end (``True``) instead of stopping
        before their next node; the run fails either way.

    clusters
        Upgrade only these clusters (their Ganeti names); empty: all.

    exclude_clusters
        Leave these clusters alone.

    window
        ``{start, end, timezone, node_minutes}`` (times of day, ``HH:MM``): a node is started
        only if its expected time (the mean of the nodes done in this run, else
        ``node_minutes``) ends inside the maintenance window; else the run stops cleanly
        before it, saying when the window opens again.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    options = {
        "to_version": to_version,
        "node_order": node_order,
        "reboot_timeout": int(reboot_timeout),
        "return_master": return_master,
        "synnefo_packages": synnefo_packages or ["snf-common"],
        "allow_downtime": list(allow_downtime or []),
        "drbd_sync_timeout": int(drbd_sync_timeout),
        "stop_after": int(stop_after or 0),
        "undo_on_failure": undo_on_failure,
        "health_gate": dict(health_gate or {}),
        "window": dict(window or {}),
    }
    _NOTIFY.update(webhook=None if __opts__["test"] else (notify or {}).get("webhook"), warnings=[])
    test = __opts__["test"]
    try:
        lock = None if test else _lock()
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=exc.error)
    try:
        nodes = _ganeti_nodes()
        if not nodes:
            return dict(ret, comment="no minion has the ganeti role")
        groups = _clusters(nodes, clusters, exclude_clusters)
        _CLUSTER_OF.clear()
        _CLUSTER_OF.update((n, c) for c, members in groups.items() for n in members)
        if not groups:
            return dict(ret, comment="no Ganeti cluster left to upgrade (pillar synnefo_upgrade:orchestration:clusters, exclude_clusters)")
        states = _each_cluster(groups, lambda cluster: _cluster_state(groups[cluster], options))
        quotas = _quotas(dict((c, state["pending"]) for c, state in states.items()), options["stop_after"])
        if test:
            return _plan(ret, states, quotas, options)
        ret["changes"]["timeline"] = timeline = []
        ret["changes"]["clusters"] = {}
        shared = _Shared(quotas, options["window"], continue_other_clusters, options["stop_after"])
        jobs = [(cluster, _cluster_job(cluster, states[cluster], options, shared, timeline)) for cluster in sorted(states)]
        if len(jobs) == 1:
            outcomes = [(jobs[0][0], jobs[0][1]())]
        else:
            done = __utils__["synnefo_orch.in_parallel"]([job for _, job in jobs], int(parallel_clusters or 0) or len(jobs))
            outcomes = [(cluster, value if ok else _failed_outcome(value)) for (cluster, _), (ok, value) in zip(jobs, done)]
        comments = []
        for cluster, outcome in outcomes:
            changes = outcome["changes"]
            summary = dict((k, outcome[k]) for k in ("result", "comment", "started", "ended") if k in outcome)
            summary["nodes"] = groups[cluster]
            for key in ("master", "master_candidates", "stopped"):
                if key in changes:
                    summary[key] = changes.pop(key)
            ret["changes"]["clusters"][cluster] = summary
            ret["changes"].update(changes)
            comments.append(outcome["comment"] if len(outcomes) == 1 else "cluster {}: {}".format(cluster, outcome["comment"]))
            if outcome["result"] is False:
                ret["result"] = False
        ret["comment"] = "\n".join(comments)
        # A run that found every cluster done changed nothing, and says so.
        plain = ("nodes", "result", "comment", "started", "ended")
        if (
            ret["result"]
            and not timeline
            and set(ret["changes"]) == {"timeline", "clusters"}
            and all(set(summary) <= set(plain) for summary in ret["changes"]["clusters"].values())
        ):
            ret["changes"] = {}
        return ret
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=exc.error)
    finally:
        __utils__["synnefo_orch.end_run"](lock, _NOTIFY, ret)


# --- several clusters ---------------------------------------------------------------------

# Each Ganeti node's cluster, for the events and the webhook's messages.
_CLUSTER_OF = {}


def _clusters(nodes, include=None, exclude=None):
    """``{cluster name: [its nodes]}`` by Ganeti's own answer on each node (its master; the
    master's ``Cluster name``), kept to the clusters ``include`` names (all when empty), less
    those ``exclude`` names. A node that cannot say, or a name no node has, is an error."""
    answers = __utils__["synnefo_orch.answers"](__salt__, nodes, "ganeti_rolling.cluster")
    silent = ["{} ({})".format(n, value) for n, (ok, value) in sorted(answers.items()) if not ok or not (value or {}).get("master")]
    if silent:
        raise CommandExecutionError("cannot tell which Ganeti cluster these nodes belong to: " + "; ".join(silent))
    groups = {}
    for node in nodes:
        master = answers[node][1]["master"]
        told = answers.get(master, (False, {}))[1]
        groups.setdefault((told or {}).get("name") or master, []).append(node)
    include, exclude = list(include or []), list(exclude or [])
    unknown = [c for c in include + exclude if c not in groups]
    if unknown:
        raise CommandExecutionError(
            "pillar synnefo_upgrade:orchestration names Ganeti cluster(s) {} that no Ganeti node belongs to (found: {})".format(
                ", ".join(unknown), ", ".join(sorted(groups))
            )
        )
    return dict((c, sorted(members)) for c, members in groups.items() if (not include or c in include) and c not in exclude)


def _each_cluster(names, function):
    """``{cluster: function(cluster)}``, the clusters side by side (each asks its own
    master); the first error, if any, raised."""
    names = sorted(names)
    done = __utils__["synnefo_orch.in_parallel"]([_in_this_context(lambda c=c: function(c)) for c in names], len(names))
    for ok, answer in done:
        if not ok:
            raise answer
    return dict((c, answer) for c, (ok, answer) in zip(names, done))


def _quotas(pending, stop_after):
    """``{cluster: nodes it may start in this run}`` for ``stop_after`` (the run's count,
    shared out among the clusters in turn, by name); None: no limit."""
    if not stop_after:
        return None
    quotas = dict((c, 0) for c in pending)
    left = dict((c, len(nodes)) for c, nodes in pending.items())
    given = 0
    while given < stop_after and any(left.values()):
        for cluster in sorted(pending):
            if given < stop_after and left[cluster]:
                quotas[cluster] += 1
                left[cluster] -= 1
                given += 1
    return quotas


class _Shared(object):
    """What the clusters upgraded side by side share: each one's share of ``stop_after``,
    the nodes' times (the window's estimate), and the clusters that failed (the others stop
    before their next node unless ``continue_other_clusters``)."""

    def __init__(self, quotas, window, continue_others, stop_after=0):
        self.lock = threading.Lock()
        self.stop_after = stop_after
        self.quotas = dict(quotas) if quotas is not None else None
        self.window = window
        self.continue_others = continue_others
        self.took = []
        self.failed = []

    def why_not(self, cluster, node):
        """None when ``node`` may start now (its share counted), else why it may not."""
        with self.lock:
            if self.failed and not self.continue_others:
                return {"other_cluster_failed": ", ".join(self.failed)}
            if self.quotas is not None and self.quotas.get(cluster, 0) <= 0:
                return {"stop_after": self.stop_after}
            expected = sum(self.took) / len(self.took) if self.took else float(self.window.get("node_minutes", 15)) * 60
            outside = __utils__["synnefo_orch.window_refusal"](self.window, expected)
            if outside:
                return {"window": outside}
            if self.quotas is not None:
                self.quotas[cluster] -= 1
            return None

    def finished(self, seconds):
        with self.lock:
            self.took.append(seconds)

    def failure(self, cluster):
        with self.lock:
            self.failed.append(cluster)


def _outcome(job):
    try:
        return job()
    except CommandExecutionError as exc:
        return _failed_outcome(exc)


def _cluster_job(cluster, state, options, shared, timeline):
    """The cluster's upgrade as a job for a thread of its own: its outcome with its start
    and end (its own time)."""

    def job():
        began = time.time()
        outcome = _outcome(lambda: _cluster_upgraded(cluster, state, options, shared, timeline))
        return dict(outcome, started=began, ended=time.time())

    return _in_this_context(job)


def _in_this_context(job):
    """``job`` to run in another thread with a copy of this one's context: Salt 3004 and
    later keep the loader's ``__salt__``, ``__utils__`` and ``__opts__`` in a context variable,
    which a new thread does not have (Salt 2019.2 keeps them in the module's globals)."""
    try:
        import contextvars  # novm
    except ImportError:
        return job
    context = contextvars.copy_context()
    return lambda: context.run(job)


def _failed_outcome(exc):
    return {"result": False, "comment": getattr(exc, "error", "{}".format(exc)), "changes": {}}


def _cluster_state(nodes, options):
    """Where one cluster stands: its master now, the master role's home, the order of its
    nodes and those still to upgrade."""
    current_master = _ganeti_master(nodes)
    tags = _all_tags(current_master, nodes)
    # The master role's home, kept in its tags: a run resumed after a failover still knows
    # where the role goes back.
    homes = [n for n in nodes if "{}:master-home".format(TAG) in tags[n]]
    original_master = homes[0] if homes else current_master
    order = _order(nodes, original_master, options["node_order"])
    upgraded = _upgraded_nodes(nodes, options["to_version"])
    pending = [n for n in order if not (n in upgraded and not _progress(tags[n]))]
    return {
        "nodes": nodes,
        "master": current_master,
        "homes": homes,
        "home": original_master,
        "order": order,
        "pending": pending,
    }


def _plan(ret, states, quotas, options):
    """The dry run: each cluster's nodes in order, what each would move, change and upgrade,
    where the run would stop."""
    predicted = {"order": [], "clusters": {}, "to_version": options["to_version"]}
    lines = []
    window = options["window"]
    planned_of = dict((c, s["pending"][: quotas[c]] if quotas is not None else s["pending"]) for c, s in states.items())
    packages, downtime = options["synnefo_packages"], options["allow_downtime"]
    predictions = _each_cluster(states, lambda c: _predict(planned_of[c], states[c]["home"], packages, downtime) if planned_of[c] else {})
    for cluster, state in sorted(states.items()):
        pending, order, master = state["pending"], state["order"], state["home"]
        if not pending:
            lines.append("cluster {}: every node is on {}".format(cluster, options["to_version"]))
            predicted["clusters"][cluster] = {"order": order, "master": master, "failover_to": None, "nodes": []}
            continue
        planned, nodes = planned_of[cluster], predictions[cluster]  # in the run's order: the master last
        if len(states) > 1:
            lines.append("cluster {}:".format(cluster))
        lines += [
            "{}: move {}; change {}; upgrade {} packages".format(
                node,
                ", ".join(
                    [
                        "{} -> {}{}".format(i, t, " (stopped: failover)" if p["methods"].get(i) == "failover" else "")
                        for i, t in sorted(p["moves"].items())
                    ]
                    + ["{} stays, shut down during the upgrade".format(i) for i in sorted(p["downtime"])]
                )
                or "nothing",
                ", ".join(p["files"]) or "no file",
                len(p["packages"]),
            )
            for node, p in ((n, nodes[n]) for n in planned)
        ]
        # The role goes to a node upgraded before this run first, as the run itself chooses.
        others = [n for n in order if n != master and n not in pending] + [n for n in order if n != master and n in pending]
        failover_to = others[0] if master in planned and others else None
        if failover_to:
            _predict_failover(nodes, master, failover_to)
        summary = {"order": order, "master": master, "failover_to": failover_to, "nodes": planned}
        if quotas is not None and len(planned) < len(pending):
            summary["stop_after"] = options["stop_after"]
            lines.append(
                "then {} stops as asked (stop_after: {}) before {}; the next run goes on".format(
                    "the run" if len(states) == 1 else "cluster " + cluster, options["stop_after"], pending[len(planned)]
                )
            )
        predicted.update(nodes)
        predicted["clusters"][cluster] = summary
        predicted["order"] += order
    first = next((s["pending"][0] for _, s in sorted(states.items()) if s["pending"]), None)
    if first is None:
        return dict(ret, comment="every Ganeti node is on {}: nothing to do".format(options["to_version"]))
    if len(states) == 1:
        only = next(iter(predicted["clusters"].values()))
        predicted.update(master=only["master"], failover_to=only["failover_to"])
        if "stop_after" in only:
            predicted["stop_after"] = only["stop_after"]
    elif quotas is not None and sum(quotas.values()) < sum(len(s["pending"]) for s in states.values()):
        predicted["stop_after"] = options["stop_after"]
    comment = "the Ganeti nodes would be upgraded in this order:\n" + "\n".join(lines)
    outside = __utils__["synnefo_orch.window_refusal"](window, float(window.get("node_minutes", 15)) * 60)
    if outside:
        predicted["window"] = "a run started now would stop before {}: {}".format(first, outside)
        comment += "\n" + predicted["window"]
    return dict(ret, result=None, changes=predicted, comment=comment)


def _stop_comment(why, finished, node):
    if "stop_after" in why:
        return "stopped as asked (stop_after: {}) after {}; next: {}; run the orchestration again to go on".format(
            why["stop_after"], ", ".join(finished) or "no node", node
        )
    if "window" in why:
        return "stopped before {}: {}; run the orchestration again then".format(node, why["window"])
    return "stopped before {}: Ganeti cluster {} failed; run the orchestration again to go on".format(node, why["other_cluster_failed"])


def _cluster_upgraded(cluster, state, options, shared, timeline):
    """One Ganeti cluster's nodes, one at a time: ``{'result', 'comment', 'changes'}`` (its
    nodes' entries, ``master``, ``master_candidates``, ``stopped``)."""
    ret = {"result": True, "comment": "", "changes": {}}
    nodes, pending, order = state["nodes"], state["pending"], state["order"]
    to_version, return_master = options["to_version"], options["return_master"]
    try:
        if not pending:
            if state["homes"] or (return_master and state["master"] != state["home"]):
                _finish_master(nodes, state["home"], return_master, ret)
                return dict(ret, comment="every Ganeti node is on {}; {}".format(to_version, ret["changes"].get("master", "")))
            return dict(ret, comment="every Ganeti node is on {}: nothing to do".format(to_version))
        if not state["homes"]:
            _call(state["master"], "ganeti_rolling.add_tags", [state["home"], "{}:master-home".format(TAG)])
        _record_candidates(state["master"], nodes)
        finished = []
        gate = options["health_gate"]
        baseline = _instance_states(state["master"], nodes) if int(gate.get("passes", 0)) else None
        for node in pending:
            why = shared.why_not(cluster, node)
            if why:
                ret["changes"]["stopped"] = dict(why, after=finished, next=node)
                _fire(node, "run", "stopped", after=finished, **why)
                return dict(ret, comment=_stop_comment(why, finished, node))
            if baseline is not None and finished:
                try:
                    _health_gate(_ganeti_master(nodes), nodes, baseline, gate, timeline)
                except StepFailed as exc:
                    _fire(node, "health-gate", "failed", error=exc.error)
                    raise
            began = time.time()
            _node_upgraded(node, nodes, order, pending, options, timeline, ret)
            finished.append(node)
            shared.finished(time.time() - began)
        not_restored = _finish_master(nodes, state["home"], return_master, ret)
        ret["comment"] = "Ganeti nodes upgraded, one at a time: {}".format(", ".join(pending))
        if not_restored:
            ret["comment"] += "; the master candidate set is not as it was: " + "; ".join(not_restored)
        return ret
    except StepFailed as exc:
        shared.failure(cluster)
        # What was done stays in ``changes``, the failed step's times and error with it.
        if not exc.safe:
            return dict(ret, result=False, comment=exc.error)
        return dict(
            ret,
            result=False,
            comment="{} (the cluster is safe: the node stays drained with its VMs elsewhere; run the orchestration again to resume)".format(
                exc.error
            ),
        )
    except CommandExecutionError as exc:
        shared.failure(cluster)
        return dict(ret, result=False, comment=exc.error)


def _node_upgraded(node, nodes, order, pending, options, timeline, ret):
    """One node's turn, undone when it fails before its dist-upgrade began (pillar
    ``undo_on_failure``)."""
    run = _Run(
        node, nodes, options["to_version"], options["reboot_timeout"], timeline, options["allow_downtime"], options["drbd_sync_timeout"]
    )
    try:
        _upgrade_node(run, node, nodes, order, pending, options["to_version"], options["synnefo_packages"], ret)
    except StepFailed as exc:
        if not options["undo_on_failure"] or run.failed == "master-failover":
            raise
        master = _ganeti_master(nodes)
        undone, left = run.undo(master)
        if not undone and not left:
            raise
        ret["changes"].setdefault(node, {})["undone"] = undone
        if left:
            ret["changes"][node]["not_undone"] = left
            raise StepFailed(
                "{}; undone: {}; NOT undone: {} (the node stays drained; run again to resume)".format(
                    exc.error, ", ".join(undone) or "nothing", "; ".join(left)
                ),
                safe=False,
            )
        raise StepFailed("{}; undone, the node as it was before this run: {}".format(exc.error, ", ".join(undone)), safe=False)
