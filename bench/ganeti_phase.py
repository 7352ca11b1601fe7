#!/usr/bin/env python3
"""
The orchestration's Ganeti phase on test clusters of 2, 3 and 4 Ganeti nodes (two 1 GiB VMs
each; one node cannot be upgraded without VM downtime, so preflight refuses it): the phase's
wall time through `salt-run state.orchestrate synnefo_upgrade.orch.ganeti`, and per node the
time it was drained and the orchestration's own overhead, from the test bed's timeline: the
node's time from its first APT fetch to its last progress tag, less the dist-upgrade (its "upgrading"
stage to its last package configured), the reboot (reboot to booted) and its migrations
(Ganeti's job times) and the download (first index to last package fetched).

    .venv/bin/python bench/ganeti_phase.py [--drbd | --real] [NODES...]      # default: 2 3 4

With ``--drbd`` every VM is a DRBD instance whose secondary is the next node (10 GiB disks
resynchronising at 1 GiB/s after their node returns): the phase then waits for each returned
replica before the next node is touched, and the time it waited (the "resync wait") is printed
per node beside the overhead, which excludes it.

With ``--real`` the nodes run real Ganeti (Debian 12's 3.0, the fake hypervisor: topology
``ganeti: real``, testbed/realganeti.py) with the VMs on ``sharedfile``; the migrations' time is
then each ``gnt-instance migrate`` command's, Ganeti's job processing included.

The APT repository is served over HTTP from the bridge at 4 MiB/s shared by all hosts,
every jessie package weighing 2 MiB more than its stand-in (the test bed's ``apt`` topology
key), so that each node downloads about 30 MiB: the download's time and the bytes fetched
while the node was drained (from the mirror's ``apt-fetch`` events) are printed per node.

Targets: overhead under 10 s per node, the phase's time growing linearly with the nodes, no
download inside a node's drained time. One node alone cannot be upgraded without VM downtime
(its VMs have nowhere to go, and Ganeti needs a master candidate besides the master), so the
smallest cluster measured has two.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from testbed import cluster, timeline  # noqa: E402


RATE_KIB_S = 4096
PAYLOAD_KIB = 2048


DRBD_DISK_MIB = 10240
DRBD_RESYNC_MIB_S = 1024


def topology(nodes, drbd=False, real=False):
    names = [f"gnt{i}" for i in range(1, nodes + 1)]
    lines = ["hosts:"] + [f"  {n}: {{roles: [ganeti]}}" for n in names] + ["ganeti_master: gnt1", "instances:"]
    if real:
        lines.insert(-1, "ganeti: real")
    for i, n in enumerate(names):
        for k in range(2):
            if drbd:
                secondary = names[(i + 1) % len(names)]
                lines.append(f"  vm{2 * i + k + 1}: {{node: {n}, disk_template: drbd, secondary: {secondary}, disk_mib: {DRBD_DISK_MIB}}}")
            else:
                lines.append(f"  vm{2 * i + k + 1}: {n}")
    if drbd:
        lines.append(f"drbd_resync_mib_per_s: {DRBD_RESYNC_MIB_S}")
    lines += [f"apt: {{http: true, rate_kib_s: {RATE_KIB_S}, payload_kib: {PAYLOAD_KIB}}}"]
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    handle.write("\n".join(lines) + "\n")
    handle.close()
    return handle.name, names


def salt(*args):
    command = cluster.salt_command(cluster.Paths(), args[0], list(args[1:]))
    return subprocess.run(command, capture_output=True, text=True)


def migration_seconds(node, events, jobs):
    """The time the node's migrations took: the stand-in's job times, or (real Ganeti) each
    migrate or failover command's, as the relay recorded it."""
    if jobs is None:
        return sum(
            e.get("seconds", 0.0) for e in events if e["event"] in ("migration", "failover") and node in (e.get("source"), e.get("target"))
        )
    return sum(
        j["finished"] - j["started"]
        for j in jobs
        if j["ops"][0]["op"] == "OP_INSTANCE_MIGRATE" and node in (j.get("source"), j.get("target"))
    )


def node_figures(node, events, jobs, waits):
    mine = sorted((e for e in events if e["host"] == node), key=lambda e: e["time"])
    progress = (":stage:", ":vm:", ":since:", ":failed:")  # not the master's home tag, set at the run's start
    tags = [e for e in mine if e["event"] == "node-tags" and any(p in t for t in e["tags"] for p in progress)]
    drain = next(e["time"] for e in mine if e["event"] == "drain")
    undrain = next(e["time"] for e in mine if e["event"] == "undrain")
    upgrading = next(e["time"] for e in tags if any(t.endswith(":stage:upgrading") for t in e["tags"]))
    configured = max(e["time"] for e in mine if e["event"] == "package-configured")
    reboot = next(e["time"] for e in mine if e["event"] == "reboot")
    booted = next(e["time"] for e in mine if e["event"] == "booted" and e["time"] > reboot)
    migrations = migration_seconds(node, events, jobs)
    apt, rebooting = configured - upgrading, booted - reboot
    debs = [e for e in mine if e["event"] == "apt-fetch" and e["path"].endswith(".deb")]
    fetched = [e for e in mine if e["event"] == "apt-fetch"]
    # APT's download: from its first index fetch to the last package fetched.
    download = max(e["time"] for e in debs) - min(e["started"] for e in fetched) if debs else 0.0
    # The node's turn: from its first fetch (the index update of its download step), else its
    # first progress tag, to its last progress tag.
    total = tags[-1]["time"] - min([e["started"] for e in fetched] + [tags[0]["time"]])
    while_drained = sum(e["bytes"] for e in fetched if e["started"] < undrain and e["time"] > drain)
    return {
        "drained": undrain - drain,
        "total": total,
        "apt": apt,
        "reboot": rebooting,
        "migrations": migrations,
        "resync_wait": waits.get(node, 0.0),
        "overhead": total - apt - rebooting - migrations - download - waits.get(node, 0.0),
        "download": download,
        "downloaded": sum(e["bytes"] for e in debs),
        "while_drained": while_drained,
    }


