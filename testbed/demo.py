"""
`make demo` for now: bring up the bundled test cluster (Salt 2019.2 on Python 2.7, as on a
wheezy cloud), show the plan of the Ganeti phase (a dry run: nothing changes), run it for real
(every Ganeti node upgraded to jessie and 0.19, one at a time, with no VM downtime), print
where every host stands, then show the per-minion upgrade of the service nodes as a dry run
(their orchestrated phase comes next, see the open issues). The cluster is left running to
explore.
"""

import subprocess
import sys

from testbed import cluster, timeline

SERVICE_NODES = "G@roles:astakos or G@roles:cyclades or G@roles:pithos or G@roles:cms"


def run(program, *args, quiet=False):
    command = cluster.salt_command(cluster.Paths(), program, list(args))
    return subprocess.run(command, check=False, stdout=subprocess.DEVNULL if quiet else None).returncode


def main():
    print("== bringing up the bundled test cluster (testbed/topologies/default.yaml)", flush=True)
    topology = cluster.up()
    print(f"   hosts: {', '.join(f'{h} {r}' for h, r in topology.hosts.items())}", flush=True)
    print("== syncing the formula's modules to the master and the minions", flush=True)
    run("salt-run", "saltutil.sync_all", quiet=True)
    run("salt", "*", "saltutil.sync_all", quiet=True)
    print("== the Ganeti phase's plan (test=True: nothing changes)", flush=True)
    run("salt-run", "state.orchestrate", "synnefo_upgrade.orch.ganeti", "test=True")
    print("== the Ganeti phase, for real: one node at a time, VMs live-migrated away and back", flush=True)
    code = run("salt-run", "state.orchestrate", "synnefo_upgrade.orch.ganeti")
    events = timeline.read(cluster.Paths().shared)
    outages = [e for e in events if e["event"] == "vm-outage"]
    print(f"   VM outages: {len(outages)}; nodes drained at once at most: {timeline.max_drained_at_once(events)[0]}", flush=True)
    print("== where every host stands", flush=True)
    run("salt-run", "synnefo_upgrade.status")
    print("== what the formula would change on the service nodes (test=True: nothing changes)", flush=True)
    run("salt", "-C", SERVICE_NODES, "state.apply", "synnefo_upgrade", "test=True", "--state-output=changes", "--timeout=120")
    print("\nThe cluster is still up. Explore it with:\n"
          "  .venv/bin/python -m testbed exec gnt1 -- gnt-instance list\n"
          "  .venv/bin/python -m testbed salt '*' grains.item oscodename roles\n"
          "  .venv/bin/python -m testbed timeline\n"
          "and stop it with: .venv/bin/python -m testbed down", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
