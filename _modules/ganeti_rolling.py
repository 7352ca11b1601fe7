"""
What the Ganeti phase of the upgrade reads from a Ganeti cluster, and how it plans a node's
evacuation (upgrade guide, "Upgrade Ganeti nodes": evacuate the node, upgrade it, reboot it,
migrate the VMs back, one node at a time).

Run on a Ganeti node (the commands that change the cluster must run on the master):

- :py:func:`nodes` and :py:func:`instances`: the cluster as ``gnt-node list`` and
  ``gnt-instance list`` show it (memory included);
- :py:func:`plan_evacuation`: where each primary instance of a node goes so that it fits in
  the other nodes' free memory (largest first, each to the node with the most room), or why
  it cannot;
- :py:func:`tags`, :py:func:`add_tags`, :py:func:`remove_tags`: the node tags in which the
  upgrade keeps its progress, in Ganeti itself, so that a crash of the orchestration loses
  nothing (as GRNET's clustertool does);
- :py:func:`migrate`: one live migration (``gnt-instance migrate -f -n TARGET``), retried once,
  with ``--cleanup`` first when Ganeti asks for it; never ``--allow-failover``.

The orchestration (``synnefo_upgrade.orch``) calls these through the ``ganeti_rolling``
states, on the master.
"""

from __future__ import absolute_import, print_function, unicode_literals

import logging
import os
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
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]


def _mib(value):
    try:
        return int(float(value))
    except ValueError:
        return 0


def nodes():
    """
    Return the cluster's nodes: ``{name: {'mtotal', 'mfree' (MiB), 'primaries': [...],
    'drained', 'offline', 'master_candidate', 'master'}}``.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.nodes
    """
    rows = _table(["gnt-node", "list"], ["name", "mtotal", "mfree", "pinst_list", "drained", "offline", "master_candidate", "role"])
    return dict(
        (
            row["name"],
            {
                "mtotal": _mib(row["mtotal"]),
                "mfree": _mib(row["mfree"]),
                "primaries": sorted(p for p in row["pinst_list"].split(",") if p),
                "drained": row["drained"] == "Y",
                "offline": row["offline"] == "Y",
                "master_candidate": row["master_candidate"] == "Y",
                "master": row["role"] == "M",
            },
        )
        for row in rows
    )


def instances():
    """
    Return the cluster's instances: ``{name: {'pnode', 'memory' (MiB), 'status'}}``.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.instances
    """
    rows = _table(["gnt-instance", "list"], ["name", "pnode", "be/maxmem", "status"])
    return dict((row["name"], {"pnode": row["pnode"], "memory": _mib(row["be/maxmem"]), "status": row["status"]}) for row in rows)


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
    return sorted(row["name"] for row in rows if row["pnode"] == node and row["status"] == "running")


def plan_evacuation(node, cluster_nodes=None, cluster_instances=None):
    """
    Plan where each primary instance of ``node`` migrates: ``{'moves': {instance: target},
    'missing': {instance: MiB short}, 'free': {target: MiB free before}}``. Targets are the
    other nodes that are neither drained nor offline, each instance (largest first) to the
    node with the most free memory left.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.plan_evacuation gnt2
    """
    cluster_nodes = cluster_nodes if cluster_nodes is not None else nodes()
    cluster_instances = cluster_instances if cluster_instances is not None else instances()
    room = dict(
        (name, info["mfree"]) for name, info in cluster_nodes.items() if name != node and not info["drained"] and not info["offline"]
    )
    free = dict(room)
    primaries = [name for name, info in cluster_instances.items() if info["pnode"] == node]
    moves, missing = {}, {}
    for instance in sorted(primaries, key=lambda name: (-cluster_instances[name]["memory"], name)):
        need = cluster_instances[instance]["memory"]
        best = max(sorted(room), key=lambda name: room[name]) if room else None
        if best is None or room[best] < need:
            missing[instance] = need - (room[best] if best else 0)
            continue
        room[best] -= need
        moves[instance] = best
    return {"moves": moves, "missing": missing, "free": free}


def tags(node):
    """
    Return the upgrade's tags on ``node`` (those under ``synnefo-upgrade:``), as a list.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.tags gnt2
    """
    out = _gnt(["gnt-node", "list-tags", node])["stdout"]
    return sorted(t.strip() for t in out.splitlines() if t.strip().startswith(TAG_PREFIX + ":"))


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


def migrate(instance, target):
    """
    Live-migrate ``instance`` to ``target`` and wait for its job; retry once when it fails,
    after ``gnt-instance migrate --cleanup`` when Ganeti asks for it. Never fails an instance
    over (that is downtime). Return the attempts' messages.

    CLI Example:

    .. code-block:: bash

        salt gnt1 ganeti_rolling.migrate vm1 gnt2
    """
    attempts = []
    for attempt in (1, 2):
        result = __salt__["cmd.run_all"](
            ["gnt-instance", "migrate", "-f", "-n", target, instance], python_shell=False, ignore_retcode=True, output_loglevel="debug"
        )
        if result["retcode"] == 0:
            log.info("ganeti_rolling: %s migrated to %s (attempt %d)", instance, target, attempt)
            return attempts + ["migrated to {}".format(target)]
        message = (result["stderr"] or result["stdout"]).strip()
        attempts.append(message)
        log.warning("ganeti_rolling: migrating %s to %s failed: %s", instance, target, message)
        if "--cleanup" in message:
            _gnt(["gnt-instance", "migrate", "-f", "--cleanup", instance])
    raise CommandExecutionError("migrating {} to {} failed twice: {}".format(instance, target, " | ".join(attempts)))
