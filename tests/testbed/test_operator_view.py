"""What an operator sees, on the default cluster, checked against what really happens: the
changelog rebuilt from the server-modify logs (across both daylight-saving changes), the plan
(`salt-run synnefo_upgrade.plan`) against what the orchestration then does, and the HTML
report (`salt-run synnefo_upgrade.report`) of a failed run and of the run that finishes."""

import json
import os
import re
import time

import pytest

from testbed import packages, timeline
from tests.testbed.test_orchestration_ganeti import PRIMARIES, orchestrate

GANETI = ("gnt1", "gnt2", "gnt3")
SERVICE_NODES = ("astakos1", "cyclades1", "pithos1")
ALL = GANETI + SERVICE_NODES
U1, U2 = "aaaaaaaa-0000-4000-8000-0000000000a1", "bbbbbbbb-0000-4000-8000-0000000000b2"
# Europe/Athens: forward at 2016-03-27 01:00 UTC, back at 2016-10-30 01:00 UTC.
OWNER_CHANGES = [(1459040400 - 0.75, 1, U1), (1459040400 + 3.5, 2, U1), (1477789200 - 1799.5, 1, U2), (1477789200 + 1800.25, 2, U2)]


def salt_run(bed, *args, timeout=900):
    result = bed.cli("salt-run", *args, "--out=json", timeout=timeout)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"salt-run {args}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}") from exc


def installed(bed, host):
    return dict(line.split() for line in bed.sh(host, "dpkg-query -W -f '${Package} ${Version}\\n'").stdout.splitlines())


def etc_digests(bed, host):
    out = bed.sh(
        host, "find /etc/apt /etc/synnefo /etc/apache2 /etc/gunicorn.d /etc/default -type f 2>/dev/null | sort | xargs md5sum"
    ).stdout
    return {path: digest for digest, path in (line.split() for line in out.splitlines())}


@pytest.fixture(scope="module")
def owner_changes(bed):
    """Owner changes made on cyclades1 across both clock changes, the changelog rebuilt from
    their logs, and that changelog named in pillar for the upgrade's IP-history fix."""
    since = time.time()
    # In the argument orders upstream's optparse takes: the logs name the server as 0.18.1's
    # model prints it (<vm:ID@backend:N>), and the id is not always the command line's last word.
    orders = ["--user {owner} {vm}", "{vm} --user {owner}", "--user={owner} {vm}", "--wait False {vm} --user {owner}"]
    for (moment, vm, owner), order in zip(OWNER_CHANGES, orders):
        arguments = order.format(owner=owner, vm=vm)
        # The hosts' clocks run in Europe/Athens; snf-manage logs in Synnefo's TIME_ZONE (UTC).
        bed.sh("cyclades1", f"TZ=Europe/Athens SNF_TESTBED_NOW={moment!r} snf-manage server-modify {arguments}")
    made = sorted((e for e in bed.events(since) if e["event"] == "owner-change"), key=lambda e: e["utc"])
    rebuilt = bed.salt("cyclades1", "ip_history.changelog_from_logs", "output=/root/owner-changes-from-logs.log")["cyclades1"]
    bed.extend_pillar("  ip_history:\n    changelog: /root/owner-changes-from-logs.log\n    apply: true\n")
    return made, rebuilt


def test_the_changelog_rebuilt_from_the_logs_equals_the_owner_changes_made(bed, owner_changes):
    made, rebuilt = owner_changes
    assert len(made) == 4
    assert rebuilt["changelog"] == "".join(f"{e['server']}|{e['old']}|{e['new']}|{e['utc']}\n" for e in made)
    assert [e["log"] for e in rebuilt["entries"]] == [e["log"] for e in made]
    # In UTC no hour repeats (the functional tests cover a cloud whose TIME_ZONE has them).
    assert [e["ambiguous"] for e in rebuilt["entries"]] == [False, False, False, False]
    assert rebuilt["valid"] and rebuilt["unreadable"] == []
    # Written for the operator, and what the formula's own check accepts.
    assert bed.salt("cyclades1", "ip_history.validate", "/root/owner-changes-from-logs.log")["cyclades1"]["changes"] == 4


