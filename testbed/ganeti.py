"""
The test bed's Ganeti: one cluster state shared by the Ganeti hosts (a JSON file under the
shared directory, changed under an exclusive lock) and the ``gnt-node``, ``gnt-instance``,
``gnt-cluster`` and ``gnt-job`` commands, which enforce Ganeti 2.10's rules as the reference
describes them:

- commands that change the cluster run on the master node only;
- no migration to a drained or offline node, nor to a node whose Ganeti or Archipelago
  services are down, nor to a node without the instance's memory free ("Not enough memory
  on node ..."); ``--allow-failover`` is accepted and means downtime, as in Ganeti;
- a live migration takes time in proportion to the instance's memory (the topology's
  ``migration_mib_per_s``);
- nodes carry tags (``gnt-node add-tags``, ``list-tags``, ``remove-tags``), as in Ganeti 2.x;
- a node-level migrate submits one job per instance (the parent job only lists them), and the
  jobs run in the background: a caller must wait on every instance job;
- an instance runs only while its primary node is up with Ganeti and Archipelago running:
  when the node reboots or loses a service, the instance goes down and the outage is recorded
  on the timeline with its time (``vm-outage``), and when the node is whole again it is
  restarted (``vm-restored``, with the downtime).

Faults: a file ``faults/migrate-fail-INSTANCE`` under the shared directory makes the next
migration of that instance fail.

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
# Not needed by the VMs, but Synnefo needs it on the master: it must follow the master role.
EVENTD = "snf-ganeti-eventd"
MIGRATION_MIB_PER_S = 4096
TAG_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+*/:@-_")


class GanetiError(Exception):
    """A Ganeti failure: printed as ``Failure: ...`` with exit code 1."""


def _dir(shared):
    return os.path.join(shared, "ganeti")


class Cluster(LockedJson):
    """The cluster state, loaded and saved under the lock: ``with Cluster() as c: ...``."""

    def __init__(self, shared=SHARED):
        super().__init__(_dir(shared), "cluster.json")
        self.shared = shared

    def event(self, kind, host, **fields):
        timeline.record(kind, host, shared_dir=self.shared, **fields)

    # --- instance health -------------------------------------------------------------------

    def node_whole(self, node):
        info = self.state["nodes"][node]
        return info["up"] and all(info["services"].get(s) for s in SERVICES)

    def free_memory(self, node):
        used = sum(i["memory"] for i in self.state["instances"].values() if i["pnode"] == node)
        return self.state["nodes"][node]["memory"] - used

    def settle(self, reason):
        """Bring every instance's status in line with its primary node; record outages."""
        now = time.time()
        for name, instance in sorted(self.state["instances"].items()):
            whole = self.node_whole(instance["pnode"])
            if instance["status"] == "running" and not whole:
                instance["status"] = "ERROR_down"
                instance["down_since"] = now
                self.event("vm-outage", instance["pnode"], instance=name, reason=reason)
            elif instance["status"] == "ERROR_down" and whole:
                downtime = round(now - instance.pop("down_since", now), 3)
                instance["status"] = "running"
                self.event("vm-restored", instance["pnode"], instance=name, downtime=downtime)


def create(shared, nodes, master, instances, memory=None, instance_memory=None, migration_mib_per_s=MIGRATION_MIB_PER_S):
    """Write a fresh cluster state: ``nodes`` [names], ``instances`` {name: primary},
    ``memory`` {node: MiB}, ``instance_memory`` {instance: MiB}."""
    memory = memory or {}
    instance_memory = instance_memory or {}
    os.makedirs(_dir(shared), exist_ok=True)
    os.makedirs(os.path.join(shared, "faults"), exist_ok=True)
    state = {
        "master": master,
        "nodes": {
            n: {
                "drained": False,
                "offline": False,
                "master_candidate": True,
                "up": False,
                "services": {s: False for s in SERVICES},
                "memory": memory.get(n, 8192),
                "tags": [],
            }
            for n in nodes
        },
        "instances": {
            i: {
                "pnode": p,
                "disk_template": "ext",
                "status": "ERROR_down",
                "down_since": time.time(),
                "memory": instance_memory.get(i, 1024),
            }
            for i, p in instances.items()
        },
        "migration_mib_per_s": migration_mib_per_s,
        "jobs": {},
        "next_job": 1,
    }
    create_state(_dir(shared), "cluster.json", state)


