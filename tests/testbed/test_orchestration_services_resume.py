"""Service nodes carrying several roles (astakos and cyclades on web1, a second cyclades host):
a settings file the rehearsal finds broken stops the run before any service stops; a failure
injected into the cyclades database migration stops the run before any service node reboots,
with no policy-rc.d guard left; once the fault is gone a second run finishes, and each
database was migrated exactly once, on web1 only."""

import json
import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "services-multi.yaml"
SERVICE_NODES = ("web1", "cyc2", "pithos1")


BROKEN = "/etc/synnefo/20-snf-cyclades-app-api.conf"


def test_what_fails_in_the_rehearsal_fails_with_the_api_up(bed):
    """A settings file Python cannot read on cyc2: the dry run of the per-node upgrade finds it
    before any service stops (without the rehearsal the run stopped every service first)."""
    since = time.time()
    original = bed.sh("cyc2", f"cat {BROKEN}").stdout
    bed.sh("cyc2", f'printf "CACHE_BACKEND = \'memcached://\\n" >> {BROKEN}')
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=2400)
    assert code != 0 and steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]["result"] is True
    failed = steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert "step 'rehearsal' failed" in failed["comment"] and "cyc2" in failed["comment"] and BROKEN in failed["comment"], failed
    assert "nothing was stopped: the API is up" in failed["comment"]
    assert [e for e in bed.events(since) if e["event"] == "service-stop" and e["host"] in SERVICE_NODES] == []
    assert bed.running("gnt1", "snf-ganeti-eventd")  # on the master: the service phase never stopped it
    for host in SERVICE_NODES:
        assert bed.running(host, "gunicorn") and bed.version(host, "snf-common") == packages.SYNNEFO["wheezy"], host
    bed.sh("cyc2", f"cat > {BROKEN} <<'EOF'\n{original}EOF")


def test_a_failed_migration_stops_before_the_reboots_and_a_second_run_finishes(bed):
    since = time.time()
    bed.cli("fault", "add", "fail-db-migrate", "cyclades", check=True)
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=2400)
    assert code != 0
    assert steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]["result"] is True
    failed = steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert failed["result"] is False
    # The databases' step, after every node's upgrade and before the reboots.
    assert "step 'databases' failed" in failed["comment"] and "web1" in failed["comment"] and "injected fault" in failed["comment"]
    events = bed.events(since)
    assert not [e for e in events if e["event"] == "reboot" and e["host"] in SERVICE_NODES]
    for host in SERVICE_NODES:
        assert bed.sh(host, "test -e /usr/sbin/policy-rc.d", check=False).returncode != 0, host
        assert not bed.running(host, "gunicorn")
    status = json.loads(bed.cli("salt-run", "synnefo_upgrade.status", "--out=json", check=True).stdout)
    assert status["web1"]["stage"] == "failed" and "databases" in status["web1"]["error"]

    bed.cli("fault", "clear", "fail-db-migrate", "cyclades", check=True)
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch", timeout=2400)
    assert code == 0, json.dumps(steps, indent=1)[-3000:]
    events = bed.events(since)
    applied = sorted((e["service"], e["host"]) for e in events if e["event"] == "db-migrate" and e["applied"])
    assert applied == [("astakos", "web1"), ("cyclades", "web1")]
    assert {e["host"] for e in events if e["event"] == "db-migrate"} == {"web1"}
    for host in SERVICE_NODES:
        assert bed.version(host, "snf-common") == packages.SYNNEFO["jessie"]
        assert len([e for e in events if e["event"] == "reboot" and e["host"] == host]) == 1
    assert not [e for e in events if e["event"] == "vm-outage"]
    report = steps["synnefo-upgrade-orch-service-nodes-upgraded"]["changes"]
    assert report["migrations"] == {"astakos": "web1", "cyclades": "web1"}
