"""The Ganeti phase on real Ganeti (topology real-ganeti.yaml: Debian 12's Ganeti 3.0 with the
fake hypervisor on the Ganeti hosts, testbed/realganeti.py): a running and a stopped instance
on shared storage, one that cannot move (allowed downtime), a candidate pool of two. What Ganeti
says and refuses here is Ganeti's own; the timeline's VM events come from what its fake
hypervisor runs, before and after each command and when a host goes down."""

import json
import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import assert_a_second_run_changes_nothing, orchestrate

TOPOLOGY = "real-ganeti.yaml"
NODES = ("gnt1", "gnt2", "gnt3")
ALLOWED = json.dumps({"synnefo_upgrade": {"orchestration": {"allow_downtime": ["plain1"]}}})
INSTANCE_FIELDS, NODE_FIELDS = "name,pnode,status,disk_template", "name,role,drained,tags"
BEFORE = {
    "ext1": ("gnt1", "running", "sharedfile"),
    "off1": ("gnt2", "ADMIN_down", "sharedfile"),
    "ext2": ("gnt3", "running", "sharedfile"),
    "plain1": ("gnt3", "running", "file"),
}


def test_the_preflight_refuses_an_instance_that_cannot_move_as_real_ganeti_describes_it(bed):
    since = time.time()
    assert bed.gnt_list("gnt1", "instance", INSTANCE_FIELDS) == BEFORE
    before = bed.gnt_list("gnt1", "node", NODE_FIELDS)
    code, steps = orchestrate(bed)
    assert code != 0
    preflight = steps["synnefo-upgrade-orch-preflight-passed"]
    assert preflight["result"] is False and "nothing was changed" in preflight["comment"]
    assert "gnt3: plain1 (file) cannot leave it without downtime: disk template file" in preflight["comment"]
    assert "ext1" not in preflight["comment"] and "off1" not in preflight["comment"]
    assert bed.gnt_list("gnt1", "instance", INSTANCE_FIELDS) == BEFORE and bed.gnt_list("gnt1", "node", NODE_FIELDS) == before
    assert not bed.events(since)


def test_the_preflight_refuses_a_node_whose_instances_do_not_fit_elsewhere(bed):
    # 4096 MiB on gnt2: no other node has that much free (Ganeti's own memory figures).
    bed.sh("gnt1", "gnt-instance add -t sharedfile --disk 0:size=1G -o noop -B maxmem=4096 -n gnt2 --no-ip-check --no-name-check big1")
    try:
        code, steps = orchestrate(bed, f"pillar={ALLOWED}")
        assert code != 0
        preflight = steps["synnefo-upgrade-orch-preflight-passed"]["comment"]
        assert "gnt2: its VMs do not fit on the other nodes while it is drained" in preflight
        assert "big1 " in preflight and "nothing was changed" in preflight
    finally:
        bed.sh("gnt1", "gnt-instance remove -f big1")
    assert bed.gnt_list("gnt1", "instance", INSTANCE_FIELDS) == BEFORE


def test_the_whole_phase_on_real_ganeti_stops_at_a_failure_resumes_and_keeps_every_instance(bed):
    since = time.time()
    before = bed.gnt_list("gnt1", "node", NODE_FIELDS)
    # Order: gnt2, gnt3, then the master gnt1. The second node's upgrade fails.
    bed.cli("fault", "add", "fail-upgrade", "gnt3", "snf-common", check=True)
    code, steps = orchestrate(bed, f"pillar={ALLOWED}")
    failed = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert code != 0 and failed["comment"].startswith("gnt3: step 'upgrade' failed"), failed["comment"]
    drained = {node: info[1] for node, info in bed.gnt_list("gnt1", "node", NODE_FIELDS).items()}
    assert drained == {"gnt1": "N", "gnt2": "N", "gnt3": "Y"}
    placed = bed.gnt_list("gnt1", "instance", INSTANCE_FIELDS)
    assert placed["ext2"][0] != "gnt3" and placed["ext2"][1] == "running"
    assert placed["plain1"] == ("gnt3", "ADMIN_down", "file")  # shut down for its node's upgrade
    bed.cli("fault", "clear", "fail-upgrade", "gnt3", "snf-common", check=True)

    code, steps = orchestrate(bed, f"pillar={ALLOWED}", timeout=1800)
    done = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert code == 0 and done["result"] is True, done["comment"]
    for node in NODES:
        assert bed.version(node, "snf-common") == packages.SYNNEFO["jessie"]
    # Every instance where and as it was; the stopped one never ran; the master home; the
    # candidate set as it was; Ganeti's own verify clean.
    assert bed.gnt_list("gnt1", "instance", INSTANCE_FIELDS) == BEFORE
    assert bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt1"
    assert bed.gnt_list("gnt1", "node", NODE_FIELDS) == before
    assert bed.sh("gnt1", "gnt-cluster verify --error-codes").returncode == 0
    events = bed.events(since)
    # The only outage is the allowed one: no host went down with a running instance on it.
    assert sorted({e["instance"] for e in events if e["event"] == "vm-outage"}) == ["plain1"]
    assert [e["instance"] for e in events if e["event"] == "vm-shutdown"] == ["plain1"]
    assert not [e for e in events if e.get("instance") == "off1" and e["event"] in ("vm-restored", "migration")]
    assert [e["instance"] for e in events if e["event"] == "failover"] == ["off1", "off1"]
    assert {e["instance"] for e in events if e["event"] == "migration"} == {"ext1", "ext2"}
    assert set(done["changes"]["gnt3"]["downtime_seconds"]) == {"plain1"}
    (cluster,) = done["changes"]["clusters"].values()  # real Ganeti's one cluster, by its own name
    assert cluster["master"].startswith("returned to ")


def test_a_second_run_changes_nothing(bed):
    assert_a_second_run_changes_nothing(bed, f"pillar={ALLOWED}")
