"""
What the Ganeti phase of the upgrade reads from a Ganeti cluster, and how it plans a node's
evacuation (upgrade guide, "Upgrade Ganeti nodes": evacuate the node, upgrade it, reboot it,
migrate the VMs back, one node at a time).

Run on a Ganeti node (the commands that change the cluster must run on the master):

- :py:func:`nodes` and :py:func:`instances`: the cluster as ``gnt-node list`` and
  ``gnt-instance list`` show it (memory included);
- :py:func:`plan_evacuation` (:py:func:`plan_evacuations` for several nodes): how each
  primary instance of a node leaves it (live migration; failover for a stopped one; ``drbd``
  to its secondary) so that it fits in the other nodes' free memory, or why it cannot (disks
  on the node only: downtime, allowed or refused);
- :py:func:`cluster`: the cluster the node belongs to (its master, its name);
- :py:func:`tags`, :py:func:`all_tags`, :py:func:`add_tags`, :py:func:`remove_tags`: the
  node tags in which the upgrade keeps its progress, in Ganeti itself, so that a crash of the
  orchestration loses nothing (as GRNET's clustertool does);
- :py:func:`migrate`: one live migration, judged after a failure by the instance's state in
  Ganeti (cleanup, one retry, or stop); never ``--allow-failover``; :py:func:`failover` for
  stopped instances only; :py:func:`shutdown`, :py:func:`startup` for allowed downtime;
- :py:func:`disks_out_of_sync`, :py:func:`replicas_at_risk`: the ``drbd`` disks not in sync,
  and those whose only up-to-date replica is on a node (``gnt-instance info``);
- :py:func:`verify`: ``gnt-cluster verify --error-codes``, its errors and warnings parsed.

The orchestration (``synnefo_upgrade.orch``) calls these through the ``ganeti_rolling``
states, on the master.
"""

from __future__ import absolute_import, print_function, unicode_literals

import logging
import os
import re
import time

import salt.utils.path
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "ganeti_rolling"

TAG_PREFIX = "synnefo-upgrade"


def __virtual__():
    if not salt.utils.path.which("gnt-node"):
        return (False, "ganeti_rolling runs on Ganeti nodes only (no gnt-node here)")
    return __virtualname__


def _gnt(command, ok_codes=(0,)):
    result = __salt__["cmd.run_all"](command, python_shell=False, ignore_retcode=True, output_loglevel="debug")
    if result["retcode"] not in ok_codes:
        raise CommandExecutionError(
            "{} failed: {}".format(" ".join(command), (result["stderr"] or result["stdout"]).strip()), info={"retcode": result["retcode"]}
        )
    return result


def _table(command, fields):
    out = _gnt(command + ["--no-headers", "--separator=|", "-o", ",".join(fields)])["stdout"]
    rows = []
    for line in out.splitlines():
        if not line.strip():
            continue
        values = line.split("|")
        if len(values) != len(fields):
            raise CommandExecutionError(
                "{}: a row of {} fields where {} were asked ({}): {!r}".format(
                    " ".join(command), len(values), len(fields), ",".join(fields), line
                )
            )
        rows.append(dict(zip(fields, values)))
    return rows


def _mib(value):
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # '*' of an offline node, 'inf', 'nan': nothing to count on
        return 0


def nodes():
    """
    Return the cluster's nodes: ``{name: {'mtotal', 'mfree' (MiB), 'primaries': [...],
    'secondaries': [...], 'drained', 'offline', 'master_candidate', 'master'}}``.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.nodes
    """
    rows = _table(
        ["gnt-node", "list"], ["name", "mtotal", "mfree", "pinst_list", "sinst_list", "drained", "offline", "master_candidate", "role"]
    )
    return dict(
        (
            row["name"],
            {
                "mtotal": _mib(row["mtotal"]),
                "mfree": _mib(row["mfree"]),
                "primaries": _names(row["pinst_list"]),
                "secondaries": _names(row["sinst_list"]),
                "drained": row["drained"] == "Y",
                "offline": row["offline"] == "Y",
                "master_candidate": row["master_candidate"] == "Y",
                "master": row["role"] == "M",
            },
        )
        for row in rows
    )


