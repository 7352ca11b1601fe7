"""The Ganeti master goes last whatever its name, its role and snf-ganeti-eventd move to an
upgraded candidate for its turn and come back; a node that does not come back from its reboot
stops the run with a clear timeout."""

import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "master-second.yaml"


def eventd_hosts(bed):
    return sorted(h for h in ("gnt1", "gnt2") if bed.running(h, "snf-ganeti-eventd"))


def test_the_master_goes_last_after_a_failover_and_gets_its_role_back(bed):
    since = time.time()
    assert eventd_hosts(bed) == ["gnt2"]
    code, steps = orchestrate(bed)
    assert code == 0, steps
    events = bed.events(since)
    reboots = [e["host"] for e in sorted(events, key=lambda e: e["time"]) if e["event"] == "reboot"]
    assert reboots == ["gnt1", "gnt2"]
    failovers = [(e["old"], e["new"]) for e in events if e["event"] == "master-failover"]
    assert failovers == [("gnt2", "gnt1"), ("gnt1", "gnt2")]
    assert bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt2"
    assert "gnt2" in eventd_hosts(bed)
    assert bed.sh("gnt2", "gnt-cluster verify").returncode == 0
    assert not [e for e in events if e["event"] == "vm-outage"]
    placed = bed.sh("gnt2", "gnt-instance list --no-headers -o name,pnode").stdout.split()
    assert dict(zip(placed[0::2], placed[1::2])) == {"vm1": "gnt1", "vm2": "gnt2", "vm3": "gnt2"}
    for node in ("gnt1", "gnt2"):
        assert bed.version(node, "snf-common") == packages.SYNNEFO["jessie"]
