"""The Ganeti phase on a cluster as operators run it (topology operators.yaml): stopped,
drbd, ext, plain and always-failover instances, a candidate pool of two, and a migration
that fails the way Ganeti 2.10 fails (leaving the instance running on the target while
Ganeti's configuration names the source). Ganeti's rules are the stand-in's
(testbed/ganeti.py, each citing ganeti/ganeti v2.10.7)."""

import json
import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import assert_a_second_run_changes_nothing, orchestrate

TOPOLOGY = "operators.yaml"
NODES = ("gnt1", "gnt2", "gnt3")
ALLOWED = json.dumps({"synnefo_upgrade": {"orchestration": {"allow_downtime": ["plain1", "af1"], "drbd_sync_timeout": 120}}})
BEFORE = {
    "ext1": ("gnt1", "", "running"),
    "off1": ("gnt1", "", "ADMIN_down"),
    "drbd1": ("gnt2", "gnt3", "running"),
    "af1": ("gnt2", "", "running"),
    "plain1": ("gnt3", "", "running"),
}


def instances(bed):
    return bed.gnt_list("gnt1", "instance", "name,pnode,snodes,status")


def roles(bed):
    return bed.gnt_list("gnt1", "node", "name,role,drained,tags")


def test_the_preflight_refuses_instances_that_cannot_move_and_names_them(bed):
    since = time.time()
    assert instances(bed) == BEFORE
    code, steps = orchestrate(bed)
    assert code != 0
    preflight = steps["synnefo-upgrade-orch-preflight-passed"]
    assert preflight["result"] is False and "nothing was changed" in preflight["comment"]
    assert "gnt3: plain1 (plain) cannot leave it without downtime: disk template plain" in preflight["comment"]
    assert "gnt2: af1 (ext) cannot leave it without downtime: be/always_failover" in preflight["comment"]
    assert "drbd1" not in preflight["comment"] and "off1" not in preflight["comment"]
    assert "allow_downtime" in preflight["comment"]
    assert instances(bed) == BEFORE
    assert roles(bed) == {"gnt1": ("M", "N", ""), "gnt2": ("C", "N", ""), "gnt3": ("R", "N", "")}
    assert not [e for e in bed.events(since) if e["event"] not in ("node-tags",)]


def test_the_dry_run_says_how_each_instance_leaves_and_which_go_down(bed):
    code, steps = orchestrate(bed, "test=True", f"pillar={ALLOWED}")
    assert code == 0, steps
    plan = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    lines = dict(line.split(": ", 1) for line in plan["comment"].splitlines()[1:])
    assert lines["gnt2"].startswith("move af1 stays, shut down during the upgrade, drbd1 -> gnt3;") or lines["gnt2"].startswith(
        "move drbd1 -> gnt3, af1 stays, shut down during the upgrade;"
    )
    assert lines["gnt3"].startswith("move plain1 stays, shut down during the upgrade;")
    assert "off1 -> " in lines["gnt1"] and "(stopped: failover)" in lines["gnt1"]
    gnt1 = plan["changes"]["gnt1"]
    assert gnt1["methods"]["off1"] == "failover" and gnt1["methods"]["ext1"] == "migrate"
    assert gnt1["memory_figure"] == "be/maxmem"
    assert plan["changes"]["gnt2"]["downtime"] == {"af1": "be/always_failover: Ganeti stops it to move it"}
    assert instances(bed) == BEFORE


def test_the_whole_phase_keeps_every_instance_as_it_was(bed):
    since = time.time()
    # Ganeti 2.10's failure after the memory transfer: running on the target, configured on
    # the source (ERROR_wrongnode), and a message that never names --cleanup.
    assert bed.cli("fault", "add", "fail-migration-wrongnode", "ext1").returncode == 0
    code, steps = orchestrate(bed, f"pillar={ALLOWED}", timeout=1800)
    done = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert code == 0 and done["result"] is True, done["comment"]
    for node in NODES:
        assert bed.version(node, "snf-common") == packages.SYNNEFO["jessie"]
    # Every instance where it was, in the state it was; the stopped one never started.
    assert instances(bed) == BEFORE
    events = bed.events(since)
    assert not [e for e in events if e["event"] == "vm-restored" and e["instance"] == "off1"]
    assert sorted({e["instance"] for e in events if e["event"] == "vm-outage"}) == ["af1", "plain1"]
    assert not [e for e in events if e["event"] == "vm-data-at-risk"]
    assert [e["instance"] for e in events if e["event"] == "failover"] == ["off1", "off1"]
    # The failed migration was judged from Ganeti's state: cleaned up, not retried blindly.
    (failed,) = [e for e in events if e["event"] == "migration-failed"]
    assert failed["instance"] == "ext1" and "--cleanup" not in failed["error"]
    assert [e for e in events if e["event"] == "migration" and e.get("cleanup")]
    # The candidate set as it was, the master home, verify clean.
    assert roles(bed) == {"gnt1": ("M", "N", ""), "gnt2": ("C", "N", ""), "gnt3": ("R", "N", "")}
    assert bed.sh("gnt1", "gnt-cluster verify --error-codes").returncode == 0
    # DRBD: each return of a replica was waited for before the next node was touched.
    timeline = done["changes"]["timeline"]
    waits = [e for e in timeline if e["step"].startswith("wait for DRBD resync of drbd1")]
    assert waits and all(e["outcome"] == "done" and e["end"] - e["start"] > 0.5 for e in waits)
    # The downtime allowed, measured, per node.
    assert set(done["changes"]["gnt3"]["downtime_seconds"]) == {"plain1"}
    assert set(done["changes"]["gnt2"]["downtime_seconds"]) == {"af1"}
    # No node rebooted while it held a running primary.
    placement = {name: pnode for name, (pnode, _, _) in BEFORE.items()}
    running = {name for name, (_, _, status) in BEFORE.items() if status == "running"}
    for event in sorted(events, key=lambda e: e["time"]):
        if event["event"] in ("migration", "failover"):
            placement[event["instance"]] = event["target"]
        elif event["event"] == "vm-shutdown":
            running.discard(event["instance"])
        elif event["event"] == "vm-restored":
            running.add(event["instance"])
        elif event["event"] == "reboot":
            held = [vm for vm, node in placement.items() if node == event["host"] and vm in running]
            assert not held, (event, held)


def test_a_second_run_changes_nothing(bed):
    assert_a_second_run_changes_nothing(bed, f"pillar={ALLOWED}")
