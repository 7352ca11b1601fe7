"""
Where the Synnefo upgrade stands, host by host, from what the minions and Ganeti report (so
it is right after a crash of the orchestration too).

.. code-block:: bash

    salt-run synnefo_upgrade.status
    salt-run synnefo_upgrade.status --out=json
"""

from __future__ import absolute_import, print_function, unicode_literals

import logging
import time

import salt.client

log = logging.getLogger(__name__)

__virtualname__ = "synnefo_upgrade"

TAG = "synnefo-upgrade"


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
    'codename', 'synnefo'}}``. Ganeti nodes' stages (from Ganeti's tags): pending, draining,
    upgrading, rebooting, restoring, done, failed; service nodes' (recorded on each host by the
    service phase): pending, download, ip-history-check, upgrade, ip-history, reboot, check, done,
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
    tags = {}
    for node in ganeti:
        if node not in grains:
            continue
        answer = client.cmd(node, "cmd.run", [["gnt-cluster", "getmaster"]], kwarg={"python_shell": False}, timeout=15)
        master = (answer.get(node) or "").strip()
        if master:
            for name in ganeti:
                found = client.cmd(master, "ganeti_rolling.tags", [name], timeout=15).get(master)
                tags[name] = found if isinstance(found, list) else []
            break
    # The service phase keeps each host's stage on the host itself.
    progress = _answers(client, "synnefo_files.progress")
    report = {}
    for host in hosts:
        info = grains.get(host) or {}
        entry = {"roles": (info or cached.get(host, {})).get("roles", []), "codename": info.get("oscodename"),
                 "synnefo": versions.get(host), "since": None, "error": None}
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
