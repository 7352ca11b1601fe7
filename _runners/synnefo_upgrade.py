"""
The operator's view of the Synnefo upgrade, on the salt-master:

- :py:func:`plan`: what the orchestration will do, from its own dry run (nothing changes);
- :py:func:`report`: a run of it as one HTML page, from Salt's job cache;
- :py:func:`status`: where the upgrade stands, host by host, from what the minions and Ganeti
  report (so it is right after a crash of the orchestration too).

.. code-block:: bash

    salt-run synnefo_upgrade.plan
    salt-run synnefo_upgrade.plan --out=json
    salt-run synnefo_upgrade.report
    salt-run synnefo_upgrade.status
    salt-run synnefo_upgrade.status --out=json
"""

from __future__ import absolute_import, print_function, unicode_literals

import io
import logging
import os
import time

import salt.client
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "synnefo_upgrade"

TAG = "synnefo-upgrade"
ORCHESTRATION = "synnefo_upgrade.orch"
PREFLIGHT = "synnefo-upgrade-orch-preflight-passed"
GANETI_PHASE = "synnefo-upgrade-orch-ganeti-nodes-upgraded"
SERVICE_PHASE = "synnefo-upgrade-orch-service-nodes-upgraded"


def __virtual__():
    return __virtualname__


def _answers(client, function, args=(), timeout=15):
    return client.cmd("roles:*", function, list(args), timeout=timeout, tgt_type="grain")


def _version_at_least(client, host, version, wanted):
    answer = client.cmd(host, "pkg.version_cmp", [version, wanted], timeout=15)
    return answer.get(host) is not None and answer[host] >= 0


def status(to_version="0.19-1~jessie"):
    """
    Return one entry per host that has a role: ``{host: {'stage', 'since', 'error', 'roles',
    'codename', 'synnefo'}}``, and for a Ganeti node its ``'cluster'`` (as Ganeti names it).
    Ganeti nodes' stages (from Ganeti's tags): pending, draining,
    upgrading, rebooting, restoring, done, failed; service nodes' (recorded on each host by the
    service phase): pending, download, ip-history-check, rehearsal, upgrade, databases, reboot, check, done,
    failed. A host that does not answer is ``unreachable`` unless Ganeti's tags say more.

    CLI Example:

    .. code-block:: bash

        salt-run synnefo_upgrade.status
    """
    client = salt.client.LocalClient(mopts=__opts__)
    grains = _answers(client, "grains.item", ["roles", "oscodename"])
    versions = _answers(client, "pkg.version", ["snf-common"])
    cached = __salt__["cache.grains"](tgt="*") or {}
    hosts = sorted(set(grains) | set(m for m, g in cached.items() if g and g.get("roles")))
    ganeti = [h for h in hosts if "ganeti" in (grains.get(h) or cached.get(h) or {}).get("roles", [])]
    # Each Ganeti node's cluster as Ganeti answers on it; each cluster's tags from its master.
    tags, cluster_of = {}, {}
    answering = [n for n in ganeti if n in grains]
    told = client.cmd(answering, "ganeti_rolling.cluster", [], timeout=15, tgt_type="list") if answering else {}
    masters = {}
    for node in answering:
        master = (told.get(node) or {}).get("master") if isinstance(told.get(node), dict) else None
        if master:
            masters.setdefault(master, []).append(node)
    for master, members in sorted(masters.items()):
        name = (told.get(master) or {}).get("name") if isinstance(told.get(master), dict) else None
        for node in members:
            cluster_of[node] = name or master
        for node in ganeti:
            if node in members or node not in cluster_of:
                found = client.cmd(master, "ganeti_rolling.tags", [node], timeout=15).get(master)
                if isinstance(found, list):
                    tags[node] = found
                    cluster_of.setdefault(node, name or master)
    # The service phase keeps each host's stage on the host itself.
    progress = _answers(client, "synnefo_files.progress")
    report = {}
    for host in hosts:
        info = grains.get(host) or {}
        entry = {
            "roles": (info or cached.get(host, {})).get("roles", []),
            "codename": info.get("oscodename"),
            "synnefo": versions.get(host),
            "since": None,
            "error": None,
        }
        if host in ganeti:
            entry["cluster"] = cluster_of.get(host)
        own = tags.get(host, [])
        stage = next((t.split(":", 2)[2] for t in own if t.startswith(TAG + ":stage:")), None)
        failed = next((t.split(":", 2)[2] for t in own if t.startswith(TAG + ":failed:")), None)
        since = next((int(t.split(":", 2)[2]) for t in own if t.startswith(TAG + ":since:")), None)
        own_progress = progress.get(host) if isinstance(progress.get(host), dict) else {}
        if failed:
            entry["stage"], entry["error"] = "failed", "step {} failed (see the orchestration's output)".format(failed)
        elif stage:
            entry["stage"] = stage
        elif own_progress.get("phase") == "services":
            entry["stage"], entry["error"] = own_progress["stage"], own_progress.get("error")
            since = own_progress.get("since")
        elif host not in grains:
            entry["stage"] = "unreachable"
        elif entry["synnefo"] and _version_at_least(client, host, entry["synnefo"], to_version) and entry["codename"] == "jessie":
            entry["stage"] = "done"
        else:
            entry["stage"] = "pending"
        entry["since"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(since)) if since else None
        report[host] = entry
    return report


