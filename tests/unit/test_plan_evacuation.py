"""ganeti_rolling.plan_evacuation: where a node's primaries go, by free memory. A pure
function of the cluster it is given (the module itself needs Ganeti's commands to load)."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rolling():
    spec = importlib.util.spec_from_file_location("ganeti_rolling", ROOT / "_modules" / "ganeti_rolling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_largest_first_each_to_the_node_with_most_room(rolling):
    nodes = {"gnt1": node(0), "gnt2": node(3000), "gnt3": node(2500)}
    instances = {
        "a": {"pnode": "gnt1", "memory": 2000, "status": "running"},
        "b": {"pnode": "gnt1", "memory": 1500, "status": "running"},
        "c": {"pnode": "gnt1", "memory": 1000, "status": "running"},
        "d": {"pnode": "gnt2", "memory": 512, "status": "running"},
    }
    plan = rolling.plan_evacuation("gnt1", nodes, instances)
    # a (2000) -> gnt2 (3000 -> 1000); b (1500) -> gnt3 (2500 -> 1000); c (1000) -> gnt2 (tie: by name)
    assert plan == {"moves": {"a": "gnt2", "b": "gnt3", "c": "gnt2"}, "missing": {}, "free": {"gnt2": 3000, "gnt3": 2500}}


def test_drained_and_offline_nodes_take_nothing_and_shortfalls_are_named(rolling):
    nodes = {"gnt1": node(0), "gnt2": node(1024), "gnt3": node(8000, drained=True), "gnt4": node(8000, offline=True)}
    instances = {"a": {"pnode": "gnt1", "memory": 3072, "status": "running"}, "b": {"pnode": "gnt1", "memory": 1024, "status": "running"}}
    plan = rolling.plan_evacuation("gnt1", nodes, instances)
    assert plan == {"moves": {"b": "gnt2"}, "missing": {"a": 2048}, "free": {"gnt2": 1024}}


def test_an_empty_node_needs_no_move(rolling):
    assert rolling.plan_evacuation("gnt2", {"gnt1": node(0), "gnt2": node(100)}, {}) == {"moves": {}, "missing": {}, "free": {"gnt1": 0}}
