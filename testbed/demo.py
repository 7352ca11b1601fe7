"""
`make demo` for now: bring up the bundled test cluster and show what the formula would do to
its service nodes (a dry run of the per-minion upgrade, which changes nothing), then leave the
cluster running to explore. The orchestrated upgrade of the whole cloud comes with the
orchestration (see the open issues).
"""

import subprocess
import sys

from testbed import cluster

SERVICE_NODES = "G@roles:astakos or G@roles:cyclades or G@roles:pithos or G@roles:cms"


def salt(*args, quiet=False):
    command = cluster.salt_command(cluster.Paths(), "salt", list(args))
    return subprocess.run(command, check=False, stdout=subprocess.DEVNULL if quiet else None).returncode


def main():
    print("== bringing up the bundled test cluster (testbed/topologies/default.yaml)", flush=True)
    topology = cluster.up()
    print(f"   hosts: {', '.join(f'{h} {r}' for h, r in topology.hosts.items())}", flush=True)
    print("== syncing the formula's modules to the minions", flush=True)
    salt("*", "saltutil.sync_all", quiet=True)
    print("== what the formula would change on the service nodes (test=True: nothing changes)", flush=True)
    code = salt("-C", SERVICE_NODES, "state.apply", "synnefo_upgrade", "test=True", "--state-output=changes", "--timeout=120")
    print("\nThe cluster is still up. Explore it with:\n"
          "  .venv/bin/python -m testbed exec gnt1 -- gnt-instance list\n"
          "  .venv/bin/python -m testbed salt '*' grains.item oscodename roles\n"
          "  .venv/bin/python -m testbed timeline\n"
          "and stop it with: .venv/bin/python -m testbed down", flush=True)
    return 0 if code in (0, 1) else code  # salt exits 1 when a dry run reports pending changes


if __name__ == "__main__":
    sys.exit(main())