def _orchestration_dry_run(pillar, saltenv):
    """``{state id: result}`` of the whole orchestration in test mode."""
    returned = __salt__["state.orchestrate"](ORCHESTRATION, saltenv=saltenv, test=True, pillar=pillar)
    data = (returned or {}).get("data") or {}
    running = next(iter(data.values()), None) if data else None
    if not isinstance(running, dict):
        raise CommandExecutionError("{} did not render: {}".format(ORCHESTRATION, running if running else returned))
    return dict((key.split("_|-")[1], value) for key, value in running.items() if isinstance(value, dict) and "_|-" in key)


def plan(pillar=None, saltenv="base"):
    """
    Show what the upgrade will do, changing nothing: the orchestration's own dry run
    (``state.orchestrate synnefo_upgrade.orch test=True``, the same code that then does it),
    gathered per host. Returns (``--out=json``: as data) ``{'to_version', 'preflight',
    'refused', 'ganeti': {'order', 'master', 'failover_to' (with one Ganeti cluster), 'why',
    'clusters': {name: {'order', 'master', 'failover_to', 'nodes', 'why', 'stop_after'}},
    'nodes': {node: {'moves',
    'missing', 'free_mib', 'services', 'packages', 'download_bytes', 'files', 'diffs',
    'warnings'}}}, 'services': {'nodes': {node: {...the same, 'roles'}}}, 'migrations',
    'ip_history', 'download_bytes': {host: bytes}, 'kept_conffiles': {host: {package:
    [path]}}, 'warnings', 'seconds'}``, printed as text by the formula's ``synnefo_plan``
    outputter (``_output/``).

    pillar
        Pillar overrides for the orchestration, as for ``state.orchestrate``.

    CLI Example:

    .. code-block:: bash

        salt-run synnefo_upgrade.plan
        salt-run synnefo_upgrade.plan --out=json
    """
    started = time.time()
    results = _orchestration_dry_run(pillar, saltenv)
    preflight = results.get(PREFLIGHT, {})
    ganeti_result, services_result = results.get(GANETI_PHASE, {}), results.get(SERVICE_PHASE, {})
    refused = ["{}: {}".format(step, r.get("comment")) for step, r in sorted(results.items()) if r.get("result") is False]
    ganeti_changes = dict(ganeti_result.get("changes") or {})
    order = ganeti_changes.pop("order", [])
    to_version = ganeti_changes.pop("to_version", "")
    master, failover = ganeti_changes.pop("master", None), ganeti_changes.pop("failover_to", None)
    stop_after = ganeti_changes.pop("stop_after", None)
    window = ganeti_changes.pop("window", None)
    clusters = ganeti_changes.pop("clusters", {})
    why = "pillar synnefo_upgrade:orchestration:node_order first, then by name"
    for cluster in clusters.values():
        cluster["why"] = why
        if cluster["master"] in cluster["nodes"]:
            cluster["why"] += "; the Ganeti master {} last, after a master failover to {}".format(cluster["master"], cluster["failover_to"])
    if master in order:
        why += "; the Ganeti master {} last, after a master failover to {}".format(master, failover)
    services_changes = dict(services_result.get("changes") or {})
    migrations = services_changes.pop("migrations", {})
    ip_history = services_changes.pop("ip_history", None)
    service_warnings = services_changes.pop("warnings", [])
    data = {
        "to_version": to_version,
        "preflight": preflight.get("comment") or "not run",
        "refused": refused,
        "ganeti": {
            "order": order,
            "master": master,
            "failover_to": failover,
            "stop_after": stop_after,
            "window": window,
            "why": why,
            "clusters": clusters,
            "nodes": ganeti_changes,
            "comment": ganeti_result.get("comment", ""),
        },
        "services": {"nodes": services_changes, "comment": services_result.get("comment", "")},
        "migrations": migrations,
        "ip_history": ip_history,
    }
    hosts = dict(ganeti_changes)
    hosts.update(services_changes)
    data["download_bytes"] = dict((h, info.get("download_bytes", 0)) for h, info in hosts.items())
    kept = {}
    if hosts:
        client = salt.client.LocalClient(mopts=__opts__)
        answers = client.cmd(sorted(hosts), "apt_jessie.kept_conffiles", [], timeout=60, tgt_type="list")
        for host, info in sorted(hosts.items()):
            found = answers.get(host)
            if isinstance(found, dict):
                kept[host] = dict((p, paths) for p, paths in found.items() if p in info.get("packages", {}))
    data["kept_conffiles"] = dict((h, k) for h, k in kept.items() if k)
    warnings = [part for part in (preflight.get("comment") or "").split("; ") if part.startswith("warning")]
    warnings += ["{}: {}".format(n, w) for n, info in sorted(ganeti_changes.items()) for w in info.get("warnings", [])]
    warnings += service_warnings
    warnings += [
        "{}: warning: {} keeps the locally edited {} (a new version from the package is left beside it as .dpkg-dist)".format(
            h, p, ", ".join(paths)
        )
        for h, found in sorted(data["kept_conffiles"].items())
        for p, paths in sorted(found.items())
    ]
    data["warnings"] = warnings
    data["seconds"] = round(time.time() - started, 1)
    # Printed as text by the formula's outputter; --out=json (or yaml) prints the data.
    return {"outputter": "synnefo_plan", "data": data}


