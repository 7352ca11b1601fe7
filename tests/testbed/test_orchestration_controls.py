"""The operator's controls over the Ganeti phase (topology controls.yaml): a node whose
drain fails is undone, the cluster left as before; a canary run stops cleanly after one node
(the service phase waits, the run succeeds) and the next run goes on; a health gate stops the
run before the next node; a webhook (a small HTTP receiver beside the salt-master) hears of
each node's start, end and failure, and one that is down is only a warning."""

import json
import subprocess
import sys
import threading
import time

import pytest

from testbed import netns, packages
from tests.testbed.test_orchestration_ganeti import orchestrate

HOOK_PORT = 8099
RECEIVER = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[1], "ab") as out:
            out.write(body + b"\\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer((sys.argv[2], int(sys.argv[3])), Handler).serve_forever()
"""

TOPOLOGY = "controls.yaml"
PLACED = {"vm1": ("gnt1", "running"), "vm2": ("gnt2", "running"), "vm3": ("gnt2", "running"), "vm4": ("gnt3", "running")}


@pytest.fixture(scope="module")
def hook(tmp_path_factory):
    """A webhook on the bridge's address (where the salt-master runs): ``(url, messages())``."""
    received = tmp_path_factory.mktemp("hook") / "messages.jsonl"
    received.touch()
    command = netns.in_switch([sys.executable, "-c", RECEIVER, str(received), netns.MASTER_ADDRESS, str(HOOK_PORT)])
    receiver = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    time.sleep(1)
    try:
        yield f"http://{netns.MASTER_ADDRESS}:{HOOK_PORT}/synnefo", lambda: [json.loads(line) for line in received.read_text().splitlines()]
    finally:
        receiver.kill()


def notify(url):
    return {"notify": {"webhook": url}}


def placed(bed):
    return bed.gnt_list("gnt1", "instance", "name,pnode,status")


def drained(bed):
    """``{node: (drained, the progress tags of an unfinished upgrade)}``."""
    progress = (":stage:", ":since:", ":failed:", ":vm:", ":stopped:", ":down:", ":shut-down:")
    nodes = bed.gnt_list("gnt1", "node", "name,drained,tags")
    return {n: (info[0], [t for t in info[1].split(",") if any(p in t for p in progress)]) for n, info in nodes.items()}


def test_a_closed_maintenance_window_stops_the_run_before_any_node(bed):
    opens = time.gmtime(time.time() + 2 * 3600)
    window = {"start": time.strftime("%H:%M", opens), "end": time.strftime("%H:%M", time.gmtime(time.time() + 3 * 3600)), "timezone": "UTC"}
    pillar = "pillar=" + json.dumps({"synnefo_upgrade": {"orchestration": {"window": window}}})
    bed.cli("salt-run", "saltutil.sync_all", check=True)
    text = bed.cli("salt-run", "synnefo_upgrade.plan", pillar, check=True, timeout=900).stdout
    assert "MAINTENANCE WINDOW: a run started now would stop before gnt2: outside the maintenance window; it opens at" in text, text
    code, steps = orchestrate(bed, pillar, sls="synnefo_upgrade.orch")
    ganeti, services = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"], steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert code == 0 and ganeti["result"] is True, ganeti["comment"]
    opening = time.strftime("%Y-%m-%d %H:%M UTC", opens)
    assert (
        ganeti["comment"] == f"stopped before gnt2: outside the maintenance window; it opens at {opening}; run the orchestration again then"
    )
    assert services["result"] is True and services["comment"].startswith("not started: the Ganeti phase stopped at its maintenance window")
    assert placed(bed) == PLACED and drained(bed) == {n: ("N", []) for n in ("gnt1", "gnt2", "gnt3")}
    assert {h: bed.version(h, "snf-common") for h in ("gnt2", "web1")} == {h: packages.SYNNEFO["wheezy"] for h in ("gnt2", "web1")}


def test_a_drain_that_fails_is_undone_and_the_cluster_left_as_before(bed, hook):
    since = time.time()
    url, messages = hook
    # gnt2 goes first (gnt1 is the master); vm2 leaves, vm3 will not.
    bed.cli("fault", "add", "refuse-migration", "vm3", check=True)
    try:
        code, steps = orchestrate(bed, "pillar=" + json.dumps({"synnefo_upgrade": {"orchestration": notify(url)}}))
    finally:
        bed.cli("fault", "clear", "refuse-migration", "vm3", check=True)
    step = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert code != 0 and step["result"] is False
    assert step["comment"].startswith("gnt2: step 'drain' failed") and "vm3" in step["comment"]
    assert "undone, the node as it was before this run: undrain gnt2, migrate vm2 back to gnt2" in step["comment"], step["comment"]
    assert step["changes"]["gnt2"]["undone"] == ["undrain gnt2", "migrate vm2 back to gnt2"]
    assert placed(bed) == PLACED
    assert drained(bed) == {n: ("N", []) for n in ("gnt1", "gnt2", "gnt3")}  # nothing drained, no progress left
    assert bed.version("gnt2", "snf-common") == packages.SYNNEFO["wheezy"]
    report = json.loads(bed.cli("salt-run", "synnefo_upgrade.status", "--out=json", check=True).stdout)
    assert report["gnt2"]["stage"] == "pending"
    assert not bed.events(since, event="vm-outage")
    told = [(m["phase"], m["node"], m["step"], m["outcome"]) for m in messages()]
    assert told == [("ganeti", "gnt2", "node", "started"), ("ganeti", "gnt2", "drain", "failed")]
    assert "vm3" in messages()[-1]["error"] and messages()[-1]["cluster"] == "testbed"


def test_the_plan_says_where_a_canary_run_stops(bed):
    canary = json.dumps({"synnefo_upgrade": {"orchestration": {"stop_after": 1}}})
    text = bed.cli("salt-run", "synnefo_upgrade.plan", f"pillar={canary}", check=True, timeout=900).stdout
    assert "then the run STOPS as asked (stop_after: 1) after gnt2; the next run goes on" in text, text
    assert "live-migrate vm2" in text and "gnt3:" not in text.split("2. Service nodes")[0]


def test_a_canary_run_stops_cleanly_after_one_node_and_the_services_wait(bed, hook):
    url, messages = hook
    heard = len(messages())
    allowed = json.dumps({"synnefo_upgrade": {"orchestration": dict(notify(url), stop_after=1)}})
    code, steps = orchestrate(bed, f"pillar={allowed}", sls="synnefo_upgrade.orch", timeout=1800)
    ganeti, services = steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"], steps["synnefo-upgrade-orch-service-nodes-upgraded"]
    assert code == 0, (ganeti["comment"], services["comment"])
    assert ganeti["result"] is True and ganeti["comment"].startswith("stopped as asked (stop_after: 1) after gnt2; next: gnt3")
    assert services["result"] is True and services["comment"].startswith("not started: the Ganeti phase stopped as asked")
    versions = {h: bed.version(h, "snf-common") for h in ("gnt1", "gnt2", "gnt3", "web1")}
    assert versions == {
        "gnt1": packages.SYNNEFO["wheezy"],
        "gnt2": packages.SYNNEFO["jessie"],
        "gnt3": packages.SYNNEFO["wheezy"],
        "web1": packages.SYNNEFO["wheezy"],
    }
    assert placed(bed) == PLACED and bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt1"
    told = [(m["node"], m["step"], m["outcome"]) for m in messages()[heard:]]
    assert told == [("gnt2", "node", "started"), ("gnt2", "node", "done"), ("gnt3", "run", "stopped")]
    assert "notify_warnings" not in ganeti["changes"]


def test_the_health_gate_stops_the_run_before_the_next_node_when_a_vm_is_not_as_it_was(bed):
    """gnt3 goes; meanwhile vm1 (on gnt1, the master, next) is shut down by someone: the gate
    before gnt1 never sees the cluster as it was, and the run stops there, resumable."""
    # And a webhook that is down: a warning, never the reason the run stops.
    orchestration = dict(notify(f"http://{netns.MASTER_ADDRESS}:9/down"), health_gate={"passes": 2, "interval": 1, "timeout": 8})
    gate = json.dumps({"synnefo_upgrade": {"orchestration": orchestration}})
    since = time.time()
    result = {}
    worker = threading.Thread(target=lambda: result.update(zip(("code", "steps"), orchestrate(bed, f"pillar={gate}", timeout=1800))))
    worker.start()
    bed.wait_event(timeout=300, since=since, event="drain", host="gnt3")
    bed.sh("gnt1", "gnt-instance shutdown vm1")
    worker.join()
    step = result["steps"]["synnefo-upgrade-orch-ganeti-nodes-upgraded"]
    assert result["code"] != 0 and step["result"] is False
    assert (
        "health gate: not 2 healthy looks in a row within 8 s; last: instances not as they were: vm1 ADMIN_down on gnt1" in step["comment"]
    )
    assert "the next node was not touched" in step["comment"]
    assert bed.version("gnt3", "snf-common") == packages.SYNNEFO["jessie"]
    assert (
        bed.version("gnt1", "snf-common") == packages.SYNNEFO["wheezy"] and bed.sh("gnt1", "gnt-cluster getmaster").stdout.strip() == "gnt1"
    )
    assert not [e for e in bed.events(since) if e["event"] == "drain" and e["host"] == "gnt1"]
    warnings = step["changes"]["notify_warnings"]
    assert warnings[0].startswith("notify: gnt3 node/started not delivered to the webhook") and len(warnings) >= 3
    bed.sh("gnt1", "gnt-instance startup vm1")


def test_the_whole_phase_goes_on_from_where_the_earlier_runs_stopped(bed):
    code, steps = orchestrate(bed, timeout=1800)
    assert code == 0, steps["synnefo-upgrade-orch-ganeti-nodes-upgraded"]["comment"]
    assert {h: bed.version(h, "snf-common") for h in ("gnt1", "gnt3")} == {h: packages.SYNNEFO["jessie"] for h in ("gnt1", "gnt3")}
    assert placed(bed) == PLACED
