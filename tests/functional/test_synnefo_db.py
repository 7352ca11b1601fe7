"""synnefo_db: a backup, then snf-manage migrate exactly once per service, recorded where a
second run finds it. snf-manage is the test bed's stand-in (testbed/synnefo/programs.py) on a
private shared database directory."""

import json
import shutil

import pytest

from testbed import timeline
from testbed.synnefo import programs
from tests.synnefo_host import host_root, program


@pytest.fixture(autouse=True)
def no_records(state_dir):
    """The minion's records start empty for each test (the minion outlives the tests)."""
    shutil.rmtree(state_dir / "db", ignore_errors=True)


@pytest.fixture
def manage(tmp_path, repo_root):
    """An snf-manage for a 0.19 host carrying cyclades, over a private shared directory."""
    root = host_root(tmp_path / "root")
    shared = tmp_path / "shared"
    shared.mkdir()
    programs.create(str(shared))
    script = program(tmp_path / "snf-manage", repo_root, root, shared, "cyclades1", "snf-manage")
    return script, shared


def test_backs_up_then_migrates_once_and_a_rerun_runs_nothing(states, modules, manage, tmp_path):
    script, shared = manage
    backup = tmp_path / "cyclades.dump"
    backups = {"cyclades": f"cp {shared}/cyclades.sqlite3 {backup}"}
    ret = states.synnefo_db.migrated(name="migrate", services=["cyclades"], backups=backups, manage=str(script))
    assert ret.result is True, ret.comment
    assert backup.exists()
    assert "db.0003_auto_ip_ownership" in ret.changes["cyclades"]["applied"]
    assert ret.changes["cyclades"]["printed"] == {"db.0003_auto_ip_ownership": ["Created 0 IP history entries."]}
    assert modules.synnefo_db.record("cyclades")["outcome"] == "migrated"
    again = states.synnefo_db.migrated(name="migrate", services=["cyclades"], backups=backups, manage=str(script))
    assert again.result is True and again.changes == {} and "migrated already" in again.comment
    assert [(e["service"], e["applied"]) for e in timeline.read(str(shared)) if e["event"] == "db-migrate"] == [("cyclades", True)]


def test_dry_run_names_the_backup_and_runs_nothing(states, manage):
    script, shared = manage
    ret = states.synnefo_db.migrated(name="migrate", services=["cyclades", "pithos"], manage=str(script), test=True)
    assert ret.result is None and list(ret.changes) == ["cyclades"]  # pithos: no Django migration in 0.19
    assert "warning: no backup command for the cyclades database" in ret.comment
    assert not [e for e in timeline.read(str(shared)) if e["event"] == "db-migrate"]
    with programs.Store(str(shared)) as store:
        assert store.state["schema"]["cyclades"] == "0.18.1"


def test_a_failed_backup_migrates_nothing_and_a_failed_migration_may_run_again(states, modules, manage):
    script, shared = manage
    failed = states.synnefo_db.migrated(
        name="migrate", services=["cyclades"], backups={"cyclades": "echo disk full >&2; exit 3"}, manage=str(script)
    )
    assert failed.result is False and "the cyclades database backup failed (exit code 3): disk full" in failed.comment
    assert modules.synnefo_db.record("cyclades") is None
    with programs.Store(str(shared)) as store:
        store.state["schema"]["cyclades"] = "0.17"  # snf-manage refuses this one
    broken = states.synnefo_db.migrated(name="migrate", services=["cyclades"], manage=str(script))
    assert broken.result is False and "migrate failed (exit code 1)" in broken.comment
    assert "0.19 migrates only from 0.18.1" in broken.comment
    assert modules.synnefo_db.record("cyclades")["outcome"] == "failed"
    with programs.Store(str(shared)) as store:
        store.state["schema"]["cyclades"] = "0.18.1"
    fixed = states.synnefo_db.migrated(name="migrate", services=["cyclades"], manage=str(script))
    assert fixed.result is True, fixed.comment


def test_a_run_cut_in_the_middle_is_not_repeated_blindly(states, modules, manage, state_dir):
    script, _ = manage
    (state_dir / "db").mkdir(parents=True, exist_ok=True)
    (state_dir / "db" / "cyclades.json").write_text(json.dumps({"service": "cyclades", "outcome": "running", "started": "x"}))
    ret = states.synnefo_db.migrated(name="migrate", services=["cyclades"], manage=str(script))
    assert ret.result is False and "did not finish" in ret.comment and "nothing was run" in ret.comment


