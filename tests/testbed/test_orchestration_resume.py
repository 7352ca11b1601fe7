"""A failure stops the Ganeti phase with the cluster safe, and a second run resumes it."""

import json
import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import PRIMARIES, orchestrate


def test_a_failed_upgrade_stops_safely_and_a_second_run_resumes(bed):
    # Order: gnt2, gnt3, then the master gnt1. The second node's upgrade fails.
    bed.cli("fault", "add", "fail-upgrade", "gnt3", "snf-common", check=True)
    code, steps = orchestrate(bed)
    assert code != 0
    failed = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert failed["result"] is False
    assert failed["comment"].startswith("gnt3: step 'upgrade' failed") and "resume" in failed["comment"]
    assert bed.version("gnt2", "snf-common") == packages.SYNNEFO["jessie"]  # the first node is done
    drained = dict(line.split() for line in bed.sh("gnt1", "gnt-node list --no-headers -o name,drained").stdout.splitlines())
    assert drained == {"gnt1": "N", "gnt2": "N", "gnt3": "Y"}
    placed = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    assert not [vm for vm, node in zip(placed[0::3], placed[1::3]) if node == "gnt3"]
    assert set(placed[2::3]) == {"running"}
    assert bed.sh("gnt3", "test -e /usr/sbin/policy-rc.d", check=False).returncode != 0  # no guard left
    assert bed.version("gnt1", "snf-common") == packages.SYNNEFO["wheezy"]  # untouched
    assert not bed.events(0, event="vm-outage")
    report = json.loads(bed.cli("salt-run", "synnefo_upgrade.status", "--out=json", check=True).stdout)
    assert report["gnt3"]["stage"] == "failed" and "upgrade" in report["gnt3"]["error"]
    assert report["gnt2"]["stage"] == "done" and report["gnt1"]["stage"] == "pending"

    bed.cli("fault", "clear", "fail-upgrade", "gnt3", "snf-common", check=True)
    since = time.time()
    code, steps = orchestrate(bed)
    assert code == 0, steps
    assert sorted(steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]["changes"]) == ["clusters", "gnt1", "gnt3", "timeline"]
    events = bed.events(since)
    assert not [e for e in events if e["host"] == "gnt2" and e["event"] in ("drain", "reboot")]  # not redone
    for node in ("gnt1", "gnt2", "gnt3"):
        assert bed.version(node, "snf-common") == packages.SYNNEFO["jessie"]
    placed = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    assert dict(zip(placed[0::3], placed[1::3])) == PRIMARIES and set(placed[2::3]) == {"running"}
    assert not bed.events(0, event="vm-outage")
    assert bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt1"
