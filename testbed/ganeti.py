"""
The test bed's Ganeti: one cluster state shared by the Ganeti hosts (a JSON file under the
shared directory, changed under an exclusive lock) and the ``gnt-node``, ``gnt-instance``,
``gnt-cluster`` and ``gnt-job`` commands. Each rule cites ganeti/ganeti at tag ``v2.10.7``
(``testbed/UPSTREAM.md`` lists them with their tests); texts and exit codes are Ganeti's, as
real Ganeti 3.0 prints them here (``../shared/reference/real-ganeti/outputs``):

- commands that change the cluster run on the master node only;
- migrations (``lib/cmdlib/instance_migration.py`` ``TLMigrateInstance.CheckPrereq``): a
  stopped instance is not migrated ("Can't migrate, please use failover") unless
  ``--allow-failover``; non-mirrored templates (plain, file, ...) neither migrate nor fail
  over; ``drbd`` goes only to its secondary (no target, no iallocator) and only while the
  secondary's replica is in sync; ``be/always_failover`` turns a migration into a failover
  (the instance is stopped and started: an outage); a drained target is refused; the
  target's free memory is checked against ``be/minmem`` (between minmem and maxmem the
  instance is ballooned down);
- a live migration takes time in proportion to the instance's memory (the topology's
  ``migration_mib_per_s``); a node-level migrate submits one job per instance;
- master candidates (``lib/cmdlib/node.py``, ``lib/config.py``): draining a candidate
  demotes it, refused when fewer than ``candidate_pool_size`` would remain unless
  ``--auto-promote`` (which promotes others); undraining promotes the node back when the
  pool is short; ``--master-candidate=yes|no``;
- DRBD replicas: when a node of a ``drbd`` instance goes down (or loses Ganeti), the replica
  there falls behind while the instance runs; when the node is back its DRBD device stays
  unconfigured until the instance's disks are activated (``gnt-cluster verify-disks``,
  ``gnt-instance activate-disks``: what Ganeti's watcher does every five minutes, and not
  while it is paused; the test bed runs no watcher), then it resynchronises at the
  topology's ``drbd_resync_mib_per_s``. ``gnt-instance info`` shows it as Ganeti does
  (``lib/client/gnt_instance.py`` ``_FormatBlockDevInfo``), ``gnt-cluster verify`` reports
  degraded disks (``lib/cmdlib/cluster.py``);
- an instance runs only while its primary node is up with Ganeti and Archipelago running:
  when the node reboots or loses a service, the instance goes down (``vm-outage`` on the
  timeline) and comes back when the node is whole (``vm-restored``, with the downtime), as
  Ganeti's watcher restarts it; a stopped instance (``ADMIN_down``) stays stopped;
- ``vm-data-at-risk`` on the timeline when a ``drbd`` instance has no up-to-date replica
  left on a running node.

Faults (files under the shared directory's ``faults``): ``migrate-fail-INSTANCE`` aborts the
next migration of that instance (it stays running where it was, as Ganeti's
``_AbortMigration`` leaves it), ``migrate-refuse-INSTANCE`` every one until removed;
``migrate-wrongnode-INSTANCE`` makes the next one fail after
the memory transfer, the instance running on the target while Ganeti's configuration still
names the source (``ERROR_wrongnode``, until ``gnt-instance migrate --cleanup``).

Inside the hosts this file is /usr/lib/testbed/tbganeti.py and the shared directory is
/var/lib/synnefo-testbed; the supervisor imports it as ``testbed.ganeti``.
"""

import json
import os
import socket
import subprocess
import sys
import time

try:  # inside a host
    import tbtimeline as timeline
    from tbstandin import LockedJson, create as create_state, take_option as _option
except ImportError:  # on the machine (also as the job worker, run as a script)
    if __package__ in (None, ""):
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from testbed import timeline
    from testbed.standin import LockedJson, create as create_state, take_option as _option

SHARED = "/var/lib/synnefo-testbed"
SERVICES = ("ganeti", "archipelago")
EVENTD = "snf-ganeti-eventd"
MIGRATION_MIB_PER_S = 4096
DRBD_RESYNC_MIB_PER_S = 1024
CANDIDATE_POOL_SIZE = 10  # Ganeti's default (lib/constants.py MASTER_POOL_SIZE_DEFAULT)
TAG_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+*/:@-_")
# Templates whose disks live on the nodes (lib/constants.py DTS_INT_MIRROR, DTS_EXT_MIRROR).
INTERNALLY_MIRRORED = ("drbd",)
EXTERNALLY_MIRRORED = ("ext", "sharedfile", "blockdev", "rbd", "gluster")


class GanetiError(Exception):
    """A failure printed as Ganeti's client does (``lib/cli.py`` ``FormatError``), exit 1."""

    def __str__(self):
        return "Failure: {}".format(self.args[0])


class PrereqError(GanetiError):
    """``OpPrereqError``: ``Failure: prerequisites not met for this operation:`` and the
    error type (``wrong_state``, ``wrong_input``, ``insufficient_resources``, ...)."""

    def __init__(self, message, kind="wrong_state"):
        super().__init__(message)
        self.kind = kind

    def __str__(self):
        return "Failure: prerequisites not met for this operation:\nerror type: {}, error details:\n{}".format(self.kind, self.args[0])


class ExecError(GanetiError):
    """``OpExecError``: ``Failure: command execution error:`` and the message."""

    def __str__(self):
        return "Failure: command execution error:\n{}".format(self.args[0])


def _dir(shared):
    return os.path.join(shared, "ganeti")


def _stamp():
    return time.strftime("%a %b %d %H:%M:%S %Y")


def cluster_of(host, shared=SHARED):
    """The name of the cluster ``host`` belongs to when the test bed runs several (the
    topology's ``ganeti_clusters``, kept in ``clusters.json``), else None (the one cluster)."""
    try:
        with open(os.path.join(_dir(shared), "clusters.json")) as handle:
            return json.load(handle).get(host)
    except FileNotFoundError:
        return None


def _state_dir(shared, name):
    return _dir(shared) if name is None else os.path.join(_dir(shared), "clusters", name)


