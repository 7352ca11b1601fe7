"""Synnefo's side of the test bed: the shared databases its stand-in programs work on."""

from testbed.synnefo import programs

# 0.18.1's IP log for the VMs: every address attributed later (by 0.19's migration) to the
# VM's current owner.
IP_LOG_START = "2016-01-0{day} 10:00:00.000000"


def owner(index):
    return f"{index:08x}-0000-4000-8000-{index:012x}"


def cyclades_base_url(topology):
    for name, roles in topology.hosts.items():
        if "cyclades" in roles:
            return f"https://{name}.example.org/cyclades"
    return "https://cyclades1.example.org/cyclades"


def pillar(topology):
    """The formula's pillar fit for ``topology``: ``{file name: data}`` for the master's
    pillar_roots, with a top file giving every minion the cloud's file and its own
    (its ALLOWED_HOSTS)."""
    first = {role: next((h for h, roles in topology.hosts.items() if role in roles), "") for role in ("astakos", "cyclades")}
    base = cyclades_base_url(topology)
    cloud = {
        "synnefo_upgrade": {
            "databases": {
                "astakos": {
                    "minion": first["astakos"],
                    "backup": "cp /var/lib/synnefo-testbed/synnefo/state.json /var/backups/synnefo-state-0.18.1.json",
                },
                "cyclades": {
                    "minion": first["cyclades"],
                    "backup": "cp /var/lib/synnefo-testbed/cyclades.sqlite3 /var/backups/cyclades-0.18.1.sqlite3",
                },
            },
            "register": {"minion": first["astakos"], "cyclades_base_url": base, "cyclades_ui_url": base + "/ui"},
        }
    }
    files = {"synnefo_upgrade.sls": cloud}
    top = {"base": {"*": ["synnefo_upgrade"]}}
    for name in topology.hosts:
        files[f"host_{name.replace('-', '_')}.sls"] = {"synnefo_upgrade": {"settings": {"allowed_hosts": [f"{name}.example.org"]}}}
        top["base"][name] = [f"host_{name.replace('-', '_')}"]
    files["top.sls"] = top
    return files


def create(shared, topology):
    """Seed the shared Synnefo state: one VM per Ganeti instance (ids from 1, in name order),
    each with one IP address in the 0.18.1 IP log."""
    instances = sorted(topology.instances)
    vms = [(index, owner(index)) for index, _ in enumerate(instances, start=1)]
    log = [(f"192.0.2.{index}", index, 1, IP_LOG_START.format(day=min(index, 9)), None) for index, _ in vms]
    programs.create(shared, base_url=cyclades_base_url(topology), vms=vms, log=log)
