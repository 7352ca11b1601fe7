"""An orchestration killed in the middle of a node's dist-upgrade (the salt-run process gone,
its minion's job still running) is resumed by a second run: it waits for that job, finishes the
node and the rest, redoes nothing, and no VM goes down."""

import signal
import subprocess
import sys
import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "small.yaml"


def test_a_killed_run_is_resumed_by_the_next(bed):
    bed.cli("salt-run", "saltutil.sync_all", check=True)
    first = subprocess.Popen(
        [sys.executable, "-m", "testbed", "salt-run", "state.orchestrate", "synnefo_upgrade.orch.ganeti"],
        cwd=bed.repo_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while "synnefo-upgrade:stage:upgrading" not in bed.sh("gnt1", "gnt-node list-tags gnt2").stdout:
        assert first.poll() is None and time.time() < deadline, "the first run never reached gnt2's upgrade"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    code, steps = orchestrate(bed)
    assert code == 0, steps
    events = bed.events(0)
    assert [e["host"] for e in events if e["event"] == "drain"] == ["gnt2", "gnt1"]  # gnt2 drained once
    assert len([e for e in events if e["event"] == "reboot" and e["host"] == "gnt2"]) == 1
    assert not [e for e in events if e["event"] == "vm-outage"]
    for node in ("gnt1", "gnt2"):
        assert bed.version(node, "snf-common") == packages.SYNNEFO["jessie"]
    placed = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    assert dict(zip(placed[0::3], placed[1::3])) == {"vm1": "gnt1", "vm2": "gnt2"} and set(placed[2::3]) == {"running"}
    assert bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt1"
