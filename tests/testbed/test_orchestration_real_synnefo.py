"""
The whole upgrade on real Synnefo (topology ``synnefo: real``): the service hosts run GRNET's
0.18.1, then 0.19, code (testbed/realsynnefo), their database is PostgreSQL 15 outside the
hosts, seeded by 0.18.1's own commands; the hosts' clocks run in Europe/Athens. The formula
runs with its own defaults and the bed's pillar (databases, registration, allowed hosts, the
IP-history changelog). Every claim is checked from outside the formula: psql on the
database, real ``snf-manage`` on the hosts, the backups' files, the timeline.

The scenarios share one bed, in order: an owner change made with real 0.18.1 and its
changelog rebuilt by the formula; a run refused in its rehearsal (before anything stops) for
an ALLOWED_HOSTS entry real Django would never match; the whole upgrade (resuming after the
Ganeti phase that run did); a second run with nothing to do.
"""

import json
import os
import subprocess
import time

import pytest

from testbed import netns, realsynnefo
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "real-synnefo.yaml"
SERVICE_NODES = ("astakos1", "cyclades1", "pithos1")
# What real 0.19 applies on 0.18.1's schema (the differential test holds the stand-in to it).
MIGRATIONS_019 = {
    ("auth", "0001_initial"),
    ("contenttypes", "0001_initial"),
    ("db", "0001_initial"),
    ("db", "0002_ipaddresshistory"),
    ("db", "0003_auto_ip_ownership"),
    ("db", "0004_virtualmachine_key_name"),
    ("db", "0005_backend_public"),
    ("db", "0006_add_projectbackend"),
    ("db", "0006a_ipaddresshistory_indices"),
    ("im", "0001_initial"),
    ("im", "0002_auto_projectlock"),
    ("oa2", "0001_initial"),
    ("oa2", "0002_auto_now_add"),
    ("quotaholder_app", "0001_initial"),
    ("sessions", "0001_initial"),
    ("sites", "0001_initial"),
    ("userdata", "0001_initial"),
    ("userdata", "0002_conflicting_names"),
    ("userdata", "0003_os_keypairs"),
}


