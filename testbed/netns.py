"""
The test bed's network: a "switch" namespace holding a bridge and the salt-master's address,
and one namespace per host joined to it with a veth pair. There is no route off the bridge
and forwarding stays off: the hosts' packets never leave the machine.
"""

import subprocess

PREFIX = "snftb"
SWITCH = f"{PREFIX}-switch"
BRIDGE = "br0"
SUBNET = "10.200.0"
MASTER_ADDRESS = f"{SUBNET}.1"
CLUSTER_ADDRESS = f"{SUBNET}.250"  # real Ganeti's cluster address (ganeti: real), past the hosts'


def path(name):
    return f"/run/netns/{name}"


def host_namespace(host):
    return f"{PREFIX}-{host}"


def _ip(*args, namespace=None):
    cmd = ["ip"] + (["-n", namespace] if namespace else []) + list(args)
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def existing():
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in result.stdout.splitlines() if line.split() and line.split()[0].startswith(PREFIX + "-")]


def create_switch():
    _ip("netns", "add", SWITCH)
    _ip("link", "set", "lo", "up", namespace=SWITCH)
    _ip("link", "add", BRIDGE, "type", "bridge", namespace=SWITCH)
    _ip("addr", "add", f"{MASTER_ADDRESS}/24", "dev", BRIDGE, namespace=SWITCH)
    _ip("link", "set", BRIDGE, "up", namespace=SWITCH)


def create_host(host, index):
    """Create ``host``'s namespace with address 10.200.0.(10+index) on the bridge."""
    name = host_namespace(host)
    address = f"{SUBNET}.{10 + index}"
    outside, inside = f"v{index}", f"h{index}"
    _ip("netns", "add", name)
    _ip("link", "add", outside, "netns", SWITCH, "type", "veth", "peer", "name", inside, "netns", name)
    _ip("link", "set", outside, "master", BRIDGE, namespace=SWITCH)
    _ip("link", "set", outside, "up", namespace=SWITCH)
    _ip("link", "set", inside, "name", "eth0", namespace=name)
    _ip("addr", "add", f"{address}/24", "dev", "eth0", namespace=name)
    _ip("link", "set", "eth0", "up", namespace=name)
    _ip("link", "set", "lo", "up", namespace=name)
    return address


def delete_all():
    for name in existing():
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def in_switch(command):
    """``command`` run in the switch namespace (where the master listens)."""
    return ["nsenter", f"--net={path(SWITCH)}", "--", *command]
