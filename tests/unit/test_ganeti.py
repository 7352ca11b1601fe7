"""The Ganeti stand-in's rules, on a cluster state of the test's own (no hosts needed)."""

import contextlib
import io
import time

import pytest

from testbed import ganeti, timeline


@pytest.fixture
def shared(tmp_path):
    ganeti.create(str(tmp_path), ["gnt1", "gnt2", "gnt3"], "gnt1", {"vm1": "gnt1", "vm2": "gnt1", "vm3": "gnt2"})
    for node in ("gnt1", "gnt2", "gnt3"):
        for service in ganeti.SERVICES:
            ganeti.service_changed(node, service, True, shared=str(tmp_path))
    return str(tmp_path)


def gnt(shared, host, program, *args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = ganeti.main(program, args, host=host, shared=shared)
    return code, out.getvalue(), err.getvalue()


def instances(shared):
    with ganeti.Cluster(shared) as cluster:
        return {n: (i["pnode"], cluster.status(n)) for n, i in cluster.state["instances"].items()}


def test_instances_start_running_once_their_nodes_are_whole(shared):
    assert instances(shared) == {"vm1": ("gnt1", "running"), "vm2": ("gnt1", "running"), "vm3": ("gnt2", "running")}


def test_only_the_master_changes_the_cluster(shared):
    code, _, err = gnt(shared, "gnt2", "gnt-node", "modify", "--drained=yes", "gnt3")
    assert code == 1 and "please connect to node 'gnt1'" in err


def test_no_migration_to_a_drained_node(shared):
    assert gnt(shared, "gnt1", "gnt-node", "modify", "--drained=yes", "gnt2")[0] == 0
    code, _, err = gnt(shared, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt2", "vm1")
    assert code == 1 and err.splitlines() == [
        "Failure: prerequisites not met for this operation:",
        "error type: wrong_state, error details:",
        "Can't use drained node gnt2",
    ]
    assert instances(shared)["vm1"] == ("gnt1", "running")


def test_node_migrate_moves_every_primary_in_its_own_job(shared):
    code, out, _ = gnt(shared, "gnt1", "gnt-node", "migrate", "-f", "gnt1")
    assert code == 0 and out.startswith("Submitted jobs ")
    # Each job picks its target when it runs (as hail does), the least loaded node first.
    assert {n: p for n, (p, _) in instances(shared).items() if n in ("vm1", "vm2")} == {"vm1": "gnt3", "vm2": "gnt2"}
    moves = [e for e in timeline.read(shared) if e["event"] == "migration"]
    assert sorted(e["instance"] for e in moves) == ["vm1", "vm2"]
    assert len({e["job"] for e in moves}) == 2


def test_a_node_going_down_takes_its_vms_down_until_it_is_whole(shared):
    ganeti.power_changed("gnt2", False, shared=shared)
    assert instances(shared)["vm3"] == ("gnt2", "ERROR_nodedown")
    ganeti.power_changed("gnt2", True, shared=shared)
    ganeti.service_changed("gnt2", "ganeti", True, shared=shared)
    assert instances(shared)["vm3"] == ("gnt2", "ERROR_down")  # archipelago still down
    ganeti.service_changed("gnt2", "archipelago", True, shared=shared)
    assert instances(shared)["vm3"] == ("gnt2", "running")
    (window,) = timeline.outage_windows(timeline.read(shared))
    assert window["instance"] == "vm3" and window["duration"] >= 0 and "open" not in window


def test_node_list_fields(shared):
    code, out, _ = gnt(shared, "gnt1", "gnt-node", "list", "--no-headers", "-o", "name,pinst_cnt,sinst_cnt,drained", "--separator=|")
    assert out.splitlines() == ["gnt1|2|0|N", "gnt2|1|0|N", "gnt3|0|0|N"]


@pytest.fixture
def small(tmp_path):
    """gnt1 (4096 MiB) holds vm1 (3072) and vm2 (512); gnt2 (4096) holds vm3 (2048)."""
    ganeti.create(
        str(tmp_path),
        ["gnt1", "gnt2"],
        "gnt1",
        {"vm1": "gnt1", "vm2": "gnt1", "vm3": "gnt2"},
        memory={"gnt1": 4096, "gnt2": 4096},
        instance_memory={"vm1": 3072, "vm2": 512, "vm3": 2048},
        migration_mib_per_s=20480,
    )
    for node in ("gnt1", "gnt2"):
        for service in ganeti.SERVICES:
            ganeti.service_changed(node, service, True, shared=str(tmp_path))
    return str(tmp_path)


def test_memory_fields_of_nodes_and_instances(small):
    _, out, _ = gnt(small, "gnt1", "gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,mtotal,mfree,pinst_list")
    assert out.splitlines() == ["gnt1|4096|512|vm1,vm2", "gnt2|4096|2048|vm3"]
    _, out, _ = gnt(small, "gnt1", "gnt-instance", "list", "--no-headers", "--separator=|", "-o", "name,pnode,be/maxmem,oper_ram")
    assert out.splitlines() == ["vm1|gnt1|3072|3072", "vm2|gnt1|512|512", "vm3|gnt2|2048|2048"]


def test_a_migration_needs_the_memory_free_on_the_target(small):
    code, _, err = gnt(small, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt2", "vm1")
    assert code == 1
    assert "Not enough memory on node gnt2 for migrating instance vm1: needed 3072 MiB, available 2048 MiB" in err
    assert instances(small)["vm1"] == ("gnt1", "running")
    assert gnt(small, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt2", "vm2")[0] == 0
    assert instances(small)["vm2"] == ("gnt2", "running")


def test_a_migration_takes_time_in_proportion_to_memory(small):
    """Read from the jobs' own start and end times (not the test's clock)."""
    with ganeti.Cluster(small) as cluster:
        cluster.state["migration_mib_per_s"] = 2048
    assert gnt(small, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt2", "vm2")[0] == 0  # 512 MiB at 2048 MiB/s
    with ganeti.Cluster(small) as cluster:
        cluster.state["migration_mib_per_s"] = 512
    assert gnt(small, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt1", "vm2")[0] == 0  # 512 MiB at 512 MiB/s
    with ganeti.Cluster(small) as cluster:
        fast, slow = sorted(cluster.state["jobs"].values(), key=lambda j: j["id"])
    assert fast["finished"] - fast["started"] >= 0.25
    assert slow["finished"] - slow["started"] >= 1.0
    assert (slow["finished"] - slow["started"]) - (fast["finished"] - fast["started"]) >= 0.5  # 1.0 s against 0.25 s


def test_node_tags_as_in_ganeti(small):
    assert gnt(small, "gnt1", "gnt-node", "add-tags", "gnt2", "synnefo-upgrade:stage:draining", "synnefo-upgrade:vm:vm3")[0] == 0
    assert gnt(small, "gnt1", "gnt-node", "list-tags", "gnt2")[1].splitlines() == [
        "synnefo-upgrade:stage:draining",
        "synnefo-upgrade:vm:vm3",
    ]
    code, _, err = gnt(small, "gnt2", "gnt-node", "add-tags", "gnt2", "x")
    assert code == 1 and "not the master" in err
    code, _, err = gnt(small, "gnt1", "gnt-node", "add-tags", "gnt2", "bad tag")
    assert code == 1 and err.splitlines() == ["Failure: invalid tag(s) given:", "Tag contains invalid characters"]
    code, _, err = gnt(small, "gnt1", "gnt-node", "remove-tags", "gnt2", "synnefo-upgrade:nope")
    assert code == 1 and "not found" in err
    assert gnt(small, "gnt1", "gnt-node", "remove-tags", "gnt2", "synnefo-upgrade:vm:vm3")[0] == 0
    assert gnt(small, "gnt2", "gnt-node", "list-tags", "gnt2")[1] == "synnefo-upgrade:stage:draining\n"


@pytest.fixture
def mixed(tmp_path):
    """Four nodes, a pool of two candidates (gnt1 the master, gnt2); instances of every kind."""
    shared = str(tmp_path)
    ganeti.create(
        shared,
        ["gnt1", "gnt2", "gnt3", "gnt4"],
        "gnt1",
        {"ext1": "gnt2", "off1": "gnt2", "drbd1": "gnt2", "plain1": "gnt3", "af1": "gnt3"},
        instance_memory={"ext1": 2048},
        specs={
            "ext1": {"minmem": 512},
            "off1": {"status": "stopped"},
            "drbd1": {"disk_template": "drbd", "secondary": "gnt3", "disk_mib": 2048},
            "plain1": {"disk_template": "plain"},
            "af1": {"always_failover": True},
        },
        candidate_pool_size=2,
        drbd_resync_mib_per_s=2048,
    )
    for node in ("gnt1", "gnt2", "gnt3", "gnt4"):
        for service in ganeti.SERVICES:
            ganeti.service_changed(node, service, True, shared=shared)
    return shared


def failure(err):
    """The message of a Ganeti failure and its error type (None for an execution error)."""
    lines = err.splitlines()
    if lines[0] == "Failure: prerequisites not met for this operation:":
        return lines[2], lines[1].split()[2].rstrip(",")
    assert lines[0] == "Failure: command execution error:", err
    return lines[1], None


def test_a_stopped_instance_is_not_migrated_but_fails_over_and_stays_stopped(mixed):
    code, _, err = gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt4", "off1")
    assert code == 1 and failure(err) == ("Can't migrate, please use failover: Instance off1 is not running", "wrong_state")
    code, out, _ = gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "--allow-failover", "-n", "gnt4", "off1")
    assert code == 0 and "Instance is marked down or offline, fallback allowed, switching to failover" in out
    assert instances(mixed)["off1"] == ("gnt4", "ADMIN_down")
    assert gnt(mixed, "gnt1", "gnt-instance", "failover", "-f", "-n", "gnt2", "off1")[0] == 0
    assert instances(mixed)["off1"] == ("gnt2", "ADMIN_down")
    assert not [e for e in timeline.read(mixed) if e["event"] == "vm-outage"]


def test_non_mirrored_templates_neither_migrate_nor_fail_over(mixed):
    for command in (("migrate", "-f", "-n", "gnt4"), ("migrate", "-f", "--allow-failover", "-n", "gnt4"), ("failover", "-f", "-n", "gnt4")):
        code, _, err = gnt(mixed, "gnt1", "gnt-instance", *command, "plain1")
        kind = "failovers" if command[0] == "failover" else "migrations"
        assert code == 1 and failure(err) == (f"Instance's disk layout 'plain' does not allow {kind}", "wrong_state")
    assert instances(mixed)["plain1"] == ("gnt3", "running")


def test_drbd_goes_to_its_secondary_only(mixed):
    code, _, err = gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt4", "drbd1")
    assert code == 1 and failure(err) == (
        "Instances with disk template drbd cannot be migrated to arbitrary nodes (neither an iallocator nor a target node can be passed)",
        "wrong_input",
    )
    assert gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "drbd1")[0] == 0
    assert instances(mixed)["drbd1"] == ("gnt3", "running")
    _, out, _ = gnt(mixed, "gnt1", "gnt-instance", "list", "--no-headers", "--separator=|", "-o", "name,pnode,snodes,disk_template")
    assert "drbd1|gnt3|gnt2|drbd" in out.splitlines()


def test_a_rebooted_drbd_secondary_resyncs_once_its_disks_are_activated_and_meanwhile_cannot_take_the_instance(mixed):
    since = time.time()
    assert gnt(mixed, "gnt1", "gnt-cluster", "verify-disks")[1].endswith("...\nNo disks need to be activated.\n")
    ganeti.power_changed("gnt3", False, shared=mixed)
    _, out, _ = gnt(mixed, "gnt1", "gnt-instance", "info", "drbd1")
    assert "on secondary: not active" in out and "status *DEGRADED*" in out
    ganeti.power_changed("gnt3", True, shared=mixed)
    for service in ganeti.SERVICES:
        ganeti.service_changed("gnt3", service, True, shared=mixed)
    # Back, but its DRBD device unconfigured (no watcher here): nothing resyncs.
    time.sleep(1.1)
    _, out, _ = gnt(mixed, "gnt1", "gnt-instance", "info", "drbd1")
    assert "on secondary: not active" in out and "status *DEGRADED*" in out
    code, out, _ = gnt(mixed, "gnt1", "gnt-cluster", "verify", "--error-codes")
    assert "ERROR:EINSTANCEFAULTYDISK:instance:drbd1:couldn't retrieve status for disk/0 on gnt3" in out
    code, _, err = gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "drbd1")
    assert code == 1 and failure(err) == ("Disk 0 is degraded or not fully synchronized on target node, aborting migration", None)
    assert gnt(mixed, "gnt1", "gnt-cluster", "verify-disks")[1].endswith("...\nActivating disks for instance 'drbd1'\n")
    _, out, _ = gnt(mixed, "gnt1", "gnt-instance", "info", "drbd1")
    assert "on secondary: /dev/drbd0 (147:0) *RECOVERING*" in out
    code, out, _ = gnt(mixed, "gnt1", "gnt-cluster", "verify")
    assert code == 1 and "ERROR: instance drbd1: disk/0 on gnt3 is degraded" in out
    code, _, err = gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "drbd1")
    assert code == 1 and failure(err) == ("Disk 0 is degraded or not fully synchronized on target node, aborting migration", None)
    time.sleep(1.1)  # 2048 MiB at 2048 MiB/s
    _, out, _ = gnt(mixed, "gnt1", "gnt-instance", "info", "drbd1")
    assert out.count("in sync, status ok") == 2
    assert gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "drbd1")[0] == 0
    assert not [e for e in timeline.read(mixed) if e["time"] >= since and e["event"] == "vm-data-at-risk"]


def test_losing_the_only_up_to_date_replica_puts_data_at_risk(mixed):
    ganeti.power_changed("gnt3", False, shared=mixed)  # the secondary falls behind
    ganeti.power_changed("gnt3", True, shared=mixed)
    for service in ganeti.SERVICES:
        ganeti.service_changed("gnt3", service, True, shared=mixed)
    assert gnt(mixed, "gnt1", "gnt-instance", "activate-disks", "drbd1")[1] == "gnt2:disk/0:/dev/drbd0\n"
    assert not [e for e in timeline.read(mixed) if e["event"] == "vm-data-at-risk"]
    ganeti.power_changed("gnt2", False, shared=mixed)  # the primary, while gnt3 resyncs
    (risk,) = [e for e in timeline.read(mixed) if e["event"] == "vm-data-at-risk"]
    assert risk["instance"] == "drbd1"


def test_always_failover_turns_a_migration_into_a_failover_with_an_outage(mixed):
    assert gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt4", "af1")[0] == 0
    assert instances(mixed)["af1"] == ("gnt4", "running")
    assert [e["instance"] for e in timeline.read(mixed) if e["event"] == "vm-outage"] == ["af1"]


def test_memory_is_checked_against_minmem_and_the_instance_ballooned(mixed):
    with ganeti.Cluster(mixed) as cluster:
        cluster.state["nodes"]["gnt4"]["memory"] = 1024
    assert gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt4", "ext1")[0] == 0
    _, out, _ = gnt(mixed, "gnt1", "gnt-instance", "list", "--no-headers", "--separator=|", "-o", "name,be/minmem,be/maxmem,oper_ram")
    assert "ext1|512|2048|1024" in out.splitlines()


def test_draining_a_candidate_needs_auto_promote_when_the_pool_runs_short(mixed):
    code, _, err = gnt(mixed, "gnt1", "gnt-node", "modify", "--drained=yes", "gnt2")
    assert code == 1 and failure(err)[0].startswith("Not enough master candidates, please pass auto promote option")
    code, out, _ = gnt(mixed, "gnt1", "gnt-node", "modify", "--drained=yes", "--auto-promote", "gnt2")
    assert code == 0 and "Promoted nodes to master candidate role: gnt3" in out
    assert out.splitlines()[-2:] == [" - master_candidate -> False", " - drained -> True"]
    _, out, _ = gnt(mixed, "gnt1", "gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,role")
    assert out.splitlines() == ["gnt1|M", "gnt2|D", "gnt3|C", "gnt4|R"]
    code, out, _ = gnt(mixed, "gnt1", "gnt-node", "modify", "--drained=no", "gnt2")
    assert "Auto-promoting" not in out  # the pool is full again: gnt2 comes back a regular node
    code, _, err = gnt(mixed, "gnt1", "gnt-node", "modify", "--drained=yes", "gnt1")
    assert failure(err) == ("The master role can be changed only via master-failover", "wrong_input")


def test_a_failed_migration_can_leave_the_instance_on_the_wrong_node_until_a_cleanup(mixed):
    open(f"{mixed}/faults/migrate-wrongnode-ext1", "w").close()
    code, _, err = gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "-n", "gnt4", "ext1")
    assert code == 1 and "--cleanup" not in err  # Ganeti 2.10 never names it
    assert instances(mixed)["ext1"] == ("gnt2", "ERROR_wrongnode")
    code, out, _ = gnt(mixed, "gnt1", "gnt-instance", "migrate", "-f", "--cleanup", "ext1")
    assert code == 0 and instances(mixed)["ext1"] == ("gnt4", "running")


