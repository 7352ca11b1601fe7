"""The orchestration's Ganeti phase on the default test cluster (three Ganeti nodes, the
master gnt1 first in name order, so it goes last after a failover), through a real
salt-master's `salt-run state.orchestrate`, on Salt 2019.2."""

import json
import time

from testbed import packages, timeline

NODES = ("gnt1", "gnt2", "gnt3")
PRIMARIES = {"vm1": "gnt1", "vm2": "gnt1", "vm3": "gnt2", "vm4": "gnt2", "vm5": "gnt3", "vm6": "gnt3"}


def orchestrate(bed, *args, timeout=1200, sls="synnefo_upgrade.orch.ganeti"):
    bed.cli("salt-run", "saltutil.sync_all", check=True)
    result = bed.cli("salt-run", "state.orchestrate", sls, "--out=json", *args, timeout=timeout)
    try:
        returned = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"salt-run state.orchestrate {sls}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}") from exc
    (steps,) = returned["data"].values()
    return result.returncode, {key.split("_|-")[1]: value for key, value in steps.items()}


def ganeti_state(bed):
    return bed.sh(
        "gnt1", "gnt-node list -o name,drained,pinst_list,tags; gnt-instance list -o name,pnode,status; gnt-cluster getmaster"
    ).stdout


def fingerprint(bed, host):
    return bed.sh(host, "dpkg-query -W | md5sum; find /etc/apt /etc/default -type f | sort | xargs md5sum | md5sum").stdout


def test_the_dry_run_names_each_nodes_moves_files_and_packages_and_changes_nothing(bed):
    before = {h: fingerprint(bed, h) for h in NODES}
    cluster, events = ganeti_state(bed), len(timeline.read(bed.paths.shared))
    code, steps = orchestrate(bed, "test=True")
    assert code == 0
    assert steps["synnefo-upgrade-orch-preflight-passed"]["result"] is True
    plan = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert plan["result"] is None
    assert plan["comment"].splitlines()[1:] and [line.split(":")[0] for line in plan["comment"].splitlines()[1:]] == [
        "gnt2",
        "gnt3",
        "gnt1",
    ]
    for node in NODES:
        predicted = plan["changes"][node]
        assert sorted(predicted["moves"]) == sorted(vm for vm, home in PRIMARIES.items() if home == node)
        assert all(target != node for target in predicted["moves"].values())
        assert "/etc/apt/sources.list" in predicted["files"]
        snf_common = predicted["packages"]["snf-common"]
        assert (snf_common["old"], snf_common["new"]) == (packages.SYNNEFO["wheezy"], packages.SYNNEFO["jessie"])
        assert snf_common["size"] > 0 and predicted["download_bytes"] >= snf_common["size"]
    assert {h: fingerprint(bed, h) for h in NODES} == before
    assert ganeti_state(bed) == cluster
    assert len(timeline.read(bed.paths.shared)) == events


