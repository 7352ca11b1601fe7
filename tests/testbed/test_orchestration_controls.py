"""The operator's controls over the Ganeti phase (topology controls.yaml): a node whose
drain fails is undone, the cluster left as before; a canary run stops cleanly after one node
(the service phase waits, the run succeeds) and the next run goes on."""

import json
import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "controls.yaml"
PLACED = {"vm1": ("gnt1", "running"), "vm2": ("gnt2", "running"), "vm3": ("gnt2", "running"), "vm4": ("gnt3", "running")}


def placed(bed):
    return bed.gnt_list("gnt1", "instance", "name,pnode,status")


def drained(bed):
    """``{node: (drained, the progress tags of an unfinished upgrade)}``."""
    progress = (":stage:", ":since:", ":failed:", ":vm:", ":stopped:", ":down:", ":shut-down:")
    nodes = bed.gnt_list("gnt1", "node", "name,drained,tags")
    return {n: (info[0], [t for t in info[1].split(",") if any(p in t for p in progress)]) for n, info in nodes.items()}


def test_a_drain_that_fails_is_undone_and_the_cluster_left_as_before(bed):
    since = time.time()
    # gnt2 goes first (gnt1 is the master); vm2 leaves, vm3 will not.
    bed.cli("fault", "add", "refuse-migration", "vm3", check=True)
    try:
        code, steps = orchestrate(bed)
    finally:
        bed.cli("fault", "clear", "refuse-migration", "vm3", check=True)
    step = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert code != 0 and step["result"] is False
    assert step["comment"].startswith("gnt2: step 'drain' failed") and "vm3" in step["comment"]
    assert "undone, the node as it was before this run: undrain gnt2, migrate vm2 back to gnt2" in step["comment"], step["comment"]
    assert step["changes"]["gnt2"]["undone"] == ["undrain gnt2", "migrate vm2 back to gnt2"]
    assert placed(bed) == PLACED
    assert drained(bed) == {n: ("N", []) for n in ("gnt1", "gnt2", "gnt3")}  # nothing drained, no progress left
    assert bed.version("gnt2", "snf-common") == packages.SYNNEFO["wheezy"]
    report = json.loads(bed.cli("salt-run", "synnefo_upgrade.status", "--out=json", check=True).stdout)
    assert report["gnt2"]["stage"] == "pending"
    assert not bed.events(since, event="vm-outage")


def test_a_canary_run_stops_cleanly_after_one_node_and_the_services_wait(bed):
    allowed = json.dumps({"synnefo_upgrade": {"orchestration": {"stop_after": 1}}})
    code, steps = orchestrate(bed, f"pillar={allowed}", sls="synnefo_upgrade.orch", timeout=1800)
    ganeti, services = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"], steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert code == 0, (ganeti["comment"], services["comment"])
    assert ganeti["result"] is True and ganeti["comment"].startswith("stopped as asked (stop_after: 1) after gnt2; next: gnt3")
    assert services["result"] is True and services["comment"].startswith("not started: the Ganeti phase stopped as asked")
    versions = {h: bed.version(h, "snf-common") for h in ("gnt1", "gnt2", "gnt3", "web1")}
    assert versions == {
        "gnt1": packages.SYNNEFO["wheezy"],
        "gnt2": packages.SYNNEFO["jessie"],
        "gnt3": packages.SYNNEFO["wheezy"],
        "web1": packages.SYNNEFO["wheezy"],
    }
    assert placed(bed) == PLACED and bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt1"


def test_the_plan_says_where_a_canary_run_stops_and_the_next_run_goes_on(bed):
    canary = json.dumps({"synnefo_upgrade": {"orchestration": {"stop_after": 1}}})
    text = bed.cli("salt-run", "synnefo_upgrade.plan", f"pillar={canary}", check=True, timeout=900).stdout
    assert "then the run STOPS as asked (stop_after: 1) after gnt3" in text, text
    code, steps = orchestrate(bed, timeout=1800)
    assert code == 0, steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]["comment"]
    assert {h: bed.version(h, "snf-common") for h in ("gnt1", "gnt3")} == {h: packages.SYNNEFO["jessie"] for h in ("gnt1", "gnt3")}
    assert placed(bed) == PLACED
