"""ip_history: validation, plan and exactly-once fix against the test bed's fix_ip_history."""

import json
import os
import subprocess

import pytest

from testbed.synnefo import cyclades_db

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
C = "cccccccc-0000-4000-8000-000000000003"
T0, T1, T2 = "2016-01-01 10:00:00.000000", "2016-03-01 10:00:00.000000", "2016-05-03 12:00:00.000000"


@pytest.fixture
def tool(repo_root):
    return str(repo_root / "testbed" / "synnefo" / "fix_ip_history")


@pytest.fixture
def db(tmp_path, monkeypatch):
    """VM 42 went A -> B -> A; 0.19's migration attributed its IP to A throughout."""
    path = tmp_path / "cyclades.sqlite3"
    cyclades_db.create(path, vms=[(42, A), (7, C)])
    cyclades_db.record(path, "10.0.0.5", 42, 1, A, "associate", T0)
    cyclades_db.record(path, "10.0.0.9", 7, 1, C, "associate", T0)
    monkeypatch.setenv("SNF_TESTBED_CYCLADES_DB", str(path))
    return path


@pytest.fixture
def changelog(tmp_path):
    path = tmp_path / "owner-changes.log"
    path.write_text(f"42|{A}|{B}|{T1}\n42|{B}|{A}|{T2}\n")
    return path