# --- the report: one self-contained HTML page from the orchestration's job ----------------

COLOURS = {
    "download": "#7aa6d8",
    "drain": "#e0a040",
    "upgrade": "#8a6fc1",
    "reboot": "#c05050",
    "restore": "#50a070",
    "master-failover": "#d07fb0",
    "ip-history-check": "#90a0b0",
    "rehearsal": "#a0b0c0",
    "check": "#60b0a0",
    "services stopped": "#b08040",
    "dist-upgrade": "#6f5fb0",
    "database migration": "#3f7fbf",
    "configuration": "#4fa0a0",
    "IP history": "#a0a040",
    "registration": "#c08060",
    "migrate": "#d0b050",
    "databases": "#3f5f9f",
}


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def _runner_jids():
    """The jids of the runner jobs in the master's job cache (local_cache: ``jobs/<xx>/<hash>/``
    holding a ``<master id>_master`` return), newest first. ``jobs.list_jobs`` does not list
    runner jobs: they keep no load there."""
    root = os.path.join(__opts__["cachedir"], "jobs")
    jids = []
    for top in _listdir(root):
        for name in _listdir(os.path.join(root, top)):
            job = os.path.join(root, top, name)
            if any(entry.endswith("_master") for entry in _listdir(job)):
                try:
                    with io.open(os.path.join(job, "jid"), encoding="utf-8") as handle:
                        jids.append(handle.read().strip())
                except (IOError, OSError):
                    continue
    return sorted(jids, reverse=True)