def psql(bed, sql):
    """Rows of ``sql`` on the cloud's database, read on the machine (the server's socket)."""
    socket = os.path.join(bed.paths.base, "postgres", "socket")
    out = subprocess.run(
        ["psql", "-X", "-A", "-t", "-F", "|", "-h", socket, "-U", "postgres", "-d", "snf_apps", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split("|") for line in out.splitlines() if line]


def seeded(bed):
    with open(os.path.join(bed.paths.shared, "synnefo", "real.json")) as handle:
        return json.load(handle)


def release_of(bed, host):
    """Which release's code the host's snf-manage runs."""
    script = bed.sh(host, "cat /usr/bin/snf-manage").stdout
    return next(r for r in realsynnefo.RELEASES if realsynnefo.venv(r) + "/bin/" in script)


def test_the_service_hosts_run_real_0181_on_the_shared_database_in_athens_time(bed):
    cloud = seeded(bed)
    for host in SERVICE_NODES:
        assert release_of(bed, host) == "0.18.1"
        assert bed.version(host, "snf-common") == "0.18.1-1~wheezy"
        assert bed.sh(host, "date +%Z").stdout.strip() in ("EET", "EEST")
    listed = bed.sh("cyclades1", "snf-manage server-list --output-format=csv --no-headers").stdout
    assert {line.split(",")[1] for line in listed.splitlines()} == {"vm1", "vm2"}
    # 0.18.1's schema (South's), no Django 1.7 migration yet.
    assert psql(bed, "SELECT to_regclass('django_migrations') IS NULL") == [["t"]]
    assert len(cloud["users"]) == 2 and cloud["database"] == netns.MASTER_ADDRESS


@pytest.fixture(scope="module")
def owner_change(bed):
    """vm1 given to the other user with real 0.18.1's server-modify on cyclades1 (its log in
    Django's TIME_ZONE, UTC, on a host whose clock runs in Athens); the changelog rebuilt from
    that log by the formula, named in the pillar with apply: true."""
    cloud = seeded(bed)
    vm = cloud["vms"]["vm1"]
    new = next(u for u in cloud["users"] if u != vm["owner"])
    before = time.time()
    bed.sh("cyclades1", f"snf-manage server-modify --user {new} {vm['id']}")
    after = time.time()
    rebuilt = bed.salt("cyclades1", "ip_history.changelog_from_logs", "output=/root/owner-changes.log")["cyclades1"]
    bed.extend_pillar("  ip_history:\n    changelog: /root/owner-changes.log\n    apply: true\n")
    return vm, vm["owner"], new, (before, after), rebuilt


def test_the_changelog_rebuilt_from_real_0181_logs_is_the_change_made_in_utc(bed, owner_change):
    vm, old, new, (before, after), rebuilt = owner_change
    assert rebuilt["valid"] and rebuilt["unreadable"] == [] and len(rebuilt["entries"]) == 1
    entry = rebuilt["entries"][0]
    assert (entry["vm"], entry["from"], entry["to"]) == (vm["id"], old, new)
    changed = time.mktime(time.strptime(entry["date"][:19], "%Y-%m-%d %H:%M:%S")) - time.timezone  # read as UTC
    assert before - 1 <= changed <= after + 1, (entry, before, after)


def test_an_allowed_host_real_django_never_matches_is_refused_before_anything_stops(bed, owner_change):
    """An unbracketed IPv6 address in ALLOWED_HOSTS: real Django 1.7 never matches it (every
    request would get 400); the rehearsal refuses it while the API is still up."""
    python = os.path.join(realsynnefo.venv("0.19"), "bin", "python")
    check = "from django.http.request import validate_host; print(validate_host('[2001:db8::1]', ['2001:db8::1']))"
    assert subprocess.run([python, "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "False"
    # In cyclades1's own pillar file (the minions read theirs: an orchestrate pillar= would
    # reach the master's rendering only).
    path = os.path.join(bed.paths.pillar, "host_cyclades1.sls")
    with open(path) as handle:
        good = handle.read()
    try:
        with open(path, "w") as handle:
            handle.write("synnefo_upgrade:\n  settings:\n    allowed_hosts: ['2001:db8::1']\n")
        bed.salt("*", "saltutil.refresh_pillar")
        code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=1800)
    finally:
        with open(path, "w") as handle:
            handle.write(good)
        bed.salt("*", "saltutil.refresh_pillar")
    assert code != 0
    services = steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert services["result"] is False and "2001:db8::1" in services["comment"], services["comment"]
    assert "step 'rehearsal' failed" in services["comment"] or "refused" in services["comment"], services["comment"]
    for host in SERVICE_NODES:
        assert bed.version(host, "snf-common") == "0.18.1-1~wheezy"
        assert bed.running(host, "gunicorn"), host
    assert psql(bed, "SELECT to_regclass('django_migrations') IS NULL") == [["t"]]


def test_the_whole_upgrade_on_real_synnefo(bed, owner_change):
    vm, old, new, _, rebuilt = owner_change
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=1800)
    assert code == 0, json.dumps(steps, indent=1)[-4000:]
    services = steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    for host in SERVICE_NODES:
        assert bed.version(host, "snf-common") == "0.19-1~jessie" and release_of(bed, host) == "0.19"
    # Every migration of real 0.19 applied exactly once on the shared database.
    rows = psql(bed, "SELECT app, name, count(*) FROM django_migrations GROUP BY app, name")
    assert {(app, name) for app, name, _ in rows} == MIGRATIONS_019 and {count for _, _, count in rows} == {"1"}
    assert "No migrations to apply." in bed.sh("cyclades1", "snf-manage migrate --noinput").stdout
    # One database minion after the other: each backup is of the database before any migration.
    migrate = [e for e in services["changes"]["timeline"] if e["step"] == "databases" and not e.get("parent")]
    assert [e["host"] for e in migrate] == ["astakos1", "cyclades1"] and migrate[0]["end"] <= migrate[1]["start"]
    # The services share snf_apps here: astakos' backup is the whole 0.18.1 database, cyclades'
    # the database after astakos' migrations and before any of its own.
    for host in ("astakos1", "cyclades1"):
        dump = f"/var/backups/snf_apps-{host[:-1]}-0.18.1.dump"
        assert bed.sh(host, f"stat -c %a {dump}").stdout.strip() == "600"
        assert "TABLE public south_migrationhistory" in bed.sh(host, f"pg_restore -l {dump}").stdout, host
    astakos_dump = bed.sh("astakos1", "pg_restore -l /var/backups/snf_apps-astakos-0.18.1.dump").stdout
    assert "django_migrations" not in astakos_dump
    applied = bed.sh("cyclades1", "pg_restore -a -t django_migrations -f - /var/backups/snf_apps-cyclades-0.18.1.dump").stdout
    apps = {line.split("\t")[1] for line in applied.splitlines() if line[:1].isdigit()}
    assert apps and not apps & {"db", "userdata"} and {"im", "oa2"} <= apps, apps
    # The IP history: 0.19's migration gave vm1's address to its current owner; the fix gave
    # the years before the change back to the old one.
    history = psql(
        bed,
        f"SELECT user_id, action, to_char(action_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM db_ipaddresshistory "
        f"WHERE server_id = {vm['id']} ORDER BY action_date, id",
    )
    change = rebuilt["entries"][0]["date"]
    assert history == [[old, "associate", "2016-01-01 10:00:00.000000"], [old, "disassociate", change], [new, "associate", change]]
    other = seeded(bed)["vms"]["vm2"]
    assert psql(bed, f"SELECT user_id, action FROM db_ipaddresshistory WHERE server_id = {other['id']}") == [[other["owner"], "associate"]]
    # cyclades registered again from 0.19's export: its endpoints without a version.
    urls = {url for (url,) in psql(bed, "SELECT value FROM im_endpointdata WHERE key = 'publicURL'")}
    assert "https://cyclades1.example.org/cyclades/network" in urls and "https://cyclades1.example.org/cyclades/network/v2.0" not in urls
    # Every settings file the formula edited, loaded by real 0.19.
    for host in SERVICE_NODES:
        settings = bed.sh(host, "snf-manage diffsettings").stdout
        assert f"ALLOWED_HOSTS = ['{host}.example.org']" in settings, host
    cyclades = bed.sh("cyclades1", "snf-manage diffsettings").stdout
    assert "BACKEND_ALLOCATOR_MODULE = 'synnefo.logic.allocators.filter_allocator.FilterAllocator'" in cyclades
    assert "PUBLIC_STATS_CACHE = {" in cyclades and "memcached" in cyclades.split("PUBLIC_STATS_CACHE = ", 1)[1].split("\n")[0]
    # The upgrade's parts placed on the master's clock although the hosts' run in Athens.
    parts = {e["step"] for e in services["changes"]["timeline"] if e.get("parent") and e["host"] == "cyclades1"}
    assert {"dist-upgrade", "database migration", "IP history"} <= parts, parts


def test_a_second_run_changes_nothing(bed):
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=1800)
    assert code == 0
    services = steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert services["changes"] == {} and "nothing to do" in services["comment"]
    rows = psql(bed, "SELECT count(*) FROM django_migrations")
    assert rows == [[str(len(MIGRATIONS_019))]]
