"""The whole upgrade through `salt-run state.orchestrate synnefo_upgrade.orch` on the default
test cluster (three Ganeti nodes, one astakos, one cyclades, one pithos node), with the test
bed's own pillar: the Ganeti nodes one at a time, then the service nodes together. Every
claim is checked from outside the formula: the hosts' packages and files, the running
services over HTTP, the shared Synnefo databases and the timeline."""

import json
import time

from testbed import packages, timeline
from tests.testbed.test_orchestration_ganeti import orchestrate

SERVICE_NODES = ("astakos1", "cyclades1", "pithos1")
ALL = ("gnt1", "gnt2", "gnt3") + SERVICE_NODES


def fingerprint(bed, host):
    return bed.sh(
        host,
        "dpkg-query -W | md5sum; find /etc/apt /etc/synnefo /etc/apache2 /etc/gunicorn.d /etc/default -type f "
        "2>/dev/null | sort | xargs md5sum | md5sum; ls /etc/apache2/sites-enabled 2>/dev/null; true",
    ).stdout


def test_the_dry_run_of_the_whole_upgrade_changes_nothing(bed):
    before = {h: fingerprint(bed, h) for h in ALL}
    events = len(timeline.read(bed.paths.shared))
    code, steps = orchestrate(bed, "test=True", sls="synnefo_upgrade.orch")
    assert code == 0, steps
    # The service phase comes after the Ganeti phase; its dry run predicts each node's
    # upgrade all the same.
    services = steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert services["result"] is None and "after the Ganeti phase (gnt1, gnt2, gnt3 still on wheezy)" in services["comment"]
    for host in SERVICE_NODES:
        snf_common = services["changes"][host]["packages"]["snf-common"]
        assert (snf_common["old"], snf_common["new"]) == (packages.SYNNEFO["wheezy"], packages.SYNNEFO["jessie"])
        assert snf_common["size"] > 0
    assert "/etc/apache2/sites-available/synnefo-ssl.conf" in services["changes"]["cyclades1"]["files"]
    assert services["changes"]["migrations"] == {"astakos": "astakos1", "cyclades": "cyclades1"}
    assert {h: fingerprint(bed, h) for h in ALL} == before
    assert len(timeline.read(bed.paths.shared)) == events


def test_preflight_warns_of_a_database_without_a_backup_command(bed):
    pillar = json.dumps({"synnefo_upgrade": {"databases": {"cyclades": {"backup": ""}}}})
    code, steps = orchestrate(bed, "test=True", f"pillar={pillar}", sls="synnefo_upgrade.orch.ganeti")
    assert code == 0
    comment = steps["synnefo-upgrade-orch-preflight-passed"]["comment"]
    assert "warning: no backup command for the cyclades database" in comment and "astakos database" not in comment


def test_the_service_phase_alone_is_refused_while_a_ganeti_node_is_on_wheezy(bed):
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch.services")
    assert code != 0
    refused = steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert refused["result"] is False and "gnt1, gnt2, gnt3 not on 0.19-1~jessie yet" in refused["comment"]


def with_changelog(bed):
    """An owner change of vm1 in a changelog on cyclades1, named in the test bed's pillar with
    apply: true (the master's pillar, which the minions read too)."""
    previous = "0000000f-0000-4000-8000-00000000000f"
    current = bed.sh(
        "cyclades1",
        "python3 -c \"import sqlite3; print(sqlite3.connect('/var/lib/synnefo-testbed/cyclades.sqlite3')"
        ".execute('SELECT userid FROM db_virtualmachine WHERE id = 1').fetchone()[0])\"",
    ).stdout.strip()
    bed.sh("cyclades1", f"printf '1|{previous}|{current}|2016-03-01 10:00:00\\n' > /root/owner-changes.log")
    bed.extend_pillar("  ip_history:\n    changelog: /root/owner-changes.log\n    apply: true\n")
    return previous


