"""Preflight refuses a cloud it cannot upgrade without VM downtime, before any change."""

import json

from tests.testbed.test_orchestration_ganeti import fingerprint, ganeti_state

TOPOLOGY = "tight.yaml"


def test_preflight_refuses_when_a_nodes_vms_do_not_fit_elsewhere_and_changes_nothing(bed):
    before = {h: fingerprint(bed, h) for h in ("gnt1", "gnt2", "web1")}
    cluster = ganeti_state(bed)
    bed.cli("salt-run", "saltutil.sync_all", check=True)
    result = bed.cli("salt-run", "state.orchestrate", "synnefo_upgrade.orch.ganeti", "--out=json", timeout=600)
    assert result.returncode != 0
    (steps,) = json.loads(result.stdout)["data"].values()
    (preflight,) = [v for k, v in steps.items() if "preflight-passed" in k]
    assert preflight["result"] is False
    # gnt1 holds 6144 MiB of VMs; gnt2 has 6144 - 1024 = 5120 MiB free: vm2 is 1024 MiB short.
    assert "gnt1: its VMs do not fit on the other nodes while it is drained: 1024 MiB missing" in preflight["comment"]
    assert "gnt2:" not in preflight["comment"]
    assert not [v for k, v in steps.items() if "nodes-upgraded" in k and v["result"] is not False]
    assert {h: fingerprint(bed, h) for h in ("gnt1", "gnt2", "web1")} == before
    assert ganeti_state(bed) == cluster