@pytest.fixture(scope="module")
def before(bed, owner_changes):
    """The cluster before the upgrade (an operator's edit of a packaged settings file on
    pithos1 included), and the plan taken then."""
    edited = bed.sh("pithos1", "dpkg-query -W -f '${Conffiles}\\n' snf-common | awk 'NF {print $1; exit}'").stdout.strip()
    assert edited.startswith("/etc/")
    bed.sh("pithos1", f"echo '# edited on pithos1' >> {edited}")
    seen = {"edited": edited, "packages": {h: installed(bed, h) for h in ALL}, "etc": {h: etc_digests(bed, h) for h in ALL}}
    seen["events"] = len(timeline.read(bed.paths.shared))
    bed.cli("salt-run", "saltutil.sync_all", check=True)  # the runner and its outputter
    seen["plan"] = salt_run(bed, "synnefo_upgrade.plan")
    return seen


def test_the_plan_changes_nothing_and_names_every_step(bed, before):
    # The operator's edit of a packaged settings file: dpkg will keep it, the plan must say so.
    plan, edited = before["plan"], before["edited"]
    assert plan["refused"] == [] and plan["to_version"] == "0.19-1~jessie"
    assert plan["ganeti"]["order"] == ["gnt2", "gnt3", "gnt1"]
    assert plan["ganeti"]["master"] == "gnt1" and plan["ganeti"]["failover_to"] == "gnt2"
    for node in GANETI:
        predicted = plan["ganeti"]["nodes"][node]
        assert sorted(predicted["moves"]) == sorted(vm for vm, home in PRIMARIES.items() if home == node)
        assert predicted["missing"] == {} and set(predicted["free_mib"]) == set(GANETI) - {node}
        assert predicted["services"] == ["archipelago"]
        assert predicted["download_bytes"] > 0 and plan["download_bytes"][node] == predicted["download_bytes"]
        # Not Synnefo's: listed with the versions they keep and get, never refused.
        assert predicted["own_versions"]["snf-image"] == {"old": "0.21-1~wheezy", "new": "0.21.1-1~jessie"}
        assert predicted["own_versions"]["snf-ganeti"] == {"old": packages.GANETI["wheezy"], "new": packages.GANETI["jessie"]}
    for host in SERVICE_NODES:
        predicted = plan["services"]["nodes"][host]
        assert "gunicorn" in predicted["services"] and predicted["packages"]["snf-common"]["new"] == packages.SYNNEFO["jessie"]
    assert plan["services"]["nodes"]["cyclades1"]["own_versions"] == {"snf-vncauthproxy": {"old": "1.6-1~wheezy", "new": "1.7-2~jessie"}}
    assert "X-Forwarded-Proto" in plan["services"]["nodes"]["cyclades1"]["diffs"]["/etc/apache2/sites-available/synnefo-ssl.conf"]
    assert plan["migrations"] == {"astakos": "astakos1", "cyclades": "cyclades1"}
    assert plan["ip_history"]["minion"] == "cyclades1" and "4 owner changes valid" in plan["ip_history"]["comment"]
    assert any("Kamaki >= 0.15" in w for w in plan["warnings"]), plan["warnings"]
    assert not any("no backup command" in w for w in plan["warnings"])  # the test bed's pillar has them
    # Only what was edited: the test bed's own setup edited cyclades1's settings and gnt1's
    # /etc/default/snf-ganeti-eventd, as an operator's installation does.
    assert plan["kept_conffiles"]["pithos1"] == {"snf-common": [edited]}
    assert set(plan["kept_conffiles"]) == {"pithos1", "cyclades1", "gnt1"}
    assert f"pithos1: warning: snf-common keeps the locally edited {edited}" in " ".join(plan["warnings"])
    assert plan["seconds"] < 600
    # The same plan as text, for reading.
    text = bed.cli("salt-run", "synnefo_upgrade.plan", check=True, timeout=900).stdout
    assert "order: gnt2, gnt3, gnt1: " in text and "after a master failover to gnt2" in text
    assert re.search(r"gnt2: stop archipelago\n\s+live-migrate vm[34] to gnt[13] \(\d+ MiB free there", text)
    assert "Warnings:\n  - " in text and "Database migrations" in text
    assert "snf-vncauthproxy 1.6-1~wheezy -> 1.7-2~jessie" in text and "Checked only once 0.19 is installed" in text
    assert {h: installed(bed, h) for h in ALL} == before["packages"]
    assert {h: etc_digests(bed, h) for h in ALL} == before["etc"]
    assert len(timeline.read(bed.paths.shared)) == before["events"]


