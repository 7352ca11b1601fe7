"""
The test bed's command line, run from the repository root with the project's virtualenv:

    python -m testbed up [TOPOLOGY]          start a cluster (the default topology when none)
    python -m testbed exec HOST -- CMD...    run a command inside a host, as root
    python -m testbed salt ARGS...           salt against the test bed's master
    python -m testbed salt-run ARGS...       salt-run against the test bed's master
    python -m testbed timeline               the recorded events, one JSON object a line
    python -m testbed fault add|clear KIND ARGS...   inject or clear a fault (testbed.faults)
    python -m testbed status                 hosts, addresses, roles
    python -m testbed restart-master         stop the salt-master and start it again
    python -m testbed down                   stop it and remove every trace
    python -m testbed build-salt             build (once) the Salt 2019.2 on Python 2.7 stack
    python -m testbed build-ganeti           build (once) the bookworm root with real Ganeti 3.0
    python -m testbed build-synnefo          build (once) GRNET's Synnefo 0.18.1 and 0.19 on Python 2.7
"""

import json
import os
import sys

from testbed import cluster, faults, saltstack, timeline
from testbed.topology import TopologyError


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    paths = cluster.Paths()
    try:
        if command == "up":
            topology = cluster.up(args[0] if args else None)
            print(f"test bed up: {', '.join(topology.hosts)} (master {cluster.netns.MASTER_ADDRESS})")
            return 0
        if command == "build-salt":
            saltstack.build_legacy()
            return 0
        if command == "build-ganeti":
            from testbed import realganeti

            print(realganeti.build())
            return 0
        if command == "build-synnefo":
            from testbed import realsynnefo

            realsynnefo.build()  # its BuildError is saltstack's, reported below
            return 0
        if command == "restart-master":
            cluster.restart_master()
            return 0
        if command == "down":
            cluster.down()
            return 0
        if command == "_daemon":
            from testbed.topology import load

            return cluster.Daemon(load(args[0]), paths).serve()
        if command == "_mirror":
            from testbed import mirror

            mirror.serve(args[0], args[1], int(args[2]), int(args[3]))
            return 0
        if command == "exec":
            if len(args) < 3 or args[1] != "--":
                print("usage: python -m testbed exec HOST -- COMMAND...", file=sys.stderr)
                return 2
            host = cluster.host(args[0], paths)
            os.execvp("nsenter", host.enter_command(args[2:]))
        if command in ("salt", "salt-run", "salt-key"):
            cluster.load_state(paths)
            os.execvp("nsenter", cluster.salt_command(paths, command, args))
        if command == "timeline":
            for event in timeline.read(paths.shared):
                print(json.dumps(event, sort_keys=True))
            return 0
        if command == "fault":
            if len(args) < 2 or args[0] not in ("add", "clear"):
                print("usage: python -m testbed fault add|clear KIND ARGS...", file=sys.stderr)
                return 2
            (faults.add if args[0] == "add" else faults.clear)(paths.shared, args[1], *args[2:])
            return 0
        if command == "status":
            print(json.dumps(cluster.load_state(paths), indent=1))
            return 0
    except (TopologyError, cluster.ClusterError, faults.FaultError, saltstack.BuildError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1
    print(f"testbed: unknown command {command!r}; see python -m testbed --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
