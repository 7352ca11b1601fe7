"""The Ganeti stand-in's rules, on a cluster state of the test's own (no hosts needed)."""

import io
import contextlib

import pytest

from testbed import ganeti, timeline


@pytest.fixture
def shared(tmp_path):
    ganeti.create(str(tmp_path), ["gnt1", "gnt2", "gnt3"], "gnt1", {"vm1": "gnt1", "vm2": "gnt1", "vm3": "gnt2"})
    for node in ("gnt1", "gnt2", "gnt3"):
        for service in ganeti.SERVICES:
            ganeti.service_changed(node, service, True, shared=str(tmp_path))
    return str(tmp_path)


def gnt(shared, host, program, *args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = ganeti.main(program, args, host=host, shared=shared)
    return code, out.getvalue(), err.getvalue()


def instances(shared):
    with ganeti.Cluster(shared) as cluster:
        return {n: (i["pnode"], i["status"]) for n, i in cluster.state["instances"].items()}


def test_instances_start_running_once_their_nodes_are_whole(shared):
    assert instances(shared) == {"vm1": ("gnt1", "running"), "vm2": ("gnt1", "running"), "vm3": ("gnt2", "running")}


def test_only_the_master_changes_the_cluster(shared):
    code, _, err = gnt(shared, "gnt2", "gnt-node", "modify", "--drained=yes", "gnt3")
    assert code == 1 and "please connect to node 'gnt1'" in err


def test_no_migration_to_a_drained_node(shared):
    assert gnt(shared, "gnt1", "gnt-node", "modify", "--drained=yes", "gnt2")[0] == 0
    code, _, err = gnt(shared, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt2", "vm1")
    assert code == 1 and "node is drained" in err
    assert instances(shared)["vm1"] == ("gnt1", "running")


def test_node_migrate_moves_every_primary_in_its_own_job(shared):
    code, out, _ = gnt(shared, "gnt1", "gnt-node", "migrate", "-f", "gnt1")
    assert code == 0 and out.startswith("Submitted jobs ")
    assert {n: p for n, (p, _) in instances(shared).items() if n in ("vm1", "vm2")} == {"vm1": "gnt3", "vm2": "gnt3"}
    moves = [e for e in timeline.read(shared) if e["event"] == "migration"]
    assert sorted(e["instance"] for e in moves) == ["vm1", "vm2"]
    assert len({e["job"] for e in moves}) == 2


def test_a_node_going_down_takes_its_vms_down_until_it_is_whole(shared):
    ganeti.power_changed("gnt2", False, shared=shared)
    assert instances(shared)["vm3"] == ("gnt2", "ERROR_down")
    ganeti.power_changed("gnt2", True, shared=shared)
    ganeti.service_changed("gnt2", "ganeti", True, shared=shared)
    assert instances(shared)["vm3"] == ("gnt2", "ERROR_down")  # archipelago still down
    ganeti.service_changed("gnt2", "archipelago", True, shared=shared)
    assert instances(shared)["vm3"] == ("gnt2", "running")
    (window,) = timeline.outage_windows(timeline.read(shared))
    assert window["instance"] == "vm3" and window["duration"] >= 0 and "open" not in window


def test_node_list_fields(shared):
    code, out, _ = gnt(shared, "gnt1", "gnt-node", "list", "--no-headers", "-o", "name,pinst_cnt,sinst_cnt,drained", "--separator=|")
    assert out.splitlines() == ["gnt1|2|0|N", "gnt2|1|0|N", "gnt3|0|0|N"]