class Cluster(LockedJson):
    """A cluster's state, loaded and saved under its lock: ``with Cluster() as c: ...``. With
    several clusters each has its own state and lock; ``host`` picks the host's."""

    def __init__(self, shared=SHARED, host=None, name=None):
        if name is None and host is not None:
            name = cluster_of(host, shared)
        super().__init__(_state_dir(shared, name), "cluster.json")
        self.shared = shared
        self.name = name

    def event(self, kind, host, **fields):
        timeline.record(kind, host, shared_dir=self.shared, **fields)

    # --- nodes and instances ----------------------------------------------------------------

    def node_whole(self, node):
        info = self.state["nodes"][node]
        return info["up"] and all(info["services"].get(s) for s in SERVICES)

    def free_memory(self, node):
        """What the hypervisor has left: instances use memory only where they run."""
        used = sum(i["oper_ram"] for i in self.state["instances"].values() if i["runs_on"] == node)
        return max(0, self.state["nodes"][node]["memory"] - used)

    def status(self, name):
        """Ganeti's instance status (``lib/query.py`` ``_GetInstStatus``)."""
        instance = self.state["instances"][name]
        if not self.state["nodes"][instance["pnode"]]["up"] and instance["admin_up"]:
            return "ERROR_nodedown"
        if instance["runs_on"] not in (None, instance["pnode"]):
            return "ERROR_wrongnode"
        if instance["runs_on"] == instance["pnode"]:
            return "running" if instance["admin_up"] else "ERROR_up"
        return "ERROR_down" if instance["admin_up"] else "ADMIN_down"

    def primaries(self, node):
        return sorted(n for n, i in self.state["instances"].items() if i["pnode"] == node)

    def secondaries(self, node):
        return sorted(n for n, i in self.state["instances"].items() if i.get("snode") == node)

    def candidate_stats(self, exceptions=()):
        """``(now, should)`` as ``lib/config.py`` ``_UnlockedGetMasterCandidateStats``."""
        now = possible = 0
        for name, node in self.state["nodes"].items():
            if name in exceptions:
                continue
            if not (node["offline"] or node["drained"]):
                possible += 1
            if node["master_candidate"]:
                now += 1
        return now, min(possible, self.state["candidate_pool_size"])

    def promote_to_pool(self, exceptions=()):
        """``MaintainCandidatePool``: promote nodes until the pool is full (Ganeti picks at
        random; the stand-in by name). Return the promoted nodes."""
        now, should = self.candidate_stats(exceptions)
        promoted = []
        for name in sorted(self.state["nodes"]):
            if now >= should:
                break
            node = self.state["nodes"][name]
            if name in exceptions or node["master_candidate"] or node["drained"] or node["offline"]:
                continue
            node["master_candidate"] = True
            promoted.append(name)
            now += 1
        return promoted

    # --- DRBD -------------------------------------------------------------------------------

    def drbd_sync(self, name, now=None):
        """``{node: 'ok' | 'resyncing' | 'stale' | 'inactive' | 'down'}`` for each replica of
        a drbd instance; a finished resync becomes ``ok``."""
        now = time.time() if now is None else now
        instance = self.state["instances"][name]
        replicas = instance["replicas"]
        for replica in replicas.values():
            if replica.get("resync_until") is not None and now >= replica["resync_until"]:
                replica.pop("resync_until")
                replica["uptodate"] = True
        return dict(
            (
                node,
                "down"
                if not self.node_whole(node)
                else (
                    "inactive"
                    if not replica.get("active", True)
                    else ("ok" if replica["uptodate"] else ("resyncing" if replica.get("resync_until") else "stale"))
                ),
            )
            for node, replica in replicas.items()
        )

    def _settle_drbd(self, name, instance, now, reason):
        writing = instance["runs_on"] is not None
        whole = dict((node, self.node_whole(node)) for node in instance["replicas"])
        for node, replica in instance["replicas"].items():
            if not whole[node]:
                replica.pop("resync_until", None)
                if writing and replica.get("seen"):  # the instance writes on while this replica is away
                    replica["uptodate"] = False
                continue
            replica["seen"] = True
            connected = all(whole[n] and r.get("active", True) for n, r in instance["replicas"].items())
            if not replica["uptodate"] and replica.get("resync_until") is None and connected:
                replica["resync_until"] = now + instance["disk_mib"] / float(self.state["drbd_resync_mib_per_s"])
        self.drbd_sync(name, now)
        live = any(r["uptodate"] and whole[n] for n, r in instance["replicas"].items())
        if instance.get("live_replica") and not live:
            self.event("vm-data-at-risk", instance["pnode"], instance=name, reason=reason)
        instance["live_replica"] = live

    def activate_disks(self, name):
        """``OpInstanceActivateDisks``: the instance's DRBD devices configured again on its
        nodes that are up (a replica behind then resynchronises)."""
        for node, replica in self.state["instances"][name].get("replicas", {}).items():
            if self.node_whole(node):
                replica["active"] = True
        self.settle(f"disks of {name} activated")

    def disks_to_activate(self):
        """``LUGroupVerifyDisks._VerifyDrbdStates``: instances with disks active (configured
        up) whose DRBD device is not configured on one of their nodes that is up."""
        return sorted(
            name
            for name, instance in self.state["instances"].items()
            if instance["admin_up"]
            and any(self.node_whole(n) and not r.get("active", True) for n, r in instance.get("replicas", {}).items())
        )

    def settle(self, reason):
        """Bring every instance in line with its nodes; record outages and risks."""
        now = time.time()
        for name, instance in sorted(self.state["instances"].items()):
            runs_on = instance["runs_on"]
            if runs_on is not None and not self.node_whole(runs_on):
                instance["runs_on"] = None
                instance["down_since"] = now
                self.event("vm-outage", runs_on, instance=name, reason=reason)
            elif runs_on is None and instance["admin_up"] and self.node_whole(instance["pnode"]):
                if instance["disk_template"] in INTERNALLY_MIRRORED and not instance["replicas"][instance["pnode"]]["uptodate"]:
                    continue  # Ganeti would not start it on a stale replica
                downtime = round(now - instance.pop("down_since", now), 3)
                instance["runs_on"] = instance["pnode"]
                instance["oper_ram"] = instance["memory"]
                self.event("vm-restored", instance["pnode"], instance=name, downtime=downtime)
            if instance["disk_template"] in INTERNALLY_MIRRORED:
                self._settle_drbd(name, instance, now, reason)


