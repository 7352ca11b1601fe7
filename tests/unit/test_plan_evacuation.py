"""ganeti_rolling.plan_evacuation: how a node's primaries leave it and where they go, by
free memory and by Ganeti 2.10's rules for each disk template and status. A pure function of
the cluster it is given (the module itself needs Ganeti's commands to load)."""

import pytest

from tests.formula import load


@pytest.fixture(scope="module")
def rolling():
    return load("_modules/ganeti_rolling.py")


def node(mfree, drained=False, offline=False):
    return {
        "mtotal": 8192,
        "mfree": mfree,
        "primaries": [],
        "drained": drained,
        "offline": offline,
        "master_candidate": True,
        "master": False,
    }


def vm(pnode, memory=1024, status="running", disk_template="ext", snode=None, always_failover=False):
    return {
        "pnode": pnode,
        "snode": snode,
        "memory": memory,
        "minmem": memory,
        "status": status,
        "disk_template": disk_template,
        "always_failover": always_failover,
    }


def plan_of(moves, methods=None, free=None, missing=None, downtime=None, refused=None):
    return {
        "moves": moves,
        "methods": methods if methods is not None else dict((i, "migrate") for i in moves),
        "downtime": downtime or {},
        "refused": refused or {},
        "missing": missing or {},
        "free": free or {},
        "memory_figure": "be/maxmem",
    }


def test_largest_first_each_to_the_node_with_most_room(rolling):
    nodes = {"gnt1": node(0), "gnt2": node(3000), "gnt3": node(2500)}
    instances = {"a": vm("gnt1", 2000), "b": vm("gnt1", 1500), "c": vm("gnt1", 1000), "d": vm("gnt2", 512)}
    plan = rolling.plan_evacuation("gnt1", nodes, instances)
    # a (2000) -> gnt2 (3000 -> 1000); b (1500) -> gnt3 (2500 -> 1000); c (1000) -> gnt2 (tie: by name)
    assert plan == plan_of({"a": "gnt2", "b": "gnt3", "c": "gnt2"}, free={"gnt2": 3000, "gnt3": 2500})


def test_drained_and_offline_nodes_take_nothing_and_shortfalls_are_named(rolling):
    nodes = {"gnt1": node(0), "gnt2": node(1024), "gnt3": node(8000, drained=True), "gnt4": node(8000, offline=True)}
    instances = {"a": vm("gnt1", 3072), "b": vm("gnt1", 1024)}
    plan = rolling.plan_evacuation("gnt1", nodes, instances)
    assert plan == plan_of({"b": "gnt2"}, missing={"a": 2048}, free={"gnt2": 1024})


def test_an_empty_node_needs_no_move(rolling):
    assert rolling.plan_evacuation("gnt2", {"gnt1": node(0), "gnt2": node(100)}, {}) == plan_of({}, free={"gnt1": 0})


def test_a_stopped_instance_fails_over_and_needs_no_memory(rolling):
    nodes = {"gnt1": node(0), "gnt2": node(0)}
    plan = rolling.plan_evacuation("gnt1", nodes, {"off": vm("gnt1", 4096, status="ADMIN_down")})
    assert plan == plan_of({"off": "gnt2"}, methods={"off": "failover"}, free={"gnt2": 0})


def test_drbd_goes_to_its_secondary_whatever_the_room_elsewhere(rolling):
    nodes = {"gnt1": node(0), "gnt2": node(8000), "gnt3": node(2048)}
    plan = rolling.plan_evacuation("gnt1", nodes, {"d": vm("gnt1", 2048, disk_template="drbd", snode="gnt3")})
    assert plan["moves"] == {"d": "gnt3"} and not plan["missing"]
    plan = rolling.plan_evacuation("gnt1", nodes, {"d": vm("gnt1", 4096, disk_template="drbd", snode="gnt3")})
    assert plan["moves"] == {} and plan["missing"] == {"d": 2048}
    nodes["gnt3"] = node(8000, drained=True)
    plan = rolling.plan_evacuation("gnt1", nodes, {"d": vm("gnt1", 2048, disk_template="drbd", snode="gnt3")})
    assert plan["refused"] == {"d": "its secondary gnt3 is drained, offline or unknown"}


@pytest.mark.parametrize("template", ["plain", "file", "diskless"])
def test_instances_with_disks_on_the_node_only_stay_refused_unless_allowed(rolling, template):
    nodes = {"gnt1": node(0), "gnt2": node(8000)}
    instances = {"p": vm("gnt1", disk_template=template), "e": vm("gnt1")}
    plan = rolling.plan_evacuation("gnt1", nodes, instances)
    assert plan["moves"] == {"e": "gnt2"}
    assert plan["refused"] == {"p": f"disk template {template}: its disks are on gnt1 only"} and not plan["downtime"]
    plan = rolling.plan_evacuation("gnt1", nodes, instances, allow_downtime=["p"])
    assert plan["downtime"] == {"p": f"disk template {template}: its disks are on gnt1 only"} and not plan["refused"]


def test_always_failover_means_downtime(rolling):
    nodes = {"gnt1": node(0), "gnt2": node(8000)}
    plan = rolling.plan_evacuation("gnt1", nodes, {"a": vm("gnt1", always_failover=True)})
    assert plan["refused"] == {"a": "be/always_failover: Ganeti stops it to move it"} and not plan["moves"]
    # Stopped, it fails over like any stopped instance: no downtime to speak of.
    plan = rolling.plan_evacuation("gnt1", nodes, {"a": vm("gnt1", status="ADMIN_down", always_failover=True)})
    assert plan["methods"] == {"a": "failover"}
