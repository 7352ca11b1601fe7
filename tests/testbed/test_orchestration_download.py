"""Over a slow HTTP mirror with packages of real weight, each Ganeti node downloads what its
dist-upgrade needs while its VMs still run: nothing of weight is fetched while it is drained."""

import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "http.yaml"
NODES = ("gnt1", "gnt2")


def window(events, node, start, end):
    first = next(e["time"] for e in events if e["host"] == node and e["event"] == start)
    return first, next(e["time"] for e in events if e["host"] == node and e["event"] == end and e["time"] > first)


def test_the_hosts_fetch_their_packages_from_the_throttled_mirror(bed):
    sources = bed.sh("gnt1", "cat /etc/apt/sources.list").stdout
    assert "deb [trusted=yes] http://10.200.0.1:8081/debian wheezy main" in sources
    began = time.time()
    bed.sh(
        "gnt2",
        "apt-get download -q -o Dir::Cache::archives=/tmp snf-common=0.18.1-1~wheezy && cd /tmp && "
        f"apt-get download -q 'snf-ganeti={packages.GANETI['wheezy']}'",
    )
    fetched = bed.events(began, event="apt-fetch", host="gnt2")
    assert [e["path"].rsplit("/", 1)[1].split("_")[0] for e in fetched] == ["snf-common", "snf-ganeti"]


def test_downloads_happen_before_the_drain_and_never_while_drained(bed):
    since = time.time()
    code, steps = orchestrate(bed)
    assert code == 0, steps
    events = sorted(bed.events(since), key=lambda e: e["time"])
    debs = [e for e in events if e["event"] == "apt-fetch" and e["path"].endswith(".deb")]
    for node in NODES:
        drained_from, drained_until = window(events, node, "drain", "undrain")
        mine = [e for e in debs if e["host"] == node]
        # The node fetched its jessie packages, each with its 1 MiB payload, at 8 MiB/s shared.
        assert len(mine) >= 10 and all(e["bytes"] > 1024 * 1024 for e in mine), mine
        assert sum(e["time"] - e["started"] for e in mine) > 1.0
        during = [e["path"] for e in mine if e["started"] < drained_until and e["time"] > drained_from]
        assert not during, f"{node} downloaded while drained: {during}"
        assert max(e["time"] for e in mine) < drained_from
        # Nothing of weight at all inside the window: the indexes refreshed then are small.
        fetched = sum(
            e["bytes"] for e in events if e["event"] == "apt-fetch" and e["host"] == node and drained_from <= e["time"] <= drained_until
        )
        assert fetched < 256 * 1024, fetched
