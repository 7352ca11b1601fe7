#!/usr/bin/env python3
"""
The cloud API's downtime during the upgrade: this formula against the guide followed
literally, on the same cluster (the bundled topology), the APT repository served over HTTP
at a throttled rate with packages of real weight, so that downloads take real time.

- formula: `salt-run state.orchestrate synnefo_upgrade.orch` (the Ganeti nodes, then the
  service nodes, which download before their services go down).
- literal: the Ganeti phase by the formula (the API is up throughout it), then the guide's
  "Upgrade Service nodes" as an operator types it, host after host: sources to jessie and
  `apt-get update`; services down; `apt-get dist-upgrade` (downloading now, inside the
  outage; with the guide's gevent/greenlet pin and its policy-rc.d alternative, and the
  minion held as any Salt user would); `snf-manage migrate` on the astakos and the cyclades
  host; the configuration changes (the formula's per-concern SLS, quicker than by hand, so
  the baseline is flattered); `snf-component-register cyclades` answered on stdin; every host
  rebooted at once.

The API is down from the first gunicorn stop until gunicorn runs again on every host (the
test bed's timeline). Target: the formula's window at most 0.3 of the literal one.

    .venv/bin/python bench/api_downtime.py [RATE_KIB_S]     # default 4096
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from testbed import cluster, mirror, netns, packages, timeline  # noqa: E402

PAYLOAD_KIB = 2048
SERVICE_HOSTS = {"astakos1": ["astakos"], "cyclades1": ["cyclades"], "pithos1": ["pithos"]}
BASE = "https://cyclades1.example.org/cyclades"
STOP = {"astakos": ["gunicorn"], "cyclades": ["gunicorn", "archipelago", "snf-dispatcher"], "pithos": ["gunicorn", "archipelago"]}


def topology(rate):
    with open(os.path.join(os.path.dirname(packages.__file__), "topologies", "default.yaml")) as handle:
        text = handle.read()
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    handle.write(text + f"apt: {{http: true, rate_kib_s: {rate}, payload_kib: {PAYLOAD_KIB}}}\n")
    handle.close()
    return handle.name


def salt(program, *args):
    result = subprocess.run(cluster.salt_command(cluster.Paths(), program, list(args)), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{program} {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def sh(host, script):
    result = cluster.host(host).run(["sh", "-c", "set -e\n" + script], check=False)
    if result.returncode != 0:
        raise SystemExit(f"{host}: {script!r} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def literal_service_phase():
    uri = mirror.uri(netns.MASTER_ADDRESS)
    pin = (
        "Package: python-gevent\nPin: release a=jessie-backports\nPin-Priority: 1001\n\n"
        "Package: python-greenlet\nPin: release a=jessie-backports\nPin-Priority: 1001\n"
    )
    # 1. Change repos to jessie; apt-get update.
    for host in SERVICE_HOSTS:
        sh(
            host,
            "sed -i 's/wheezy/jessie/g' /etc/apt/sources.list /etc/apt/sources.list.d/*.list\n"
            f"echo 'deb [trusted=yes] {uri}/debian jessie-backports main' > /etc/apt/sources.list.d/backports.list\n"
            f"printf '{pin}' > /etc/apt/preferences.d/gevent\napt-get update -q >/dev/null",
        )
    # 2. Bring services down.
    for host, roles in SERVICE_HOSTS.items():
        for service in dict.fromkeys(s for r in roles for s in STOP[r]):
            sh(host, f"service {service} stop")
    master = sh("gnt1", "gnt-cluster getmaster").strip()
    sh(master, "service snf-ganeti-eventd stop")
    # 3. Upgrade to jessie (services kept down with policy-rc.d, the guide's alternative).
    for host in SERVICE_HOSTS:
        sh(
            host,
            "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d\n"
            "apt-mark hold salt-minion >/dev/null\n"
            "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef "
            "-o Dpkg::Options::=--force-confold dist-upgrade >/dev/null\n"
            "rm -f /usr/sbin/policy-rc.d",
        )
    # Run database migrations, once per service.
    sh("astakos1", "snf-manage migrate >/dev/null")
    sh("cyclades1", "snf-manage migrate >/dev/null")
    # 4. Adjust configuration files.
    web = "astakos1,cyclades1,pithos1"
    salt("salt", "-L", web, "state.sls", "synnefo_upgrade.gunicorn.wsgi,synnefo_upgrade.apache.sites", "--timeout=300")
    salt("salt", "cyclades1", "state.sls", "synnefo_upgrade.cyclades.caches,synnefo_upgrade.cyclades.allocator", "--timeout=300")
    # Re-register service and resource definitions.
    sh("astakos1", f"printf 'y\\n{BASE}\\n{BASE}/ui\\ny\\n' | snf-component-register cyclades >/dev/null")
    # Reboot; the services start on boot.
    since = time.time()
    for host in SERVICE_HOSTS:
        cluster.host(host).run(["reboot"], check=False)
    deadline = time.time() + 300
    while not all(
        timeline.read(cluster.Paths().shared)
        and [e for e in timeline.read(cluster.Paths().shared) if e["event"] == "booted" and e["host"] == h and e["time"] > since]
        for h in SERVICE_HOSTS
    ):
        if time.time() > deadline:
            raise SystemExit("the service hosts did not come back")
        time.sleep(0.5)
    sh(master, "service snf-ganeti-eventd start")


def measure(rate, literal):
    path = topology(rate)
    try:
        cluster.up(path)
        salt("salt-run", "saltutil.sync_all")
        salt("salt", "*", "saltutil.sync_all")
        if literal:
            salt("salt-run", "state.orchestrate", "synnefo_upgrade.orch.ganeti")
            literal_service_phase()
        else:
            salt("salt-run", "state.orchestrate", "synnefo_upgrade.orch")
        time.sleep(3)  # the last gunicorn start reaches the timeline
        events = timeline.read(cluster.Paths().shared)
        window = timeline.api_downtime(events)
        if window is None or window.get("open"):
            raise SystemExit(f"the API did not come back: {window}")
        fetched = sum(
            e["bytes"]
            for e in events
            if e["event"] == "apt-fetch" and e["host"] in SERVICE_HOSTS and window["start"] <= e["time"] <= window["end"]
        )
        outages = len([e for e in events if e["event"] == "vm-outage"])
        return window["duration"], fetched, outages
    finally:
        cluster.down()
        os.unlink(path)


def main():
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    print(
        f"API downtime, bundled cluster (3 Ganeti, astakos1, cyclades1, pithos1), Salt 2019.2, {os.cpu_count()} cores, "
        f"APT over HTTP at {rate} KiB/s shared, {PAYLOAD_KIB} KiB a jessie package:",
        flush=True,
    )
    formula, formula_bytes, formula_outages = measure(rate, literal=False)
    print(
        f"  formula:           {formula:6.1f} s   ({formula_bytes / 2**20:.1f} MiB downloaded inside it; VM outages {formula_outages})",
        flush=True,
    )
    literal, literal_bytes, literal_outages = measure(rate, literal=True)
    print(
        f"  guide, literally:  {literal:6.1f} s   ({literal_bytes / 2**20:.1f} MiB downloaded inside it; VM outages {literal_outages})",
        flush=True,
    )
    print(f"  ratio formula/literal: {formula / literal:.2f} (target <= 0.30)", flush=True)


if __name__ == "__main__":
    main()