def is_node(host, shared=SHARED):
    path = os.path.join(_dir(shared), "cluster.json")
    if not os.path.exists(path):
        return False
    with Cluster(shared) as cluster:
        return host in cluster.state["nodes"]


def service_changed(host, service, running, shared=SHARED):
    """Called when Ganeti or Archipelago starts or stops on a node."""
    with Cluster(shared) as cluster:
        if host not in cluster.state["nodes"]:
            return
        node = cluster.state["nodes"][host]
        node["up"] = True
        node["services"][service] = running
        if service in SERVICES:
            cluster.settle(f"{service} {'started' if running else 'stopped'} on {host}")


def power_changed(host, up, shared=SHARED):
    """Called by the supervisor when a node's host goes down or boots."""
    with Cluster(shared) as cluster:
        if host not in cluster.state["nodes"]:
            return
        node = cluster.state["nodes"][host]
        node["up"] = up
        if not up:
            node["services"] = {s: False for s in node["services"]}
        cluster.settle(f"{host} {'booted' if up else 'went down'}")


# --- jobs ---------------------------------------------------------------------------------


def _new_job(cluster, ops, status="queued", **extra):
    job_id = cluster.state["next_job"]
    cluster.state["next_job"] += 1
    cluster.state["jobs"][str(job_id)] = {"id": job_id, "ops": ops, "status": status, "received": time.time(), "result": None, **extra}
    return job_id


def _check_master(cluster, host):
    if cluster.state["master"] != host:
        raise GanetiError(f"This is not the master node, please connect to node '{cluster.state['master']}' and rerun the command")


def _migration_problem(cluster, instance_name, target, allow_failover=False):
    instances = cluster.state["instances"]
    if instance_name not in instances:
        return f"Instance '{instance_name}' not known"
    instance = instances[instance_name]
    if target == instance["pnode"]:
        return f"Instance {instance_name} is already on node {target}"
    nodes = cluster.state["nodes"]
    if target not in nodes:
        return f"Node '{target}' not known"
    info = nodes[target]
    if info["offline"]:
        return f"Can't migrate instance {instance_name} to node {target}: node is offline"
    if info["drained"]:
        return f"Can't migrate instance {instance_name} to node {target}: node is drained"
    if not cluster.node_whole(target):
        return f"Can't migrate instance {instance_name} to node {target}: node is not reachable or its services are down"
    free = cluster.free_memory(target)
    if instance["memory"] > free:
        return (
            f"Not enough memory on node {target} for migrating instance {instance_name}: "
            f"needed {instance['memory']} MiB, available {free} MiB"
        )
    if instance["status"] != "running" and not allow_failover:
        return f"Instance {instance_name} is not running, cannot migrate"
    return None


def _run_migration(cluster, job):
    """Execute one instance migration job (already marked running)."""
    op = job["ops"][0]
    name, target = op["instance"], op["target"]
    fault = os.path.join(cluster.shared, "faults", f"migrate-fail-{name}")
    problem = _migration_problem(cluster, name, target, op.get("allow_failover", False))
    if problem is None and os.path.exists(fault):
        os.unlink(fault)
        problem = (
            f"Migration of instance {name} to {target} failed: live migration aborted by the hypervisor (injected fault); "
            f"please run 'gnt-instance migrate --cleanup {name}' before retrying"
        )
    source = cluster.state["instances"].get(name, {}).get("pnode")
    if problem:
        job.update(status="error", result=problem, finished=time.time())
        cluster.event("migration-failed", source or target, instance=name, target=target, job=job["id"], error=problem)
        return
    instance = cluster.state["instances"][name]
    if instance["status"] != "running":  # --allow-failover of a stopped instance: a restart elsewhere
        cluster.event("failover", source, instance=name, target=target, job=job["id"])
    instance["pnode"] = target
    job.update(status="success", result=f"migrated {name} to {target}", finished=time.time())
    cluster.event("migration", source, instance=name, source=source, target=target, job=job["id"])
    cluster.settle(f"{name} moved to {target}")