def _names(field):
    return sorted(p for p in field.split(",") if p)


# Ganeti's disk templates that can move (lib/constants.py at v2.10.7: DTS_INT_MIRROR goes only
# to the instance's secondary, DTS_EXT_MIRROR anywhere); the others cannot move at all.
INTERNALLY_MIRRORED = ("drbd",)
EXTERNALLY_MIRRORED = ("ext", "sharedfile", "blockdev", "rbd", "gluster")


def instances():
    """
    Return the cluster's instances: ``{name: {'pnode', 'snode' (or None), 'memory' (be/maxmem,
    MiB), 'minmem', 'status', 'disk_template', 'always_failover', 'how'}}``, where ``how``
    says how the instance can leave its node without downtime: ``migrate`` (running, on
    mirrored disks), ``failover`` (stopped: it stays stopped), or ``downtime`` (disks on the
    node only, or ``be/always_failover``: Ganeti would stop it to move it).

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.instances
    """
    fields = ["name", "pnode", "snodes", "be/maxmem", "be/minmem", "status", "disk_template", "be/always_failover"]
    result = {}
    for row in _table(["gnt-instance", "list"], fields):
        info = {
            "pnode": row["pnode"],
            "snode": (_names(row["snodes"]) or [None])[0],
            "memory": _mib(row["be/maxmem"]),
            "minmem": _mib(row["be/minmem"]),
            "status": row["status"],
            "disk_template": row["disk_template"],
            "always_failover": row["be/always_failover"] == "Y",
        }
        info["how"] = _how_to_move(info)
        result[row["name"]] = info
    return result


def _how_to_move(info):
    """``migrate``, ``failover`` or ``downtime`` for an instance of :py:func:`instances`."""
    if info["disk_template"] not in INTERNALLY_MIRRORED + EXTERNALLY_MIRRORED:
        return "downtime"
    if info["status"] == "ADMIN_down":
        return "failover"
    if info["always_failover"]:
        return "downtime"
    return "migrate"


# Where Ganeti's hypervisors keep the instances running on this node (ganeti/ganeti v2.10.7
# lib/hypervisor/hv_kvm.py _PIDS_DIR, a pid file each; lib/hypervisor/hv_fake.py _ROOT_DIR).
KVM_PIDS_DIR = "/var/run/ganeti/kvm-hypervisor/pid"
FAKE_DIR = "/var/run/ganeti/fake-hypervisor"


def _hypervisor_running():
    running = []
    for name in _listdir(KVM_PIDS_DIR):
        try:
            with open(os.path.join(KVM_PIDS_DIR, name)) as handle:
                os.kill(int(handle.read().strip()), 0)
        except (IOError, OSError, ValueError):
            continue
        running.append(name)
    return sorted(running + _listdir(FAKE_DIR))


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def running_primaries(node=None):
    """
    The running instances whose primary is ``node`` (default: this minion's id, the Ganeti
    node's name): from ``gnt-instance list`` where Ganeti answers it (on the master), else,
    for this node only, from its hypervisor (the instances it runs); another node's question
    unanswered is an error.

    CLI Example:

    .. code-block:: bash

        salt gnt2 ganeti_rolling.running_primaries
    """
    node = node or __opts__["id"]
    try:
        rows = _table(["gnt-instance", "list"], ["name", "pnode", "status"])
    except CommandExecutionError as exc:
        if node != __opts__["id"]:
            raise
        log.info("ganeti_rolling: gnt-instance list not answered here (%s): asking the hypervisor", exc)
        return _hypervisor_running()
    return _running_on(node, dict((row["name"], row) for row in rows))


