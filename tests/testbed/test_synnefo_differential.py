"""
The test bed's Synnefo stand-ins held to GRNET's own code: every Synnefo program the formula
or the bed runs, run twice on the same seeded 0.18.1 cloud, once by the stand-in
(testbed/synnefo/programs.py, fix_ip_history) and once by real Synnefo (testbed/realsynnefo:
0.18.1 and 0.19 from ../shared/upstream on PostgreSQL 15), their outputs, exit codes, files
written and database rows compared. What is compared, command by command:

- ``snf-service-export cyclades BASE`` (0.18.1 and 0.19): the exported services, as JSON;
- ``snf-manage server-modify --user UUID ID`` (0.18.1): what it prints, its log's name, mode,
  header and lines, and the zone its times are in (Django's TIME_ZONE, not the host's);
- ``snf-manage migrate --noinput`` (0.19 on 0.18.1's schema) on a cyclades, an astakos and a
  pithos host (upstream's SYNNEFO_EXCLUDE_PACKAGES): the migrations applied or FAKED, what
  0003 prints, and "No migrations to apply." the second time;
- ``fix_ip_history`` (0.19): the dry run's and ``--fix``'s exit codes, messages and the
  IPAddressHistory rows after them;
- ``component-list``, ``service-list`` (the formula's columns) and ``snf-component-register
  cyclades`` (its prompts, then the lists).

Real Synnefo runs on the machine here (``SYNNEFO_SETTINGS_DIR``), not in the bed's hosts:
the hosts' wrappers (testbed/packages.py) run the same virtualenvs.
"""

import datetime
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import pytest

from testbed import realsynnefo
from testbed.realsynnefo import database, seed
from testbed.synnefo import programs
from tests.synnefo_host import host_root