def test_the_ganeti_nodes_are_upgraded_one_at_a_time_with_no_vm_downtime(bed):
    since = time.time()
    service_nodes = {h: fingerprint(bed, h) for h in ("astakos1", "cyclades1", "pithos1")}
    with bed.master_events("astakos1") as wait:
        code, steps = orchestrate(bed)
        # Every step of every node is announced on the master's bus with its outcome.
        for node in NODES:
            for step in ("download", "drain", "upgrade", "reboot", "restore"):
                line = wait(f"synnefo_upgrade/ganeti/{node}/{step}", timeout=5)
                assert f'"step": "{step}"' in line and f'"node": "{node}"' in line
        assert "gnt2" in wait("synnefo_upgrade/ganeti/gnt2/master-failover", timeout=5)
    assert code == 0, steps
    done = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert done["result"] is True and sorted(done["changes"]) == ["clusters", "gnt1", "gnt2", "gnt3", "timeline"]
    for node in NODES:
        assert bed.version(node, "snf-common") == packages.SYNNEFO["jessie"]
        assert bed.sh(node, "grep -c jessie /etc/apt/sources.list").stdout.strip() != "0"
        # The report: each node's steps, and its codename and Synnefo before and after.
        failover = ["master-failover"] if node == "gnt1" else []
        # A half-upgraded cluster's verify: Ganeti's version differs between the jessie nodes
        # and the wheezy master (a warning), tolerated and named; none once all are on jessie.
        tolerated = done["changes"][node].pop("verify_tolerated", [])
        if node == "gnt1":
            assert tolerated == []
        else:
            assert tolerated and all("software version mismatch: master 2.10.7, node 2.10.7.1" in t for t in tolerated), tolerated
            assert any(f"node {node}:" in t for t in tolerated)
        assert done["changes"][node] == {
            "steps": failover + ["download", "drain", "upgrade", "reboot", "restore"],
            "codename_before": "wheezy",
            "codename_after": "jessie",
            "snf_common_before": packages.SYNNEFO["wheezy"],
            "snf_common_after": packages.SYNNEFO["jessie"],
            # The snf-* packages that are not Synnefo's, at versions of their own.
            "own_versions_before": {p: packages.OWN_VERSIONS[p]["wheezy"] for p in ("snf-ganeti", "snf-image", "snf-network")},
            "own_versions_after": {p: packages.OWN_VERSIONS[p]["jessie"] for p in ("snf-ganeti", "snf-image", "snf-network")},
        }
    instances = bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split()
    assert dict(zip(instances[0::3], instances[1::3])) == PRIMARIES
    assert set(instances[2::3]) == {"running"}
    events = bed.events(since)
    assert not [e for e in events if e["event"] == "vm-outage"]
    assert timeline.max_drained_at_once(events)[0] == 1
    # Replaying the migrations: no node was rebooted, nor its archipelago stopped, while it
    # held a primary instance.
    placement, checked = dict(PRIMARIES), set()
    for event in sorted(events, key=lambda e: e["time"]):
        if event["event"] == "migration":
            placement[event["instance"]] = event["target"]
        elif event["event"] == "reboot" or (event["event"] == "service-stop" and event.get("service") == "archipelago"):
            held = [vm for vm, node in placement.items() if node == event["host"]]
            assert not held, (event, held)
            checked.add((event["host"], event["event"]))
    assert {(n, "reboot") for n in NODES} | {(n, "service-stop") for n in NODES} <= checked
    # The master went last, after a failover, and came back with eventd.
    failovers = [e for e in events if e["event"] == "master-failover"]
    assert [(e["old"], e["new"]) for e in failovers] == [("gnt1", "gnt2"), ("gnt2", "gnt1")]
    first_gnt1_drain = min(e["time"] for e in events if e["event"] == "drain" and e["host"] == "gnt1")
    assert failovers[0]["time"] < first_gnt1_drain
    assert bed.sh("gnt2", "gnt-cluster getmaster").stdout.strip() == "gnt1"
    assert bed.running("gnt1", "snf-ganeti-eventd")
    assert bed.sh("gnt1", "gnt-cluster verify").returncode == 0
    assert bed.sh("gnt1", "gnt-node list --no-headers -o tags").stdout.strip() == ""
    assert {h: fingerprint(bed, h) for h in service_nodes} == service_nodes


def assert_a_second_run_changes_nothing(bed, *args):
    """The Ganeti phase run again on an upgraded cluster: nothing to do, nothing moved."""
    since = time.time()
    code, steps = orchestrate(bed, *args)
    assert code == 0
    step = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert step["result"] is True and step["changes"] == {} and "nothing to do" in step["comment"]
    moved = ("drain", "migration", "failover", "reboot", "master-failover", "vm-outage")
    assert not [e for e in bed.events(since) if e["event"] in moved]


def test_a_second_run_on_the_upgraded_cluster_changes_nothing(bed):
    assert_a_second_run_changes_nothing(bed)


def test_status_reports_every_host(bed):
    result = bed.cli("salt-run", "synnefo_upgrade.status", "--out=json", check=True)
    report = json.loads(result.stdout)
    assert sorted(report) == ["astakos1", "cyclades1", "gnt1", "gnt2", "gnt3", "pithos1"]
    assert {h: report[h]["stage"] for h in NODES} == {h: "done" for h in NODES}
    assert {report[h]["stage"] for h in ("astakos1", "cyclades1", "pithos1")} == {"pending"}
    assert report["gnt1"]["synnefo"] == packages.SYNNEFO["jessie"] and report["astakos1"]["codename"] == "wheezy"