def _is_orchestration_run(returned):
    """A real (not test=True) ``state.orchestrate`` of the whole orchestration or a phase."""
    for job in (returned or {}).values():
        if not isinstance(job, dict) or job.get("fun") != "runner.state.orchestrate":
            continue
        arguments = job.get("fun_args") or []
        ours = any(hasattr(a, "startswith") and (a == ORCHESTRATION or a.startswith(ORCHESTRATION + ".")) for a in arguments)
        dry = any(a.get("test") for a in arguments if isinstance(a, dict)) or "test=True" in arguments
        if ours and not dry:
            return True
    return False


def _latest_orchestration(scan=200):
    for jid in _runner_jids()[:scan]:
        if _is_orchestration_run(__salt__["jobs.lookup_jid"](jid, display_progress=False)):
            return jid
    raise CommandExecutionError("no run of {} in the job cache (keep_jobs may have expired it; give jid=...)".format(ORCHESTRATION))


def _job_states(jid):
    """``{state id: result}`` of an orchestration job, from Salt's job cache."""
    returned = __salt__["jobs.lookup_jid"](jid, display_progress=False)
    # A runner job's return is kept as the runner returned it: {'data': {'<master>_master': {...}}}.
    candidates = [returned]
    while candidates:
        value = candidates.pop()
        if isinstance(value, dict):
            keyed = dict((k.split("_|-")[1], v) for k, v in value.items() if isinstance(v, dict) and "_|-" in k)
            if keyed:
                return keyed
            candidates.extend(value.values())
    raise CommandExecutionError("job {} has no orchestration return in the job cache (is it a synnefo_upgrade.orch run?)".format(jid))


def _report_data(jid, states):
    rows, failures = [], []
    for state_id in (GANETI_PHASE, SERVICE_PHASE):
        result = states.get(state_id) or {}
        changes = result.get("changes") or {}
        rows += [dict(entry, phase="ganeti" if state_id == GANETI_PHASE else "services") for entry in changes.get("timeline", [])]
        if result.get("result") is False:
            failures.append(result.get("comment", ""))
    if (states.get(PREFLIGHT) or {}).get("result") is False:
        failures.append(states[PREFLIGHT].get("comment", ""))
    ganeti = (states.get(GANETI_PHASE) or {}).get("changes") or {}
    services = (states.get(SERVICE_PHASE) or {}).get("changes") or {}
    versions = dict((node, info) for node, info in ganeti.items() if isinstance(info, dict) and "snf_common_after" in info)
    versions.update(services.get("hosts", {}))
    upgrade = [r for r in rows if r["phase"] == "services" and r["step"] in ("upgrade", "reboot") and "end" in r and not r.get("parent")]
    window = [min(r["start"] for r in upgrade), max(r["end"] for r in upgrade)] if upgrade else None
    stopped = [r["start"] for r in rows if r["phase"] == "services" and r["step"] == "services stopped"]
    if window and stopped:
        window[0] = min(stopped)  # the outage starts with the first service stopped, not with the job
    # A run that stopped after the services went down left them down: the window stays open.
    still_down = bool(window) and (states.get(SERVICE_PHASE) or {}).get("result") is False
    if still_down:
        window[1] = max(r.get("end", r["start"]) for r in rows)
    return {
        "jid": jid,
        "rows": rows,
        "failures": failures,
        "versions": versions,
        "ganeti_notes": ganeti_notes(ganeti),
        "clusters": dict(
            (name, {"nodes": info.get("nodes", []), "result": info.get("result"), "comment": info.get("comment", "")})
            for name, info in (ganeti.get("clusters") or {}).items()
        ),
        "warnings": services.get("warnings", []) + ganeti.get("notify_warnings", []) + services.get("notify_warnings", []),
        "migrations": services.get("migrations", {}),
        "api_down": window,
        "api_still_down": still_down,
        "ok": not failures and all(s.get("result") is not False for s in states.values()),
    }