def test_verify_warns_of_mixed_ganeti_versions_and_reports_error_codes(mixed):
    ganeti.service_changed("gnt4", "ganeti", True, shared=mixed, package_version="2.10.7.1+grnet2+bpo2-2~jessie")
    ganeti.service_changed("gnt1", "ganeti", True, shared=mixed, package_version="2.10.7+snap1+b64v1-1~wheezy")
    code, out, _ = gnt(mixed, "gnt1", "gnt-cluster", "verify", "--error-codes")
    assert code == 0
    assert [line.split("   - ", 1)[1] for line in out.splitlines() if "   - " in line] == [
        "WARNING:ENODEVERSION:node:gnt4:software version mismatch: master 2.10.7, node 2.10.7.1"
    ]


def test_several_clusters_each_keep_their_own_state_master_and_jobs(tmp_path):
    shared = str(tmp_path)
    ganeti.create(shared, ["a1", "a2"], "a1", {"vm1": "a1"}, name="alpha")
    ganeti.create(shared, ["b1", "b2"], "b2", {"vm2": "b1"}, name="beta")
    for node in ("a1", "a2", "b1", "b2"):
        for service in ganeti.SERVICES:
            ganeti.service_changed(node, service, True, shared=shared)
    assert [gnt(shared, h, "gnt-cluster", "getmaster")[1].strip() for h in ("a2", "b1")] == ["a1", "b2"]
    assert "Cluster name: beta\n" in gnt(shared, "b2", "gnt-cluster", "info")[1]
    assert gnt(shared, "a1", "gnt-instance", "list", "--no-headers", "-o", "name")[1].split() == ["vm1"]
    # A node of the other cluster is unknown here, and its master is not this cluster's.
    code, _, err = gnt(shared, "a1", "gnt-instance", "migrate", "-f", "-n", "b2", "vm1")
    assert code == 1 and "b2" in err
    assert gnt(shared, "b1", "gnt-node", "modify", "--drained=yes", "b1")[0] == 1
    assert gnt(shared, "b2", "gnt-instance", "migrate", "-f", "vm2")[0] == 0
    with ganeti.Cluster(shared, "b1") as beta, ganeti.Cluster(shared, name="alpha") as alpha:
        assert beta.state["instances"]["vm2"]["pnode"] == "b2" and alpha.state["instances"]["vm1"]["pnode"] == "a1"
    assert ganeti.is_node("b1", shared) and not ganeti.is_node("web1", shared)
    ganeti.power_changed("a2", False, shared=shared)
    with ganeti.Cluster(shared, name="alpha") as alpha, ganeti.Cluster(shared, name="beta") as beta:
        assert not alpha.state["nodes"]["a2"]["up"] and all(n["up"] for n in beta.state["nodes"].values())