def bars(report_path):
    with open(report_path) as handle:
        page = handle.read()
    found = re.findall(r'<rect class="step( failed)?" data-host="([^"]+)" data-step="([^"]+)" x="([\d.]+)"', page)
    return page, [(host, step, float(x), bool(failed)) for failed, host, step, x in found]


def test_the_report_of_a_failed_run_shows_the_failure(bed, before):
    since = time.time()
    bed.cli("fault", "add", "fail-db-migrate", "cyclades", check=True)
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=2400)
    bed.cli("fault", "clear", "fail-db-migrate", "cyclades", check=True)
    assert code != 0 and steps["synnefo-upgrade-orch-service-nodes-upgraded"]["result"] is False
    report = salt_run(bed, "synnefo_upgrade.report", f"path={bed.paths.shared}/failed.html")
    assert report["ok"] is False and any("injected fault" in f for f in report["failures"])
    for node in GANETI:
        steps_done = [s for s in report["hosts"][node] if s != "master-failover"]
        assert steps_done == ["download", "drain", "upgrade", "reboot", "restore"], node
    assert oct(os.stat(report["path"]).st_mode & 0o777) == oct(0o600)  # the writer's only
    page, drawn = bars(report["path"])
    failed = [(host, step) for host, step, _, is_failed in drawn if is_failed]
    assert failed == [("cyclades1", "databases")]  # the databases' step, after the nodes' upgrade
    assert "injected fault" in page and "FAILED" in page
    assert not re.search(r"(?:src|href)=|@import|url\(", page)  # self-contained: nothing to fetch
    # The bars' times are the job's: each Ganeti node's reboot bar starts before the node's
    # reboot and ends after its boot, as the test bed recorded them.
    events, rows = bed.events(since), job_rows(bed, report["jid"])
    for node in GANETI:
        (bar,) = [r for r in rows if r["host"] == node and r["step"] == "reboot"]
        reboot = [e["time"] for e in events if e["event"] == "reboot" and e["host"] == node]
        assert len(reboot) == 1 and bar["start"] <= reboot[0] <= bar["end"], (bar, reboot)
        # Each live migration away is a bar of its own, under the drain, where the plan said.
        moves = before["plan"]["ganeti"]["nodes"][node]["moves"]
        away = sorted(s for s in report["parts"][node] if s.startswith("migrate") and not s.endswith(" to " + node))
        assert away == sorted(f"migrate {vm} to {target}" for vm, target in moves.items()), node
        for vm, target in moves.items():
            (bar,) = [r for r in rows if r["host"] == node and r["step"] == f"migrate {vm} to {target}"]
            done = [e["time"] for e in events if e["event"] == "migration" and e["instance"] == vm and e["target"] == target]
            assert any(bar["start"] <= moment <= bar["end"] for moment in done), (bar, done)


def job_rows(bed, jid):
    """Every step's row in the job's own return, as Salt's job cache keeps it."""
    rows, todo = [], [salt_run(bed, "jobs.lookup_jid", jid)]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            if "_|-" in " ".join(map(str, value)):
                rows += [r for v in value.values() if isinstance(v, dict) for r in (v.get("changes") or {}).get("timeline", [])]
            else:
                todo += value.values()
    return rows


