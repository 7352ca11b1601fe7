"""Two Ganeti clusters side by side (topology clusters.yaml: alpha gnt1+gnt2, beta gnt3+gnt4):
the plan and the status name each node's cluster; a migration that fails in beta is undone
while alpha finishes its node and stops; a canary (stop_after: 1) upgrades one node of the
whole run; a maintenance window that closes during a node stops the run before the next;
the last run finishes both clusters and the service phase. A health gate and a webhook
(a small HTTP receiver beside the salt-master) all along; no VM ever goes down."""

import json
import os
import time

import pytest

from testbed import cluster, packages
from tests.testbed.test_orchestration_controls import hook  # noqa: F401 (a fixture)
from tests.testbed.test_orchestration_ganeti import orchestrate

TOPOLOGY = "clusters.yaml"
CLUSTERS = {"alpha": ("gnt1", "gnt2"), "beta": ("gnt3", "gnt4")}
PLACED = {"vm1": ("gnt1", "running"), "vm2": ("gnt2", "running"), "vm3": ("gnt3", "running"), "vm4": ("gnt4", "running")}
GATE = {"passes": 1, "interval": 1, "timeout": 120}
GANETI, SERVICES = "synnefo-upgrade-orch-ganeti-nodes-upgraded", "synnefo-upgrade-orch-service-nodes-upgraded"
STARTED = time.time()


def pillar(**orchestration):
    return "pillar=" + json.dumps({"synnefo_upgrade": {"orchestration": dict(orchestration, parallel_clusters=2, health_gate=GATE)}})


def placed(bed):
    found = {}
    for master in ("gnt1", "gnt3"):
        found.update(bed.gnt_list(master, "instance", "name,pnode,status"))
    return found


def masters(bed):
    return [bed.sh(node, "gnt-cluster getmaster").stdout.strip() for node in ("gnt2", "gnt4")]


def drained(bed):
    """``{node: (drained, the progress tags of an unfinished upgrade)}`` in both clusters."""
    progress = (":stage:", ":since:", ":failed:", ":vm:", ":stopped:", ":down:", ":shut-down:")
    found = {}
    for master in ("gnt1", "gnt3"):
        for node, info in bed.gnt_list(master, "node", "name,drained,tags").items():
            found[node] = (info[0], [t for t in info[1].split(",") if any(p in t for p in progress)])
    return found


def versions(bed):
    return {h: bed.version(h, "snf-common") for h in ("gnt1", "gnt2", "gnt3", "gnt4", "web1")}


def told(messages, since):
    return [(m.get("cluster"), m["node"], m["step"], m["outcome"]) for m in messages()[since:]]


def test_the_plan_and_the_status_name_each_nodes_cluster(bed):
    bed.cli("salt-run", "saltutil.sync_all", check=True)
    text = bed.cli("salt-run", "synnefo_upgrade.plan", pillar(), check=True, timeout=900).stdout
    ganeti = text.split("2. Service nodes")[0]
    assert "1. Ganeti clusters side by side" in ganeti, text
    alpha, beta = ganeti.split("cluster alpha (master gnt1):")[1].split("cluster beta (master gnt3):")
    assert "order: gnt2, gnt1:" in alpha and "after a master failover to gnt2" in alpha and "live-migrate vm2 to gnt1" in alpha
    assert "order: gnt4, gnt3:" in beta and "after a master failover to gnt4" in beta and "live-migrate vm4 to gnt3" in beta
    status = json.loads(bed.cli("salt-run", "synnefo_upgrade.status", "--out=json", check=True).stdout)
    assert {h: status[h].get("cluster") for h in status} == {
        "gnt1": "alpha",
        "gnt2": "alpha",
        "gnt3": "beta",
        "gnt4": "beta",
        "web1": None,
    }


