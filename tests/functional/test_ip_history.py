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


def shown(date):
    """A date as upstream's tool prints it (Python's str(datetime): no zero fraction)."""
    return date[: -len(".000000")] if date.endswith(".000000") else date


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
    wrapper.write_text(f'#!/bin/sh\necho run >> {calls}\nexec {tool} "$@"\n')
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
    assert f"Creating <Address: 10.0.0.5, Server: 42, Network: 1, User: {B}, Date: {shown(T2)} Action: disassociate>" in run.stdout
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
    assert modules.ip_history.normalize(str(path)) == (f"42|{A}|{B}|{T1}\n42|{B}|{A}|{T2}\n7|{C}|{A}|{T1}\n")


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
    assert modules.ip_history.normalize(str(path)) == (f"42|{B}|{A}|2016-03-01 10:00:00.500000\n42|{A}|{B}|2016-03-01 10:00:00.000005\n")


# --- plan, fix and the state ---------------------------------------------------------------


def test_plan_parses_the_dry_run_and_writes_nothing(modules, tool, db, changelog):
    rows = modules.ip_history.plan(str(changelog), tool=tool)
    assert [(r["user"], r["action"], r["date"]) for r in rows["create"]] == [
        (B, "disassociate", shown(T2)),
        (A, "associate", shown(T2)),
        (A, "disassociate", shown(T1)),
        (B, "associate", shown(T1)),
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


def test_a_dry_run_before_the_upgrade_validates_and_says_when_the_tool_will_run(states, changelog, tmp_path, db):
    # On 0.18.1 the tool is not installed yet: the dry run reports, it does not fail.
    planned = states.ip_history.fixed(name=str(changelog), apply=True, tool=str(tmp_path / "nope"), test=True)
    assert planned.result is None and planned.changes == {"owner_changes": 2}
    assert "2 owner changes valid; fix_ip_history comes with Synnefo 0.19" in planned.comment
    plan_only = states.ip_history.fixed(name=str(changelog), apply=False, tool=str(tmp_path / "nope"), test=True)
    assert plan_only.result is True and plan_only.changes == {} and "as a plan only" in plan_only.comment
    (tmp_path / "bad.log").write_text("42|x|y|z\n")
    assert states.ip_history.fixed(name=str(tmp_path / "bad.log"), apply=True, tool=str(tmp_path / "nope"), test=True).result is False
    assert history(db) == FIXED[:2]


def test_the_running_record_is_written_before_the_tool_runs(modules, tool, db, changelog, state_dir, tmp_path):
    """A crash of the minion while the tool runs must leave a record that blocks a blind rerun:
    so the record says 'running' before the tool starts."""
    seen = tmp_path / "seen-by-the-tool"
    wrapper = tmp_path / "fix_ip_history"
    wrapper.write_text(f'#!/bin/sh\ncat {state_dir}/ip_history/*.json > {seen} 2>/dev/null\nexec {tool} "$@"\n')
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


# --- changelog_from_logs: the owner changes made with the test bed's server-modify ---------

# Europe/Athens: clocks went forward at 2016-03-27 03:00 local (01:00 UTC) and back at
# 2016-10-30 04:00 local (01:00 UTC), so 03:00-04:00 local happened twice that night.
ATHENS_CHANGES = [  # (UTC epoch, vm, new owner)
    (1459040400 - 1.5, 42, B),  # 2016-03-27 02:59:58.5 local (EET), before the jump
    (1459040400 + 2.25, 42, A),  # 04:00:02.25 local (EEST), after it
    (1477789200 - 1799.75, 7, A),  # 2016-10-30 03:30:00.25 local, the first time (EEST)
    (1477789200 + 1800.5, 7, B),  # 03:30:00.5 local again, an hour later (EET)
    (1477789200 + 7200, 42, C),  # 05:00 local
]


@pytest.fixture
def snf_manage(tmp_path, repo_root):
    from synnefo_host import host_root, program
    from testbed.synnefo import programs

    shared, root = tmp_path / "shared", host_root(tmp_path / "root")
    shared.mkdir()
    programs.create(str(shared), vms=[(42, A), (7, C)])
    tool = program(tmp_path / "snf-manage", repo_root, root, shared, "cyclades1", "snf-manage")
    # snf-manage logs in Django's TIME_ZONE (UTC unless set): this cloud sets its own zone.
    settings = root / "etc/synnefo"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "10-snf-webproject-apps.conf").write_text("#TIME_ZONE = 'UTC'\nTIME_ZONE = 'Europe/Athens'\n")

    def run(moment, vm, owner, tz="Europe/Athens", argv=None):
        env = dict(os.environ, TZ=tz, SNF_TESTBED_NOW=repr(moment))
        argv = argv or ["--user", owner, str(vm)]
        return subprocess.run([str(tool), "server-modify", *argv], env=env, check=True, capture_output=True, text=True).stdout

    run.logs, run.shared, run.settings = root / "var/log/synnefo/commands", shared, settings
    return run