def resync_waits(stdout):
    """Seconds each node's steps waited for DRBD replicas, from the orchestration's return."""
    waits = {}
    try:
        data = json.loads(stdout)["data"]
    except (ValueError, KeyError):
        return waits
    for steps in data.values():
        for result in steps.values():
            for entry in ((result.get("changes") or {}).get("timeline") or []) if isinstance(result, dict) else []:
                if entry["step"].startswith("wait for") and "end" in entry:
                    waits[entry["host"]] = waits.get(entry["host"], 0.0) + entry["end"] - entry["start"]
    return waits


def run(nodes, drbd=False, real=False):
    path, names = topology(nodes, drbd, real)
    try:
        cluster.up(path)
        salt("salt", "*", "saltutil.sync_all")
        salt("salt-run", "saltutil.sync_all")
        began = time.perf_counter()
        result = salt("salt-run", "state.orchestrate", "synnefo_upgrade.orch.ganeti", "--out=json")
        wall = time.perf_counter() - began
        if result.returncode != 0:
            raise SystemExit(f"{nodes} nodes: the orchestration failed:\n{result.stdout[-2000:]}")
        paths = cluster.Paths()
        events = timeline.read(paths.shared)
        jobs = None
        if not real:
            with open(os.path.join(paths.shared, "ganeti", "cluster.json")) as handle:
                jobs = list(json.load(handle)["jobs"].values())
        for job in jobs or []:  # where each migrated instance came from, from the timeline
            done = [e for e in events if e["event"] == "migration" and e.get("job") == job["id"]]
            job["source"] = done[0]["source"] if done else None
            job["target"] = done[0]["target"] if done else None
        outages = len([e for e in events if e["event"] == "vm-outage"])
        risks = len([e for e in events if e["event"] == "vm-data-at-risk"])
        waits = resync_waits(result.stdout)
        return wall, {n: node_figures(n, events, jobs, waits) for n in names}, outages, risks
    finally:
        cluster.down()
        os.unlink(path)


def main():
    args = sys.argv[1:]
    drbd, real = "--drbd" in args, "--real" in args
    if drbd and real:
        raise SystemExit("--drbd needs the stand-in: real Ganeti has no DRBD here")
    sizes = [int(a) for a in args if not a.startswith("--")] or [2, 3, 4]
    kind = f"DRBD ({DRBD_DISK_MIB} MiB disks, resync {DRBD_RESYNC_MIB_S} MiB/s)" if drbd else "shared storage (ext)"
    if real:
        kind = "real Ganeti 3.0 (fake hypervisor, sharedfile)"
    print(
        f"Ganeti phase, two 1 GiB VMs per node on {kind}, {os.cpu_count()} cores, Salt 2019.2 master and minions, "
        f"APT over HTTP at {RATE_KIB_S} KiB/s with {PAYLOAD_KIB} KiB a package:"
    )
    walls = {}
    for nodes in sizes:
        wall, figures, outages, risks = run(nodes, drbd, real)
        walls[nodes] = wall
        overhead = [f["overhead"] for f in figures.values()]
        drained = [f["drained"] for f in figures.values()]
        waited = [f["resync_wait"] for f in figures.values()]
        print(f"  {nodes} nodes: {wall:.1f} s in all ({wall / nodes:.1f} s a node), VM outages {outages}, data at risk {risks}")
        print(f"    resync wait per node: median {statistics.median(waited):.1f} s, max {max(waited):.1f} s")
        print(f"    drained per node: median {statistics.median(drained):.1f} s, max {max(drained):.1f} s")
        print(f"    orchestration overhead per node: median {statistics.median(overhead):.1f} s, max {max(overhead):.1f} s")
        for node, f in sorted(figures.items()):
            print(
                f"      {node}: total {f['total']:.1f} s = download {f['download']:.1f} + apt {f['apt']:.1f} "
                f"+ reboot {f['reboot']:.1f} + migrations {f['migrations']:.1f} + resync wait {f['resync_wait']:.1f} "
                f"+ overhead {f['overhead']:.1f}; "
                f"drained {f['drained']:.1f} s; downloaded {f['downloaded'] / 2**20:.1f} MiB, "
                f"{f['while_drained'] / 2**20:.2f} MiB of it while drained"
            )
    if len(walls) > 1:
        per_node = [walls[n] / n for n in sorted(walls)]
        print(f"  seconds a node: {', '.join(f'{p:.1f}' for p in per_node)} (linear growth: roughly constant)")


if __name__ == "__main__":
    main()
