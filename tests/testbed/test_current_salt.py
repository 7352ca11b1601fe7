"""The per-minion highstate on today's Salt too (3008 on the machine's Python 3): the formula
supports the whole range from 2019.2 on Python 2.7, which the other test-bed tests run."""

import json

from tests.testbed.test_faults import (  # noqa: F401 - collected and run here on Salt 3008
    test_highstate_refuses_a_host_not_on_the_version_the_upgrade_starts_from,
    test_highstate_upgrades_a_service_node_that_then_boots_into_019,
)

TOPOLOGY = "small-current.yaml"


def test_the_master_and_minions_run_todays_salt_on_python_3(bed):
    reports = bed.salt("*", "test.versions")
    assert sorted(reports) == ["gnt1", "gnt2", "web1"]
    for report in reports.values():
        assert "Salt: 3008." in report and "Python: 3." in report
    master = bed.cli("salt-run", "--versions-report", check=True).stdout
    assert "Salt: 3008." in master
    assert json.loads(bed.cli("status", check=True).stdout)["salt"] == "current"


def test_the_plan_and_the_report_run_on_todays_salt_too(bed):
    from tests.testbed.test_orchestration_ganeti import orchestrate

    bed.cli("salt-run", "saltutil.sync_all", check=True)
    plan = json.loads(bed.cli("salt-run", "synnefo_upgrade.plan", "--out=json", check=True, timeout=900).stdout)
    assert plan["refused"] == [] and plan["ganeti"]["order"] == ["gnt2", "gnt1"]
    assert plan["ganeti"]["nodes"]["gnt2"]["moves"] == {"vm2": "gnt1"}
    text = bed.cli("salt-run", "synnefo_upgrade.plan", check=True, timeout=900).stdout
    assert "1. Ganeti nodes, one at a time" in text and "live-migrate vm2 to gnt1" in text
    code, steps = orchestrate(bed)
    assert code == 0, steps
    report = json.loads(bed.cli("salt-run", "synnefo_upgrade.report", "--out=json", check=True).stdout)
    assert report["ok"] is True
    assert report["hosts"]["gnt2"] == ["download", "drain", "upgrade", "reboot", "restore"]
    assert report["hosts"]["gnt1"] == ["master-failover", "download", "drain", "upgrade", "reboot", "restore"]