def create(
    shared,
    nodes,
    master,
    instances,
    memory=None,
    instance_memory=None,
    migration_mib_per_s=MIGRATION_MIB_PER_S,
    specs=None,
    candidate_pool_size=CANDIDATE_POOL_SIZE,
    drbd_resync_mib_per_s=DRBD_RESYNC_MIB_PER_S,
    name=None,
):
    """Write a fresh cluster state (``name``: one of several clusters, its nodes recorded as
    its own in ``clusters.json``): ``nodes`` [names], ``instances`` {name: primary},
    ``memory`` {node: MiB}, ``instance_memory`` {instance: MiB}, ``specs`` {instance:
    {'status': 'running'|'stopped', 'disk_template', 'secondary', 'disk_mib', 'minmem',
    'always_failover'}}. The master candidates are the master and then the other nodes by
    name, up to ``candidate_pool_size``, as ``gnt-node add`` promotes them."""
    memory = memory or {}
    instance_memory = instance_memory or {}
    specs = specs or {}
    os.makedirs(_dir(shared), exist_ok=True)
    os.makedirs(os.path.join(shared, "faults"), exist_ok=True)
    candidates = ([master] + sorted(n for n in nodes if n != master))[:candidate_pool_size]
    state = {
        "master": master,
        "candidate_pool_size": candidate_pool_size,
        "drbd_resync_mib_per_s": drbd_resync_mib_per_s,
        "nodes": {
            n: {
                "drained": False,
                "offline": False,
                "master_candidate": n in candidates,
                "up": False,
                "services": {s: False for s in SERVICES},
                "memory": memory.get(n, 8192),
                "tags": [],
            }
            for n in nodes
        },
        "instances": {},
        "migration_mib_per_s": migration_mib_per_s,
        "jobs": {},
        "next_job": 1,
    }
    for instance_name, pnode in instances.items():
        spec = specs.get(instance_name, {})
        template = spec.get("disk_template", "ext")
        size = instance_memory.get(instance_name, 1024)
        instance = {
            "pnode": pnode,
            "snode": spec.get("secondary") if template in INTERNALLY_MIRRORED else None,
            "disk_template": template,
            "disk_mib": spec.get("disk_mib", 10240),
            "admin_up": spec.get("status", "running") == "running",
            "runs_on": None,
            "down_since": time.time(),
            "memory": size,
            "minmem": spec.get("minmem", size),
            "oper_ram": size,
            "always_failover": bool(spec.get("always_failover", False)),
            "replicas": {},
        }
        if template in INTERNALLY_MIRRORED:
            instance["replicas"] = {pnode: {"uptodate": True}, instance["snode"]: {"uptodate": True}}
        state["instances"][instance_name] = instance
    create_state(_state_dir(shared, name), "cluster.json", state)
    if name is not None:
        index = os.path.join(_dir(shared), "clusters.json")
        members = {}
        if os.path.exists(index):
            with open(index) as handle:
                members = json.load(handle)
        members.update((n, name) for n in nodes)
        with open(index, "w") as handle:
            json.dump(members, handle, indent=1, sort_keys=True)


def is_node(host, shared=SHARED):
    real = os.path.join(_dir(shared), "real.json")
    if os.path.exists(real):
        with open(real) as handle:
            return host in json.load(handle)["nodes"]
    path = os.path.join(_state_dir(shared, cluster_of(host, shared)), "cluster.json")
    if not os.path.exists(path):
        return False
    with Cluster(shared, host) as cluster:
        return host in cluster.state["nodes"]


def release_version(package_version):
    """Ganeti's RELEASE_VERSION from a Debian version of its package: the upstream part
    (``2.10.7+snap1+...-1~wheezy`` -> ``2.10.7``, ``2.10.7.1+grnet2+bpo2-2~jessie`` ->
    ``2.10.7.1``)."""
    upstream = package_version.split(":", 1)[-1].rsplit("-", 1)[0]
    return upstream.split("+", 1)[0].split("~", 1)[0]


# Where Ganeti looks for OS definitions (Debian's build: --with-os-search-path; snf-image
# installs into DATADIR/ganeti/os, grnet/snf-image snf-image-host/configure.ac).
OS_SEARCH_PATH = ("/srv/ganeti/os", "/usr/local/lib/ganeti/os", "/usr/lib/ganeti/os", "/usr/share/ganeti/os")


def os_definitions(search_path=OS_SEARCH_PATH):
    """The node's OS definitions as its noded reports them to verify (``lib/backend.py``
    ``DiagnoseOS``): ``{os: {'api': [...], 'variants': [...], 'parameters': [[name, doc]]}}``,
    the first directory of the search path that has an OS winning."""
    found = {}
    for directory in search_path:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if name in found:
                continue
            base = os.path.join(directory, name)

            def lines(file, base=base):
                try:
                    with open(os.path.join(base, file)) as handle:
                        return [line.strip() for line in handle if line.strip()]
                except OSError:
                    return []

            found[name] = {
                "api": lines("ganeti_api_version"),
                "variants": lines("variants.list"),
                "parameters": [(line.split(None, 1) + [""])[:2] for line in lines("parameters.list")],
            }
    return found


def service_changed(host, service, running, shared=SHARED, package_version=None, oses=None):
    """Called when Ganeti or Archipelago starts or stops on a node (with the node's Ganeti
    package version and its OS definitions, which ``gnt-cluster verify`` compares)."""
    if os.path.exists(os.path.join(_dir(shared), "real.json")):
        if service == "ganeti":  # real Ganeti's daemons go with the host's Ganeti service
            _relayed({"host": host, "service": service, "running": running}, shared)
        return
    with Cluster(shared, host) as cluster:
        if host not in cluster.state["nodes"]:
            return
        node = cluster.state["nodes"][host]
        if service == "ganeti" and running and package_version:
            node["ganeti_version"] = release_version(package_version)
        if service == "ganeti" and running and oses is not None:
            node["oses"] = oses
        node["up"] = True
        node["services"][service] = running
        if service in SERVICES:
            cluster.settle(f"{service} {'started' if running else 'stopped'} on {host}")


def power_changed(host, up, shared=SHARED):
    """Called by the supervisor when a node's host goes down or boots."""
    with Cluster(shared, host) as cluster:
        if host not in cluster.state["nodes"]:
            return
        node = cluster.state["nodes"][host]
        node["up"] = up
        if not up:
            node["services"] = {s: False for s in node["services"]}
            # Its DRBD devices are gone with it; configured again only by an activation of
            # the instances' disks (lib/watcher/__init__.py _CheckDisks, gnt-cluster
            # verify-disks, gnt-instance activate-disks), not by the node's boot.
            for instance in cluster.state["instances"].values():
                if host in instance.get("replicas", {}):
                    instance["replicas"][host]["active"] = False
        cluster.settle(f"{host} {'booted' if up else 'went down'}")


# --- jobs ---------------------------------------------------------------------------------


def _new_job(cluster, ops, status="queued", **extra):
    job_id = cluster.state["next_job"]
    cluster.state["next_job"] += 1
    cluster.state["jobs"][str(job_id)] = {"id": job_id, "ops": ops, "status": status, "received": time.time(), "result": None, **extra}
    return job_id


