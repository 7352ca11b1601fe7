"""
`make demo`: bring up a test cluster (the bundled one, or TOPOLOGY=FILE), run the whole
upgrade through `salt-run state.orchestrate synnefo_upgrade.orch` while printing each host's
progress as the orchestration announces it, print the final report and where every host
stands, write SUMMARY=FILE if asked, and tear the cluster down (KEEP=1 leaves it running).
Exits non-zero unless the upgrade succeeded and every check passed.

    .venv/bin/python -m testbed.demo [--topology FILE] [--summary FILE] [--keep]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from testbed import cluster, packages, timeline

HOSTS_FACTS = (
    "sed -n 's/^VERSION_CODENAME=//p' /etc/os-release; dpkg-query -W -f='${Version}\\n' snf-common; "
    "dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n' 'snf-*'"
)


def salt_run(*args, **kwargs):
    return subprocess.run(cluster.salt_command(cluster.Paths(), "salt-run", list(args)), check=False, **kwargs)


def facts(hosts):
    """``{host: (codename, snf-common version, {other snf-* package: version})}``, read from
    the hosts themselves; the other ones are the snf-* packages not built from Synnefo's
    source tree (the test bed's own list, packages.SYNNEFO_SOURCE_PACKAGES)."""
    found = {}
    for name in hosts:
        lines = cluster.host(name).run(["sh", "-c", HOSTS_FACTS], check=False).stdout.splitlines()
        own = {}
        for line in lines[2:]:
            status, package, version = (line.split() + ["", "", ""])[:3]
            if status == "ii" and package not in packages.SYNNEFO_SOURCE_PACKAGES:
                own[package] = version
        found[name] = (lines[0] if lines else "", lines[1] if len(lines) > 1 else "", own)
    return found


class Progress(threading.Thread):
    """Print the orchestration's progress events (synnefo_upgrade/...) as they come."""

    def __init__(self):
        super().__init__(daemon=True)
        self.began = time.time()
        self.process = subprocess.Popen(
            cluster.salt_command(cluster.Paths(), "salt-run", ["state.event", "pretty=False"]),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def run(self):
        for line in self.process.stdout:
            tag, _, data = line.partition("\t")
            if not tag.startswith("synnefo_upgrade/") or tag.count("/") < 3:
                continue
            try:
                data = json.loads(data)
            except ValueError:
                continue
            error = f": {data['error']}" if data.get("error") else ""
            print(
                f"  [{time.time() - self.began:6.1f} s] {data.get('node', '?'):<12} {data.get('step', '?'):<16} "
                f"{data.get('outcome', '')}{error}",
                flush=True,
            )

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def summary(topology, before, after, code, events, steps=None):
    outages = timeline.outage_windows(events)
    window = timeline.api_downtime(events)
    migrations = {}
    for event in events:
        if event["event"] == "db-migrate" and event.get("applied"):
            migrations.setdefault(event["service"], event["host"])
    if topology.synnefo == "real":
        # Real Synnefo records nothing in the bed's timeline: the hosts whose databases step ran.
        services = (steps or {}).get("synnefo-upgrade-orch-service-nodes-upgraded", {}).get("changes") or {}
        ran = [e["host"] for e in services.get("timeline", []) if e["step"] == "databases" and not e.get("parent")]
        migrations = dict((s, m) for s, m in (services.get("migrations") or {}).items() if m in ran)
    hosts = {
        name: {
            "codename_before": before[name][0],
            "codename_after": after[name][0],
            "snf_common_before": before[name][1],
            "snf_common_after": after[name][1],
            "own_versions_before": before[name][2],
            "own_versions_after": after[name][2],
        }
        for name in topology.hosts
    }
    upgraded = all(h["codename_after"] == "jessie" and h["snf_common_after"].startswith("0.19") for h in hosts.values())
    return {
        "ok": code == 0 and upgraded and not outages and window is not None and not window.get("open"),
        "hosts": hosts,
        "vm_outages": len(outages),
        "api_downtime_seconds": window["duration"] if window else None,
        "migrations": migrations,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Upgrade a test cluster from Synnefo 0.18.1/wheezy to 0.19/jessie.")
    parser.add_argument("--topology", default=os.environ.get("TOPOLOGY") or None)
    parser.add_argument("--summary", default=os.environ.get("SUMMARY") or None)
    parser.add_argument("--keep", action="store_true", default=bool(os.environ.get("KEEP")))
    parser.add_argument("--report", default=os.path.abspath(os.environ.get("REPORT") or "synnefo-upgrade-report.html"))
    args = parser.parse_args(argv)
    print(f"== bringing up the test cluster ({args.topology or 'testbed/topologies/default.yaml'})", flush=True)
    topology = cluster.up(args.topology)
    try:
        print(f"   hosts: {', '.join(f'{h} {r}' for h, r in topology.hosts.items())}", flush=True)
        salt_run("saltutil.sync_all", stdout=subprocess.DEVNULL)
        subprocess.run(cluster.salt_command(cluster.Paths(), "salt", ["*", "saltutil.sync_all"]), stdout=subprocess.DEVNULL, check=False)
        before = facts(topology.hosts)
        print("== the plan (salt-run synnefo_upgrade.plan): what the upgrade will do, changing nothing", flush=True)
        salt_run("synnefo_upgrade.plan")
        print("== the whole upgrade: salt-run state.orchestrate synnefo_upgrade.orch", flush=True)
        progress = Progress()
        progress.start()
        result = salt_run("state.orchestrate", "synnefo_upgrade.orch", "--out=json", capture_output=True, text=True)
        time.sleep(1)
        progress.stop()
        try:
            (steps,) = json.loads(result.stdout)["data"].values()
        except (ValueError, KeyError):
            steps = {}
            print(result.stdout[-3000:] + result.stderr[-3000:], flush=True)
        print("== the orchestration's report", flush=True)
        for key, step in steps.items():
            mark = {True: "ok", False: "FAILED", None: "-"}[step.get("result")]
            print(f"  {mark:6} {key.split('_|-')[1]}: {step.get('comment', '')}", flush=True)
            if isinstance(step.get("changes"), dict) and "warnings" in step["changes"]:
                for warning in step["changes"]["warnings"]:
                    print(f"         warning: {warning}", flush=True)
        report = salt_run("synnefo_upgrade.report", f"path={args.report}", "--out=json", capture_output=True, text=True)
        try:
            print(f"== the report, as a picture: {json.loads(report.stdout)['path']}", flush=True)
        except (ValueError, KeyError):
            print("== no report: " + report.stdout[-2000:] + report.stderr[-2000:], flush=True)
        print("== where every host stands (salt-run synnefo_upgrade.status)", flush=True)
        salt_run("synnefo_upgrade.status")
        named = dict((key.split("_|-")[1], step) for key, step in steps.items())
        result_summary = summary(topology, before, facts(topology.hosts), result.returncode, timeline.read(cluster.Paths().shared), named)
        print("== snf-* packages with versions of their own (not Synnefo's), before -> after", flush=True)
        for name, host in sorted(result_summary["hosts"].items()):
            own = sorted(set(host["own_versions_before"]) | set(host["own_versions_after"]))
            listed = ", ".join(f"{p} {host['own_versions_before'].get(p, '-')} -> {host['own_versions_after'].get(p, '-')}" for p in own)
            print(f"  {name:<12} {listed or 'none'}", flush=True)
        print(
            f"== VM outages: {result_summary['vm_outages']}; API down {result_summary['api_downtime_seconds']} s; "
            f"database migrations: {result_summary['migrations']}; ok: {result_summary['ok']}",
            flush=True,
        )
        if args.summary:
            with open(args.summary, "w") as handle:
                json.dump(result_summary, handle, indent=1, sort_keys=True)
            print(f"   summary written to {args.summary}", flush=True)
        return 0 if result_summary["ok"] else 1
    finally:
        if args.keep:
            print("The cluster is still up; stop it with: .venv/bin/python -m testbed down", flush=True)
        else:
            cluster.down()


if __name__ == "__main__":
    sys.exit(main())
