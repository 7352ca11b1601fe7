"""How the Ganeti phase judges `gnt-cluster verify --error-codes` (ganeti_rolling states'
_judge_verify): what a half-upgraded cluster must show is tolerated, named with why, while
wheezy and jessie nodes run side by side, and is a fault once every node runs the same; every
other error is a fault. The lines are the Ganeti stand-in's, which prints them as Ganeti
2.10's lib/cmdlib/cluster.py does."""

import contextlib
import io
import re

import pytest

from testbed import ganeti
from tests.formula import load


@pytest.fixture(scope="module")
def states():
    return load("_states/ganeti_rolling.py")


@pytest.fixture(scope="module")
def modules():
    return load("_modules/ganeti_rolling.py")


@pytest.fixture
def shared(tmp_path):
    ganeti.create(str(tmp_path), ["gnt1", "gnt2", "gnt3"], "gnt1", {"vm1": "gnt1"})
    for node in ("gnt1", "gnt2", "gnt3"):
        for service in ganeti.SERVICES:
            ganeti.service_changed(
                node, service, True, shared=str(tmp_path), package_version="2.10.7+snap1-1~wheezy", oses={"snf-image": OS}
            )
    return str(tmp_path)


OS = {"api": ["20"], "variants": ["default"], "parameters": [["img_id", "The id"], ["img_format", "The format"]]}


def verify(shared, modules):
    """The stand-in's verify output, parsed by the execution module's own pattern."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = ganeti.main("gnt-cluster", ["verify", "--error-codes"], host="gnt1", shared=shared)
    found = {"retcode": code, "errors": [], "warnings": []}
    for line in out.getvalue().splitlines():
        match = modules._VERIFY_LINE.match(line)
        if match:
            level, code_, kind, item, message = match.groups()
            found["errors" if level == "ERROR" else "warnings"].append({"code": code_, "kind": kind, "item": item, "message": message})
    return found


def upgrade(shared, node, oses=None):
    ganeti.service_changed(
        node, "ganeti", True, shared=shared, package_version="2.10.7.1+grnet2+bpo2-2~jessie", oses={"snf-image": oses or OS}
    )


def test_a_clean_cluster_has_nothing_to_judge(states, modules, shared):
    assert states._judge_verify(verify(shared, modules), dict.fromkeys(("gnt1", "gnt2", "gnt3"), "wheezy")) == ([], [])


def test_the_version_mismatch_of_a_half_upgraded_cluster_is_tolerated_then_demanded_gone(states, modules, shared):
    upgrade(shared, "gnt2")
    found = verify(shared, modules)
    assert found["retcode"] == 0  # Ganeti warns only
    problems, tolerated = states._judge_verify(found, {"gnt1": "wheezy", "gnt2": "jessie", "gnt3": "wheezy"})
    assert problems == [] and len(tolerated) == 1
    assert re.match(r"WARNING node gnt2: software version mismatch: master 2.10.7, node 2.10.7.1 \(wheezy and jessie", tolerated[0])
    # Every node on jessie but one Ganeti still older: a fault now.
    problems, tolerated = states._judge_verify(found, dict.fromkeys(("gnt1", "gnt2", "gnt3"), "jessie"))
    assert tolerated == [] and "the versions must agree" in problems[0]


def test_an_os_definition_differing_between_a_wheezy_and_a_jessie_node_is_tolerated(states, modules, shared):
    changed = dict(OS, parameters=OS["parameters"] + [["cloud_userdata", "Cloud-init data"]])
    upgrade(shared, "gnt2", changed)
    found = verify(shared, modules)
    assert found["retcode"] == 1 and [e["code"] for e in found["errors"]] == ["ENODEOS"]
    problems, tolerated = states._judge_verify(found, {"gnt1": "wheezy", "gnt2": "jessie", "gnt3": "wheezy"})
    assert problems == [] and "OS parameters for snf-image differs from reference node gnt1" in tolerated[0]
    assert "a jessie node against a wheezy one" in tolerated[0]
    # The same difference between two nodes of one release is a real fault.
    problems, _ = states._judge_verify(found, {"gnt1": "jessie", "gnt2": "jessie", "gnt3": "jessie"})
    assert any("OS parameters for snf-image differs" in p for p in problems)


def test_any_other_error_is_a_fault_and_a_resumed_nodes_own_is_tolerated(states, modules, shared):
    ganeti.power_changed("gnt3", False, shared=shared)
    found = verify(shared, modules)
    problems, _ = states._judge_verify(found, dict.fromkeys(("gnt1", "gnt2", "gnt3"), "wheezy"))
    assert problems and all("gnt3" in p for p in problems)
    problems, tolerated = states._judge_verify(found, dict.fromkeys(("gnt1", "gnt2", "gnt3"), "wheezy"), resuming=["gnt3"])
    assert problems == [] and "interrupted run" in tolerated[0]


def test_a_degraded_replica_on_the_node_being_resumed_is_tolerated(states):
    found = {
        "retcode": 1,
        "errors": [{"code": "EINSTANCEFAULTYDISK", "kind": "instance", "item": "vm3", "message": "disk/0 on gnt2 is degraded"}],
        "warnings": [],
    }
    codenames = dict.fromkeys(("gnt1", "gnt2"), "wheezy")
    assert states._judge_verify(found, codenames, resuming=["gnt2"])[0] == []
    assert states._judge_verify(found, codenames, resuming=["gnt1"])[0] == ["ERROR instance vm3: disk/0 on gnt2 is degraded"]