def ganeti_notes(changes):
    """What the Ganeti phase did beyond its steps, one line each (per Ganeti cluster where it
    is the cluster's): where a run stopped as asked (or at its window, or because another
    cluster failed), a cluster that failed, what a failure before a dist-upgrade undid (and what it could not),
    the downtime it was allowed (per instance), what ``gnt-cluster verify`` showed that a
    half-upgraded cluster must show (with why), and the master candidate set put back (or
    why not)."""
    notes = []
    clusters = changes.get("clusters") or {"": changes}  # a run before several clusters kept these at the top
    for name, cluster in sorted(clusters.items()):
        prefix = "cluster {}: ".format(name) if len(clusters) > 1 else ""
        stopped = cluster.get("stopped") or {}
        if stopped:
            why = (
                "stop_after: {}".format(stopped["stop_after"])
                if stopped.get("stop_after")
                else stopped.get("window") or "Ganeti cluster {} failed".format(stopped.get("other_cluster_failed"))
            )
            notes.append(
                "{}stopped before {} ({}); done in this run: {}".format(
                    prefix, stopped.get("next"), why, ", ".join(stopped.get("after", [])) or "none"
                )
            )
        if len(clusters) > 1 and cluster.get("result") is False:
            notes.append("{}FAILED: {}".format(prefix, cluster.get("comment")))
        candidates = cluster.get("master_candidates") or {}
        notes += ["{}master candidates: {}".format(prefix, line) for line in candidates.get("restored", [])]
        notes += ["{}master candidates NOT as before: {}".format(prefix, line) for line in candidates.get("not_restored", [])]
    for node, info in sorted(changes.items()):
        if not isinstance(info, dict) or node == "clusters":
            continue
        if "undone" in info:
            notes.append("{}: undone after the failure: {}".format(node, ", ".join(info["undone"]) or "nothing"))
        if info.get("not_undone"):
            notes.append("{}: NOT undone (the node stays drained): {}".format(node, "; ".join(info["not_undone"])))
        for instance, seconds in sorted((info.get("downtime_seconds") or {}).items()):
            notes.append("{}: {} was down {} s (allow_downtime)".format(node, instance, seconds))
        notes += ["{}: gnt-cluster verify: tolerated {}".format(node, line) for line in info.get("verify_tolerated") or []]
    return notes


def own_versions_text(before, after):
    """``snf-image 0.21-1~wheezy -> 0.21.1-1~jessie, ...`` (``-`` where one side lacks it)."""
    names = sorted(set(before) | set(after))
    return ", ".join("{} {} -> {}".format(n, before.get(n, "-"), after.get(n, "-")) for n in names) or "none"