def _running_on(node, cluster_instances):
    return sorted(n for n, i in cluster_instances.items() if i["pnode"] == node and i["status"] == "running")


def plan_evacuation(node, cluster_nodes=None, cluster_instances=None, allow_downtime=None):
    """
    Plan how each primary instance of ``node`` leaves it: ``{'moves': {instance: target},
    'methods': {instance: 'migrate'|'failover'}, 'downtime': {instance: why},
    'refused': {instance: why}, 'missing': {instance: MiB short}, 'free': {target: MiB free
    before}, 'memory_figure': 'be/maxmem'}``.

    Running instances on mirrored disks live-migrate: ``drbd`` ones to their secondary, the
    others (largest first) each to the node with the most free memory left, counting
    ``be/maxmem`` (stricter than Ganeti, which checks ``be/minmem`` and balloons). Stopped
    ones fail over and stay stopped (no memory needed). Instances that cannot move without
    downtime stay on the node: listed under ``downtime`` when in ``allow_downtime``, else
    under ``refused``. Targets are the other nodes that are neither drained nor offline.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.plan_evacuation gnt2
    """
    cluster_nodes = cluster_nodes if cluster_nodes is not None else nodes()
    cluster_instances = cluster_instances if cluster_instances is not None else instances()
    allow_downtime = allow_downtime or []
    room = dict(
        (name, info["mfree"]) for name, info in cluster_nodes.items() if name != node and not info["drained"] and not info["offline"]
    )
    free = dict(room)
    primaries = [name for name, info in cluster_instances.items() if info["pnode"] == node]
    plan = {"moves": {}, "methods": {}, "downtime": {}, "refused": {}, "missing": {}, "free": free, "memory_figure": "be/maxmem"}
    for instance in sorted(primaries, key=lambda name: (-cluster_instances[name]["memory"], name)):
        info = cluster_instances[instance]
        how = _how_to_move(info)
        if how == "downtime":
            why = (
                "be/always_failover: Ganeti stops it to move it"
                if info["disk_template"] in INTERNALLY_MIRRORED + EXTERNALLY_MIRRORED
                else "disk template {}: its disks are on {} only".format(info["disk_template"], node)
            )
            plan["downtime" if instance in allow_downtime else "refused"][instance] = why
            continue
        need = info["memory"] if how == "migrate" else 0
        if info["disk_template"] in INTERNALLY_MIRRORED:
            target = info.get("snode")
            if target not in room:
                plan["refused"][instance] = "its secondary {} is drained, offline or unknown".format(target)
                continue
        else:
            target = max(sorted(room), key=lambda name: room[name]) if room else None
        if target is None or room[target] < need:
            plan["missing"][instance] = need - (room[target] if target else 0)
            continue
        room[target] -= need
        plan["moves"][instance] = target
        plan["methods"][instance] = how
    return plan


def cluster():
    """
    Return the Ganeti cluster this node belongs to, as Ganeti answers on it: ``{'master'}``
    (``gnt-cluster getmaster``, which every node answers from its own copy of the cluster's
    configuration) and, on the master, ``'name'`` (``gnt-cluster info``'s ``Cluster name``).

    CLI Example:

    .. code-block:: bash

        salt -G roles:ganeti ganeti_rolling.cluster
    """
    master = _gnt(["gnt-cluster", "getmaster"])["stdout"].strip()
    found = {"master": master, "name": None}
    if master and master == __opts__.get("id"):
        for line in _gnt(["gnt-cluster", "info"])["stdout"].splitlines():
            if line.startswith("Cluster name:"):
                found["name"] = line.split(":", 1)[1].strip()
    return found


def plan_evacuations(names, cluster_nodes=None, cluster_instances=None, allow_downtime=None):
    """
    Return :py:func:`plan_evacuation` of each node of ``names`` (each on its own, from the
    cluster as it is now or as given), ``{node: plan}``: one call for a whole cluster.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.plan_evacuations '[gnt2, gnt3]'
    """
    cluster_nodes = cluster_nodes if cluster_nodes is not None else nodes()
    cluster_instances = cluster_instances if cluster_instances is not None else instances()
    return dict((name, plan_evacuation(name, cluster_nodes, cluster_instances, allow_downtime)) for name in names)