def made(shared):
    from testbed import timeline

    return [f"{e['server']}|{e['old']}|{e['new']}|{e['utc']}" for e in timeline.read(str(shared)) if e["event"] == "owner-change"]


def test_the_changelog_rebuilt_from_logs_equals_the_changes_made_across_both_clock_changes(modules, snf_manage, tmp_path):
    for moment, vm, owner in ATHENS_CHANGES:
        assert "Changed the owner of server" in snf_manage(moment, vm, owner)
    logs = sorted(os.listdir(snf_manage.logs))
    # Upstream's names, in local time: two logs of VM 7 carry the same 03:30 of that night.
    assert [name.split("_")[0] for name in logs].count("161030033000") == 2
    output = tmp_path / "owner-changes.log"
    # No zone given: the one Synnefo's settings name (TIME_ZONE), as snf-manage wrote in.
    rebuilt = modules.ip_history.changelog_from_logs(log_dir=str(snf_manage.logs), config_dir=str(snf_manage.settings), output=str(output))
    expected = made(snf_manage.shared)
    assert len(expected) == 5
    assert rebuilt["changelog"] == "".join(line + "\n" for line in sorted(expected, key=lambda line: line.split("|")[3]))
    assert rebuilt["valid"] and rebuilt["unreadable"] == [] and rebuilt["without_owner_change"] == []
    assert [e["ambiguous"] for e in rebuilt["entries"]] == [False, False, True, True, False]
    assert {e["log"] for e in rebuilt["entries"]} == {str(snf_manage.logs / name) for name in logs}
    assert output.read_text() == rebuilt["changelog"] and oct(output.stat().st_mode & 0o777) == "0o600"
    assert modules.ip_history.validate(str(output))["valid"]


@pytest.mark.parametrize(
    "argv",
    [["42", "--user", B], [f"--user={B}", "42"], ["--wait", "False", "42", "--user", B], ["--user", B, "--name", "7", "42"]],
)
def test_upstreams_logs_are_read_whatever_the_argument_order(modules, snf_manage, argv):
    """0.18.1 prints the server as its model does (<vm:42@backend:1>) and takes its options
    in any order: the VM id comes from what was printed, never from the command line's end."""
    printed = snf_manage(ATHENS_CHANGES[4][0], 42, B, argv=argv)
    assert "Changed the owner of server '<vm:42@backend:1>'" in printed
    rebuilt = modules.ip_history.changelog_from_logs(log_dir=str(snf_manage.logs), timezone="Europe/Athens")
    assert rebuilt["changelog"] == made(snf_manage.shared)[0] + "\n" and rebuilt["changelog"].startswith("42|"), rebuilt


def test_a_log_without_the_servers_repr_takes_the_id_from_the_command_line(modules, snf_manage):
    (snf_manage.logs / "161030050000_server-modify_95.log").parent.mkdir(parents=True, exist_ok=True)
    (snf_manage.logs / "161030050000_server-modify_95.log").write_text(
        "2016-10-30 05:00:00,000 - INFO: \n\tcommand: /usr/bin/snf-manage server-modify 42 --user=" + C + "\n\tpid: 95\n\n\nOutput:\n"
        "2016-10-30 05:00:00,042 - INFO: Changed the owner of server 'web' from '" + A + "' to '" + C + "'.\n"
    )
    rebuilt = modules.ip_history.changelog_from_logs(log_dir=str(snf_manage.logs), timezone="Europe/Athens")
    assert rebuilt["changelog"] == f"42|{A}|{C}|2016-10-30 03:00:00.042000\n", rebuilt


def test_the_logs_are_in_synnefos_time_zone_utc_by_default_whatever_the_hosts_clock(modules, snf_manage):
    """Django sets TZ to TIME_ZONE when its settings load: a cloud that keeps snf-webproject's
    default (UTC) has its logs in UTC on hosts whose clocks run in Europe/Athens, and the
    changelog read with the default zone is right; read in the host's zone, it is not."""
    (snf_manage.settings / "10-snf-webproject-apps.conf").write_text("#TIME_ZONE = 'UTC'   # Warning: The API depends on it\n")
    moment, vm, owner = ATHENS_CHANGES[4]  # 2016-10-30 03:00 UTC, 05:00 in Athens
    snf_manage(moment, vm, owner, tz="Europe/Athens")
    assert [name.split("_")[0] for name in os.listdir(snf_manage.logs)] == ["161030030000"]
    assert modules.ip_history.synnefo_time_zone(str(snf_manage.settings)) == "UTC"
    rebuilt = modules.ip_history.changelog_from_logs(log_dir=str(snf_manage.logs), config_dir=str(snf_manage.settings))
    assert rebuilt["changelog"] == made(snf_manage.shared)[0] + "\n" == f"42|{A}|{C}|2016-10-30 03:00:00.042000\n"
    local = modules.ip_history.changelog_from_logs(log_dir=str(snf_manage.logs), timezone="Europe/Athens")
    assert local["entries"][0]["date"].startswith("2016-10-30 01:00")


