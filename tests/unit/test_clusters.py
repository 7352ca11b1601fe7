"""Several Ganeti clusters in one run: each node in the cluster Ganeti names on it, the
clusters' share of stop_after, what stops a cluster before its next node, and the threads
that carry the caller's context (Salt 3004+ keeps __salt__ in a context variable)."""

import contextvars
import threading
import time

import pytest
from salt.exceptions import CommandExecutionError

from tests.formula import load


@pytest.fixture
def states():
    module = load("_states/ganeti_rolling.py")
    orch = load("_utils/synnefo_orch.py")
    module.__utils__ = {"synnefo_orch.window_refusal": orch.window_refusal}
    return module


def answering(states, told):
    """The minions' answers to ganeti_rolling.cluster: ``{node: (ok, answer)}``."""
    states.__utils__["synnefo_orch.answers"] = lambda functions, nodes, fun: dict((n, told[n]) for n in nodes)
    states.__salt__ = {}


def test_each_node_belongs_to_the_cluster_its_master_names(states):
    answering(
        states,
        {
            "a1": (True, {"master": "a1", "name": "alpha.example.org"}),
            "a2": (True, {"master": "a1", "name": None}),
            "b1": (True, {"master": "b2", "name": None}),
            "b2": (True, {"master": "b2", "name": "beta.example.org"}),
            "c1": (True, {"master": "c9", "name": None}),  # its master has no minion: named by the master
        },
    )
    assert states._clusters(["a1", "a2", "b1", "b2", "c1"]) == {
        "alpha.example.org": ["a1", "a2"],
        "beta.example.org": ["b1", "b2"],
        "c9": ["c1"],
    }
    nodes = ["a1", "a2", "b1", "b2"]
    assert states._clusters(nodes, include=["beta.example.org"]) == {"beta.example.org": ["b1", "b2"]}
    assert states._clusters(nodes, exclude=["beta.example.org"]) == {"alpha.example.org": ["a1", "a2"]}
    with pytest.raises(CommandExecutionError, match="names Ganeti cluster.s. gamma that no Ganeti node belongs to"):
        states._clusters(nodes, include=["gamma"])


def test_a_node_that_cannot_say_its_cluster_is_an_error_naming_it(states):
    answering(states, {"a1": (True, {"master": "a1", "name": "alpha"}), "a2": (False, "the minion did not answer")})
    with pytest.raises(CommandExecutionError, match="a2 .the minion did not answer."):
        states._clusters(["a1", "a2"])


@pytest.mark.parametrize(
    "pending, stop_after, quotas",
    [
        ({"alpha": ["a2", "a1"], "beta": ["b2", "b1"]}, 0, None),
        ({"alpha": ["a2", "a1"], "beta": ["b2", "b1"]}, 1, {"alpha": 1, "beta": 0}),
        ({"alpha": ["a2", "a1"], "beta": ["b2", "b1"]}, 3, {"alpha": 2, "beta": 1}),
        ({"alpha": ["a1"], "beta": ["b3", "b2", "b1"]}, 3, {"alpha": 1, "beta": 2}),
        ({"alpha": [], "beta": ["b1"]}, 2, {"alpha": 0, "beta": 1}),
        ({"alpha": ["a1"], "beta": ["b1"]}, 10, {"alpha": 1, "beta": 1}),
    ],
)
def test_stop_after_is_the_runs_count_shared_out_in_turn_by_name(states, pending, stop_after, quotas):
    assert states._quotas(pending, stop_after) == quotas


def test_a_cluster_starts_no_node_beyond_its_share(states):
    shared = states._Shared({"alpha": 1, "beta": 0}, {}, False, stop_after=1)
    assert shared.why_not("beta", "b2") == {"stop_after": 1}
    assert shared.why_not("alpha", "a2") is None
    assert shared.why_not("alpha", "a1") == {"stop_after": 1}


def test_a_failed_cluster_stops_the_others_before_their_next_node_unless_asked(states):
    shared = states._Shared(None, {}, False)
    assert shared.why_not("alpha", "a2") is None
    shared.failure("beta")
    assert shared.why_not("alpha", "a1") == {"other_cluster_failed": "beta"}
    going_on = states._Shared(None, {}, True)
    going_on.failure("beta")
    assert going_on.why_not("alpha", "a1") is None