def run_queued_jobs(shared=SHARED):
    """The job queue's worker: run queued jobs in id order until none is left."""
    while True:
        with Cluster(shared) as cluster:
            queued = sorted((j for j in cluster.state["jobs"].values() if j["status"] == "queued"), key=lambda j: j["id"])
            if not queued:
                return
            job = queued[0]
            job.update(status="running", started=time.time())
            seconds = cluster.state["instances"].get(job["ops"][0]["instance"], {}).get("memory", 0) / cluster.state["migration_mib_per_s"]
        time.sleep(seconds)
        with Cluster(shared) as cluster:
            _run_migration(cluster, cluster.state["jobs"][str(job["id"])])


def _start_worker(shared):
    subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "run-jobs", shared],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(job_ids, shared, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with Cluster(shared) as cluster:
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
    raise GanetiError(f"Invalid boolean value '{value}'")


def _migrate_options(args, usage):
    """The options of `gnt-node migrate` and `gnt-instance migrate`: (submit, allow_failover,
    target, the node or instance named last)."""
    _flag(args, "-f")
    submit = _flag(args, "--submit")
    allow_failover = _flag(args, "--allow-failover")
    target = _option(args, "-n")
    _option(args, "-I")  # an iallocator: the test bed picks the least loaded node
    if not args:
        raise GanetiError(usage)
    return submit, allow_failover, target, args[-1]


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
    load = {n: sum(1 for i in cluster.state["instances"].values() if i["pnode"] == n) for n in candidates}
    return min(candidates, key=lambda n: (load[n], n))


def gnt_node(args, host, shared):
    command = args.pop(0) if args else ""
    if command == "list":
        no_headers = _flag(args, "--no-headers")
        separator = _option(args, "--separator")
        fields = (_option(args, "-o") or "name,pinst_cnt,sinst_cnt,drained").split(",")
        with Cluster(shared) as cluster:
            state = cluster.state
            names = args or sorted(state["nodes"])
            rows = []
            for name in names:
                if name not in state["nodes"]:
                    raise GanetiError(f"Node '{name}' not known")
                node = state["nodes"][name]
                primaries = sorted(n for n, i in state["instances"].items() if i["pnode"] == name)
                values = {
                    "name": name,
                    "pinst_cnt": str(len(primaries)),
                    "pinst_list": ",".join(primaries),
                    "mtotal": str(node["memory"]),
                    "mfree": str(cluster.free_memory(name)),
                    "tags": ",".join(node["tags"]),
                    "sinst_cnt": "0",
                    "drained": "Y" if node["drained"] else "N",
                    "offline": "Y" if node["offline"] else "N",
                    "master_candidate": "Y" if node["master_candidate"] else "N",
                    "role": "M" if state["master"] == name else ("C" if node["master_candidate"] else "R"),
                }
                rows.append([values.get(f, "?") for f in fields])
        _print_table(rows, fields, not no_headers, separator)
        return 0
    if command in ("add-tags", "remove-tags", "list-tags"):
        if not args:
            raise GanetiError(f"Usage: gnt-node {command} NODE" + (" TAG..." if command != "list-tags" else ""))
        node, names = args[0], args[1:]
        with Cluster(shared) as cluster:
            if node not in cluster.state["nodes"]:
                raise GanetiError(f"Node '{node}' not known")
            tags = cluster.state["nodes"][node]["tags"]
            if command == "list-tags":
                print("\n".join(sorted(tags)) + ("\n" if tags else ""), end="")
                return 0
            _check_master(cluster, host)
            for name in names:
                if not name or len(name) > 128 or set(name) - TAG_CHARACTERS:
                    raise GanetiError(f"Invalid tag name '{name}'")
            if command == "add-tags":
                tags.extend(n for n in names if n not in tags)
            else:
                missing = [n for n in names if n not in tags]
                if missing:
                    raise GanetiError(f"Tag(s) {', '.join(repr(n) for n in missing)} not found")
                tags[:] = [t for t in tags if t not in names]
            cluster.event("node-tags", node, command=command, tags=names)
        return 0
    if command == "modify":
        drained = _option(args, "--drained")
        if not args or drained is None:
            raise GanetiError("Usage: gnt-node modify --drained=yes|no NODE")
        node = args[-1]
        with Cluster(shared) as cluster:
            _check_master(cluster, host)
            if node not in cluster.state["nodes"]:
                raise GanetiError(f"Node '{node}' not known")
            value = _yes_no(drained)
            cluster.state["nodes"][node]["drained"] = value
            cluster.event("drain" if value else "undrain", node, by=host)
        print(f"Modified node {node}\n - drained -> {value}")
        return 0
    if command in ("migrate", "evacuate"):
        submit, allow_failover, target, node = _migrate_options(
            args, "Usage: gnt-node migrate [-f] [-n TARGET | -I IALLOCATOR] [--submit] NODE"
        )
        with Cluster(shared) as cluster:
            _check_master(cluster, host)
            if node not in cluster.state["nodes"]:
                raise GanetiError(f"Node '{node}' not known")
            primaries = sorted(n for n, i in cluster.state["instances"].items() if i["pnode"] == node)
            children = []
            for name in primaries:
                chosen = target or _pick_target(cluster, node)
                if chosen is None:
                    raise GanetiError(f"Can't find a node to migrate instance {name} to")
                op = {"op": "OP_INSTANCE_MIGRATE", "instance": name, "target": chosen, "allow_failover": allow_failover}
                children.append((name, _new_job(cluster, [op])))
            parent = _new_job(
                cluster,
                [{"op": "OP_NODE_MIGRATE", "node": node}],
                status="success",
                result=[[True, job] for _, job in children],
                finished=time.time(),
            )
        if children:
            _start_worker(shared)
        if submit:
            print(f"JobID: {parent}")
            return 0
        if children:
            print("Submitted jobs " + ", ".join(str(j) for _, j in children))
        failed = 0
        for name, job_id in children:
            print(f"Waiting for job {job_id} for {name} ...")
            job = _wait([job_id], shared)[0]
            if job["status"] != "success":
                failed += 1
                print(f"Job {job_id} for {name} has failed: {job['result']}", file=sys.stderr)
        return 1 if failed else 0
    raise GanetiError(f"Unknown command '{command}' for gnt-node")


def gnt_instance(args, host, shared):
    command = args.pop(0) if args else ""
    if command == "migrate":
        cleanup = _flag(args, "--cleanup")
        submit, allow_failover, target, name = _migrate_options(
            args, "Usage: gnt-instance migrate [-f] [--cleanup] [-n TARGET] [--submit] INSTANCE"
        )
        with Cluster(shared) as cluster:
            _check_master(cluster, host)
            if name not in cluster.state["instances"]:
                raise GanetiError(f"Instance '{name}' not known")
            if cleanup:  # the stand-in leaves no half-migrated instance behind
                print(f"Migration cleanup of instance {name}: nothing to clean up")
                return 0
            chosen = target or _pick_target(cluster, cluster.state["instances"][name]["pnode"])
            if chosen is None:
                raise GanetiError(f"Can't find a node to migrate instance {name} to")
            job_id = _new_job(
                cluster, [{"op": "OP_INSTANCE_MIGRATE", "instance": name, "target": chosen, "allow_failover": allow_failover}]
            )
        _start_worker(shared)
        if submit:
            print(f"JobID: {job_id}")
            return 0
        job = _wait([job_id], shared)[0]
        if job["status"] != "success":
            raise GanetiError(job["result"])
        return 0
    if command == "list":
        no_headers = _flag(args, "--no-headers")
        separator = _option(args, "--separator")
        fields = (_option(args, "-o") or "name,pnode,status").split(",")
        with Cluster(shared) as cluster:
            rows = [
                [
                    {
                        "name": n,
                        "pnode": i["pnode"],
                        "status": i["status"],
                        "disk_template": i["disk_template"],
                        "be/maxmem": str(i["memory"]),
                        "be/memory": str(i["memory"]),
                        "oper_ram": str(i["memory"]) if i["status"] == "running" else "-",
                    }.get(f, "?")
                    for f in fields
                ]
                for n, i in sorted(cluster.state["instances"].items())
            ]
        _print_table(rows, fields, not no_headers, separator)
        return 0
    raise GanetiError(f"Unknown command '{command}' for gnt-instance")


def gnt_cluster(args, host, shared):
    command = args.pop(0) if args else ""
    with Cluster(shared) as cluster:
        state = cluster.state
        if command == "getmaster":
            print(state["master"])
            return 0
        if command == "master-failover":
            if state["master"] == host:
                raise GanetiError(
                    f"This commands must be run on the node where you want the new master to be. {host} is already the master"
                )
            if host not in state["nodes"] or not state["nodes"][host]["master_candidate"]:
                raise GanetiError(f"This node ({host}) is not a master candidate")
            old = state["master"]
            state["master"] = host
            cluster.event("master-failover", host, old=old, new=host)
            return 0
        if command == "verify":
            problems = [f"node {n}: down or services stopped" for n in sorted(state["nodes"]) if not cluster.node_whole(n)]
            if not state["nodes"][state["master"]]["services"].get(EVENTD):
                problems.append(f"master {state['master']}: {EVENTD} is not running (it must follow the master)")
            problems += [f"instance {n}: not running" for n, i in sorted(state["instances"].items()) if i["status"] != "running"]
            for problem in problems:
                print(f"  - ERROR: {problem}")
            print("Cluster verify " + ("failed" if problems else "succeeded"))
            return 1 if problems else 0
    raise GanetiError(f"Unknown command '{command}' for gnt-cluster")


def gnt_job(args, host, shared):
    command = args.pop(0) if args else ""
    if command in ("info", "wait"):
        if not args:
            raise GanetiError(f"Usage: gnt-job {command} ID")
        with Cluster(shared) as cluster:
            if args[0] not in cluster.state["jobs"]:
                raise GanetiError(f"Job {args[0]} not found")
        job = _wait([int(args[0])], shared)[0] if command == "wait" else None
        if command == "info":
            with Cluster(shared) as cluster:
                job = cluster.state["jobs"][args[0]]
            print(f"Job ID: {job['id']}\n  Status: {job['status']}\n  Opcodes:")
            for op in job["ops"]:
                print(f"    OP: {op['op']}")
            print(f"  Result: {json.dumps(job['result'])}")
        return 0 if command == "info" or job["status"] == "success" else 1
    if command == "list":
        with Cluster(shared) as cluster:
            for job in sorted(cluster.state["jobs"].values(), key=lambda j: j["id"]):
                print(f"{job['id']} {job['status']} {job['ops'][0]['op']}")
        return 0
    raise GanetiError(f"Unknown command '{command}' for gnt-job")


COMMANDS = {"gnt-node": gnt_node, "gnt-instance": gnt_instance, "gnt-cluster": gnt_cluster, "gnt-job": gnt_job}


def main(program, args, host=None, shared=SHARED):
    try:
        return COMMANDS[program](list(args), host or socket.gethostname(), shared)
    except GanetiError as exc:
        print(f"Failure: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["run-jobs"]:
        run_queued_jobs(*sys.argv[2:3])
    else:
        sys.exit(main(os.path.basename(sys.argv[1]), sys.argv[2:]))