INSTANCES = ("vm1", "vm2", "vm3")
APPS = {"astakos": "snf-astakos-app", "cyclades": "snf-cyclades-app", "pithos": "snf-pithos-app"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX_IP_HISTORY = os.path.join(REPO, "testbed/synnefo/fix_ip_history")


class Real:
    """A PostgreSQL server with a seeded 0.18.1 cloud kept as a dump: each test restores a
    database of its own from it."""

    def __init__(self, base):
        self.base = base
        self.server = database.Server(os.path.join(base, "pg")).init().start()
        try:
            self.seed()
        except BaseException:
            self.server.stop()  # a failed seeding leaves no server running
            raise

    def seed(self):
        base = self.base
        self.server.create_databases(names=("seeded",))
        self.server.restore("seeded", database.schema_0181())
        settings = database.settings_dir("0.18.1", self.server, os.path.join(base, "seeding"), name="seeded", extra=self.log_dir("seeding"))
        self.seeded = seed.seed(self.server, settings, INSTANCES, users=3, name="seeded")
        self.dump = os.path.join(base, "seeded.dump")
        self.server.dump("seeded", self.dump)
        self.count = 0

    def log_dir(self, name):
        return f"LOG_DIR = '{self.base}/{name}-log'\n"

    def fresh(self):
        """A database restored from the seeded dump: {release: settings directory}, its name."""
        self.count += 1
        name = f"cloud{self.count}"
        self.server.create_databases(names=(name,))
        self.server.restore(name, self.dump)
        directories = {}
        for release in realsynnefo.RELEASES:
            directory = os.path.join(self.base, f"{name}-{release}")
            directories[release] = database.settings_dir(release, self.server, directory, name=name, extra=self.log_dir(name))
        return directories, name

    def commands_logs(self, name):
        return os.path.join(self.base, f"{name}-log", "commands")


@pytest.fixture(scope="module")
def real():
    why = database.available()
    assert not why, why
    realsynnefo.build(log=lambda *_: None)
    # PostgreSQL runs as postgres: its directory must be reachable by it (pytest's is not).
    base = tempfile.mkdtemp(prefix="snftb-synnefo-diff.", dir="/var/tmp")
    os.chmod(base, 0o755)
    cloud = Real(base)
    yield cloud
    cloud.server.stop()
    shutil.rmtree(base, ignore_errors=True)


def standin(tmp_path, real, version="0.19-1~jessie", service="cyclades"):
    """The stand-in's twin of the seeded cloud: the same VMs, owners and IP log."""
    shared = tmp_path / "shared"
    shared.mkdir(exist_ok=True)
    vms = sorted(real.seeded["vms"].values(), key=lambda vm: vm["id"])
    log = [(vm["address"], vm["id"], 1, seed.ALLOCATED.format(day=vm["id"]) + ".000000", None) for vm in vms]
    programs.create(str(shared), vms=[(vm["id"], vm["owner"]) for vm in vms], log=log)
    root = host_root(tmp_path / f"root-{service}-{version}", version=version, packages=(APPS[service],))
    return shared, root


def run_standin(shared, root, *args, stdin="", env=None):
    """The stand-in snf-manage on the machine: (exit code, stdout, stderr)."""
    command = [sys.executable, "-m", "testbed.synnefo.programs", "snf-manage", *args]
    environment = dict(os.environ, SNF_TESTBED_ROOT=str(root), SNF_TESTBED_SHARED=str(shared), PYTHONPATH=REPO, **(env or {}))
    result = subprocess.run(command, capture_output=True, text=True, input=stdin, env=environment)
    return result.returncode, result.stdout, result.stderr


def run_real(release, settings, *args, exclude=(), env=None, stdin=None):
    environment = dict(env or {})
    if exclude:
        environment["SYNNEFO_EXCLUDE_PACKAGES"] = ":".join(exclude)
    result = database.manage(release, settings, *args, check=False, env=environment, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def exclusions(service):
    """Upstream's SYNNEFO_EXCLUDE_PACKAGES for a host that has only ``service``'s app."""
    return [package for name, package in APPS.items() if name != service]


def test_service_export_of_both_releases_is_reals(real):
    base = "https://cyclades1.example.org/cyclades"
    for release, version in (("0.18.1", "0.18.1"), ("0.19", "0.19")):
        command = [os.path.join(realsynnefo.venv(release), "bin", "snf-service-export"), "cyclades", base]
        exported = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        assert programs.export(base, version) == json.loads(exported), release


def test_server_modify_prints_and_logs_as_real_0181_in_djangos_time_zone(real, tmp_path):
    settings, name = real.fresh()
    vm = real.seeded["vms"]["vm1"]
    new_owner = real.seeded["users"][1]
    shared, root = standin(tmp_path, real, version="0.18.1-1~wheezy")
    before = datetime.datetime.utcnow()
    # The hosts' clocks run in Europe/Athens; Django puts its TIME_ZONE (UTC) into TZ.
    athens = {"TZ": "Europe/Athens"}
    real_code, real_out, real_err = run_real("0.18.1", settings["0.18.1"], "server-modify", "--user", new_owner, str(vm["id"]), env=athens)
    code, out, err = run_standin(shared, root, "server-modify", "--user", new_owner, str(vm["id"]), env=athens)
    assert (code, out) == (real_code, real_out), real_err
    real_logs = [n for n in os.listdir(real.commands_logs(name)) if "_server-modify_" in n]
    logs = os.listdir(root / "var/log/synnefo/commands")
    assert len(real_logs) == len(logs) == 1
    for directory, log in ((real.commands_logs(name), real_logs[0]), (root / "var/log/synnefo/commands", logs[0])):
        assert re.match(r"^\d{12}_server-modify_\d+\.log$", log)
        stamp = datetime.datetime.strptime(log[:12], "%y%m%d%H%M%S")
        assert abs((stamp - before).total_seconds()) < 120, (log, before)  # UTC, not Athens (+2/+3 h)
        assert os.stat(os.path.join(directory, log)).st_mode & 0o777 == 0o600
    shapes = []
    for directory, log in ((real.commands_logs(name), real_logs[0]), (root / "var/log/synnefo/commands", logs[0])):
        with open(os.path.join(directory, log)) as handle:
            text = handle.read()
        text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", "TIME", text)
        text = re.sub(r"command: \S+/snf-manage", "command: snf-manage", text)
        shapes.append(re.sub(r"pid: \d+", "pid: N", text))
    assert shapes[0] == shapes[1]


def applied(output):
    """(name, outcome, first printed line) of each migration, as the formula reads them."""
    sys.path.insert(0, os.path.join(REPO, "_modules"))
    try:
        import synnefo_db
    finally:
        sys.path.pop(0)
    return [(n, o, lines[:1]) for n, o, lines in synnefo_db.applied(output)]


def test_migrate_on_each_service_host_applies_what_real_019_applies(real, tmp_path):
    settings, _ = real.fresh()
    shared, _ = standin(tmp_path, real)
    for service in ("cyclades", "astakos", "pithos"):
        root = host_root(tmp_path / f"root-{service}", packages=(APPS[service],))
        for attempt in (1, 2):
            real_code, real_out, real_err = run_real("0.19", settings["0.19"], "migrate", "--noinput", exclude=exclusions(service))
            code, out, err = run_standin(shared, root, "migrate", "--noinput")
            assert code == real_code == 0, (service, real_err, err)
            assert applied(out) == applied(real_out), (service, attempt, out, real_out)
            assert ("No migrations to apply." in out) == ("No migrations to apply." in real_out), (service, attempt)
            if service == "cyclades" and attempt == 1:
                assert ("db.0003_auto_ip_ownership", "OK", ["Created 3 IP history entries."]) in applied(real_out)


def history_rows(rows):
    """IPAddressHistory rows as (address, server, user, action, UTC date, reason), either
    database's text of the date read the same way."""
    normal = []
    for address, server, user, action, date, reason in rows:
        date = re.sub(r"(\+00|\+00:00)$", "", str(date))
        moment = datetime.datetime.strptime(date + (".000000" if "." not in date else ""), "%Y-%m-%d %H:%M:%S.%f")
        normal.append((address, int(server), user, action, moment, reason))
    return sorted(normal)


def test_fix_ip_history_dry_run_and_fix_as_real_019(real, tmp_path):
    settings, name = real.fresh()
    shared, root = standin(tmp_path, real)
    run_real("0.19", settings["0.19"], "migrate", "--noinput", exclude=exclusions("cyclades"))
    run_standin(shared, root, "migrate")
    vm, users = real.seeded["vms"]["vm2"], real.seeded["users"]
    other = next(u for u in users if u != vm["owner"])
    changelog = tmp_path / "changelog"
    changelog.write_text(f"{vm['id']}|{other}|{vm['owner']}|2016-06-01 12:00:00.250000\n")
    tool = os.path.join(realsynnefo.payload_dir("0.19"), "snf-cyclades-app/synnefo/tools/fix_ip_history")
    python = os.path.join(realsynnefo.venv("0.19"), "bin", "python")
    for args in ([], ["--fix"]):
        real_env = dict(os.environ, SYNNEFO_SETTINGS_DIR=settings["0.19"])
        ran = subprocess.run([python, tool, str(changelog), *args], capture_output=True, text=True, env=real_env)
        standin_ran = subprocess.run(
            [sys.executable, FIX_IP_HISTORY, str(changelog), *args],
            capture_output=True,
            text=True,
            env=dict(os.environ, SNF_TESTBED_CYCLADES_DB=str(shared / "cyclades.sqlite3")),
        )
        assert standin_ran.returncode == ran.returncode, (args, ran.stderr, standin_ran.stderr)
        assert standin_ran.stderr.strip().splitlines()[-1:] == ran.stderr.strip().splitlines()[-1:]
        assert standin_ran.stdout == ran.stdout, args
    real_rows = real.server.psql(
        "SELECT address, server_id, user_id, action, action_date, action_reason FROM db_ipaddresshistory", database=name
    )
    with sqlite3.connect(shared / "cyclades.sqlite3") as db:
        rows = db.execute("SELECT address, server_id, user_id, action, action_date, action_reason FROM db_ipaddresshistory").fetchall()
    assert history_rows(rows) == history_rows(real_rows)


def csv_rows(text, component="cyclades"):
    return sorted(line for line in text.splitlines() if component in line)


def test_component_register_and_the_lists_the_formula_reads_are_reals(real, tmp_path, monkeypatch):
    settings, _ = real.fresh()
    shared, root = standin(tmp_path, real)
    monkeypatch.setenv("SNF_TESTBED_ROOT", str(root))
    base, ui = "https://cyclades9.example.org/cyclades", "https://cyclades9.example.org/cyclades/ui"
    answers = f"y\n{base}\n{ui}\ny\n"
    bin_dir = os.path.join(realsynnefo.venv("0.19"), "bin")
    script = os.path.join(realsynnefo.payload_dir("0.19"), "snf-astakos-app/astakos/scripts/snf-component-register")
    registered = subprocess.run(
        ["bash", script, "cyclades"],
        input=answers,
        capture_output=True,
        text=True,
        env=dict(os.environ, SYNNEFO_SETTINGS_DIR=settings["0.19"], PATH=bin_dir + ":" + os.environ["PATH"]),
    )
    out = io.StringIO()
    code = programs.snf_component_register(["cyclades"], shared=str(shared), host="astakos1", stdin=io.StringIO(answers), out=out)
    assert code == registered.returncode == 0, registered.stderr
    assert out.getvalue() == registered.stdout
    for command in (
        ["component-list", "-o", "name,base_url,ui_url", "--output-format=csv", "--no-headers"],
        ["service-list", "-o", "name,component", "--output-format=csv", "--no-headers"],
    ):
        real_code, real_out, real_err = run_real("0.19", settings["0.19"], *command)
        standin_code, standin_out, _ = run_standin(shared, root, *command)
        assert standin_code == real_code == 0, real_err
        assert csv_rows(standin_out) == csv_rows(real_out), command
