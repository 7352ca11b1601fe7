"""The Ganeti stand-in's rules, on a cluster state of the test's own (no hosts needed)."""

import contextlib
import io

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


@pytest.fixture
def small(tmp_path):
    """gnt1 (4096 MiB) holds vm1 (3072) and vm2 (512); gnt2 (4096) holds vm3 (2048)."""
    ganeti.create(
        str(tmp_path),
        ["gnt1", "gnt2"],
        "gnt1",
        {"vm1": "gnt1", "vm2": "gnt1", "vm3": "gnt2"},
        memory={"gnt1": 4096, "gnt2": 4096},
        instance_memory={"vm1": 3072, "vm2": 512, "vm3": 2048},
        migration_mib_per_s=20480,
    )
    for node in ("gnt1", "gnt2"):
        for service in ganeti.SERVICES:
            ganeti.service_changed(node, service, True, shared=str(tmp_path))
    return str(tmp_path)


def test_memory_fields_of_nodes_and_instances(small):
    _, out, _ = gnt(small, "gnt1", "gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,mtotal,mfree,pinst_list")
    assert out.splitlines() == ["gnt1|4096|512|vm1,vm2", "gnt2|4096|2048|vm3"]
    _, out, _ = gnt(small, "gnt1", "gnt-instance", "list", "--no-headers", "--separator=|", "-o", "name,pnode,be/maxmem,oper_ram")
    assert out.splitlines() == ["vm1|gnt1|3072|3072", "vm2|gnt1|512|512", "vm3|gnt2|2048|2048"]


def test_a_migration_needs_the_memory_free_on_the_target(small):
    code, _, err = gnt(small, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt2", "vm1")
    assert code == 1
    assert "Not enough memory on node gnt2 for migrating instance vm1: needed 3072 MiB, available 2048 MiB" in err
    assert instances(small)["vm1"] == ("gnt1", "running")
    assert gnt(small, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt2", "vm2")[0] == 0
    assert instances(small)["vm2"] == ("gnt2", "running")


def test_a_migration_takes_time_in_proportion_to_memory(small):
    """Read from the jobs' own start and end times (not the test's clock)."""
    with ganeti.Cluster(small) as cluster:
        cluster.state["migration_mib_per_s"] = 2048
    assert gnt(small, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt2", "vm2")[0] == 0  # 512 MiB at 2048 MiB/s
    with ganeti.Cluster(small) as cluster:
        cluster.state["migration_mib_per_s"] = 512
    assert gnt(small, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt1", "vm2")[0] == 0  # 512 MiB at 512 MiB/s
    with ganeti.Cluster(small) as cluster:
        fast, slow = sorted(cluster.state["jobs"].values(), key=lambda j: j["id"])
    assert fast["finished"] - fast["started"] >= 0.25
    assert slow["finished"] - slow["started"] >= 1.0
    assert (slow["finished"] - slow["started"]) - (fast["finished"] - fast["started"]) >= 0.5  # 1.0 s against 0.25 s


def test_node_tags_as_in_ganeti(small):
    assert gnt(small, "gnt1", "gnt-node", "add-tags", "gnt2", "synnefo-upgrade:stage:draining", "synnefo-upgrade:vm:vm3")[0] == 0
    assert gnt(small, "gnt1", "gnt-node", "list-tags", "gnt2")[1].splitlines() == [
        "synnefo-upgrade:stage:draining",
        "synnefo-upgrade:vm:vm3",
    ]
    code, _, err = gnt(small, "gnt2", "gnt-node", "add-tags", "gnt2", "x")
    assert code == 1 and "not the master" in err
    code, _, err = gnt(small, "gnt1", "gnt-node", "add-tags", "gnt2", "bad tag")
    assert code == 1 and "Invalid tag name" in err
    code, _, err = gnt(small, "gnt1", "gnt-node", "remove-tags", "gnt2", "synnefo-upgrade:nope")
    assert code == 1 and "not found" in err
    assert gnt(small, "gnt1", "gnt-node", "remove-tags", "gnt2", "synnefo-upgrade:vm:vm3")[0] == 0
    assert gnt(small, "gnt2", "gnt-node", "list-tags", "gnt2")[1] == "synnefo-upgrade:stage:draining\n"