def tags(node):
    """
    Return the upgrade's tags on ``node`` (those under ``synnefo-upgrade:``), as a list.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.tags gnt2
    """
    out = _gnt(["gnt-node", "list-tags", node])["stdout"]
    return sorted(t.strip() for t in out.splitlines() if t.strip().startswith(TAG_PREFIX + ":"))


def all_tags():
    """
    Return the upgrade's tags of every node of the cluster, ``{node: [tags]}``, in one
    ``gnt-node list``.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.all_tags
    """
    rows = _table(["gnt-node", "list"], ["name", "tags"])
    return dict((row["name"], sorted(t for t in row["tags"].split(",") if t.startswith(TAG_PREFIX + ":"))) for row in rows)


def add_tags(node, *names):
    """
    Add tags to ``node`` (run on the master).

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.add_tags gnt2 synnefo-upgrade:stage:draining
    """
    if names:
        _gnt(["gnt-node", "add-tags", node] + list(names))
    return tags(node)


def remove_tags(node, *names):
    """
    Remove tags from ``node`` (run on the master); tags it does not have are ignored.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.remove_tags gnt2 synnefo-upgrade:stage:draining
    """
    present = set(tags(node))
    names = [n for n in names if n in present]
    if names:
        _gnt(["gnt-node", "remove-tags", node] + names)
    return tags(node)


def set_stage(node, stage=None):
    """
    Record the upgrade's stage on ``node`` (run on the master), in one step: the previous
    stage, its time and any failure mark go, ``synnefo-upgrade:stage:STAGE`` and
    ``synnefo-upgrade:since:EPOCH`` come (nothing comes when ``stage`` is empty). Return the
    node's tags.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.set_stage gnt2 upgrading
    """
    old = [t for t in tags(node) if t.startswith((TAG_PREFIX + ":stage:", TAG_PREFIX + ":since:", TAG_PREFIX + ":failed:"))]
    if old:
        _gnt(["gnt-node", "remove-tags", node] + old)
    if stage:
        _gnt(["gnt-node", "add-tags", node, "{}:stage:{}".format(TAG_PREFIX, stage), "{}:since:{}".format(TAG_PREFIX, int(time.time()))])
    return tags(node)


def _instance_now(instance):
    return instances().get(instance) or {}


def migrate(instance, target):
    """
    Live-migrate ``instance`` to ``target`` (its secondary for ``drbd``: no target is given
    to Ganeti then) and wait for its job. A failed migration is judged by what Ganeti shows
    of the instance afterwards, since Ganeti 2.10's messages do not say what to do:

    - running on ``target``: it moved (the failure came after the memory transfer);
    - ``ERROR_wrongnode`` (running where Ganeti's configuration does not put it): run
      ``gnt-instance migrate --cleanup``, which finds where it runs and fixes the
      configuration, then judge again;
    - running where it was: retry once;
    - anything else (down, unknown): stop, saying what Ganeti shows and what to check.

    Never fails an instance over (that is downtime). Return the attempts' messages.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.migrate vm1 gnt2
    """
    attempts = []
    before = _instance_now(instance)
    source = before.get("pnode")
    command = ["gnt-instance", "migrate", "-f"]
    if before.get("disk_template") not in INTERNALLY_MIRRORED:
        command += ["-n", target]
    for attempt in (1, 2):
        result = __salt__["cmd.run_all"](command + [instance], python_shell=False, ignore_retcode=True, output_loglevel="debug")
        if result["retcode"] == 0:
            log.info("ganeti_rolling: %s migrated to %s (attempt %d)", instance, target, attempt)
            return attempts + ["migrated to {}".format(target)]
        message = " ".join((result["stderr"] or result["stdout"]).split())
        attempts.append(message)
        log.warning("ganeti_rolling: migrating %s to %s failed: %s", instance, target, message)
        now = _instance_now(instance)
        if now.get("status") == "ERROR_wrongnode":
            cleanup = _gnt(["gnt-instance", "migrate", "-f", "--cleanup", instance])
            attempts.append("cleanup: " + " ".join(cleanup["stdout"].split()))
            now = _instance_now(instance)
        if now.get("status") == "running" and now.get("pnode") == target:
            return attempts + ["migrated to {}".format(target)]
        if not (now.get("status") == "running" and now.get("pnode") == source):
            raise CommandExecutionError(
                "migrating {} to {} failed ({}); Ganeti now shows it {} on {}: check it (gnt-instance info {}, "
                "gnt-cluster verify) before running the orchestration again".format(
                    instance, target, message, now.get("status", "unknown"), now.get("pnode", "?"), instance
                )
            )
    raise CommandExecutionError(
        "migrating {} to {} failed twice, the instance running on {} as before: {}".format(instance, target, source, " | ".join(attempts))
    )