def test_read_in_the_wrong_zone_the_times_are_off_by_the_zone_offset(modules, snf_manage):
    snf_manage(ATHENS_CHANGES[4][0], 42, C)
    in_utc = modules.ip_history.changelog_from_logs(log_dir=str(snf_manage.logs), timezone="UTC")
    right = modules.ip_history.changelog_from_logs(log_dir=str(snf_manage.logs), timezone="Europe/Athens")
    assert right["changelog"] == made(snf_manage.shared)[0] + "\n"
    assert in_utc["entries"][0]["date"][11:13] == "05" and right["entries"][0]["date"][11:13] == "03"


def test_unreadable_logs_and_logs_without_an_owner_change_are_reported_not_guessed(modules, snf_manage):
    snf_manage(ATHENS_CHANGES[0][0], 42, B)
    (snf_manage.logs / "160101120000_server-modify_99.log").write_text(
        "2016-01-01 12:00:00,000 - INFO: \n\tcommand: snf-manage server-modify --name web 42\n\tpid: 99\n\n\nOutput:\n"
        "2016-01-01 12:00:00,100 - INFO: Renamed server '42' from 'a' to 'web'\n"
    )
    (snf_manage.logs / "160327033000_server-modify_98.log").write_text(
        "2016-03-27 03:30:00,000 - INFO: Changed the owner of server '7' from 'x' to 'y'.\n"
    )  # a time that never was
    (snf_manage.logs / "160101120000_server-list_97.log").write_text("not a server-modify log\n")
    (snf_manage.logs / "160101130000_server-modify_96.log").mkdir()  # unreadable, even by root
    rebuilt = modules.ip_history.changelog_from_logs(log_dir=str(snf_manage.logs), timezone="Europe/Athens")
    assert rebuilt["changelog"] == made(snf_manage.shared)[0] + "\n"
    assert rebuilt["without_owner_change"] == [str(snf_manage.logs / "160101120000_server-modify_99.log")]
    problems = {os.path.basename(u["log"]): u["error"] for u in rebuilt["unreadable"]}
    assert "skipped by a clock change" in problems.pop("160327033000_server-modify_98.log")
    assert "Is a directory" in problems.pop("160101130000_server-modify_96.log")
    assert problems == {}


def test_a_missing_zone_and_a_missing_directory_are_errors(modules, tmp_path):
    with pytest.raises(Exception, match="cannot read the time zone Mars/Olympus"):
        modules.ip_history.changelog_from_logs(log_dir=str(tmp_path), timezone="Mars/Olympus")
    with pytest.raises(Exception, match="cannot list the command logs"):
        modules.ip_history.changelog_from_logs(log_dir=str(tmp_path / "nowhere"), timezone="UTC")


@pytest.mark.parametrize(
    "vmid, error",
    [
        ("²", "not an integer"),
        ("４２", "not an integer"),  # full-width digits: digits to str.isdigit(), not to the database
        ("٤٢", "not an integer"),
        ("9" * 5000, "out of range"),
        ("9223372036854775808", "out of range"),
    ],
)
def test_vm_ids_the_database_could_not_hold_are_reported_not_raised(modules, tmp_path, vmid, error):
    path = tmp_path / "log"
    path.write_text(f"42|{A}|{B}|{T1}\n{vmid}|{A}|{B}|{T1}\n", encoding="utf-8")
    result = modules.ip_history.validate(str(path))
    assert result["valid"] is False and result["changes"] == 1
    (found,) = result["errors"]
    assert found["line"] == 2 and error in found["error"] and len(found["error"]) < 300


def test_a_truncated_zone_file_is_an_error_naming_it(modules, tmp_path):
    zoneinfo = tmp_path / "zoneinfo" / "Europe"
    zoneinfo.mkdir(parents=True)
    (zoneinfo / "Athens").write_bytes(open("/usr/share/zoneinfo/Europe/Athens", "rb").read()[:60])
    with pytest.raises(Exception, match="Athens: a truncated or damaged TZif time zone file"):
        modules.ip_history.changelog_from_logs(log_dir=str(tmp_path), timezone="Europe/Athens", zoneinfo=str(tmp_path / "zoneinfo"))