def test_the_window_counts_the_time_measured_on_any_cluster(states):
    # Opened an hour ago, closes in about ten minutes (across midnight too: an end before the
    # start is the next day's).
    start, end = (time.strftime("%H:%M", time.gmtime(time.time() + offset)) for offset in (-3600, 600))
    window = {"start": start, "end": end, "timezone": "UTC", "node_minutes": 0.1}
    shared = states._Shared(None, window, False)
    assert shared.why_not("alpha", "a2") is None  # 6 s expected
    shared.finished(3600.0)  # a node of beta took an hour
    assert "the maintenance window closes at" in shared.why_not("alpha", "a1")["window"]


def test_in_parallel_runs_at_most_limit_at_once_in_their_order_and_keeps_each_outcome():
    orch = load("_utils/synnefo_orch.py")
    running, most, started, lock = [0], [0], [], threading.Lock()

    def job(index):
        def run():
            with lock:
                started.append(index)
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.2)
            with lock:
                running[0] -= 1
            if index == 2:
                raise CommandExecutionError("cluster 2 failed")
            return index

        return run

    results = orch.in_parallel([job(i) for i in range(5)], 2)
    assert most[0] == 2 and started[:2] == [0, 1] and sorted(started) == [0, 1, 2, 3, 4]
    assert [r for ok, r in results if ok] == [0, 1, 3, 4]
    assert not results[2][0] and str(results[2][1]) == "cluster 2 failed"


def test_a_clusters_thread_carries_the_context_its_job_was_made_in(states):
    loader = contextvars.ContextVar("loader")  # as salt.loader.context keeps __salt__

    def made_in(value):
        loader.set(value)
        return states._in_this_context(lambda: loader.get(None))

    jobs = [contextvars.copy_context().run(made_in, v) for v in ("the states' loader", "another")]
    orch = load("_utils/synnefo_orch.py")
    assert orch.in_parallel(jobs, 2) == [(True, "the states' loader"), (True, "another")]
    # Without it, a thread starts with none (Salt 3004+: "does not have a packed value").
    assert orch.in_parallel([lambda: loader.get(None)], 1) == [(True, None)]


def test_the_dry_run_plans_each_cluster_up_to_its_share_and_says_where_each_stops(states, monkeypatch):
    # Each node's prediction is a dist-upgrade dry run on its minion, which needs the test
    # bed: it runs for real in tests/testbed/test_orchestration_clusters.py. Here, only how
    # the plan shares the nodes out and says where each cluster stops.
    orch = load("_utils/synnefo_orch.py")
    states.__utils__["synnefo_orch.in_parallel"] = orch.in_parallel
    states.__opts__ = {"test": True}
    predicted = {"moves": {}, "methods": {}, "downtime": {}, "files": [], "packages": {}}
    monkeypatch.setattr(states, "_predict", lambda nodes, master, packages, downtime: dict((n, dict(predicted)) for n in nodes))
    monkeypatch.setattr(states, "_predict_failover", lambda nodes, master, target: None)
    cluster_states = {
        "alpha": {"pending": ["a2", "a1"], "order": ["a2", "a1"], "home": "a1"},
        "beta": {"pending": ["b3", "b2", "b1"], "order": ["b3", "b2", "b1"], "home": "b1"},
    }
    options = {"to_version": "0.19", "synnefo_packages": [], "allow_downtime": [], "window": {}, "stop_after": 3}
    ret = states._plan(
        {"changes": {}, "result": True, "comment": ""},
        cluster_states,
        states._quotas(dict((c, s["pending"]) for c, s in cluster_states.items()), 3),
        options,
    )
    clusters = ret["changes"]["clusters"]
    assert clusters["alpha"]["nodes"] == ["a2", "a1"] and clusters["alpha"]["failover_to"] == "a2"
    assert clusters["beta"]["nodes"] == ["b3"] and clusters["beta"]["stop_after"] == 3 and "stop_after" not in clusters["alpha"]
    assert ret["changes"]["stop_after"] == 3 and ret["result"] is None
    assert "then cluster beta stops as asked (stop_after: 3) before b2; the next run goes on" in ret["comment"]
    assert sorted(n for n in ret["changes"] if n not in ("order", "clusters", "to_version", "stop_after")) == ["a1", "a2", "b3"]
