"""The plan's text and the report's page, from data shaped as the orchestration returns it
(pure functions of the runner; the runner against a real cluster is tested on the test bed)."""

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runner():
    return load("_runners/synnefo_upgrade.py", "synnefo_upgrade_runner")


@pytest.fixture(scope="module")
def outputter():
    return load("_output/synnefo_plan.py", "synnefo_plan_outputter")


def step(host, name, start, end, outcome="done", **extra):
    return dict(host=host, step=name, start=start, end=end, outcome=outcome, **extra)


def states(runner, failed=False):
    ganeti = [
        step("gnt2", "download", 100, 110),
        step("gnt2", "drain", 110, 120),
        step("gnt2", "upgrade", 120, 150),
        step("gnt2", "reboot", 150, 160),
        step("gnt2", "restore", 160, 170),
    ]
    services = [
        step("web1", "upgrade", 200, 240),
        step("web1", "services stopped", 200, 201, parent="upgrade"),
        step("web1", "dist-upgrade", 201, 230, parent="upgrade"),
        step("web1", "reboot", 240, 255),
        step("web1", "check", 255, 260),
    ]
    if failed:
        services = [step("web1", "upgrade", 200, 240, "failed", error="web1: synnefo_upgrade failed: <injected fault>")]
    service_phase = {
        "result": not failed,
        "comment": "step 'upgrade' failed" if failed else "ok",
        "changes": {
            "timeline": services,
            "hosts": {"web1": {"codename_before": "wheezy", "codename_after": "jessie"}},
            "warnings": ["web1: warning: ALLOWED_HOSTS is not set"],
            "migrations": {"cyclades": "web1"},
        },
    }
    return {
        runner.GANETI_PHASE: {"result": True, "changes": {"timeline": ganeti, "gnt2": {"snf_common_after": "0.19"}}},
        runner.SERVICE_PHASE: service_phase,
    }


def test_the_api_downtime_runs_from_the_services_upgrade_to_the_end_of_their_reboot(runner):
    data = runner._report_data("42", states(runner))
    # From the first service stopped (the upgrade job's first part) to the reboots' end.
    assert data["api_down"] == [200, 255] and data["ok"] and data["failures"] == []
    later = states(runner)
    later[runner.SERVICE_PHASE]["changes"]["timeline"][1]["start"] = 203
    assert runner._report_data("42", later)["api_down"] == [203, 255]
    assert sorted(data["versions"]) == ["gnt2", "web1"] and data["migrations"] == {"cyclades": "web1"}


def test_the_page_has_a_bar_per_step_in_time_order_and_marks_the_failure(runner):
    page = runner._html(runner._report_data("42", states(runner)))
    drawn = re.findall(r'data-host="([^"]+)" data-step="([^"]+)" x="([\d.]+)"', page)
    assert [s for h, s, _ in drawn if h == "gnt2"] == ["download", "drain", "upgrade", "reboot", "restore"]
    xs = [float(x) for h, _, x in drawn if h == "gnt2"]
    assert xs == sorted(xs) and xs[0] == 160.0  # the first bar at the axis' start
    assert 'class="api-down"' in page and "API down 55.0 s" in page and "finished" in page
    stopped = runner._report_data("43", states(runner, failed=True))
    # The services went down and the run stopped: the API is still down at the run's end.
    assert stopped["api_down"] == [200, 240] and stopped["api_still_down"] and not stopped["ok"]
    failed = runner._html(stopped)
    assert "still down when the run stopped" in failed
    assert failed.count('class="step failed"') == 1 and "FAILED" in failed
    assert "&lt;injected fault&gt;" in failed and "<injected" not in failed


