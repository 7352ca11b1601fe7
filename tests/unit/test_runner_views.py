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
    assert outputter.output("plan failed: no minion") == "plan failed: no minion"
