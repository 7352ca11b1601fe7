#!/usr/bin/env python3
"""
Time to bring a test cluster up (until every minion answers) and to tear it down, and the
memory it takes at its peak, in all and per host: the default six-host topology, or HOSTS
hosts (bench/scale.py: a tenth service nodes, the others Ganeti nodes in clusters of nine).

    .venv/bin/python bench/testbed_up_down.py [HOSTS] [ROUNDS] [--plan]     # default: 6 hosts, 3 rounds (1 beyond 6)

With ``--plan``, each round also times ``salt-run synnefo_upgrade.plan`` on the cluster once
it is up (the plan of a 100-host cloud: target under 90 s), as ``bench/plan.py --hosts`` does.

Memory is the machine's used memory (MemTotal - MemAvailable) sampled every 100 ms, less what
was used before the run: it counts the hosts, their minions and services, the master and the
page cache the overlay writes add. Targets: six hosts up in under 60 s, under 2 GiB; 100
hosts in under 3 minutes within the machine's memory; with the Salt 2019.2 stack already
cached. It also prints the one-time build of that stack (Python 2.7 from
Debian 11's packages, Salt 2019.2.8 from PyPI), built once into a scratch cache.
"""

import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scale import topology_file  # noqa: E402 (bench/ is on the path)
from testbed import cluster, saltstack  # noqa: E402


def used_mib():
    info = {}
    with open("/proc/meminfo") as handle:
        for line in handle:
            key, value = line.split(":", 1)
            info[key] = int(value.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def build_time():
    """The one-time build of the Salt 2019.2 stack, into a scratch cache that is removed."""
    import shutil
    import tempfile

    scratch = tempfile.mkdtemp(prefix="snftb-salt-bench.", dir="/var/tmp")
    previous = os.environ.get("SNF_SALT_CACHE")
    os.environ["SNF_SALT_CACHE"] = scratch
    try:
        began = time.perf_counter()
        saltstack.build_legacy(log=lambda text: None)
        return time.perf_counter() - began
    finally:
        if previous is None:
            del os.environ["SNF_SALT_CACHE"]
        else:
            os.environ["SNF_SALT_CACHE"] = previous
        shutil.rmtree(scratch, ignore_errors=True)


def plan_seconds():
    """The wall time of the whole plan on the running cluster (its runners synced first)."""
    import json
    import subprocess

    paths = cluster.Paths()
    for program, args in (("salt-run", ["saltutil.sync_all"]), ("salt", ["*", "saltutil.sync_all"])):
        subprocess.run(cluster.salt_command(paths, program, args), capture_output=True, check=True)
    began = time.perf_counter()
    result = subprocess.run(cluster.salt_command(paths, "salt-run", ["synnefo_upgrade.plan", "--out=json"]), capture_output=True, text=True)
    seconds = time.perf_counter() - began
    plan = json.loads(result.stdout)
    print(
        f"  plan: {seconds:.1f} s, {len(plan['ganeti']['nodes'])} Ganeti nodes planned, refused: {plan['refused'][:1] or 'none'}",
        flush=True,
    )
    return seconds


def main():
    plan = "--plan" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--plan"]
    hosts = int(args[0]) if args else 6
    rounds = int(args[1]) if len(args) > 1 else (3 if hosts == 6 else 1)
    path = None if hosts == 6 else topology_file(hosts)
    if hosts == 6:
        print(f"Salt 2019.2.8 on Python 2.7, one-time build: {build_time():.1f} s", flush=True)
    saltstack.build_legacy(log=lambda text: None)  # the cached stack the test beds run
    cluster.down()
    ups, downs, peaks, plans = [], [], [], []
    for _ in range(rounds):
        baseline = used_mib()
        peak = [baseline]
        stop = threading.Event()

        def sample(stop=stop, peak=peak):
            while not stop.wait(0.1):
                peak[0] = max(peak[0], used_mib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.perf_counter()
        cluster.up(path)
        ups.append(time.perf_counter() - began)
        time.sleep(2)  # the settled cluster, minions idle
        stop.set()
        sampler.join()
        peaks.append(peak[0] - baseline)
        if plan:
            plans.append(plan_seconds())
        began = time.perf_counter()
        cluster.down()
        downs.append(time.perf_counter() - began)
    if path:
        os.unlink(path)
    name = "default topology" if hosts == 6 else "bench/scale.py topology"
    print(f"test bed, {name} ({hosts} hosts), {rounds} rounds on {os.cpu_count()} cores:")
    print(f"  up:   best {min(ups):.1f} s, median {statistics.median(ups):.1f} s")
    print(f"  down: best {min(downs):.2f} s, median {statistics.median(downs):.2f} s")
    print(f"  peak memory above baseline: max {max(peaks):.0f} MiB, median {statistics.median(peaks):.0f} MiB")
    print(f"  per host: {max(peaks) / hosts:.0f} MiB at the peak")
    if plans:
        print(f"  plan (salt-run synnefo_upgrade.plan): {', '.join(f'{p:.1f} s' for p in plans)} (target for 100 hosts: under 90 s)")


if __name__ == "__main__":
    main()
