"""Faults on demand, the minion's start event, master failover and download-only, on a
small cluster (tests/testbed/topologies/small.yaml). File order matters: the last test
leaves gnt2 down."""

import time

import pytest

from testbed import cluster, packages

pytestmark = pytest.mark.testbed
TOPOLOGY = "small.yaml"


def test_a_failing_migration_job_leaves_the_vm_where_it_was(bed):
    since = time.time()
    assert bed.cli("fault", "add", "fail-migration", "vm1").returncode == 0
    failed = bed.sh("gnt1", "gnt-instance migrate -f -n gnt2 vm1", check=False)
    assert failed.returncode == 1 and "injected fault" in failed.stderr
    assert "vm1 gnt1 running" in bed.sh("gnt1", "gnt-instance list --no-headers").stdout
    assert bed.events(since, event="migration-failed", instance="vm1")
    bed.sh("gnt1", "gnt-instance migrate -f -n gnt2 vm1")  # the fault strikes once
    bed.sh("gnt1", "gnt-instance migrate -f -n gnt1 vm1")
    assert not bed.events(since, event="vm-outage")


def test_a_service_that_refuses_to_stop(bed):
    bed.cli("fault", "add", "refuse-stop", "web1", "gunicorn")
    began = time.time()
    refused = bed.sh("web1", "service gunicorn stop", check=False)
    assert refused.returncode == 1 and time.time() - began >= 4
    assert bed.running("web1", "gunicorn")
    assert bed.events(began, event="service-stop-failed", host="web1", service="gunicorn")
    bed.cli("fault", "clear", "refuse-stop", "web1", "gunicorn")
    bed.sh("web1", "service gunicorn stop && service gunicorn start")


def test_the_minion_fires_its_start_event_after_a_reboot(bed):
    with bed.master_events("web1") as wait:  # only events from when it listens are seen
        bed.salt("web1", "system.reboot", timeout=20)
        assert wait("salt/minion/web1/start")
    bed.wait_ping("web1")


def test_master_failover_moves_the_master_role(bed):
    since = time.time()
    refused = bed.sh("gnt1", "gnt-cluster master-failover", check=False)
    assert refused.returncode == 1 and "already the master" in refused.stderr
    assert bed.sh("gnt1", "gnt-cluster verify").returncode == 0
    bed.sh("gnt2", "gnt-cluster master-failover")
    assert bed.sh("gnt1", "gnt-cluster getmaster").stdout == "gnt2\n"
    # Ganeti's verify knows nothing of snf-ganeti-eventd (lib/cmdlib/cluster.py): the
    # formula follows it itself.
    assert bed.sh("gnt2", "gnt-cluster verify", check=False).returncode == 0
    assert "not the master node" in bed.sh("gnt1", "gnt-node modify --drained=yes gnt1", check=False).stderr
    assert bed.events(since, event="master-failover", old="gnt1", new="gnt2")
    bed.sh("gnt1", "gnt-cluster master-failover")
    assert bed.sh("gnt2", "gnt-cluster getmaster").stdout == "gnt1\n"


def test_download_only_fetches_and_installs_nothing(bed):
    host = "web1"
    bed.state(host, "apt_jessie.sources_switched", name="/etc/apt")
    result = bed.state(host, "apt_jessie.dist_upgraded", name="upgrade", download_only=True)
    assert result["result"] is True, result["comment"]
    assert result["changes"]["snf-astakos-app"] == {
        "old": packages.SYNNEFO["wheezy"],
        "new": packages.SYNNEFO["jessie"],
        "downloaded": True,
    }
    assert bed.version(host, "snf-astakos-app") == packages.SYNNEFO["wheezy"]
    assert bed.sh(host, "dpkg --audit").stdout == ""


def test_an_unreachable_source_stops_the_upgrade_before_anything_is_installed(bed):
    host = "web1"
    bed.sh(host, "echo 'deb [trusted=yes] file:/srv/testbed-apt/gone jessie main' > /etc/apt/sources.list.d/gone.list")
    try:
        result = bed.state(host, "apt_jessie.dist_upgraded", name="upgrade")
        assert result["result"] is False and "apt-get update failed" in result["comment"], result["comment"]
        assert "gone" in result["comment"]
        assert bed.version(host, "snf-astakos-app") == packages.SYNNEFO["wheezy"]
    finally:
        bed.sh(host, "rm /etc/apt/sources.list.d/gone.list")


def test_formula_steps_publish_their_results_to_the_master(bed):
    with bed.master_events("web1") as wait:
        bed.salt("web1", "state.apply", "synnefo_upgrade.gunicorn.wsgi", "test=True")
        event = wait("/web1/synnefo_upgrade/gunicorn.wsgi")
    assert event.startswith("salt/state_result/")
    assert "would be switched to wsgi mode" in event