def _escape(text):
    return ("{}".format(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _clock(moment):
    return time.strftime("%H:%M:%S", time.gmtime(moment))


def _html(data):
    """The page: an SVG time line (a row per host, a bar per step, the API's downtime shaded,
    failures in red with their message) and tables of versions, migrations, warnings."""
    rows = [r for r in data["rows"] if "start" in r]
    hosts = []
    for row in rows:
        if row["host"] not in hosts:
            hosts.append(row["host"])
    # Several Ganeti clusters: each one's nodes together (a group of rows), by name.
    clusters = data.get("clusters") or {}
    cluster_of = dict((n, c) for c, info in clusters.items() for n in info["nodes"]) if len(clusters) > 1 else {}
    seen = list(hosts)
    hosts.sort(key=lambda h: (h not in cluster_of, cluster_of.get(h, ""), seen.index(h)))
    begin = min([r["start"] for r in rows] or [0])
    end = max([r.get("end", r["start"]) for r in rows] or [1])
    span = max(end - begin, 1.0)
    left, width, height = 160, 900, 26
    scale = width / span

    def x(moment):
        return left + (moment - begin) * scale

    svg = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">'.format(
            left + width + 60, 40 + height * (len(hosts) * 2) + 20
        )
    ]
    if data["api_down"]:
        low, high = data["api_down"]
        svg.append(
            '<rect class="api-down" x="{:.1f}" y="20" width="{:.1f}" height="{}" fill="#f3d6d6"><title>API down {:.1f} s'
            "</title></rect>".format(x(low), max((high - low) * scale, 1), height * len(hosts) * 2, high - low)
        )
        label = "API down {:.1f} s{}".format(high - low, ", still down when the run stopped" if data.get("api_still_down") else "")
        svg.append('<text x="{:.1f}" y="14" text-anchor="end" fill="#a03030">{}</text>'.format(x(high), label))
    for tick in range(0, 11):
        moment = begin + span * tick / 10.0
        svg.append(
            '<line x1="{0:.1f}" x2="{0:.1f}" y1="20" y2="{1}" stroke="#ddd"/><text x="{0:.1f}" y="{2}" '
            'text-anchor="middle" fill="#666">{3}</text>'.format(
                x(moment), 20 + height * len(hosts) * 2, 32 + height * len(hosts) * 2, _clock(moment)
            )
        )
    for index, host in enumerate(hosts):
        top = 20 + index * height * 2
        svg.append('<text x="4" y="{}" font-weight="bold">{}</text>'.format(top + 17, _escape(host)))
        if host in cluster_of:
            label = '<text class="cluster" x="4" y="{}" fill="#666">cluster {}</text>'
            svg.append(label.format(top + 17 + height, _escape(cluster_of[host])))
        for row in (r for r in rows if r["host"] == host):
            failed = row.get("outcome") == "failed"
            y = top + (height if row.get("parent") else 0) + 4
            stop = row.get("end", end)
            title = "{} {}: {} to {} ({:.1f} s){}".format(
                host, row["step"], _clock(row["start"]), _clock(stop), stop - row["start"], ": " + row.get("error", "") if failed else ""
            )
            svg.append(
                '<rect class="step{}" data-host="{}" data-step="{}" x="{:.1f}" y="{}" width="{:.1f}" height="{}" fill="{}"'
                "{}><title>{}</title></rect>".format(
                    " failed" if failed else "",
                    _escape(host),
                    _escape(row["step"]),
                    x(row["start"]),
                    y,
                    max((stop - row["start"]) * scale, 2),
                    height - 8,
                    "#d02020" if failed else COLOURS.get(row["step"], COLOURS.get(row["step"].split(" ")[0], "#999")),
                    ' stroke="#600" stroke-width="2"' if failed else "",
                    _escape(title),
                )
            )
            if (stop - row["start"]) * scale > 7 * len(row["step"]):
                svg.append('<text x="{:.1f}" y="{}" fill="#fff">{}</text>'.format(x(row["start"]) + 3, y + 13, _escape(row["step"])))
    svg.append("</svg>")
    status = "finished" if data["ok"] else "FAILED"
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Synnefo upgrade {} ({})</title>'.format(_escape(data["jid"]), status),
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:left}.failure{color:#a00;font-weight:bold}</style></head><body>",
        "<h1>Synnefo upgrade: {}</h1>".format(status),
        "<p>Orchestration job {}, {} to {} UTC.</p>".format(_escape(data["jid"]), _clock(begin), _clock(end)),
    ]
    out += ['<p class="failure">{}</p>'.format(_escape(f)) for f in data["failures"]]
    out += ["<h2>Steps</h2>"] + svg
    out.append(
        "<p>"
        + " ".join(
            '<span style="background:{};color:#fff;padding:1px 4px">{}</span>'.format(c, _escape(s)) for s, c in sorted(COLOURS.items())
        )
        + "</p>"
    )
    out += [
        "<h2>Versions</h2>",
        "<table><tr><th>host</th><th>codename before</th><th>after</th><th>snf-common before</th><th>after</th>"
        "<th>other snf-* packages, versions of their own (before &rarr; after)</th></tr>",
    ]
    for host, info in sorted(data["versions"].items()):
        out.append(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                *[
                    _escape(v)
                    for v in (
                        host,
                        info.get("codename_before"),
                        info.get("codename_after"),
                        info.get("snf_common_before"),
                        info.get("snf_common_after"),
                        own_versions_text(info.get("own_versions_before") or {}, info.get("own_versions_after") or {}),
                    )
                ]
            )
        )
    out.append("</table>")
    if clusters:
        out += ["<h2>Ganeti clusters</h2>", "<table><tr><th>cluster</th><th>nodes</th><th>outcome</th><th>what happened</th></tr>"]
        for name, info in sorted(clusters.items()):
            outcome = {True: "done", False: "FAILED", None: "stopped"}.get(info.get("result"), "")
            if info.get("result") is True and (info.get("comment") or "").startswith("stopped"):
                outcome = "stopped"
            out.append(
                '<tr class="cluster"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>'.format(
                    _escape(name), _escape(", ".join(info["nodes"])), outcome, _escape(info.get("comment"))
                )
            )
        out.append("</table>")
    out += ["<h2>Ganeti</h2>", "<ul>"]
    out += ["<li>{}</li>".format(_escape(n)) for n in data.get("ganeti_notes") or ["every VM kept running; nothing to note"]] + ["</ul>"]
    out += ["<h2>Database migrations</h2>", "<ul>"]
    out += ["<li>{} on {}</li>".format(_escape(s), _escape(m)) for s, m in sorted(data["migrations"].items())] + ["</ul>"]
    out += ["<h2>Warnings</h2>", "<ul>"] + ["<li>{}</li>".format(_escape(w)) for w in data["warnings"]] + ["</ul>", "</body></html>"]
    return "\n".join(out) + "\n"