def test_the_plan_text_names_order_moves_warnings_and_diffs(outputter):
    node = {
        "services": ["archipelago"],
        "moves": {"vm3": "gnt1"},
        "missing": {"vm4": 512},
        "free_mib": {"gnt1": 2048},
        "packages": {"snf-common": {"old": "0.18.1", "new": "0.19", "size": 2097152}},
        "download_bytes": 2097152,
        "files": ["/etc/apt/sources.list"],
        "diffs": {"/etc/apt/sources.list": "-deb x wheezy main\n+deb x jessie main"},
    }
    plan = {
        "to_version": "0.19-1~jessie",
        "preflight": "preflight passed",
        "refused": [],
        "ganeti": {"order": ["gnt2"], "why": "by name", "nodes": {"gnt2": node}, "comment": ""},
        "services": {"nodes": {}, "comment": "nothing to do"},
        "migrations": {"cyclades": "web1"},
        "ip_history": None,
        "download_bytes": {"gnt2": 2097152},
        "warnings": ["web1: warning: custom allocator"],
        "seconds": 3.2,
    }
    text = outputter.output(plan)
    assert "gnt2: stop archipelago" in text and "live-migrate vm3 to gnt1 (2048 MiB free there" in text
    assert "CANNOT MOVE vm4: 512 MiB" in text and "upgrade 1 packages, 2.0 MiB to download" in text
    assert "+deb x jessie main" in text and "  - web1: warning: custom allocator" in text and "cyclades: on web1" in text
    assert "Warnings:\n  none" in outputter.output(dict(plan, warnings=[]))
    assert "STOPS" not in text
    canary = dict(plan, ganeti=dict(plan["ganeti"], stop_after=1))
    assert "then the run STOPS as asked (stop_after: 1) after gnt2; the next run goes on" in outputter.output(canary)
    closed = dict(plan, ganeti=dict(plan["ganeti"], window="a run started now would stop before gnt2: outside the maintenance window"))
    assert "  MAINTENANCE WINDOW: a run started now would stop before gnt2: outside" in outputter.output(closed)
    assert outputter.output("plan failed: no minion") == "plan failed: no minion"


def test_the_plan_says_how_each_instance_leaves_and_which_figure_it_counted(outputter):
    node = {
        "moves": {"ext1": "gnt2", "off1": "gnt3"},
        "methods": {"ext1": "migrate", "off1": "failover"},
        "downtime": {"plain1": "disk template plain: its disks are on gnt1 only"},
        "refused": {"af1": "be/always_failover: Ganeti stops it to move it"},
        "free_mib": {"gnt2": 3072},
        "memory_figure": "be/maxmem",
    }
    lines = outputter._node_lines("gnt1", node, node["free_mib"])
    assert "live-migrate ext1 to gnt2 (3072 MiB free there before the evacuation, counting be/maxmem)" in lines[0]
    assert any("fail over stopped off1 to gnt3 (it stays stopped)" in line for line in lines)
    assert any("DOWNTIME: shut down plain1 before the upgrade, start it after the reboot" in line for line in lines)
    assert any("CANNOT MOVE af1: be/always_failover" in line for line in lines)


def test_the_report_names_allowed_downtime_tolerated_verify_lines_and_the_candidates(runner):
    data = states(runner)
    data[runner.GANETI_PHASE]["changes"].update(
        gnt3={"snf_common_after": "0.19", "downtime_seconds": {"plain1": 41.5}, "verify_tolerated": ["WARNING node gnt3: mismatch (why)"]},
        master_candidates={"restored": ["gnt2 promoted back to master candidate"], "not_restored": ["gnt3: could not be demoted: x<y"]},
    )
    page = runner._html(runner._report_data("44", data))
    assert "<li>gnt3: plain1 was down 41.5 s (allow_downtime)</li>" in page
    assert "gnt3: gnt-cluster verify: tolerated WARNING node gnt3: mismatch (why)" in page
    assert "master candidates: gnt2 promoted back to master candidate" in page
    assert "master candidates NOT as before: gnt3: could not be demoted: x&lt;y" in page
    assert "nothing to note" in runner._html(runner._report_data("42", states(runner)))


def test_the_report_says_where_a_run_stopped_what_was_undone_and_which_hooks_failed(runner):
    data = states(runner)
    data[runner.GANETI_PHASE]["changes"].update(
        stopped={"after": ["gnt2"], "next": "gnt3", "stop_after": 1},
        gnt4={"undone": ["undrain gnt4", "migrate vm7 back to gnt4"], "not_undone": ["migrate vm8 back to gnt4 (refused)"]},
        notify_warnings=["notify: gnt2 node/started not delivered to the webhook: HTTP status 500"],
    )
    page = runner._html(runner._report_data("45", data))
    assert "stopped before gnt3 (stop_after: 1); done in this run: gnt2" in page
    assert "gnt4: undone after the failure: undrain gnt4, migrate vm7 back to gnt4" in page
    assert "gnt4: NOT undone (the node stays drained): migrate vm8 back to gnt4 (refused)" in page
    assert "notify: gnt2 node/started not delivered to the webhook" in page


