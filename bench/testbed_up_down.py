#!/usr/bin/env python3
"""
Time to bring the default six-host test cluster up (until every minion answers) and to tear
it down, and the memory it takes at its peak.

    .venv/bin/python bench/testbed_up_down.py [ROUNDS]

Memory is the machine's used memory (MemTotal - MemAvailable) sampled every 100 ms, less what
was used before the run: it counts the hosts, their minions and services, the master and the
page cache the overlay writes add. Targets: up in under 60 s, under 2 GiB, with the Salt
2019.2 stack already cached. It also prints the one-time build of that stack (Python 2.7 from
Debian 11's packages, Salt 2019.2.8 from PyPI), built once into a scratch cache.
"""

import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"Salt 2019.2.8 on Python 2.7, one-time build: {build_time():.1f} s", flush=True)
    saltstack.build_legacy(log=lambda text: None)  # the cached stack the test beds run
    cluster.down()
    ups, downs, peaks = [], [], []
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
        cluster.up()
        ups.append(time.perf_counter() - began)
        time.sleep(2)  # the settled cluster, minions idle
        stop.set()
        sampler.join()
        peaks.append(peak[0] - baseline)
        began = time.perf_counter()
        cluster.down()
        downs.append(time.perf_counter() - began)
    print(f"test bed, default topology (6 hosts), {rounds} rounds on {os.cpu_count()} cores:")
    print(f"  up:   best {min(ups):.1f} s, median {statistics.median(ups):.1f} s")
    print(f"  down: best {min(downs):.2f} s, median {statistics.median(downs):.2f} s")
    print(f"  peak memory above baseline: max {max(peaks):.0f} MiB, median {statistics.median(peaks):.0f} MiB")


if __name__ == "__main__":
    main()