def report(jid=None, path=None):
    """
    Build one self-contained HTML page (no network needed to view it) of an orchestration
    run of ``synnefo_upgrade.orch`` (or of one of its phases) from its return in Salt's job cache: a row per host with
    its steps as bars on a time axis, the API's downtime shaded, failures marked with their
    message, and the versions before and after, the migrations and the warnings. Returns
    ``{'path', 'jid', 'ok', 'failures', 'api_down_seconds', 'hosts': {host: [steps]}, 'parts':
    {host: [the steps' parts: migrations, the upgrade job's parts]}}``.

    jid
        The orchestration's job (default: the newest real run in the job cache).

    path
        Where to write the page (default ``<cachedir>/synnefo_upgrade/report-<jid>.html``).

    CLI Example:

    .. code-block:: bash

        salt-run synnefo_upgrade.report
        salt-run synnefo_upgrade.report jid=20261126101500123456 path=/root/upgrade.html
    """
    jid = "{}".format(jid) if jid else _latest_orchestration()
    data = _report_data(jid, _job_states(jid))
    path = path or os.path.join(__opts__["cachedir"], "synnefo_upgrade", "report-{}.html".format(jid))
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    # Readable by its writer only (the cluster's names, steps, diffs): as every file the
    # formula writes with data in it.
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(handle, 0o600)
    with io.open(handle, "w", encoding="utf-8") as out:
        out.write(_html(data))
    hosts, parts = {}, {}
    for row in data["rows"]:
        (parts if row.get("parent") else hosts).setdefault(row["host"], []).append(row["step"])
    window = data["api_down"]
    return {
        "path": path,
        "jid": jid,
        "ok": data["ok"],
        "failures": data["failures"],
        "hosts": hosts,
        "parts": parts,
        "api_down_seconds": round(window[1] - window[0], 1) if window else None,
    }