def test_a_failing_migration_in_one_cluster_is_undone_while_the_other_finishes_its_node(bed, hook):  # noqa: F811
    url, messages = hook
    # beta's first node is gnt4; vm4 will not leave it. alpha's gnt2 is under way meanwhile.
    bed.cli("fault", "add", "refuse-migration", "vm4", check=True)
    try:
        code, steps = orchestrate(bed, pillar(notify={"webhook": url}), timeout=1800)
    finally:
        bed.cli("fault", "clear", "refuse-migration", "vm4", check=True)
    step = steps[GANETI]
    assert code != 0 and step["result"] is False
    clusters = step["changes"]["clusters"]
    assert clusters["beta"]["result"] is False and clusters["beta"]["comment"].startswith("gnt4: step 'drain' failed")
    assert "undone, the node as it was before this run: undrain gnt4" in clusters["beta"]["comment"]
    assert clusters["alpha"]["result"] is True, clusters["alpha"]["comment"]
    assert clusters["alpha"]["comment"].startswith("stopped before gnt1: Ganeti cluster beta failed"), clusters["alpha"]["comment"]
    assert step["comment"].splitlines()[0].startswith("cluster alpha: stopped before gnt1")
    assert versions(bed)["gnt2"] == packages.SYNNEFO["jessie"]
    assert [versions(bed)[h] for h in ("gnt1", "gnt3", "gnt4")] == [packages.SYNNEFO["wheezy"]] * 3
    assert placed(bed) == PLACED and masters(bed) == ["gnt1", "gnt3"]
    assert drained(bed) == {n: ("N", []) for n in ("gnt1", "gnt2", "gnt3", "gnt4")}
    heard = told(messages, 0)
    assert ("alpha", "gnt2", "node", "started") in heard and ("alpha", "gnt2", "node", "done") in heard
    assert ("beta", "gnt4", "node", "started") in heard and ("beta", "gnt4", "drain", "failed") in heard
    assert ("alpha", "gnt1", "run", "stopped") in heard
    report = json.loads(bed.cli("salt-run", "synnefo_upgrade.report", "--out=json", check=True, timeout=300).stdout)
    with open(report["path"]) as handle:
        page = handle.read()
    assert page.count('<tr class="cluster">') == 2 and ">cluster alpha</text>" in page and ">cluster beta</text>" in page
    assert "cluster alpha: stopped before gnt1 (Ganeti cluster beta failed)" in page


def test_a_canary_upgrades_one_node_of_the_whole_run(bed, hook):  # noqa: F811
    url, messages = hook
    heard = len(messages())
    code, steps = orchestrate(bed, pillar(stop_after=1, notify={"webhook": url}), sls="synnefo_upgrade.orch", timeout=1800)
    ganeti, services = steps[GANETI], steps[SERVICES]
    assert code == 0, (ganeti["comment"], services["comment"])
    clusters = ganeti["changes"]["clusters"]
    # The run's one node goes to alpha (by name): its master, after a failover to gnt2 and back.
    assert clusters["alpha"]["comment"].startswith("Ganeti nodes upgraded, one at a time: gnt1"), clusters["alpha"]["comment"]
    assert clusters["beta"]["comment"].startswith("stopped as asked (stop_after: 1) after no node; next: gnt4")
    assert services["comment"].startswith("not started: the Ganeti phase stopped as asked")
    assert [versions(bed)[h] for h in ("gnt1", "gnt2")] == [packages.SYNNEFO["jessie"]] * 2
    assert [versions(bed)[h] for h in ("gnt3", "gnt4", "web1")] == [packages.SYNNEFO["wheezy"]] * 3
    assert placed(bed) == PLACED and masters(bed) == ["gnt1", "gnt3"]
    assert sorted(told(messages, heard)) == [
        ("alpha", "gnt1", "node", "done"),
        ("alpha", "gnt1", "node", "started"),
        ("beta", "gnt4", "run", "stopped"),
    ]


