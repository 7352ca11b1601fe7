"""
Print the plan of the Synnefo upgrade (``salt-run synnefo_upgrade.plan``) as an operator
reads it: the order of the Ganeti nodes and why, each node's services, VM moves (with the
memory check), packages and download, files, then the database migrations, the IP-history
fix, every diff and every warning. ``--out=json`` (or yaml) prints the same plan as data.

.. code-block:: bash

    salt-run synnefo_upgrade.plan
    salt-run synnefo_upgrade.plan --out=synnefo_plan
"""

from __future__ import absolute_import, print_function, unicode_literals

__virtualname__ = "synnefo_plan"

ORCHESTRATION = "synnefo_upgrade.orch"
# What a dry run before the upgrade cannot rehearse: everything else the run checks again
# before it stops the services.
AFTER_ONLY = (
    "0.19's service export for cyclades' re-registration (0.18.1's snf-service-export is older)",
    "the database migrations themselves (snf-manage migrate; a backup runs first)",
    "each service's answer after the reboot (pillar synnefo_upgrade:health)",
)


def __virtual__():
    return __virtualname__


def _mib(size):
    return "{:.1f} MiB".format(size / 1048576.0)


def _node_lines(node, info, free=None):
    free = free or {}
    lines = []
    if info.get("services"):
        lines.append("stop " + ", ".join(info["services"]))
    figure = info.get("memory_figure", "be/maxmem")
    for instance, target in sorted(info.get("moves", {}).items()):
        if info.get("methods", {}).get(instance) == "failover":
            lines.append("fail over stopped {} to {} (it stays stopped)".format(instance, target))
        else:
            lines.append(
                "live-migrate {} to {} ({} MiB free there before the evacuation, counting {})".format(
                    instance, target, free.get(target, "?"), figure
                )
            )
    for instance, why in sorted(info.get("downtime", {}).items()):
        lines.append("DOWNTIME: shut down {} before the upgrade, start it after the reboot ({}; allow_downtime)".format(instance, why))
    for instance, why in sorted(info.get("refused", {}).items()):
        lines.append("CANNOT MOVE {}: {}".format(instance, why))
    for instance, short in sorted(info.get("missing", {}).items()):
        lines.append("CANNOT MOVE {}: {} MiB of memory short on every other node (counting {})".format(instance, short, figure))
    lines.append("upgrade {} packages, {} to download".format(len(info.get("packages", {})), _mib(info.get("download_bytes", 0))))
    own = info.get("own_versions") or {}
    if own:
        lines.append(
            "snf-* packages with versions of their own (not Synnefo's, not checked): "
            + ", ".join("{} {} -> {}".format(n, c.get("old"), c.get("new")) for n, c in sorted(own.items()))
        )
    if info.get("files"):
        lines.append("change " + ", ".join(info["files"]))
    return ["  {}: {}".format(node, lines[0])] + ["  {}  {}".format(" " * len(node), line) for line in lines[1:]]


def _ganeti_lines(ganeti, cluster):
    """One Ganeti cluster's order, nodes and stop (``cluster``: its part of the plan)."""
    out = []
    if ganeti["order"]:
        out.append("  order: " + ", ".join(ganeti["order"]) + ": " + ganeti["why"])
    else:
        out.append("  " + ganeti["comment"])
    for node in ganeti["order"]:
        if node in ganeti["nodes"]:
            out += _node_lines(node, ganeti["nodes"][node], ganeti["nodes"][node].get("free_mib", {}))
    if cluster.get("stop_after"):
        done = [n for n in ganeti["order"] if n in ganeti["nodes"]]
        out.append(
            "  then the run STOPS as asked (stop_after: {}) after {}; the next run goes on, the service phase after the last node".format(
                cluster["stop_after"], ", ".join(done) or "no node"
            )
        )
    return out


def _text(plan):
    target = ", to {}".format(plan["to_version"]) if plan.get("to_version") else ""
    out = ["Synnefo upgrade plan (a dry run of {}: nothing was changed){}".format(ORCHESTRATION, target), ""]
    out.append("Preflight: " + plan["preflight"])
    for refusal in plan["refused"]:
        out.append("REFUSED: " + refusal)
    ganeti = plan["ganeti"]
    clusters = ganeti.get("clusters") or {}
    if len(clusters) > 1:
        out += ["", "1. Ganeti clusters side by side, each one node at a time (drain, live-migrate the VMs away, upgrade, reboot,"]
        out.append("   migrate them back):")
        for name, cluster in sorted(clusters.items()):
            out += ["", "  cluster {} (master {}):".format(name, cluster["master"])]
            out += ["  " + line for line in _ganeti_lines(dict(ganeti, order=cluster["order"], why=cluster.get("why", "")), cluster)]
        if ganeti.get("window"):
            out.append("  MAINTENANCE WINDOW: " + ganeti["window"])
    else:
        out += ["", "1. Ganeti nodes, one at a time (drain, live-migrate the VMs away, upgrade, reboot, migrate them back):"]
        out += _ganeti_lines(ganeti, ganeti)
        if ganeti.get("window"):
            out.append("  MAINTENANCE WINDOW: " + ganeti["window"])
    services = plan["services"]
    out += ["", "2. Service nodes, together (the API is down from their services' stop to their reboot):"]
    if not services["nodes"]:
        out.append("  " + services["comment"])
    for node, info in sorted(services["nodes"].items()):
        out += _node_lines("{} [{}]".format(node, ", ".join(info.get("roles", []))), info)
    out += ["", "Database migrations (a backup first, then snf-manage migrate, once each):"]
    out += ["  {}: on {}".format(service, minion) for service, minion in sorted(plan["migrations"].items())] or ["  none"]
    out += ["", "IP history (fix_ip_history):", "  " + (plan["ip_history"] or {}).get("comment", "no changelog given: not run")]
    out += ["", "Download: {} in all, before any node is drained or any service stopped".format(_mib(sum(plan["download_bytes"].values())))]
    diffs = [
        (host, path, diff)
        for phase in ("ganeti", "services")
        for host, info in sorted(plan[phase]["nodes"].items())
        for path, diff in sorted(info.get("diffs", {}).items())
    ]
    if diffs:
        out += ["", "Files changed (each edited in place, owner and mode kept, an existing one backed up first):"]
        for host, path, diff in diffs:
            out.append("  {}: {}".format(host, path))
            out += ["    " + line for line in (diff or "(renamed or created)").splitlines()]
    out += ["", "Checked only once 0.19 is installed, inside the outage (the old system cannot show them):"]
    out += ["  - " + what for what in AFTER_ONLY]
    out += ["", "Warnings:"] + (["  - " + w for w in plan["warnings"]] or ["  none"])
    out += ["", "Planned in {:.1f} s. Run it with: salt-run state.orchestrate {}".format(plan["seconds"], ORCHESTRATION)]
    return "\n".join(out)


def output(data, **kwargs):
    """The plan as text; anything else (an error) as it is."""
    if isinstance(data, dict) and "ganeti" in data and "services" in data:
        return _text(data)
    return "{}".format(data)
