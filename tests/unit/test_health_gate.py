"""The health gate before each next Ganeti node: consecutive healthy looks, a bad look
resetting the count, and on timeout an error naming the check that failed last."""

import pytest

from tests.formula import load


@pytest.fixture
def states():
    return load("_states/ganeti_rolling.py")


def looks(states, monkeypatch, answers):
    """What the cluster shows, look after look: a real look needs a Ganeti cluster and its
    minions (the test bed's controls scenario gates on the real one)."""
    seen = iter(answers)
    monkeypatch.setattr(states, "_health_failures", lambda master, nodes, baseline: next(seen))
    return seen


def test_passes_in_a_row_are_needed_and_a_bad_look_starts_the_count_again(states, monkeypatch):
    answers = [[], ["DRBD disks not in sync: vm1"], [], [], ["never asked"]]
    seen = looks(states, monkeypatch, answers)
    timeline = []
    states._health_gate("gnt1", ["gnt1", "gnt2"], {}, {"passes": 2, "interval": 0, "timeout": 60}, timeline)
    assert next(seen) == ["never asked"]  # the bad second look started the count again: four looks
    assert timeline[0]["outcome"] == "done" and timeline[0]["step"] == "health gate (2 passes, 0 s apart)"


def test_a_gate_that_never_passes_stops_the_run_naming_the_last_failed_check(states, monkeypatch):
    looks(states, monkeypatch, iter(lambda: ["instances not as they were: vm4 ADMIN_down on gnt3 (was running on gnt3)"], None))
    timeline = []
    with pytest.raises(states.StepFailed) as failed:
        states._health_gate("gnt1", ["gnt1"], {}, {"passes": 2, "interval": 0.1, "timeout": 0.5}, timeline)
    assert "not 2 healthy looks in a row within 0.5 s; last: instances not as they were: vm4 ADMIN_down" in str(failed.value)
    assert 0.4 <= timeline[0]["end"] - timeline[0]["start"] < 2  # it waited for its timeout, looking
    assert "the next node was not touched" in str(failed.value) and timeline[0]["outcome"] == "failed"