def test_a_window_that_closes_during_a_node_stops_the_run_before_the_next(bed):
    # The window closes at a minute boundary 60 to 120 s away: beta's gnt4 fits at first
    # (node_minutes 0.05: 3 s), takes longer than what is left (vm4 migrates 16 s each way),
    # and gnt3 then does not fit.
    now = time.time()
    closes = now - now % 60 + 120
    window = {
        "start": time.strftime("%H:%M", time.gmtime(closes - 3600)),
        "end": time.strftime("%H:%M", time.gmtime(closes)),
        "timezone": "UTC",
        "node_minutes": 0.05,
    }
    code, steps = orchestrate(bed, pillar(window=window), timeout=1800)
    step = steps[GANETI]
    assert code == 0 and step["result"] is True, step["comment"]
    beta = step["changes"]["clusters"]["beta"]
    assert beta["comment"].startswith("stopped before gnt3: the maintenance window closes at") or beta["comment"].startswith(
        "stopped before gnt3: outside the maintenance window"
    ), beta["comment"]
    assert beta["stopped"]["after"] == ["gnt4"]
    assert versions(bed)["gnt4"] == packages.SYNNEFO["jessie"] and versions(bed)["gnt3"] == packages.SYNNEFO["wheezy"]
    assert placed(bed) == PLACED and masters(bed) == ["gnt1", "gnt3"]


def reactor(bed, url):
    """The formula's reactor example on the salt-master (README: "Be told"), posting to ``url``."""
    os.makedirs(os.path.join(bed.paths.master_conf, "master.d"), exist_ok=True)
    with open(os.path.join(bed.paths.master_conf, "master.d", "reactor.conf"), "w") as handle:
        json.dump(
            {"reactor": [{"synnefo_upgrade/*": ["salt://synnefo_upgrade/reactor/notify.sls"]}], "synnefo_upgrade_notify_webhook": url},
            handle,
        )
    cluster.restart_master()
    for host in ("gnt1", "gnt2", "gnt3", "gnt4", "web1"):
        bed.wait_ping(host)


def test_the_next_run_finishes_both_clusters_and_the_services_with_no_vm_down(bed, hook):  # noqa: F811
    url, messages = hook
    heard = len(messages())
    # This run tells the webhook through the master's reactor, from the progress events.
    reactor(bed, url)
    code, steps = orchestrate(bed, pillar(), sls="synnefo_upgrade.orch", timeout=2400)
    assert code == 0, (steps[GANETI]["comment"], steps[SERVICES]["comment"])
    assert steps[GANETI]["changes"]["clusters"]["beta"]["comment"].startswith("Ganeti nodes upgraded, one at a time: gnt3")
    assert set(versions(bed).values()) == {packages.SYNNEFO["jessie"]}
    assert placed(bed) == PLACED and masters(bed) == ["gnt1", "gnt3"]
    assert drained(bed) == {n: ("N", []) for n in ("gnt1", "gnt2", "gnt3", "gnt4")}
    assert not bed.events(STARTED, event="vm-outage")
    migrations = [e for e in bed.events(STARTED, event="migration")]
    assert {e["instance"] for e in migrations} == {"vm1", "vm2", "vm3", "vm4"}
    # The service phase stops snf-ganeti-eventd on both clusters' masters, and starts it again.
    began = min(e["start"] for e in steps[SERVICES]["changes"]["timeline"])
    eventd = [(e["host"], e["event"]) for e in bed.events(began) if e.get("service") == "snf-ganeti-eventd"]
    assert {("gnt1", "service-stop"), ("gnt3", "service-stop"), ("gnt1", "service-start"), ("gnt3", "service-start")} <= set(eventd)
    wanted = {("beta", "gnt3", "node", "started"), ("beta", "gnt3", "node", "done"), (None, "services", "phase", "done")}
    deadline = time.time() + 60  # the reactor posts on its own time
    while not wanted <= set(told(messages, heard)) and time.time() < deadline:
        time.sleep(1)
    assert wanted <= set(told(messages, heard)), told(messages, heard)
    assert all("_stamp" in m for m in messages()[heard:])  # the events' own data, as the reactor sees it


@pytest.fixture(autouse=True)
def _no_outage(bed):
    yield
    assert not bed.events(STARTED, event="vm-outage")