def test_a_corrupt_record_is_refused(states, manage, state_dir):
    script, _ = manage
    (state_dir / "db").mkdir(parents=True, exist_ok=True)
    (state_dir / "db" / "cyclades.json").write_text("{")
    ret = states.synnefo_db.migrated(name="migrate", services=["cyclades"], manage=str(script))
    assert ret.result is False and "not valid JSON; check the cyclades database by hand" in ret.comment


def test_the_dump_is_private_and_the_password_never_shown(states, modules, manage, tmp_path, state_dir):
    """The backup runs with umask 077 whatever the minion's (a dump holds password hashes and
    tokens), and a password on its command line shows nowhere: not in the dry run's changes,
    the real run's changes or comment, nor the record."""
    script, shared = manage
    backup = tmp_path / "cyclades.dump"
    command = f"PGPASSWORD=hunter2 cp {shared}/cyclades.sqlite3 {backup} && echo 'uri postgresql://snf:hunter2@db/x' >/dev/null"
    dry = states.synnefo_db.migrated(name="migrate", services=["cyclades"], backups={"cyclades": command}, manage=str(script), test=True)
    ret = states.synnefo_db.migrated(name="migrate", services=["cyclades"], backups={"cyclades": command}, manage=str(script))
    assert ret.result is True, ret.comment
    assert oct(backup.stat().st_mode & 0o777) == oct(0o600)
    shown = [json.dumps(dry.changes), dry.comment, json.dumps(ret.changes), ret.comment, (state_dir / "db" / "cyclades.json").read_text()]
    assert not [text for text in shown if "hunter2" in text]
    assert ret.changes["cyclades"]["backup"].startswith("PGPASSWORD=**** cp ")


@pytest.mark.parametrize(
    "command, masked",
    [
        ("PGPASSWORD=s3cret pg_dump x > /b/x.dump", "PGPASSWORD=**** pg_dump x > /b/x.dump"),
        ("pg_dump 'host=db password=s3cret dbname=x' > d", "pg_dump 'host=db password=**** dbname=x' > d"),
        ("mysqldump -u root -ps3cret x > d", "mysqldump -u root -p**** x > d"),
        ("mysqldump --password=s3cret x", "mysqldump --password=**** x"),
        ("pg_dump --dbname=postgresql://snf:s3cret@db/x -f d", "pg_dump --dbname=postgresql://snf:****@db/x -f d"),
        ("pg_dump -Fc -h db -U synnefo snf_apps > /var/backups/a.dump", "pg_dump -Fc -h db -U synnefo snf_apps > /var/backups/a.dump"),
    ],
)
def test_backup_commands_are_shown_with_their_passwords_masked(modules, command, masked):
    assert modules.synnefo_db.masked_command(command) == masked


# What real Synnefo 0.19 printed migrating a seeded 0.18.1 database (PostgreSQL 15, the test
# bed's real Synnefo): 0003's RunPython writes on its "Applying" line and after it, its OK
# comes on a line of its own.
REAL_019_MIGRATE = """Operations to perform:
  Synchronize unmigrated apps: volume, pithos.api, helpdesk, logic
  Apply all migrations: userdata, quotaholder_app, sessions, db, sites, auth, contenttypes, im, oa2
Running migrations:
  Applying contenttypes.0001_initial... FAKED
  Applying db.0002_ipaddresshistory... OK
  Applying db.0003_auto_ip_ownership...Created 3 IP history entries.
Changing owner of nic 1 from 'aaaa' to 'bbbb'.
Changing owner of IP '192.0.2.1' from 'aaaa' to 'bbbb'.
 OK
  Applying db.0004_virtualmachine_key_name... OK
  Applying userdata.0002_conflicting_names... OK
"""


def test_every_applied_migration_is_read_with_what_it_printed(modules):
    assert modules.synnefo_db.applied(REAL_019_MIGRATE) == [
        ["contenttypes.0001_initial", "FAKED", []],
        ["db.0002_ipaddresshistory", "OK", []],
        [
            "db.0003_auto_ip_ownership",
            "OK",
            [
                "Created 3 IP history entries.",
                "Changing owner of nic 1 from 'aaaa' to 'bbbb'.",
                "Changing owner of IP '192.0.2.1' from 'aaaa' to 'bbbb'.",
            ],
        ],
        ["db.0004_virtualmachine_key_name", "OK", []],
        ["userdata.0002_conflicting_names", "OK", []],
    ]
    # A migration cut before its OK is not applied.
    assert [
        m[0] for m in modules.synnefo_db.applied("  Applying db.0002_ipaddresshistory... OK\n  Applying db.0003_auto_ip_ownership...")
    ] == ["db.0002_ipaddresshistory"]
