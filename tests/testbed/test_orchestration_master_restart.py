"""The salt-master restarted in the middle of a node's dist-upgrade: the orchestration that was
running does not finish the upgrade quietly wrong, and the next run resumes the node from the
step it reached, redoing nothing and with no VM downtime."""

import subprocess
import sys
import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "small.yaml"


def test_a_run_cut_by_a_master_restart_is_resumed_by_the_next(bed):
    bed.cli("salt-run", "saltutil.sync_all", check=True)
    first = subprocess.Popen(
        [sys.executable, "-m", "testbed", "salt-run", "state.orchestrate", "synnefo_upgrade.orch.ganeti", "--out=json"],
        cwd=bed.repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 300
    while "synnefo-upgrade:stage:upgrading" not in bed.sh("gnt1", "gnt-node list-tags gnt2").stdout:
        assert first.poll() is None and time.time() < deadline, "the first run never reached gnt2's upgrade"
        time.sleep(0.2)
    restarted = bed.cli("restart-master")
    assert restarted.returncode == 0, restarted.stderr
    try:
        output, _ = first.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        first.kill()
        output, _ = first.communicate()
        raise AssertionError(f"the run cut by the master's restart never ended:\n{output[-3000:]}") from None
    # Salt 2019.2's salt-run loses its event bus with the master and ends non-zero; a run
    # that survived the restart must have finished for real (the checks below).
    print(f"first run: exit {first.returncode}\n{output[-3000:]}")
    code, steps = orchestrate(bed)
    assert code == 0, steps
    events = bed.events(0)
    assert [e["event"] for e in events if e["event"] == "master-restarted"] == ["master-restarted"]
    assert [e["host"] for e in events if e["event"] == "drain"] == ["gnt2", "gnt1"]  # gnt2 drained once
    assert len([e for e in events if e["event"] == "reboot" and e["host"] == "gnt2"]) == 1
    assert not [e for e in events if e["event"] == "vm-outage"]
    for node in ("gnt1", "gnt2"):
        assert bed.version(node, "snf-common") == packages.SYNNEFO["jessie"]
    placed = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    assert dict(zip(placed[0::3], placed[1::3])) == {"vm1": "gnt1", "vm2": "gnt2"} and set(placed[2::3]) == {"running"}
    assert bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt1"
