"""Synnefo's side of the test bed: the shared databases its stand-in programs work on."""

from testbed.synnefo import programs

# 0.18.1's IP log for the VMs: every address attributed later (by 0.19's migration) to the
# VM's current owner.
IP_LOG_START = "2016-01-0{day} 10:00:00.000000"


def owner(index):
    return f"{index:08x}-0000-4000-8000-{index:012x}"


def create(shared, topology):
    """Seed the shared Synnefo state: one VM per Ganeti instance (ids from 1, in name order),
    each with one IP address in the 0.18.1 IP log."""
    instances = sorted(topology.instances)
    vms = [(index, owner(index)) for index, _ in enumerate(instances, start=1)]
    log = [(f"192.0.2.{index}", index, 1, IP_LOG_START.format(day=min(index, 9)), None) for index, _ in vms]
    base = "https://cyclades1.example.org/cyclades"
    for name, roles in topology.hosts.items():
        if "cyclades" in roles:
            base = f"https://{name}.example.org/cyclades"
            break
    programs.create(shared, base_url=base, vms=vms, log=log)
