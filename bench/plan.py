#!/usr/bin/env python3
"""
The plan's wall time on the bundled cluster: `salt-run synnefo_upgrade.plan --out=json`, the
orchestration's whole dry run (preflight, every Ganeti node's evacuation plan and
dist-upgrade simulation, every service node's per-node dry run, the conffile check), run
ROUNDS times on the same cluster. The APT repository is served over HTTP at a throttled rate
with packages of real weight, as a mirror would be: each simulation downloads fresh package
lists. Target: under 30 s.

    .venv/bin/python bench/plan.py [ROUNDS] [RATE_KIB_S]     # default 3 rounds, 4096 KiB/s
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from api_downtime import salt, topology  # noqa: E402 (the same cluster and salt calls; bench/ is on the path)
from testbed import cluster  # noqa: E402


def main(rounds=3, rate=4096):
    path = topology(rate)
    print(f"plan: bundled cluster, APT over HTTP at {rate} KiB/s, {rounds} rounds", flush=True)
    cluster.up(path)
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
        print(f"plan wall time: median {statistics.median(times):.1f} s, max {max(times):.1f} s (target: under 30 s)")
    finally:
        cluster.down()
        os.unlink(path)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