def _check_master(cluster, host):
    if cluster.state["master"] != host:
        raise PrereqError(
            f"This is not the master node, please connect to node '{cluster.state['master']}' and rerun the command", "wrong_input"
        )


def _instance(cluster, name):
    if name not in cluster.state["instances"]:
        raise PrereqError(f"Instance '{name}' not known", "unknown_entity")
    return cluster.state["instances"][name]


def _node(cluster, name):
    if name not in cluster.state["nodes"]:
        raise PrereqError(f"Node '{name}' not known", "unknown_entity")
    return cluster.state["nodes"][name]


def _move_prereq(cluster, name, target, failover=False, allow_failover=False, iallocator=False):
    """``TLMigrateInstance.CheckPrereq``: raise Ganeti's error, or return ``(target, failover)``
    (a migration may turn into a failover)."""
    instance = _instance(cluster, name)
    template = instance["disk_template"]
    if not instance["admin_up"] and not failover and allow_failover:
        failover = True  # "Instance is marked down or offline, fallback allowed, switching to failover"
    if template not in INTERNALLY_MIRRORED + EXTERNALLY_MIRRORED:
        raise PrereqError(f"Instance's disk layout '{template}' does not allow {'failovers' if failover else 'migrations'}")
    if template in INTERNALLY_MIRRORED:
        if iallocator or (target and target != instance["snode"]):
            raise PrereqError(
                f"Instances with disk template {template} cannot be {'failed over' if failover else 'migrated'} to arbitrary nodes"
                " (neither an iallocator nor a target node can be passed)",
                "wrong_input",
            )
        target = instance["snode"]
    else:
        if target is None:
            target = _pick_target(cluster, instance["pnode"])
            if target is None:
                raise PrereqError(f"Can't find a node to migrate instance {name} to", "insufficient_resources")
        _node(cluster, target)
        if target == instance["pnode"]:
            raise PrereqError(f"Cannot migrate instance {name} to its primary ({instance['pnode']})")
    if not failover or instance["admin_up"]:
        free = cluster.free_memory(target)
        if instance["minmem"] > free:
            raise PrereqError(
                f"Not enough memory on node {target} for migrating instance {name}: needed {instance['minmem']} MiB, available {free} MiB",
                "insufficient_resources",
            )
    if instance["always_failover"] and not failover:
        failover = True  # "Instance configured to always failover; fallback to failover"
    if cluster.state["nodes"][target]["drained"]:
        raise PrereqError(f"Can't use drained node {target}")
    if not cluster.node_whole(target):
        raise PrereqError(f"Node {target} is not reachable or its services are down", "environment_error")
    if not failover and instance["runs_on"] != instance["pnode"]:
        # call_instance_migratable asks the primary's hypervisor, which does not run it.
        raise PrereqError(f"Can't migrate, please use failover: Instance {name} is not running")
    return target, failover


def _run_move(cluster, job):
    """Execute one migration or failover job (already marked running)."""
    op = job["ops"][0]
    name = op["instance"]
    instance = cluster.state["instances"].get(name)
    source = instance["pnode"] if instance else None
    try:
        if op.get("cleanup"):
            job.update(status="success", result=_cleanup(cluster, name), finished=time.time())
            return
        target, failover = _move_prereq(
            cluster, name, op.get("target"), op.get("failover", False), op.get("allow_failover", False), op.get("iallocator", False)
        )
        if instance["disk_template"] in INTERNALLY_MIRRORED and instance["admin_up"]:
            if cluster.drbd_sync(name)[target] != "ok":
                raise ExecError(
                    "Disk 0 is degraded on target node, aborting failover"
                    if failover
                    else "Disk 0 is degraded or not fully synchronized on target node, aborting migration"
                )
        for kind, message in (
            ("fail", f"Could not migrate instance {name}: live migration aborted by the hypervisor (injected fault)"),
            ("refuse", f"Could not migrate instance {name}: live migration aborted by the hypervisor (injected fault)"),
            ("wrongnode", "Could not finalize instance migration: the target did not confirm (injected fault)"),
        ):
            fault = os.path.join(cluster.shared, "faults", f"migrate-{kind}-{name}")
            if not failover and os.path.exists(fault):
                if kind != "refuse":  # the others are one-shot
                    os.unlink(fault)
                if kind == "wrongnode":  # the memory went over: it runs on the target now
                    instance["runs_on"] = target
                raise ExecError(message)
    except GanetiError as exc:
        job.update(status="error", result=str(exc), finished=time.time())
        cluster.event("migration-failed", source or "?", instance=name, target=op.get("target"), job=job["id"], error=exc.args[0])
        return
    was_running = instance["runs_on"] is not None
    if failover and was_running:
        # Shut down on the source, started on the target: downtime (TLMigrateInstance._ExecFailover).
        instance["runs_on"] = None
        instance["down_since"] = time.time()
        cluster.event("vm-outage", source, instance=name, reason=f"failover to {target}")
    if instance["disk_template"] in INTERNALLY_MIRRORED:
        instance["snode"] = source
    instance["pnode"] = target
    if was_running and not failover:
        # Between minmem and maxmem, the instance is ballooned to the target's free memory.
        instance["oper_ram"] = min(instance["memory"], cluster.free_memory(target))
        instance["runs_on"] = target
    job.update(status="success", result=f"{'failed over' if failover else 'migrated'} {name} to {target}", finished=time.time())
    cluster.event("failover" if failover else "migration", source, instance=name, source=source, target=target, job=job["id"])
    cluster.settle(f"{name} moved to {target}")


def _cleanup(cluster, name):
    """``TLMigrateInstance._ExecCleanup``: find where the instance runs and fix the
    configuration."""
    instance = cluster.state["instances"][name]
    runs_on = instance["runs_on"]
    if runs_on is None:
        raise ExecError(
            "Instance does not seem to be running at all; in this case it's safer to repair by running "
            "'gnt-instance stop' to ensure disk shutdown, and then restarting it"
        )
    if runs_on != instance["pnode"]:
        source = instance["pnode"]
        if instance["disk_template"] in INTERNALLY_MIRRORED:
            instance["snode"] = source
        instance["pnode"] = runs_on
        cluster.event("migration", source, instance=name, source=source, target=runs_on, job=None, cleanup=True)
        return f"* instance running on secondary node ({runs_on}), updating config"
    return f"* instance confirmed to be running on its primary node ({runs_on})"


