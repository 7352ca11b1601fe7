"""A Ganeti node whose packages were upgraded outside the orchestration (a per-node highstate,
or by hand) while its VMs ran on it, not rebooted yet: the orchestration moves its VMs away
before the reboot, as on every other path, and no VM goes down."""

import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "small.yaml"


def test_a_node_upgraded_but_not_rebooted_is_drained_before_its_reboot(bed):
    upgraded = bed.salt("gnt2", "state.sls", "synnefo_upgrade.apt.dist_upgrade", timeout=900)["gnt2"]
    assert all(r["result"] is not False for r in upgraded.values()), upgraded
    assert bed.version("gnt2", "snf-common") == packages.SYNNEFO["jessie"]
    placed = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    assert dict(zip(placed[0::3], placed[1::3]))["vm2"] == "gnt2"  # still on it, running
    since = time.time()
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch.ganeti")
    assert code == 0, steps
    assert steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]["changes"]["gnt2"]["steps"] == ["drain", "reboot", "restore"]
    events = sorted(bed.events(since), key=lambda e: e["time"])
    assert not [e for e in events if e["event"] == "vm-outage"], [e for e in events if e["event"] == "vm-outage"]
    drained = min(e["time"] for e in events if e["event"] == "drain" and e["host"] == "gnt2")
    rebooted = min(e["time"] for e in events if e["event"] == "reboot" and e["host"] == "gnt2")
    assert drained < rebooted
    placed = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    assert dict(zip(placed[0::3], placed[1::3])) == {"vm1": "gnt1", "vm2": "gnt2"} and set(placed[2::3]) == {"running"}