def test_several_clusters_get_a_group_of_rows_a_table_row_and_their_own_notes(runner):
    data = states(runner)
    changes = data[runner.GANETI_PHASE]["changes"]
    changes["timeline"] += [step("gnt4", "drain", 112, 114, outcome="failed", error="vm4 refused")]
    changes.update(
        clusters={
            "alpha": {
                "nodes": ["gnt1", "gnt2"],
                "result": True,
                "comment": "stopped before gnt1: Ganeti cluster beta failed; run the orchestration again to go on",
                "stopped": {"after": ["gnt2"], "next": "gnt1", "other_cluster_failed": "beta"},
            },
            "beta": {
                "nodes": ["gnt3", "gnt4"],
                "result": False,
                "comment": "gnt4: step 'drain' failed: vm4 refused",
                "master_candidates": {"restored": ["gnt4 promoted back to master candidate"]},
            },
        }
    )
    page = runner._html(runner._report_data("46", data))
    assert "cluster alpha: stopped before gnt1 (Ganeti cluster beta failed); done in this run: gnt2" in page
    assert "cluster beta: FAILED: gnt4: step 'drain' failed" in page
    assert "cluster beta: master candidates: gnt4 promoted back to master candidate" in page
    rows = re.findall(r'<tr class="cluster"><td>(\w+)</td><td>([^<]*)</td><td>(\w+)</td>', page)
    assert rows == [("alpha", "gnt1, gnt2", "stopped"), ("beta", "gnt3, gnt4", "FAILED")]
    # Each cluster's nodes together, labelled with their cluster; the service nodes after.
    labels = re.findall(r'font-weight="bold">([^<]+)</text>(?:<text class="cluster"[^>]*>cluster (\w+)</text>)?', page.replace("\n", ""))
    assert labels[:2] == [("gnt2", "alpha"), ("gnt4", "beta")] and all(not c for _, c in labels[2:])


def test_the_plan_of_several_clusters_has_a_block_each_with_its_own_stop(outputter):
    node = {"moves": {}, "packages": {"snf-common": {}}, "download_bytes": 0, "files": []}
    plan = {
        "to_version": "0.19-1~jessie",
        "preflight": "preflight passed",
        "refused": [],
        "ganeti": {
            "order": ["a2", "a1", "b2", "b1"],
            "why": "by name",
            "nodes": {"a2": dict(node, moves={"vm1": "a1"}), "b2": node},
            "comment": "",
            "window": "a run started now would stop before a2: outside the maintenance window",
            "clusters": {
                "alpha": {"order": ["a2", "a1"], "master": "a1", "nodes": ["a2"], "why": "by name; a1 last", "stop_after": 2},
                "beta": {"order": ["b2", "b1"], "master": "b1", "nodes": ["b2"], "why": "by name; b1 last", "stop_after": 2},
            },
        },
        "services": {"nodes": {}, "comment": "nothing to do"},
        "migrations": {},
        "ip_history": None,
        "download_bytes": {},
        "warnings": [],
        "seconds": 1.0,
    }
    text = outputter.output(plan)
    ganeti = text.split("2. Service nodes")[0]
    assert "1. Ganeti clusters side by side" in ganeti
    alpha, beta = ganeti.split("  cluster alpha (master a1):\n")[1].split("  cluster beta (master b1):\n")
    assert "order: a2, a1: by name; a1 last" in alpha and "live-migrate vm1 to a1" in alpha
    assert "then the run STOPS as asked (stop_after: 2) after a2;" in alpha
    assert "order: b2, b1: by name; b1 last" in beta and "then the run STOPS as asked (stop_after: 2) after b2;" in beta
    assert "b2" not in alpha and "a2:" not in beta.split("MAINTENANCE")[0]
    assert "  MAINTENANCE WINDOW: a run started now would stop before a2" in beta
