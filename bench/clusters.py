#!/usr/bin/env python3
"""
Several Ganeti clusters side by side: 3 clusters x 3 Ganeti nodes (two 1 GiB VMs a node) and
3 service nodes, APT over HTTP, the Ganeti phase (`salt-run state.orchestrate
synnefo_upgrade.orch.ganeti`) twice on fresh test beds:

- with ``parallel_clusters: 1``: the clusters one after another, each alone; its own time (from
  its start to its end, the orchestration's per-cluster ``started``/``ended``) is "a single
  cluster measured alone", and the phase's wall time the sequential figure;
- with ``parallel_clusters: 3``: all at once.

Printed: both wall times, each cluster's time alone, and the two ratios the issue sets:
parallel / slowest cluster alone (target at most 1.3) and sequential / parallel (about 3).
The APT rate is shared by every host (the mirror's one bucket): downloads of nodes upgraded
at once share it, as they share an operator's mirror.

    .venv/bin/python bench/clusters.py [CLUSTERS NODES]      # default: 3 3
"""

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ganeti_phase import salt  # noqa: E402 (bench/ is on the path)
from scale import topology_text  # noqa: E402
from testbed import cluster, timeline  # noqa: E402

RATE_KIB_S = 16384
PAYLOAD_KIB = 2048


def topology(clusters, nodes):
    """bench/scale.py's topology of ``clusters`` x ``nodes`` Ganeti nodes and 3 service nodes,
    its APT repository over HTTP."""
    text = topology_text(clusters * nodes + 3, per_cluster=nodes, services=3)
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    handle.write(text + f"apt: {{http: true, rate_kib_s: {RATE_KIB_S}, payload_kib: {PAYLOAD_KIB}}}\n")
    handle.close()
    return handle.name


def run(clusters, nodes, parallel):
    """The phase's wall time, each cluster's own time and the VM outages, on a fresh bed."""
    path = topology(clusters, nodes)
    try:
        cluster.up(path)
        salt("salt", "*", "saltutil.sync_all")
        salt("salt-run", "saltutil.sync_all")
        pillar = json.dumps({"synnefo_upgrade": {"orchestration": {"parallel_clusters": parallel}}})
        began = time.perf_counter()
        result = salt("salt-run", "state.orchestrate", "synnefo_upgrade.orch.ganeti", f"pillar={pillar}", "--out=json")
        wall = time.perf_counter() - began
        if result.returncode != 0:
            raise SystemExit(f"parallel_clusters {parallel}: the orchestration failed:\n{result.stdout[-3000:]}")
        (steps,) = json.loads(result.stdout)["data"].values()
        phase = next(v for k, v in steps.items() if "ganeti-nodes-upgraded" in k)
        alone = {c: info["ended"] - info["started"] for c, info in phase["changes"]["clusters"].items()}
        outages = len([e for e in timeline.read(cluster.Paths().shared) if e["event"] == "vm-outage"])
        return wall, alone, outages
    finally:
        cluster.down()
        os.unlink(path)


def main():
    clusters, nodes = (int(a) for a in (sys.argv[1:3] if len(sys.argv) > 2 else (3, 3)))
    print(
        f"{clusters} Ganeti clusters x {nodes} nodes (two 1 GiB VMs a node) + 3 service nodes, {os.cpu_count()} cores, "
        f"Salt 2019.2, APT over HTTP at {RATE_KIB_S} KiB/s shared, {PAYLOAD_KIB} KiB a package:"
    )
    sequential, alone, outages_1 = run(clusters, nodes, 1)
    each = ", ".join(f"{c} {s:.1f} s" for c, s in sorted(alone.items()))
    print(f"  parallel_clusters 1: {sequential:.1f} s; each cluster alone: {each}")
    parallel, side_by_side, outages_n = run(clusters, nodes, clusters)
    print(
        f"  parallel_clusters {clusters}: {parallel:.1f} s; each cluster: "
        + ", ".join(f"{c} {s:.1f} s" for c, s in sorted(side_by_side.items()))
    )
    slowest = max(alone.values())
    print(f"  parallel / slowest cluster alone: {parallel / slowest:.2f} (target <= 1.3)")
    print(f"  sequential / parallel: {sequential / parallel:.2f} (target about {clusters})")
    print(f"  VM outages: {outages_1 + outages_n}")


if __name__ == "__main__":
    main()