def failover(instance, target=None):
    """
    Move a stopped ``instance`` to ``target`` (its secondary for ``drbd``) with
    ``gnt-instance failover``; it stays stopped. Refuses a running instance: its failover
    would be downtime.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.failover vm2 gnt3
    """
    info = _instance_now(instance)
    if info.get("status") != "ADMIN_down":
        raise CommandExecutionError(
            "{} is {}, not stopped: it is not failed over (that would stop it)".format(instance, info.get("status"))
        )
    command = ["gnt-instance", "failover", "-f"]
    if info.get("disk_template") not in INTERNALLY_MIRRORED and target:
        command += ["-n", target]
    _gnt(command + [instance])
    after = _instance_now(instance)
    if after.get("status") != "ADMIN_down" or (target and after.get("pnode") != target):
        raise CommandExecutionError("{} after its failover: {} on {}".format(instance, after.get("status"), after.get("pnode")))
    return ["failed over to {}".format(after.get("pnode"))]


def shutdown(instance):
    """
    Stop ``instance`` (``gnt-instance shutdown``): for an instance whose node is upgraded and
    that cannot move (pillar ``allow_downtime``).

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.shutdown vm4
    """
    _gnt(["gnt-instance", "shutdown", instance])
    return _instance_now(instance).get("status")


def startup(instance):
    """
    Start ``instance`` (``gnt-instance startup``).

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.startup vm4
    """
    _gnt(["gnt-instance", "startup", instance])
    return _instance_now(instance).get("status")


def _drbd_disks(node=None, cluster_instances=None):
    """``{instance: {replica node: its disk line}}`` of the running drbd instances (with a
    replica on ``node``, when given), from ``gnt-instance info``
    (``on primary: /dev/drbd0 (147:0) in sync, status ok``, ``*RECOVERING* 42.00%, ETA 12s``,
    ``*DEGRADED*``, ``*UNCERTAIN STATE*`` when that replica is not up to date, ``not active``)."""
    mirrored = dict(
        (name, info)
        for name, info in (cluster_instances if cluster_instances is not None else instances()).items()
        if info["disk_template"] in INTERNALLY_MIRRORED and info["status"] == "running" and node in (None, info["pnode"], info["snode"])
    )
    if not mirrored:
        return {}
    out = _gnt(["gnt-instance", "info"] + sorted(mirrored))["stdout"]
    disks, current = {}, None
    for line in out.splitlines():
        if line.startswith("Instance name:"):
            current = line.split(":", 1)[1].strip()
        elif current in mirrored and line.strip().startswith(("on primary:", "on secondary:")):
            which = "pnode" if line.strip().startswith("on primary:") else "snode"
            disks.setdefault(current, {})[mirrored[current][which]] = line.strip()
    return dict((name, disks.get(name, {})) for name in mirrored)


