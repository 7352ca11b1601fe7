#!/usr/bin/env python3
"""
The plan's wall time on the bundled cluster: `salt-run synnefo_upgrade.plan --out=json`, the
orchestration's whole dry run (preflight, every Ganeti node's evacuation plan and
dist-upgrade simulation, every service node's per-node dry run, the conffile check), run
ROUNDS times on the same cluster. The APT repository is served over HTTP at a throttled rate
with packages of real weight, as a mirror would be: each simulation downloads fresh package
lists. Target: under 30 s.

    .venv/bin/python bench/plan.py [ROUNDS] [RATE_KIB_S]     # default 3 rounds, 4096 KiB/s
    .venv/bin/python bench/plan.py --hosts 100               # one plan of a 100-host cloud

With ``--hosts N`` the cloud is bench/scale.py's (100: 10 Ganeti clusters x 9 nodes, two VMs
each, and 10 service nodes), its APT repository read from files (the hosts only need to come
up; nothing is upgraded). Target: under 90 s for 100 hosts.
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from api_downtime import salt, topology  # noqa: E402 (the same cluster and salt calls; bench/ is on the path)
from scale import topology_file  # noqa: E402
from testbed import cluster  # noqa: E402


def main(rounds=3, rate=4096, hosts=None):
    if hosts:
        path = topology_file(hosts)
        print(f"plan: {hosts} hosts (bench/scale.py), APT from files, {rounds} rounds", flush=True)
    else:
        path = topology(rate)
        print(f"plan: bundled cluster, APT over HTTP at {rate} KiB/s, {rounds} rounds", flush=True)
    began = time.perf_counter()
    cluster.up(path)
    print(f"  test bed up in {time.perf_counter() - began:.1f} s", flush=True)
    try:
        salt("salt-run", "saltutil.sync_all")
        salt("salt", "*", "saltutil.sync_all")
        times = []
        for number in range(1, rounds + 1):
            began = time.perf_counter()
            plan = json.loads(salt("salt-run", "synnefo_upgrade.plan", "--out=json").stdout)
            times.append(time.perf_counter() - began)
            hosts = len(plan["ganeti"]["nodes"]) + len(plan["services"]["nodes"])
            moves = sum(len(n["moves"]) for n in plan["ganeti"]["nodes"].values())
            print(
                f"  round {number}: {times[-1]:.1f} s wall ({plan['seconds']:.1f} s inside the runner); {hosts} hosts, "
                f"{moves} VM moves, {sum(plan['download_bytes'].values()) / 1048576:.1f} MiB to download, "
                f"{len(plan['warnings'])} warnings, refused: {len(plan['refused'])}",
                flush=True,
            )
        target = "under 90 s for 100 hosts" if hosts else "under 30 s"
        print(f"plan wall time: median {statistics.median(times):.1f} s, max {max(times):.1f} s (target: {target})")
    finally:
        cluster.down()
        os.unlink(path)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--hosts"]:
        main(rounds=1, hosts=int(sys.argv[2]))
    else:
        main(*(int(a) for a in sys.argv[1:3]))
