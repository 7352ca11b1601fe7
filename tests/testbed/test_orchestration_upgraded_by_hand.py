"""A Ganeti node's own upgrade never takes its VMs down: a per-node highstate on a node that
still runs instances is refused before anything stops; a node an operator upgraded by hand
(its VMs still on it, not rebooted yet) has them moved away by the orchestration before its
reboot, as on every other path."""

import time

from testbed import packages
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "small.yaml"
BY_HAND = (
    "set -e\n"
    "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d\n"
    "apt-mark hold salt-minion >/dev/null\n"
    "sed -i 's/wheezy/jessie/g' /etc/apt/sources.list /etc/apt/sources.list.d/*.list\n"
    "apt-get update -q >/dev/null\n"
    "DEBIAN_FRONTEND=noninteractive apt-get dist-upgrade -y -q -o Dpkg::Options::=--force-confold >/dev/null\n"
    "apt-mark unhold salt-minion >/dev/null\n"
    "rm /usr/sbin/policy-rc.d\n"
)


def placement(bed):
    placed = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    return dict(zip(placed[0::3], zip(placed[1::3], placed[2::3])))


def test_a_highstate_on_a_node_that_runs_instances_is_refused(bed):
    since = time.time()
    returned = bed.salt("gnt2", "state.sls", "synnefo_upgrade.apt.dist_upgrade", timeout=900)["gnt2"]
    guard = next(r for key, r in returned.items() if "ganeti-node-runs-no-primary" in key)
    assert guard["result"] is False and "gnt2 is the primary of running vm2" in guard["comment"], guard
    assert "synnefo_upgrade.orch" in guard["comment"]
    assert bed.version("gnt2", "snf-common") == packages.SYNNEFO["wheezy"] and bed.running("gnt2", "archipelago")
    assert placement(bed)["vm2"] == ("gnt2", "running")
    assert not bed.events(since, event="vm-outage") and not bed.events(since, event="service-stop", host="gnt2")


def test_a_node_upgraded_by_hand_but_not_rebooted_is_drained_before_its_reboot(bed):
    bed.sh("gnt2", BY_HAND)
    assert bed.version("gnt2", "snf-common") == packages.SYNNEFO["jessie"]
    assert placement(bed)["vm2"] == ("gnt2", "running")
    since = time.time()
    code, steps = orchestrate(bed, sls="synnefo_upgrade.orch.ganeti")
    assert code == 0, steps
    assert steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]["changes"]["gnt2"]["steps"] == ["drain", "reboot", "restore"]
    events = sorted(bed.events(since), key=lambda e: e["time"])
    assert not [e for e in events if e["event"] == "vm-outage"], [e for e in events if e["event"] == "vm-outage"]
    drained = min(e["time"] for e in events if e["event"] == "drain" and e["host"] == "gnt2")
    rebooted = min(e["time"] for e in events if e["event"] == "reboot" and e["host"] == "gnt2")
    assert drained < rebooted
    assert placement(bed) == {"vm1": ("gnt1", "running"), "vm2": ("gnt2", "running")}