def _up_to_date(line):
    return bool(line) and "not active" not in line and "*UNCERTAIN STATE*" not in line and "*MISSING DISK*" not in line


def disks_out_of_sync(node=None):
    """
    The running ``drbd`` instances (with a replica on ``node``, when given) whose disks are
    not in sync on both nodes: ``{instance: its disk lines}``. Empty when all are in sync.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.disks_out_of_sync
    """
    return dict(
        (name, _lines_text(lines))
        for name, lines in sorted(_drbd_disks(node).items())
        if len(lines) < 2 or not all(" in sync, status ok" in line for line in lines.values())
    )


def activate_disks():
    """
    Configure again every DRBD disk that should be up and is not (its node rebooted since):
    ``gnt-cluster verify-disks``, what Ganeti's watcher does every five minutes, and not while
    an operator has it paused (lib/watcher/__init__.py ``_CheckDisks``). A returned
    secondary resynchronises only after this. Return the instances whose disks were activated.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.activate_disks
    """
    out = _gnt(["gnt-cluster", "verify-disks"])["stdout"]
    return re.findall(r"^Activating disks for instance '([^']+)'", out, re.M)


def _lines_text(lines):
    """``{node: disk line}`` as one text: ``gnt1: on primary: ... / gnt2: on secondary: ...``."""
    return " / ".join("{}: {}".format(n, line) for n, line in sorted(lines.items()))


def stop_blockers(node):
    """
    What forbids taking ``node`` down now (a dist-upgrade, a reboot), in one look at the
    cluster: ``{'running_primaries': [...], 'replicas_at_risk': {instance: the other
    replica's line}}`` (see :py:func:`running_primaries`, :py:func:`replicas_at_risk`).

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.stop_blockers gnt2
    """
    cluster_instances = instances()
    return {"running_primaries": _running_on(node, cluster_instances), "replicas_at_risk": replicas_at_risk(node, cluster_instances)}


def replicas_at_risk(node, cluster_instances=None):
    """
    The running ``drbd`` instances with a replica on ``node`` whose other replica is not up
    to date (behind, resyncing, or its node away): ``{instance: the other replica's line}``.
    Taking ``node`` down now would leave such an instance without an up-to-date replica.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.replicas_at_risk gnt2
    """
    risky = {}
    for name, lines in sorted(_drbd_disks(node, cluster_instances).items()):
        others = dict((n, line) for n, line in lines.items() if n != node)
        if not others or not all(_up_to_date(line) for line in others.values()):
            risky[name] = _lines_text(others) or "no other replica answered"
    return risky


# gnt-cluster verify --error-codes: "  - ERROR:ENODEOS:node:gnt2:message" (lib/cmdlib/cluster.py _Error)
_VERIFY_LINE = re.compile(r"^\s*(?:\S+ \S+ +\d+ [\d:]+ \d+ )?\s*- (ERROR|WARNING):([A-Z0-9]+):([a-z]+):([^:]*):(.*)$")


def verify():
    """
    Run ``gnt-cluster verify --error-codes`` and return ``{'retcode', 'errors', 'warnings'}``,
    each problem as ``{'code', 'kind', 'item', 'message'}``.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.verify
    """
    result = __salt__["cmd.run_all"](
        ["gnt-cluster", "verify", "--error-codes"], python_shell=False, ignore_retcode=True, output_loglevel="debug"
    )
    found = {"retcode": result["retcode"], "errors": [], "warnings": []}
    for line in result["stdout"].splitlines():
        match = _VERIFY_LINE.match(line)
        if match:
            level, code, kind, item, message = match.groups()
            found["errors" if level == "ERROR" else "warnings"].append({"code": code, "kind": kind, "item": item, "message": message})
    if result["retcode"] != 0 and not found["errors"]:
        found["errors"].append({"code": "", "kind": "", "item": "", "message": (result["stderr"] or result["stdout"]).strip()[-500:]})
    return found
