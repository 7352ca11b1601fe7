"""A node that does not come back after its reboot stops the run with a clear message."""

import json

from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "small.yaml"


def test_a_node_that_does_not_come_back_stops_the_run_with_a_timeout(bed):
    bed.cli("fault", "add", "no-return", "gnt2", check=True)  # gnt2 goes first (gnt1 is the master)
    pillar = json.dumps({"synnefo_upgrade": {"orchestration": {"reboot_timeout": 20}}})
    code, steps = orchestrate(bed, f"pillar={pillar}")
    assert code != 0
    step = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert step["result"] is False
    assert step["comment"].startswith("gnt2: step 'reboot' failed: did not come back within 20 s of its reboot")
    # Its VM runs elsewhere; the master was not touched.
    placed = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    assert dict(zip(placed[0::3], placed[1::3])) == {"vm1": "gnt1", "vm2": "gnt1"} and set(placed[2::3]) == {"running"}
    assert bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt1"