@pytest.fixture
def counting_tool(tmp_path, tool):
    """The stand-in behind a wrapper that counts its invocations."""
    calls = tmp_path / "calls"
    wrapper = tmp_path / "fix_ip_history"
    wrapper.write_text(f"#!/bin/sh\necho run >> {calls}\nexec {tool} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper, calls


FIXED = [
    ("10.0.0.5", 42, 1, A, "associate", T0),
    ("10.0.0.9", 7, 1, C, "associate", T0),
    ("10.0.0.5", 42, 1, B, "disassociate", T2),
    ("10.0.0.5", 42, 1, A, "associate", T2),
    ("10.0.0.5", 42, 1, A, "disassociate", T1),
    ("10.0.0.5", 42, 1, B, "associate", T1),
]


def history(db):
    return [row[:6] for row in cyclades_db.rows(db)]


# --- the stand-in itself behaves as the reference says -----------------------------------


def test_standin_dry_run_exits_1_and_writes_nothing(tool, db, changelog):
    before = cyclades_db.rows(db)
    run = subprocess.run([tool, str(changelog)], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stdout.startswith("Running in dry run mode.\n")
    assert "CommandError: Aborting due to dry run mode." in run.stderr
    assert "Creating <Address: 10.0.0.5, Server: 42, Network: 1, User: B" not in run.stdout
    assert f"Creating <Address: 10.0.0.5, Server: 42, Network: 1, User: {B}, Date: {T2} Action: disassociate>" in run.stdout
    assert cyclades_db.rows(db) == before


def test_standin_fix_is_not_idempotent_as_upstream(tool, db, changelog):
    assert subprocess.run([tool, str(changelog), "--fix"], capture_output=True).returncode == 0
    assert history(db) == FIXED
    assert subprocess.run([tool, str(changelog), "--fix"], capture_output=True).returncode == 0
    assert history(db) != FIXED  # the second run corrupts the history


@pytest.mark.parametrize("text", [f"42|{A}|{B}|{T1}\r\n", f"\n42|{A}|{B}|{T1}\n", f"42|{A}|{B}|2016-03-01 10:00:00\n"])
def test_standin_crashes_on_what_it_does_not_strip(tool, db, tmp_path, text):
    path = tmp_path / "bad.log"
    path.write_text(text, newline="")
    run = subprocess.run([tool, str(path), "--fix"], capture_output=True, text=True)
    assert run.returncode == 1
    assert "Traceback" in run.stderr
    assert history(db) == FIXED[:2]


# --- validate ------------------------------------------------------------------------------


def test_validate_accepts_and_counts_tolerated_forms(modules, tmp_path):
    path = tmp_path / "log"
    path.write_bytes(
        f"# owner changes exported 2016-06-01\r\n\r\n  42|{A}|{B}|2016-03-01 10:00:00  \r\n42|{B}|{A}|{T2}\r\n   \n7|{C}|{A}|{T1}".encode()
    )
    assert modules.ip_history.validate(str(path)) == {"valid": True, "changes": 3, "errors": []}
    assert modules.ip_history.normalize(str(path)) == (
        f"42|{A}|{B}|{T1}\n42|{B}|{A}|{T2}\n7|{C}|{A}|{T1}\n"
    )


def test_validate_reports_every_error_with_its_line(modules, tmp_path):
    lines = [
        f"42|{A}|{B}|{T1}",  # 1 fine
        f"42|{A}|{B}",  # 2 field count
        f"x42|{A}|{B}|{T1}",  # 3 vm id
        f"43|not-a-uuid|{B}|{T1}",  # 4 from user
        f"44|{A}|{A}|{T1}",  # 5 from == to
        f"45|{A}|{B}|2016-02-30 10:00:00",  # 6 impossible date
        f"46|{A}|{B}|2099-01-01 00:00:00",  # 7 future
        f"47|{A}|{B}|01/02/2016",  # 8 unparsable
        f"42|{A}|{B}|{T1}",  # 9 duplicate of 1
        f"42|{A}|{C}|{T2}",  # 10 broken chain: 42 belongs to B after line 1
    ]
    path = tmp_path / "log"
    path.write_text("\n".join(lines) + "\n")
    result = modules.ip_history.validate(str(path))
    assert result["valid"] is False
    by_line = {e["line"]: e for e in result["errors"]}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "expected 4 fields" in by_line[2]["error"]
    assert "not an integer" in by_line[3]["error"]
    assert "from user 'not-a-uuid' is not a UUID" in by_line[4]["error"]
    assert "same user" in by_line[5]["error"]
    assert "not a valid date" in by_line[6]["error"]
    assert "future" in by_line[7]["error"]
    assert "YYYY-MM-DD" in by_line[8]["error"]
    assert "line 1" in by_line[9]["error"]
    assert "broken chain" in by_line[10]["error"] and "line 1" in by_line[10]["error"]
    assert by_line[3]["text"] == lines[2]
    assert result["changes"] == 2


def test_chain_is_checked_in_date_order_not_file_order(modules, tmp_path):
    path = tmp_path / "log"
    path.write_text(f"42|{B}|{A}|{T2}\n42|{A}|{B}|{T1}\n")
    assert modules.ip_history.validate(str(path))["valid"] is True
    # A chain that holds in file order only: by date, B -> C comes first, then A -> B.
    path.write_text(f"42|{A}|{B}|{T2}\n42|{B}|{C}|{T1}\n")
    result = modules.ip_history.validate(str(path))
    assert result["valid"] is False
    (error,) = result["errors"]
    assert error["line"] == 1 and "broken chain" in error["error"] and "line 2" in error["error"]


def test_a_short_fraction_is_tenths_of_a_second(modules, tmp_path):
    """'.5' is half a second (500000 microseconds), as strptime's %f reads it, not 5 us."""
    path = tmp_path / "log"
    path.write_text(f"42|{B}|{A}|2016-03-01 10:00:00.5\n42|{A}|{B}|2016-03-01 10:00:00.000005\n")
    assert modules.ip_history.validate(str(path))["valid"] is True  # .000005 before .5
    assert modules.ip_history.normalize(str(path)) == (
        f"42|{B}|{A}|2016-03-01 10:00:00.500000\n42|{A}|{B}|2016-03-01 10:00:00.000005\n"
    )


# --- plan, fix and the state ---------------------------------------------------------------


def test_plan_parses_the_dry_run_and_writes_nothing(modules, tool, db, changelog):
    rows = modules.ip_history.plan(str(changelog), tool=tool)
    assert [(r["user"], r["action"], r["date"]) for r in rows["create"]] == [
        (B, "disassociate", T2),
        (A, "associate", T2),
        (A, "disassociate", T1),
        (B, "associate", T1),
    ]
    assert len(rows["update"]) == 2
    assert history(db) == FIXED[:2]


def test_fix_runs_once_per_content_and_records_it(modules, tool, db, changelog, state_dir, tmp_path):
    first = modules.ip_history.fix(str(changelog), tool=tool)
    assert first["already"] is False and first["created"] == 4 and first["updated"] == 2
    assert history(db) == FIXED
    # The same content, reformatted, is the same changelog: not run again.
    reformatted = tmp_path / "again.log"
    reformatted.write_text(f"# again\n 42|{A}|{B}|2016-03-01 10:00:00 \r\n42|{B}|{A}|{T2}\n")
    second = modules.ip_history.fix(str(reformatted), tool=tool)
    assert second["already"] is True
    assert history(db) == FIXED
    record = os.path.join(str(state_dir), "ip_history", first["sha256"] + ".json")
    with open(record) as handle:
        assert json.load(handle)["outcome"] == "fixed"
    os.unlink(record)


def test_an_interrupted_fix_is_never_rerun_blindly(modules, tool, db, changelog, state_dir):
    key = modules.ip_history.digest(str(changelog))
    record = os.path.join(str(state_dir), "ip_history", key + ".json")
    os.makedirs(os.path.dirname(record), exist_ok=True)
    with open(record, "w") as handle:
        json.dump({"outcome": "running", "started": "2026-11-25T10:00:00Z"}, handle)
    try:
        with pytest.raises(Exception, match="did not finish"):
            modules.ip_history.fix(str(changelog), tool=tool)
        assert history(db) == FIXED[:2]
    finally:
        os.unlink(record)


def test_state_invalid_changelog_fails_and_never_runs_the_tool(states, counting_tool, db, tmp_path):
    wrapper, calls = counting_tool
    path = tmp_path / "log"
    path.write_text(f"42|{A}|{B}\n42|{A}|{A}|{T1}\n")
    ret = states.ip_history.fixed(name=str(path), apply=True, tool=str(wrapper))
    assert ret.result is False
    assert f"{path}:1: expected 4 fields" in ret.comment
    assert f"{path}:2: from and to are the same user" in ret.comment
    assert not calls.exists()
    assert history(db) == FIXED[:2]


def test_state_plan_only_test_mode_and_apply_once(states, counting_tool, db, changelog, state_dir):
    wrapper, calls = counting_tool
    plan = states.ip_history.fixed(name=str(changelog), tool=str(wrapper))
    assert plan.result is True and plan.changes == {}
    assert "4 rows to create, 2 to update" in plan.comment
    dry = states.ip_history.fixed(name=str(changelog), apply=True, tool=str(wrapper), test=True)
    assert dry.result is None and len(dry.changes["create"]) == 4
    assert history(db) == FIXED[:2]
    applied = states.ip_history.fixed(name=str(changelog), apply=True, tool=str(wrapper))
    assert applied.result is True and len(applied.changes["update"]) == 2
    assert history(db) == FIXED
    runs = calls.read_text().count("run")
    again = states.ip_history.fixed(name=str(changelog), apply=True, tool=str(wrapper))
    assert again.result is True and again.changes == {}
    assert "already fixed" in again.comment
    assert calls.read_text().count("run") == runs
    assert history(db) == FIXED
    import shutil

    shutil.rmtree(os.path.join(str(state_dir), "ip_history"))


def test_state_missing_tool_and_unexpected_exit_code_fail_clearly(states, changelog, tmp_path, db):
    missing = states.ip_history.fixed(name=str(changelog), apply=True, tool=str(tmp_path / "nope"))
    assert missing.result is False and "missing or not executable" in missing.comment
    broken = tmp_path / "broken_tool"
    broken.write_text("#!/bin/sh\necho 'OperationalError: no such table' >&2\nexit 2\n")
    broken.chmod(0o755)
    ret = states.ip_history.fixed(name=str(changelog), apply=True, tool=str(broken))
    assert ret.result is False
    assert "exit code 2" in ret.comment and "no such table" in ret.comment
    assert history(db) == FIXED[:2]


def test_the_running_record_is_written_before_the_tool_runs(modules, tool, db, changelog, state_dir, tmp_path):
    """A crash of the minion while the tool runs must leave a record that blocks a blind rerun:
    so the record says 'running' before the tool starts."""
    seen = tmp_path / "seen-by-the-tool"
    wrapper = tmp_path / "fix_ip_history"
    wrapper.write_text(f"#!/bin/sh\ncat {state_dir}/ip_history/*.json > {seen} 2>/dev/null\nexec {tool} \"$@\"\n")
    wrapper.chmod(0o755)
    outcome = modules.ip_history.fix(str(changelog), tool=str(wrapper))
    try:
        assert json.loads(seen.read_text())["outcome"] == "running"
        assert outcome["outcome"] == "fixed"
    finally:
        os.unlink(os.path.join(str(state_dir), "ip_history", outcome["sha256"] + ".json"))


def test_a_failed_fix_is_recorded_as_failed_and_may_be_run_again(modules, tool, db, changelog, state_dir, tmp_path):
    broken = tmp_path / "broken_tool"
    broken.write_text("#!/bin/sh\necho 'OperationalError: database is locked' >&2\nexit 1\n")
    broken.chmod(0o755)
    key = modules.ip_history.digest(str(changelog))
    record = os.path.join(str(state_dir), "ip_history", key + ".json")
    try:
        with pytest.raises(Exception, match="database is locked"):
            modules.ip_history.fix(str(changelog), tool=str(broken))
        with open(record) as handle:
            failed = json.load(handle)
        assert failed["outcome"] == "failed" and "database is locked" in failed["error"]
        assert modules.ip_history.record(str(changelog))["outcome"] == "failed"
        assert history(db) == FIXED[:2]
        # Upstream's tool commits nothing when it fails: the fix may run again, and does once.
        again = modules.ip_history.fix(str(changelog), tool=tool)
        assert again["outcome"] == "fixed" and again["already"] is False
        assert history(db) == FIXED
    finally:
        if os.path.exists(record):
            os.unlink(record)