def test_the_finished_run_does_what_the_plan_said_and_its_report_shows_it(bed, before):
    plan, since = before["plan"], time.time() - 3600
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=2400)
    assert code == 0, json.dumps(steps, indent=1)[-3000:]
    events = sorted(bed.events(since), key=lambda e: e["time"])
    # Instances moved, and where: the migrations while each node was drained.
    for node in GANETI:
        drained = [e["time"] for e in events if e["host"] == node and e["event"] in ("drain", "undrain")]
        moved = {
            e["instance"]: e["target"]
            for e in events
            if e["event"] == "migration"
            and PRIMARIES[e["instance"]] == node
            and e["target"] != node
            and drained[0] <= e["time"] <= drained[-1]
        }
        assert moved == plan["ganeti"]["nodes"][node]["moves"], node
    # Packages upgraded: exactly those the plan named, to the versions it named.
    for host in ALL:
        predicted = {**plan["ganeti"]["nodes"], **plan["services"]["nodes"]}[host]["packages"]
        now = installed(bed, host)
        changed = {p for p in set(now) | set(before["packages"][host]) if now.get(p) != before["packages"][host].get(p)}
        assert changed == set(predicted), host
        assert all(now.get(p, "") == change["new"] for p, change in predicted.items()), host
    # Files: the formula wrote exactly the files the plan named (a file written keeps a
    # backup; a new one has none but was not there before). gnt1's and gnt2's eventd defaults
    # were written twice (the failover, then the master's return): same text, two backups.
    for host in ALL:
        named = set({**plan["ganeti"]["nodes"], **plan["services"]["nodes"]}[host]["files"])
        after = etc_digests(bed, host)
        found = bed.sh(host, "cd /var/backups/synnefo_upgrade 2>/dev/null && find . -type f").stdout.split()
        # <backup dir>/<absolute path>.<YYYYmmddTHHMMSS>[.N]
        backups = {re.sub(r"\.\d{8}T\d{6}(\.\d+)?$", "", path[1:]) for path in found}
        changed = {path for path in named if after.get(path) != before["etc"][host].get(path)}
        assert backups and backups <= named and named <= backups | changed, (host, backups, named)
    # Each database migration where the plan said.
    applied = {e["service"]: e["host"] for e in events if e["event"] == "db-migrate" and e["applied"]}
    assert applied == plan["migrations"]
    # The IP history fixed from the changelog rebuilt from the logs, on the host the plan named.
    fixed = steps["synnefo-upgrade-orch-service-nodes-upgraded"]["changes"]["ip_history"]
    assert fixed["minion"] == plan["ip_history"]["minion"] and fixed["comment"].startswith("IP history fixed")
    # The report of this run: every host's steps in order, the API's downtime shaded.
    report = salt_run(bed, "synnefo_upgrade.report", f"path={bed.paths.shared}/finished.html")
    assert report["ok"] is True and report["failures"] == []
    for host in SERVICE_NODES:
        main = [s for s in report["hosts"][host] if s in ("download", "upgrade", "reboot", "check")]
        assert main == ["upgrade", "reboot", "check"], (host, report["hosts"][host])  # downloaded in the failed run
        # The upgrade job's parts (the services were stopped in the failed run already).
        assert {"dist-upgrade", "configuration"} <= set(report["parts"][host]), report["parts"][host]
    assert "database migration" in report["parts"]["cyclades1"]
    page, drawn = bars(report["path"])
    assert not [d for d in drawn if d[3]] and 'class="api-down"' in page
    assert 0 < report["api_down_seconds"] < 600
    for host in SERVICE_NODES:
        xs = [x for h, step, x, _ in drawn if h == host and step in ("upgrade", "reboot", "check")]
        assert xs == sorted(xs) and len(xs) == 3, host
    assert os.path.getsize(report["path"]) > 1000