def ip_history(bed):
    rows = bed.sh(
        "cyclades1",
        "python3 -c \"import sqlite3; print(sqlite3.connect('/var/lib/synnefo-testbed/cyclades.sqlite3')"
        ".execute('SELECT user_id, action FROM db_ipaddresshistory WHERE server_id = 1 ORDER BY id').fetchall())\"",
    )
    return rows.stdout


def test_the_whole_upgrade(bed):
    since = time.time()
    previous = with_changelog(bed)
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=2400)
    services = steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert code == 0, json.dumps(steps, indent=1)[-4000:]
    events = sorted(bed.events(since), key=lambda e: e["time"])
    # Every host on jessie and 0.19, as the hosts themselves say; the report agrees.
    for host in ALL:
        assert bed.sh(host, "cat /etc/debian_version").stdout.startswith("8.")
        assert bed.version(host, "snf-common") == packages.SYNNEFO["jessie"]
    report = services["changes"]
    assert sorted(report["hosts"]) == list(SERVICE_NODES)
    assert report["hosts"]["cyclades1"] == {
        "codename_before": "wheezy",
        "codename_after": "jessie",
        "snf_common_before": packages.SYNNEFO["wheezy"],
        "snf_common_after": packages.SYNNEFO["jessie"],
        # Not Synnefo's: a version of its own, listed before and after, never checked.
        "own_versions_before": {"snf-vncauthproxy": "1.6-1~wheezy"},
        "own_versions_after": {"snf-vncauthproxy": "1.7-2~jessie"},
    }
    ganeti = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]["changes"]
    assert ganeti["gnt2"]["own_versions_before"]["snf-image"] == "0.21-1~wheezy"
    assert ganeti["gnt2"]["own_versions_after"]["snf-image"] == "0.21.1-1~jessie"
    assert ganeti["gnt2"]["own_versions_after"]["snf-ganeti"] == packages.GANETI["jessie"]
    # snf-ganeti-eventd down on every master candidate (every node here) before the first
    # service node's services stopped, and up again on each after the reboots.
    candidates = sorted(bed.sh("gnt1", "gnt-node list --no-headers -o name,master_candidate").stdout.replace(" Y", "").split())
    assert candidates == ["gnt1", "gnt2", "gnt3"]
    stopped = {e["host"]: e["time"] for e in events if e["event"] == "service-stop" and e.get("service") == "snf-ganeti-eventd"}
    first_gunicorn = min(e["time"] for e in events if e["event"] == "service-stop" and e.get("service") == "gunicorn")
    assert set(candidates) <= set(stopped) and all(stopped[n] < first_gunicorn for n in candidates), stopped
    assert all(bed.running(n, "snf-ganeti-eventd") for n in candidates)
    # Registered again from 0.19's export, as Astakos keeps it: the versionId kept, the URL without.
    with open(f"{bed.paths.shared}/synnefo/state.json") as handle:
        registry = json.load(handle)
    image = registry["components"]["cyclades"]["services"]["cyclades_plankton"]["endpoints"][0]
    assert image["versionId"] == "v1.0" and image["SNF:exposeVersion"] is False and not image["publicURL"].endswith("v1.0")
    assert report["migrations"] == {"astakos": "astakos1", "cyclades": "cyclades1"}
    assert any("Kamaki >= 0.15" in w for w in report["warnings"])
    # The IP history fixed from the changelog, after the cyclades migration, once: the past
    # owner has vm1's address back for the time before the change.
    assert report["steps"] == ["download", "ip-history-check", "rehearsal", "upgrade", "databases", "reboot", "check"]
    assert previous in ip_history(bed) and "disassociate" in ip_history(bed)
    assert report["ip_history"]["minion"] == "cyclades1" and report["ip_history"]["comment"].startswith("IP history fixed: 2 rows")
    assert bed.sh("cyclades1", 'grep -l \'"outcome": "fixed"\' /var/lib/synnefo_upgrade/ip_history/*.json').stdout.strip()
    # Each database migrated exactly once, on its named host; pithos has nothing to migrate.
    applied = [(e["host"], e["service"]) for e in events if e["event"] == "db-migrate" and e["applied"]]
    assert applied == [("astakos1", "astakos"), ("cyclades1", "cyclades")] or applied == [
        ("cyclades1", "cyclades"),
        ("astakos1", "astakos"),
    ]
    assert {e["host"] for e in events if e["event"] == "db-migrate"} <= {"astakos1", "cyclades1"}
    # gevent and greenlet at the pinned versions; gunicorn 19 in wsgi mode behind Apache 2.4,
    # which passes X-Forwarded-Proto.
    for host in SERVICE_NODES:
        assert bed.version(host, "python-gevent") == packages.GEVENT["jessie-backports"]
        assert bed.version(host, "python-greenlet") == packages.GREENLET["jessie-backports"]
        answer = json.loads(bed.get(host, "http://127.0.0.1:443/_testbed/"))
        assert answer["mode"] == "wsgi" and answer["gunicorn"] == "19.0" and answer["url_scheme"] == "https", answer
        assert bed.sh(host, "cat /etc/synnefo/99-synnefo-upgrade-allowed-hosts.conf").stdout.endswith(f"['{host}.example.org']\n")
        assert not bed.sh(host, "test -e /usr/sbin/policy-rc.d", check=False).returncode == 0
    # cyclades' own settings: the caches in Django's format, the FilterAllocator.
    backend = bed.sh("cyclades1", "cat /etc/synnefo/20-snf-cyclades-app-backend.conf").stdout
    assert "filter_allocator.FilterAllocator" in backend and "default_allocator" not in backend
    assert "VMAPI_CACHE" in bed.sh("cyclades1", "cat /etc/synnefo/99-cyclades-caches.conf").stdout
    # cyclades registered again: unversioned image, network and volume endpoints.
    with open(f"{bed.paths.shared}/synnefo/state.json") as handle:
        services_urls = [e["publicURL"] for s in json.load(handle)["components"]["cyclades"]["services"].values() for e in s["endpoints"]]
    assert "https://cyclades1.example.org/cyclades/image" in services_urls
    assert not [u for u in services_urls if u.endswith(("/image/v1.0", "/network/v2.0", "/volume/v2.0"))]
    # snf-ganeti-eventd runs on the Ganeti master; no VM went down; the services came back.
    master = bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip()
    assert bed.running(master, "snf-ganeti-eventd")
    assert not [e for e in events if e["event"] == "vm-outage"]
    assert bed.sh("gnt1", "gnt-cluster verify", check=False).returncode == 0
    # The API was down once: from the first gunicorn stop to the last gunicorn start, with no
    # download inside (every package fetched before the first stop).
    stops = [e["time"] for e in events if e["event"] == "service-stop" and e.get("service") == "gunicorn"]
    starts = [e["time"] for e in events if e["event"] == "service-start" and e.get("service") == "gunicorn"]
    assert stops and starts and max(starts) > min(stops)
    # The status runner says done everywhere.
    status = json.loads(bed.cli("salt-run", "synnefo_upgrade.status", "--out=json", check=True).stdout)
    assert {h: s["stage"] for h, s in status.items()} == {h: "done" for h in ALL}


def test_run_again_on_the_upgraded_cloud_changes_nothing(bed):
    since = time.time()
    before = {h: fingerprint(bed, h) for h in ALL}
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch")
    assert code == 0, steps
    assert "nothing to do" in steps["synnefo-upgrade-orch-service-nodes-upgraded"]["comment"]
    assert not [e for e in bed.events(since) if e["event"] in ("reboot", "drain", "db-migrate", "service-stop", "package-configured")]
    assert {h: fingerprint(bed, h) for h in ALL} == before