def run_queued_jobs(shared=SHARED, name=None):
    """The job queue's worker (of cluster ``name``): run queued jobs in id order until none
    is left."""
    while True:
        with Cluster(shared, name=name) as cluster:
            queued = sorted((j for j in cluster.state["jobs"].values() if j["status"] == "queued"), key=lambda j: j["id"])
            if not queued:
                return
            job = queued[0]
            job.update(status="running", started=time.time())
            op = job["ops"][0]
            instance = cluster.state["instances"].get(op["instance"], {})
            moving = instance.get("runs_on") is not None and not op.get("cleanup")
            seconds = instance.get("memory", 0) / cluster.state["migration_mib_per_s"] if moving else 0
        time.sleep(seconds)
        with Cluster(shared, name=name) as cluster:
            _run_move(cluster, cluster.state["jobs"][str(job["id"])])


def _start_worker(shared, host):
    name = cluster_of(host, shared)
    subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "run-jobs", shared] + ([name] if name else []),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(job_ids, shared, host, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with Cluster(shared, host) as cluster:
            jobs = [cluster.state["jobs"][str(j)] for j in job_ids]
        if all(j["status"] in ("success", "error", "canceled") for j in jobs):
            return jobs
        time.sleep(0.05)
    raise GanetiError(f"timed out waiting for jobs {', '.join(map(str, job_ids))}")


# --- commands -----------------------------------------------------------------------------


def _flag(args, name):
    if name in args:
        args.remove(name)
        return True
    return False


def _yes_no(value):
    if value in ("yes", "True", "true"):
        return True
    if value in ("no", "False", "false"):
        return False
    raise PrereqError(f"Invalid boolean value '{value}'", "wrong_input")


def _move_options(args, usage):
    """The options of the migrate and failover commands: ``{'submit', 'allow_failover',
    'cleanup', 'target', 'iallocator'}`` and the node or instance named last."""
    _flag(args, "-f")
    options = {
        "submit": _flag(args, "--submit"),
        "allow_failover": _flag(args, "--allow-failover"),
        "cleanup": _flag(args, "--cleanup"),
        "target": _option(args, "-n") or _option(args, "--target-node"),
        "iallocator": bool(_option(args, "-I") or _option(args, "--iallocator")),
    }
    _option(args, "--shutdown-timeout")
    _flag(args, "--ignore-consistency")
    if not args:
        raise GanetiError(usage)
    return options, args[-1]


def _print_table(rows, fields, headers=True, separator=None):
    """Ganeti's list output: a header line unless --no-headers, columns split by spaces or
    by --separator."""
    if headers:
        rows = [[f.capitalize() for f in fields]] + rows
    for row in rows:
        print((separator if separator is not None else " ").join(row))


def _pick_target(cluster, source, exclude=()):
    candidates = [
        n
        for n in sorted(cluster.state["nodes"])
        if n != source
        and n not in exclude
        and not cluster.state["nodes"][n]["drained"]
        and not cluster.state["nodes"][n]["offline"]
        and cluster.node_whole(n)
    ]
    if not candidates:
        return None
    load = {n: len(cluster.primaries(n)) for n in candidates}
    return min(candidates, key=lambda n: (load[n], n))


def _info(message):
    print(f"{_stamp()}  - INFO: {message}")


def _node_modify(cluster, args, host):
    """``gnt-node modify --drained=yes|no | --master-candidate=yes|no [--auto-promote] NODE``
    (``LUNodeSetParams``)."""
    auto_promote = _flag(args, "--auto-promote")
    drained = _option(args, "--drained")
    candidate = _option(args, "--master-candidate") or _option(args, "-C")
    _flag(args, "--force")
    if not args or (drained is None and candidate is None):
        raise GanetiError("Usage: gnt-node modify [--drained=yes|no] [--master-candidate=yes|no] [--auto-promote] NODE")
    name = args[-1]
    _check_master(cluster, host)
    node = _node(cluster, name)
    drained = None if drained is None else _yes_no(drained)
    candidate = None if candidate is None else _yes_no(candidate)
    if name == cluster.state["master"] and (drained or candidate is False):
        raise PrereqError("The master role can be changed only via master-failover", "wrong_input")
    demote = drained is True or candidate is False
    if node["master_candidate"] and demote and not auto_promote:
        remaining, should = cluster.candidate_stats(exceptions=[name])
        if remaining < should:
            raise PrereqError(
                "Not enough master candidates, please pass auto promote option to allow promotion"
                " (--auto-promote or RAPI auto_promote=True)"
            )
    if candidate and node["drained"]:
        raise PrereqError(f"Node {name} is drained, cannot be a master candidate", "wrong_input")
    changes = []
    if drained is False and node["drained"]:
        # _DecideSelfPromotion: the node counts again once undrained.
        now, should = cluster.candidate_stats()
        if now < min(should + 1, cluster.state["candidate_pool_size"]) and not node["master_candidate"]:
            _info("Auto-promoting node to master candidate")
            candidate = True
    if demote and node["master_candidate"]:
        node["master_candidate"] = False
        changes.append(("master_candidate", False))
    elif candidate and not node["master_candidate"]:
        node["master_candidate"] = True
        changes.append(("master_candidate", True))
    if drained is not None and node["drained"] != drained:
        node["drained"] = drained
        changes.append(("drained", drained))
        cluster.event("drain" if drained else "undrain", name, by=host)
    if changes and any(c == ("master_candidate", v) for c in changes for v in (True, False)):
        cluster.event("master-candidate", name, value=node["master_candidate"], by=host)
    if demote and auto_promote:
        promoted = cluster.promote_to_pool(exceptions=[name])
        if promoted:
            _info(f"Promoted nodes to master candidate role: {', '.join(promoted)}")
            for other in promoted:
                cluster.event("master-candidate", other, value=True, by=host)
    print(f"Modified node {name}")
    for field, value in changes:
        print(f" - {field} -> {value}")
    return 0


def gnt_node(args, host, shared):
    command = args.pop(0) if args else ""
    if command == "list":
        no_headers = _flag(args, "--no-headers")
        separator = _option(args, "--separator")
        fields = (_option(args, "-o") or "name,pinst_cnt,sinst_cnt,drained").split(",")
        with Cluster(shared, host) as cluster:
            cluster.settle("query")
            state = cluster.state
            rows = []
            for name in args or sorted(state["nodes"]):
                node = _node(cluster, name)
                primaries, secondaries = cluster.primaries(name), cluster.secondaries(name)
                role = "M" if state["master"] == name else "C" if node["master_candidate"] else "D" if node["drained"] else "R"
                values = {
                    "name": name,
                    "pinst_cnt": str(len(primaries)),
                    "pinst_list": ",".join(primaries),
                    "sinst_cnt": str(len(secondaries)),
                    "sinst_list": ",".join(secondaries),
                    "mtotal": str(node["memory"]),
                    "mfree": str(cluster.free_memory(name)),
                    "tags": ",".join(sorted(node["tags"])),
                    "drained": "Y" if node["drained"] else "N",
                    "offline": "Y" if node["offline"] else "N",
                    "master_candidate": "Y" if node["master_candidate"] else "N",
                    "master_capable": "Y",
                    "role": "O" if node["offline"] else role,
                }
                rows.append([values.get(f, "?") for f in fields])
        _print_table(rows, fields, not no_headers, separator)
        return 0
    if command in ("add-tags", "remove-tags", "list-tags"):
        if not args:
            raise GanetiError(f"Usage: gnt-node {command} NODE" + (" TAG..." if command != "list-tags" else ""))
        node, names = args[0], args[1:]
        with Cluster(shared, host) as cluster:
            tags = _node(cluster, node)["tags"]
            if command == "list-tags":
                print("\n".join(sorted(tags)) + ("\n" if tags else ""), end="")
                return 0
            _check_master(cluster, host)
            for name in names:  # lib/objects.py TaggableObject.ValidateTag
                if len(name) > 128:
                    raise GanetiError("invalid tag(s) given:\nTag too long (>128 characters)")
                if not name:
                    raise GanetiError("invalid tag(s) given:\nTags cannot be empty")
                if set(name) - TAG_CHARACTERS:
                    raise GanetiError("invalid tag(s) given:\nTag contains invalid characters")
            if command == "add-tags":
                tags.extend(n for n in names if n not in tags)
            else:
                missing = [n for n in names if n not in tags]
                if missing:
                    raise PrereqError(f"Tag(s) {', '.join(repr(n) for n in missing)} not found", "unknown_entity")
                tags[:] = [t for t in tags if t not in names]
            cluster.event("node-tags", node, command=command, tags=names)
        return 0
    if command == "modify":
        with Cluster(shared, host) as cluster:
            return _node_modify(cluster, args, host)
    if command in ("migrate", "evacuate"):
        options, node = _move_options(args, "Usage: gnt-node migrate [-f] [-n TARGET | -I IALLOCATOR] [--submit] NODE")
        with Cluster(shared, host) as cluster:
            _check_master(cluster, host)
            _node(cluster, node)
            children = []
            for name in cluster.primaries(node):
                op = {
                    "op": "OP_INSTANCE_MIGRATE",
                    "instance": name,
                    "target": options["target"],
                    "allow_failover": options["allow_failover"],
                }
                children.append((name, _new_job(cluster, [op])))
            parent = _new_job(
                cluster,
                [{"op": "OP_NODE_MIGRATE", "node": node}],
                status="success",
                result=[[True, job] for _, job in children],
                finished=time.time(),
            )
        if children:
            _start_worker(shared, host)
        if options["submit"]:
            print(f"JobID: {parent}")
            return 0
        if children:
            print("Submitted jobs " + ", ".join(str(j) for _, j in children))
        failed = 0
        for _name, job_id in children:
            print(f"Waiting for job {job_id} ...")
            job = _wait([job_id], shared, host)[0]
            if job["status"] != "success":
                failed += 1
                print(f"Job {job_id} has failed: {job['result']}", file=sys.stderr)
        if not failed:
            print("All instances migrated successfully.")
        return 1 if failed else 0
    raise GanetiError(f"Unknown command '{command}' for gnt-node")


def _instance_move(args, host, shared, failover):
    usage = "Usage: gnt-instance {} [-f] [--cleanup] [-n TARGET] [--submit] INSTANCE".format("failover" if failover else "migrate")
    options, name = _move_options(args, usage)
    with Cluster(shared, host) as cluster:
        _check_master(cluster, host)
        cluster.settle("query")
        instance = _instance(cluster, name)
        if options["cleanup"] and options["allow_failover"]:
            raise PrereqError("Cleanup and allow failover are mutually exclusive", "wrong_input")
        op = {
            "op": "OP_INSTANCE_FAILOVER" if failover else "OP_INSTANCE_MIGRATE",
            "instance": name,
            "target": options["target"],
            "iallocator": options["iallocator"],
            "failover": failover,
            "allow_failover": options["allow_failover"],
            "cleanup": options["cleanup"],
        }
        job_id = _new_job(cluster, [op])
        if options["cleanup"]:
            # A cleanup checks no target's memory; without -n, shared storage asks hail for one.
            if instance["disk_template"] in EXTERNALLY_MIRRORED and not options["target"]:
                chosen = _pick_target(cluster, instance["pnode"])
                if chosen:
                    _info(f"Selected nodes for instance {name} via iallocator hail: {chosen}")
            _info("Not checking memory on the secondary node as instance will not be started")
        else:
            # The job's CheckPrereq, run at once: its failure is the job's and the command's.
            try:
                _target, turned = _move_prereq(cluster, name, options["target"], failover, options["allow_failover"], options["iallocator"])
            except GanetiError as exc:
                job = cluster.state["jobs"][str(job_id)]
                job.update(status="error", result=str(exc), finished=time.time())
                cluster.event("migration-failed", instance["pnode"], instance=name, target=options["target"], job=job_id, error=exc.args[0])
                raise
            # The job's feedback, as TLMigrateInstance.CheckPrereq logs it.
            if turned and not failover and not instance["admin_up"]:
                _info("Instance is marked down or offline, fallback allowed, switching to failover")
            if (turned or failover) and not instance["admin_up"]:
                _info("Not checking memory on the secondary node as instance will not be started")
            if turned and instance["admin_up"] and instance["always_failover"] and not failover:
                _info("Instance configured to always failover; fallback to failover")
    _start_worker(shared, host)
    if options["submit"]:
        print(f"JobID: {job_id}")
        return 0
    job = _wait([job_id], shared, host)[0]
    if job["status"] != "success":
        print(job["result"], file=sys.stderr)
        return 1
    print(f"{_stamp()} {job['result']}")
    return 0


def _instance_power(args, host, shared, start):
    """``gnt-instance startup|shutdown INSTANCE``: the admin state and the instance with it."""
    _flag(args, "-f")
    _option(args, "--timeout")
    if not args:
        raise GanetiError("Usage: gnt-instance {} INSTANCE".format("startup" if start else "shutdown"))
    name = args[-1]
    with Cluster(shared, host) as cluster:
        _check_master(cluster, host)
        instance = _instance(cluster, name)
        if start:
            if not cluster.node_whole(instance["pnode"]):
                raise ExecError(f"Could not start instance {name}: node {instance['pnode']} is not reachable")
            instance["admin_up"] = True
            cluster.settle(f"{name} started")
        else:
            instance["admin_up"] = False
            if instance["runs_on"] is not None:
                instance["runs_on"] = None
                instance["down_since"] = time.time()
                cluster.event("vm-outage", instance["pnode"], instance=name, reason="shutdown")
            cluster.event("vm-shutdown", instance["pnode"], instance=name)
    return 0


def _instance_info(args, host, shared):
    """``gnt-instance info INSTANCE...``: the disks part, as ``_FormatBlockDevInfo``."""
    _flag(args, "--static")
    with Cluster(shared, host) as cluster:
        cluster.settle("query")
        names = args or sorted(cluster.state["instances"])
        for name in names:
            instance = _instance(cluster, name)
            print(f"Instance name: {name}")
            configured, actual = "up" if instance["admin_up"] else "down", "up" if instance["runs_on"] else "down"
            print(f"State: configured to be {configured}, actual state is {actual}")
            print("  Nodes:")
            print(f"    - primary: {instance['pnode']}")
            print(f"    - secondaries: {instance['snode'] or ''}")
            print(f"  Disk template: {instance['disk_template']}")
            print("  Disks:")
            print(f"    - disk/0: {instance['disk_template']}, size {instance['disk_mib'] / 1024.0:.1f}G")
            if instance["disk_template"] not in INTERNALLY_MIRRORED:
                continue
            sync = cluster.drbd_sync(name)
            now = time.time()
            for label, node in (("on primary", instance["pnode"]), ("on secondary", instance["snode"])):
                state = sync[node]
                if state in ("down", "inactive") or instance["runs_on"] is None:
                    print(f"      {label}: not active")
                    continue
                # DRBD8 GetSyncStatus (lib/block/drbd.py): degraded unless connected and in
                # sync; a replica whose own disk is not UpToDate has an uncertain local state.
                degraded = any(s != "ok" for s in sync.values())
                text = "in sync"
                resyncing = [r for r in instance["replicas"].values() if r.get("resync_until")]
                if resyncing:
                    left = max(0.0, resyncing[0]["resync_until"] - now)
                    total = instance["disk_mib"] / float(cluster.state["drbd_resync_mib_per_s"])
                    text = "*RECOVERING* %5.2f%%, ETA %ss" % (100.0 * (1 - left / total) if total else 100.0, int(left) + 1)
                local = "" if instance["replicas"][node]["uptodate"] else " *UNCERTAIN STATE*"
                print(f"      {label}: /dev/drbd0 (147:0) {text}, status {'*DEGRADED*' if degraded else 'ok'}{local}")
    return 0


def gnt_instance(args, host, shared):
    command = args.pop(0) if args else ""
    if command in ("migrate", "failover"):
        return _instance_move(args, host, shared, failover=command == "failover")
    if command in ("startup", "start", "shutdown", "stop"):
        return _instance_power(args, host, shared, start=command in ("startup", "start"))
    if command == "info":
        return _instance_info(args, host, shared)
    if command == "activate-disks":
        # lib/client/gnt_instance.py ActivateDisks: HOST:IV_NAME:DEVICE per disk.
        with Cluster(shared, host) as cluster:
            _check_master(cluster, host)
            name = args[-1] if args else ""
            instance = _instance(cluster, name)
            cluster.activate_disks(name)
            device = "/dev/drbd0" if instance["disk_template"] in INTERNALLY_MIRRORED else f"/srv/ganeti/{name}/disk0"
            print(f"{instance['pnode']}:disk/0:{device}")
        return 0
    if command == "list":
        no_headers = _flag(args, "--no-headers")
        separator = _option(args, "--separator")
        fields = (_option(args, "-o") or "name,pnode,status").split(",")
        with Cluster(shared, host) as cluster:
            cluster.settle("query")
            rows = []
            for n, i in sorted(cluster.state["instances"].items()):
                values = {
                    "name": n,
                    "pnode": i["pnode"],
                    "snodes": i["snode"] or "",
                    "status": cluster.status(n),
                    "admin_state": "up" if i["admin_up"] else "down",
                    "oper_state": "Y" if i["runs_on"] else "N",
                    "disk_template": i["disk_template"],
                    "be/maxmem": str(i["memory"]),
                    "be/minmem": str(i["minmem"]),
                    "be/memory": str(i["memory"]),
                    "be/always_failover": "Y" if i["always_failover"] else "N",
                    "oper_ram": str(i["oper_ram"]) if i["runs_on"] else "-",
                }
                rows.append([values.get(f, "?") for f in fields])
        _print_table(rows, fields, not no_headers, separator)
        return 0
    raise GanetiError(f"Unknown command '{command}' for gnt-instance")


def _verify_lines(cluster):
    """``(level, code, kind, item, message)`` as ``LUClusterVerifyGroup`` reports them."""
    state = cluster.state
    lines = []
    for name in sorted(state["nodes"]):
        if not cluster.node_whole(name):
            lines.append(("ERROR", "ENODERPC", "node", name, "while contacting node: node is down or its services are stopped"))
    versions = dict((n, info.get("ganeti_version")) for n, info in sorted(state["nodes"].items()) if info.get("ganeti_version"))
    master_version = versions.get(state["master"])
    for name, version in sorted(versions.items()):
        if master_version and version != master_version:
            # lib/cmdlib/cluster.py _VerifyNodeVersion: a warning, not an error.
            lines.append(("WARNING", "ENODEVERSION", "node", name, f"software version mismatch: master {master_version}, node {version}"))
    lines += _verify_oses(cluster)
    for name, instance in sorted(state["instances"].items()):
        status = cluster.status(name)
        if instance["admin_up"] and status != "running":
            lines.append(("ERROR", "EINSTANCEDOWN", "instance", name, f"instance not running on its primary node {instance['pnode']}"))
        if instance["disk_template"] in INTERNALLY_MIRRORED and instance["runs_on"]:
            replicas = cluster.drbd_sync(name)
            for node, sync in sorted(replicas.items()):
                if sync == "inactive":
                    # blockdev_getmirrorstatus on a node whose device is not configured fails.
                    message = f"couldn't retrieve status for disk/0 on {node}: Can't find device <DRBD8(minor=0)>"
                    lines.append(("ERROR", "EINSTANCEFAULTYDISK", "instance", name, message))
                elif sync in ("resyncing", "stale") or (sync == "ok" and ({"down", "inactive"} & set(replicas.values()))):
                    lines.append(("ERROR", "EINSTANCEFAULTYDISK", "instance", name, f"disk/0 on {node} is degraded"))
    return lines


def _verify_oses(cluster):
    """``LUClusterVerifyGroup._VerifyNodeOS``: every node's OS definitions against the first
    node's (by name) that reported some."""
    nodes = [(n, info["oses"]) for n, info in sorted(cluster.state["nodes"].items()) if cluster.node_whole(n) and "oses" in info]
    if not nodes:
        return []
    reference, base = nodes[0]
    lines = []
    for name, oses in nodes[1:]:
        for os_name, data in sorted(oses.items()):
            if os_name not in base:
                lines.append(("ERROR", "ENODEOS", "node", name, f"Extra OS {os_name} not present on reference node ({reference})"))
                continue
            for kind, key in (("API version", "api"), ("variants list", "variants"), ("parameters", "parameters")):
                mine, theirs = data[key], base[os_name][key]
                if key == "parameters":
                    mine, theirs = [f"{k}: {v}" for k, v in mine], [f"{k}: {v}" for k, v in theirs]
                if mine != theirs:
                    lines.append(
                        (
                            "ERROR",
                            "ENODEOS",
                            "node",
                            name,
                            f"OS {kind} for {os_name} differs from reference node {reference}:"
                            f" [{', '.join(sorted(mine))}] vs. [{', '.join(sorted(theirs))}]",
                        )
                    )
        missing = sorted(set(base) - set(oses))
        if missing:
            lines.append(
                (
                    "ERROR",
                    "ENODEOS",
                    "node",
                    name,
                    f"OSes present on reference node {reference} but missing on this node: {', '.join(missing)}",
                )
            )
    return lines


def gnt_cluster(args, host, shared):
    command = args.pop(0) if args else ""
    with Cluster(shared, host) as cluster:
        state = cluster.state
        if command == "getmaster":
            print(state["master"])
            return 0
        if command == "master-failover":
            if state["master"] == host:
                raise PrereqError(
                    f"This commands must be run on the node where you want the new master to be. {host} is already the master",
                    "wrong_input",
                )
            if host not in state["nodes"] or not state["nodes"][host]["master_candidate"]:
                raise GanetiError(f"This node ({host}) is not a master candidate")
            old = state["master"]
            state["master"] = host
            cluster.event("master-failover", host, old=old, new=host)
            return 0
        if command == "verify":
            error_codes = _flag(args, "--error-codes")
            ignored = set()
            while True:  # -I CODE: that error reported as a warning (LUClusterVerifyGroup._Error)
                code = _option(args, "-I") or _option(args, "--ignore-errors")
                if code is None:
                    break
                ignored.add(code)
            cluster.settle("query")
            lines = [
                ("WARNING" if code in ignored else level, code, kind, item, message)
                for level, code, kind, item, message in _verify_lines(cluster)
            ]
            print("Submitted jobs 1, 2")
            print(f"{_stamp()} * Verifying node status")
            for level, code, kind, item, message in lines:
                if error_codes:
                    print(f"{_stamp()}   - {level}:{code}:{kind}:{item}:{message}")
                else:
                    print(f"{_stamp()}   - {level}: {kind} {item}: {message}")
            return 1 if any(line[0] == "ERROR" for line in lines) else 0
        if command == "verify-disks":
            # lib/client/gnt_cluster.py VerifyDisks: each instance whose disks need it is
            # activated, or "No disks need to be activated."
            _check_master(cluster, host)
            cluster.settle("query")
            print("Submitted jobs 1\nWaiting for job 1 ...")
            names = cluster.disks_to_activate()
            for name in names:
                print(f"Activating disks for instance '{name}'")
                cluster.activate_disks(name)
            if not names:
                print("No disks need to be activated.")
            return 0
        if command == "info":
            print(f"Cluster name: {cluster.name or 'testbed'}\nMaster node: {state['master']}")
            print(f"  candidate pool size: {state['candidate_pool_size']}")
            return 0
    raise GanetiError(f"Unknown command '{command}' for gnt-cluster")


def gnt_job(args, host, shared):
    command = args.pop(0) if args else ""
    if command in ("info", "wait"):
        if not args:
            raise GanetiError(f"Usage: gnt-job {command} ID")
        with Cluster(shared, host) as cluster:
            if args[0] not in cluster.state["jobs"]:
                raise GanetiError(f"Job {args[0]} not found")
        job = _wait([int(args[0])], shared, host)[0] if command == "wait" else None
        if command == "info":
            with Cluster(shared, host) as cluster:
                job = cluster.state["jobs"][args[0]]
            print(f"Job ID: {job['id']}\n  Status: {job['status']}\n  Opcodes:")
            for op in job["ops"]:
                print(f"    OP: {op['op']}")
            print(f"  Result: {json.dumps(job['result'])}")
        return 0 if command == "info" or job["status"] == "success" else 1
    if command == "list":
        with Cluster(shared, host) as cluster:
            for job in sorted(cluster.state["jobs"].values(), key=lambda j: j["id"]):
                print(f"{job['id']} {job['status']} {job['ops'][0]['op']}")
        return 0
    raise GanetiError(f"Unknown command '{command}' for gnt-job")


COMMANDS = {"gnt-node": gnt_node, "gnt-instance": gnt_instance, "gnt-cluster": gnt_cluster, "gnt-job": gnt_job}


def _relayed(request, shared):
    """The answer of the test bed's relay to real Ganeti (``testbed/realganeti.py``
    ``Relay``), or None when the hosts run the stand-in."""
    path = os.path.join(_dir(shared), "real.sock")
    if not os.path.exists(path):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(path)
        connection.sendall(json.dumps(request).encode() + b"\n")
        with connection.makefile("rb") as answer:
            return json.loads(answer.readline())


def main(program, args, host=None, shared=SHARED):
    host = host or socket.gethostname()
    relayed = _relayed({"host": host, "argv": [program] + list(args)}, shared)
    if relayed is not None:
        sys.stdout.write(relayed["stdout"])
        sys.stderr.write(relayed["stderr"])
        return relayed["returncode"]
    try:
        return COMMANDS[program](list(args), host, shared)
    except GanetiError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["run-jobs"]:
        run_queued_jobs(*sys.argv[2:4])
    elif sys.argv[1:2] == ["os-definitions"]:
        print(json.dumps(os_definitions()))
    else:
        sys.exit(main(os.path.basename(sys.argv[1]), sys.argv[2:]))