def test_highstate_refuses_a_host_not_on_the_version_the_upgrade_starts_from(bed):
    host = "web1"
    before = bed.sh(host, "dpkg-query -W | md5sum; find /etc/apt /etc/gunicorn.d -type f | sort | xargs md5sum | md5sum").stdout
    pillar = '{"synnefo_upgrade": {"from_version": "0.18.0-1~wheezy"}}'
    results = bed.salt(host, "state.apply", "synnefo_upgrade", f"pillar={pillar}", timeout=120)[host]
    (refusal,) = results.values()
    assert refusal["result"] is False
    assert "snf-common 0.18.1-1~wheezy is installed" in refusal["comment"] and "starts from 0.18.0-1~wheezy only" in refusal["comment"]
    assert bed.sh(host, "dpkg-query -W | md5sum; find /etc/apt /etc/gunicorn.d -type f | sort | xargs md5sum | md5sum").stdout == before


def test_highstate_upgrades_a_service_node_that_then_boots_into_019(bed):
    """init.sls for real on web1 (astakos and cms roles), then the guide's reboot."""
    host = "web1"
    began = time.time()
    results = bed.salt(host, "state.apply", "synnefo_upgrade", timeout=300)[host]
    assert {k.split("_|-")[1]: v["comment"] for k, v in results.items() if v["result"] is not True} == {}
    steps = {k.split("_|-")[1] for k in results}
    assert {
        "synnefo-upgrade-services-gunicorn-stopped",
        "synnefo-upgrade-apt-policy-rc-d-keeps-services-down",
        "synnefo-upgrade-gunicorn-config-wsgi-mode",
        "synnefo-upgrade-apache-sites-renamed-and-proto-header-set",
        "synnefo-upgrade-apache-config-tested",
        "synnefo-upgrade-settings-allowed-hosts-set",
        "synnefo-upgrade-databases-backed-up-and-migrated-once",
        "synnefo-upgrade-astakos-cyclades-registered-again",
    } <= steps
    assert bed.version(host, "snf-astakos-app") == packages.SYNNEFO["jessie"]
    assert bed.version(host, "python-gevent") == packages.GEVENT["jessie-backports"]
    assert not bed.running(host, "gunicorn")
    assert bed.sh(host, "test -e /usr/sbin/policy-rc.d", check=False).returncode != 0
    since = time.time()
    bed.sh(host, "reboot", check=False)
    assert bed.wait_event(since=since, event="boot", host=host)[0]["init"] == "systemd"
    bed.wait_event(since=since, event="booted", host=host)
    bed.wait_ping(host)
    answer = bed.get(host, "http://127.0.0.1:8080/_testbed/")
    assert '"synnefo": "0.19-1~jessie"' in answer and '"mode": "wsgi"' in answer and '"gunicorn": "19.0"' in answer
    # Apache 2.4 loads the renamed sites, and its proxy header makes gunicorn 19 see https.
    assert sorted(bed.sh(host, "cat /run/apache2/sites-loaded").stdout.split()) == [
        "/etc/apache2/sites-enabled/synnefo-ssl.conf",
        "/etc/apache2/sites-enabled/synnefo.conf",
    ]
    proxied = bed.get(host, "http://127.0.0.1:443/_testbed/")
    assert '"url_scheme": "https"' in proxied and '"synnefo": "0.19-1~jessie"' in proxied
    assert "Syntax OK" in bed.sh(host, "apache2ctl configtest").stderr
    # The test bed's pillar gives web1 its ALLOWED_HOSTS, names it for the astakos
    # migration and cyclades' registration (the only astakos host).
    assert "ALLOWED_HOSTS = ['web1.example.org']" in bed.sh(host, "cat /etc/synnefo/99-synnefo-upgrade-allowed-hosts.conf").stdout
    assert [(e["host"], e["service"], e["applied"]) for e in bed.events(began, event="db-migrate")] == [("web1", "astakos", True)]
    assert bed.sh(host, "test -s /var/backups/synnefo-state-0.18.1.json", check=False).returncode == 0
    # Applied again on 0.19: the one-shot steps are gone and nothing changes.
    again = bed.salt(host, "state.apply", "synnefo_upgrade", timeout=300)[host]
    assert {k.split("_|-")[1]: (v["result"], v["comment"]) for k, v in again.items() if v["result"] is not True or v["changes"]} == {}
    assert not {"synnefo-upgrade-services-gunicorn-stopped"} & {k.split("_|-")[1] for k in again}
    assert bed.running(host, "gunicorn")


def test_a_host_that_does_not_come_back_after_its_reboot(bed):
    since = time.time()
    bed.cli("fault", "add", "no-return", "gnt2")
    bed.sh("gnt2", "reboot", check=False)
    bed.wait_event(since=since, event="stays-down", host="gnt2")
    outage = bed.wait_event(since=since, event="vm-outage", instance="vm2")
    assert outage and not bed.events(since, event="vm-restored", instance="vm2")
    assert bed.cli("exec", "gnt2", "--", "true").returncode == 1
    verify = bed.sh("gnt1", "gnt-cluster verify", check=False)
    assert verify.returncode == 1 and "ERROR: node gnt2: while contacting node" in verify.stdout
    assert "ERROR: instance vm2: instance not running on its primary node gnt2" in verify.stdout
    assert bed.salt("gnt2", "test.ping", timeout=5).get("gnt2") is not True
    assert cluster.host("gnt2").pid1() is None
