"""Synnefo's side of the test bed: the shared databases its stand-in programs work on, and the
formula's pillar for the bed's cloud (stand-in or real Synnefo)."""

from testbed import netns
from testbed.realsynnefo import database

from testbed.synnefo import programs

SERVICES = ("astakos", "cyclades", "pithos")

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
    backups = {
        "astakos": "cp /var/lib/synnefo-testbed/synnefo/state.json /var/backups/synnefo-state-0.18.1.json",
        "cyclades": "cp /var/lib/synnefo-testbed/cyclades.sqlite3 /var/backups/cyclades-0.18.1.sqlite3",
    }
    if topology.synnefo == "real":
        # The install guide's database on the bed's PostgreSQL, dumped by real pg_dump (its
        # password on the command line: the formula masks it wherever it shows the command).
        backups = dict(
            (
                service,
                f"PGPASSWORD={database.PASSWORD} pg_dump -Fc -h {netns.MASTER_ADDRESS} -U {database.USER} "
                f"-f /var/backups/snf_apps-{service}-0.18.1.dump snf_apps",
            )
            for service in backups
        )
    cloud = {
        "synnefo_upgrade": {
            "databases": {
                "astakos": {"minion": first["astakos"], "backup": backups["astakos"]},
                "cyclades": {"minion": first["cyclades"], "backup": backups["cyclades"]},
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
