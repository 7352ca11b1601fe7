"""
The test bed's topology file:

.. code-block:: yaml

    hosts:
      gnt1: {roles: [ganeti], memory: 8192}     # memory: MiB for VMs (default 8192)
      astakos1: {roles: [astakos]}
    ganeti_master: gnt1
    # or several Ganeti clusters, each Ganeti host naming its own (hosts: gnt1: {roles:
    # [ganeti], cluster: alpha}); instead of ganeti_master:
    # ganeti_clusters: {alpha: {master: gnt1, candidate_pool_size: 3}, beta: {master: gnt4}}
    instances:                  # each: its primary node, or a mapping
      vm1: gnt1
      vm2: {node: gnt1, memory: 2048}                      # memory default 1024 MiB
      vm3: {node: gnt1, status: stopped}                   # ADMIN_down (default running)
      vm4: {node: gnt2, disk_template: drbd, secondary: gnt1, disk_mib: 10240}
      vm5: {node: gnt2, disk_template: plain}              # not migratable
      vm6: {node: gnt2, always_failover: true, minmem: 512}
    migration_mib_per_s: 4096   # live migration speed (default 4096)
    candidate_pool_size: 10     # Ganeti's cluster parameter (default 10)
    drbd_resync_mib_per_s: 1024 # how fast a returned DRBD replica catches up (default 1024)
    ganeti: standin         # or real: Debian 12's Ganeti 3.0 (ext plays as sharedfile, plain as file)
    synnefo: standin        # or real: GRNET's Synnefo 0.18.1 and 0.19 on PostgreSQL 15 (testbed/realsynnefo)
    timezone: Europe/Athens # the hosts' clocks (default Europe/Athens, the operators' zone)
    salt: '2019.2'          # or current (see testbed.saltstack); 2019.2 when not given
    apt: {http: true, rate_kib_s: 4096, payload_kib: 2048}

``apt`` (optional): how the hosts reach the APT repository. ``file:`` by default (downloads
take no time, for fast tests); with ``http: true`` over HTTP from the bridge's address at
``rate_kib_s`` KiB/s shared by all hosts (default 4096), and every jessie package carries
``payload_kib`` KiB of incompressible data (default 2048 over HTTP, 0 over file:), so that a
node's dist-upgrade downloads tens of MiB.

Roles: ganeti, astakos, cyclades, pithos, cms (a host may carry several). Instances map to
their primary node. Every error names the file and line, and is found before anything starts.
"""

import os
import re
from dataclasses import dataclass, field

import yaml

from testbed import saltstack
from testbed.packages import ROLES

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "topologies", "default.yaml")
HOSTNAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
MAX_HOSTS = 200  # one /24 on the test bed's bridge, less the master
DEFAULT_NODE_MEMORY = 8192
DEFAULT_INSTANCE_MEMORY = 1024
DEFAULT_MIGRATION_RATE = 4096
DEFAULT_APT_RATE = 4096  # KiB/s
DEFAULT_HTTP_PAYLOAD = 2048  # KiB a jessie package
# The hosts' clock zone: the operators' (GRNET's), not UTC, so that nothing can assume UTC.
DEFAULT_TIMEZONE = "Europe/Athens"
ZONEINFO = "/usr/share/zoneinfo"


@dataclass
class Apt:
    http: bool = False
    rate_kib_s: int = DEFAULT_APT_RATE
    payload_kib: int = 0


TOP_KEYS = (
    "hosts",
    "ganeti_master",
    "instances",
    "salt",
    "migration_mib_per_s",
    "apt",
    "candidate_pool_size",
    "drbd_resync_mib_per_s",
    "ganeti",
    "ganeti_clusters",
    "synnefo",
    "timezone",
)
CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
INSTANCE_KEYS = ("node", "memory", "minmem", "status", "disk_template", "secondary", "disk_mib", "always_failover")
# Ganeti's disk templates (lib/constants.py DISK_TEMPLATES at v2.10.7).
DISK_TEMPLATES = ("diskless", "file", "sharedfile", "plain", "blockdev", "drbd", "rbd", "ext", "gluster")
# ``ganeti: real``: Ganeti 3.0's templates that run here play the ones of a Synnefo cloud
# (testbed/realganeti.py): shared storage for Archipelago's ext, node-local files for plain.
REAL_TEMPLATES = {"ext": "sharedfile", "sharedfile": "sharedfile", "plain": "file", "file": "file", "diskless": "diskless"}
DEFAULT_CANDIDATE_POOL_SIZE = 10
DEFAULT_DRBD_RESYNC_RATE = 1024


class TopologyError(ValueError):
    pass


@dataclass
class Topology:
    path: str
    hosts: dict  # name -> [roles]
    ganeti_master: str = ""
    instances: dict = field(default_factory=dict)  # name -> primary node
    memory: dict = field(default_factory=dict)  # host -> MiB for its VMs
    instance_memory: dict = field(default_factory=dict)  # instance -> MiB
    instance_specs: dict = field(default_factory=dict)  # instance -> {status, disk_template, ...}
    migration_mib_per_s: int = DEFAULT_MIGRATION_RATE
    candidate_pool_size: int = DEFAULT_CANDIDATE_POOL_SIZE
    drbd_resync_mib_per_s: int = DEFAULT_DRBD_RESYNC_RATE
    ganeti: str = "standin"  # or "real": Debian 12's Ganeti 3.0 (testbed.realganeti)
    synnefo: str = "standin"  # or "real": GRNET's 0.18.1 and 0.19 on PostgreSQL (testbed.realsynnefo)
    timezone: str = DEFAULT_TIMEZONE  # the hosts' clocks (/etc/localtime, /etc/timezone)
    salt: str = saltstack.DEFAULT  # the Salt of the master and minions (testbed.saltstack)
    apt: Apt = field(default_factory=Apt)
    # name -> {'master', 'candidate_pool_size', 'nodes'}; empty: one cluster (ganeti_master)
    clusters: dict = field(default_factory=dict)

    def hosts_with(self, role):
        return [h for h, roles in self.hosts.items() if role in roles]

    def ganeti_clusters(self):
        """``[(name, master, candidate_pool_size, nodes)]``: each Ganeti cluster (the one of
        the single-cluster form has no name: None)."""
        if not self.clusters:
            nodes = self.hosts_with("ganeti")
            return [(None, self.ganeti_master, self.candidate_pool_size, nodes)] if nodes else []
        return [(n, c["master"], c["candidate_pool_size"], c["nodes"]) for n, c in sorted(self.clusters.items())]

    def cluster_of(self, host):
        return next((name for name, c in self.clusters.items() if host in c["nodes"]), None)


def _error(path, node, message):
    line = node.start_mark.line + 1 if node is not None else 1
    return TopologyError(f"{path}:{line}: {message}")


def _mapping(path, node, what):
    if not isinstance(node, yaml.MappingNode):
        raise _error(path, node, f"{what} must be a mapping")
    seen = {}
    for key, _value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise _error(path, key, f"{what}: keys must be names")
        if key.value in seen:
            raise _error(path, key, f"{what}: {key.value!r} given twice (first on line {seen[key.value]})")
        seen[key.value] = key.start_mark.line + 1
    return [(k, v) for k, v in node.value]


def _scalar(path, node, what):
    if not isinstance(node, yaml.ScalarNode) or node.value == "":
        raise _error(path, node, f"{what} must be a name")
    return node.value


def _mebibytes(path, node, what, unit="MiB"):
    value = _scalar(path, node, what)
    if not value.isdigit() or int(value) <= 0:
        raise _error(path, node, f"{what} must be a positive number of {unit}, not {value!r}")
    return int(value)


def _apt(path, node):
    entries = dict((k.value, (k, v)) for k, v in _mapping(path, node, "apt"))
    for key, (knode, _) in entries.items():
        if key not in ("http", "rate_kib_s", "payload_kib"):
            raise _error(path, knode, f"apt: unknown key {key!r} (expected http, rate_kib_s, payload_kib)")
    apt = Apt()
    if "http" in entries:
        value = _scalar(path, entries["http"][1], "apt: http")
        if value not in ("true", "false"):
            raise _error(path, entries["http"][1], f"apt: http must be true or false, not {value!r}")
        apt.http = value == "true"
    if "rate_kib_s" in entries:
        apt.rate_kib_s = _mebibytes(path, entries["rate_kib_s"][1], "apt: rate_kib_s", unit="KiB/s")
    apt.payload_kib = DEFAULT_HTTP_PAYLOAD if apt.http else 0
    if "payload_kib" in entries:
        value = _scalar(path, entries["payload_kib"][1], "apt: payload_kib")
        if not value.isdigit():
            raise _error(path, entries["payload_kib"][1], f"apt: payload_kib must be a number of KiB, not {value!r}")
        apt.payload_kib = int(value)
    if not apt.http and ("rate_kib_s" in entries):
        raise _error(path, entries["rate_kib_s"][1], "apt: rate_kib_s needs http: true (file: has no rate)")
    return apt


def _clusters(path, top, topology, member):
    """``ganeti_clusters: {NAME: {master: HOST, candidate_pool_size: N}}``, each Ganeti host
    naming its cluster (``cluster: NAME``)."""
    knode, vnode = top["ganeti_clusters"]
    if "ganeti_master" in top:
        raise _error(path, top["ganeti_master"][0], "ganeti_master and ganeti_clusters: give each cluster's master in ganeti_clusters")
    if topology.ganeti == "real":
        raise _error(path, knode, "ganeti_clusters: the test bed runs one real Ganeti cluster (ganeti: real); use the stand-in")
    for name_node, spec in _mapping(path, vnode, "ganeti_clusters"):
        name = name_node.value
        if not CLUSTER_NAME.match(name):
            raise _error(path, name_node, f"cluster name {name!r} is not valid (lower case letters, digits, '-')")
        entries = dict((k.value, (k, v)) for k, v in _mapping(path, spec, f"cluster {name}"))
        for key, (key_node, _) in entries.items():
            if key not in ("master", "candidate_pool_size"):
                raise _error(path, key_node, f"cluster {name}: unknown key {key!r} (expected master, candidate_pool_size)")
        if "master" not in entries:
            raise _error(path, spec, f"cluster {name}: no master")
        master = _scalar(path, entries["master"][1], f"cluster {name}: master")
        nodes = sorted(h for h, (c, _) in member.items() if c == name)
        if master not in nodes:
            raise _error(path, entries["master"][1], f"cluster {name}: master {master!r} is not one of its hosts (cluster: {name})")
        pool = topology.candidate_pool_size
        if "candidate_pool_size" in entries:
            pool = _mebibytes(path, entries["candidate_pool_size"][1], f"cluster {name}: candidate_pool_size", unit="nodes")
        topology.clusters[name] = {"master": master, "candidate_pool_size": pool, "nodes": nodes}
    for host, (name, node) in sorted(member.items()):
        if name not in topology.clusters:
            raise _error(path, node, f"host {host}: cluster {name!r} is not in ganeti_clusters")
        if "ganeti" not in topology.hosts[host]:
            raise _error(path, node, f"host {host}: cluster {name!r} but no ganeti role")
    for host in topology.hosts_with("ganeti"):
        if host not in member:
            raise _error(path, vnode, f"host {host}: a ganeti host must name its cluster (cluster: NAME) with ganeti_clusters")


def _instance(path, name, spec, ganeti):
    """``(primary, memory, specs)`` of one entry of ``instances``."""
    size, specs = DEFAULT_INSTANCE_MEMORY, {}
    if not isinstance(spec, yaml.MappingNode):
        node = _scalar(path, spec, f"instance {name}")
        if node not in ganeti:
            raise _error(path, spec, f"instance {name}: primary node {node!r} is not a ganeti host")
        return node, size, specs
    entries = dict((k.value, (k, v)) for k, v in _mapping(path, spec, f"instance {name}"))
    for key, (knode, _) in entries.items():
        if key not in INSTANCE_KEYS:
            raise _error(path, knode, f"instance {name}: unknown key {key!r} (expected {', '.join(INSTANCE_KEYS)})")
    if "node" not in entries:
        raise _error(path, spec, f"instance {name}: no node")
    node_node = entries["node"][1]
    node = _scalar(path, node_node, f"instance {name}")
    if node not in ganeti:
        raise _error(path, node_node, f"instance {name}: primary node {node!r} is not a ganeti host")
    if "memory" in entries:
        size = _mebibytes(path, entries["memory"][1], f"instance {name}: memory")
    if "minmem" in entries:
        specs["minmem"] = _mebibytes(path, entries["minmem"][1], f"instance {name}: minmem")
        if specs["minmem"] > size:
            raise _error(path, entries["minmem"][1], f"instance {name}: minmem {specs['minmem']} is above its memory {size}")
    if "disk_mib" in entries:
        specs["disk_mib"] = _mebibytes(path, entries["disk_mib"][1], f"instance {name}: disk_mib")
    if "status" in entries:
        specs["status"] = _scalar(path, entries["status"][1], f"instance {name}: status")
        if specs["status"] not in ("running", "stopped"):
            raise _error(path, entries["status"][1], f"instance {name}: status must be running or stopped")
    if "always_failover" in entries:
        value = entries["always_failover"][1]
        if not (isinstance(value, yaml.ScalarNode) and value.tag.endswith(":bool")):
            raise _error(path, value, f"instance {name}: always_failover must be true or false")
        specs["always_failover"] = value.value.lower() in ("true", "yes", "on")
    template = "ext"
    if "disk_template" in entries:
        template = _scalar(path, entries["disk_template"][1], f"instance {name}: disk_template")
        if template not in DISK_TEMPLATES:
            raise _error(path, entries["disk_template"][1], f"instance {name}: unknown disk_template {template!r}")
        specs["disk_template"] = template
    if template == "drbd":
        if "secondary" not in entries:
            raise _error(path, spec, f"instance {name}: a drbd instance needs a secondary")
        secondary = _scalar(path, entries["secondary"][1], f"instance {name}: secondary")
        if secondary not in ganeti or secondary == node:
            raise _error(path, entries["secondary"][1], f"instance {name}: secondary {secondary!r} must be another ganeti host")
        specs["secondary"] = secondary
    elif "secondary" in entries:
        raise _error(path, entries["secondary"][1], f"instance {name}: only drbd instances have a secondary")
    return node, size, specs


def load(path=None):
    """Read and validate a topology file; raise TopologyError naming the file and line."""
    path = path or DEFAULT
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise TopologyError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if root is None:
        raise TopologyError(f"{path}:1: empty topology")
    top = dict((k.value, (k, v)) for k, v in _mapping(path, root, "the topology"))
    for key, (knode, _) in top.items():
        if key not in TOP_KEYS:
            raise _error(path, knode, f"unknown key {key!r} (expected {', '.join(TOP_KEYS)})")
    if "hosts" not in top:
        raise TopologyError(f"{path}:1: no 'hosts'")
    hosts, memory, member = {}, {}, {}
    for name_node, spec in _mapping(path, top["hosts"][1], "hosts"):
        name = name_node.value
        if not HOSTNAME.match(name):
            raise _error(path, name_node, f"host name {name!r} is not a valid hostname (lower case letters, digits, '-')")
        entries = dict((k.value, (k, v)) for k, v in _mapping(path, spec, f"host {name}"))
        for key, (knode, _) in entries.items():
            if key not in ("roles", "memory", "cluster"):
                raise _error(path, knode, f"host {name}: unknown key {key!r} (expected roles, memory, cluster)")
        if "cluster" in entries:
            member[name] = (_scalar(path, entries["cluster"][1], f"host {name}: cluster"), entries["cluster"][1])
        memory[name] = _mebibytes(path, entries["memory"][1], f"host {name}: memory") if "memory" in entries else DEFAULT_NODE_MEMORY
        if "roles" not in entries:
            raise _error(path, spec, f"host {name}: no roles")
        roles_node = entries["roles"][1]
        if not isinstance(roles_node, yaml.SequenceNode) or not roles_node.value:
            raise _error(path, roles_node, f"host {name}: roles must be a non-empty list")
        roles = []
        for role_node in roles_node.value:
            role = _scalar(path, role_node, f"host {name}: a role")
            if role not in ROLES:
                raise _error(path, role_node, f"host {name}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
            if role in roles:
                raise _error(path, role_node, f"host {name}: role {role!r} given twice")
            roles.append(role)
        hosts[name] = roles
    if not hosts:
        raise _error(path, top["hosts"][1], "no hosts")
    if len(hosts) > MAX_HOSTS:
        raise _error(path, top["hosts"][1], f"{len(hosts)} hosts: the test bed's network holds {MAX_HOSTS}")
    topology = Topology(path, hosts, memory=memory)
    if "migration_mib_per_s" in top:
        topology.migration_mib_per_s = _mebibytes(path, top["migration_mib_per_s"][1], "migration_mib_per_s")
    if "drbd_resync_mib_per_s" in top:
        topology.drbd_resync_mib_per_s = _mebibytes(path, top["drbd_resync_mib_per_s"][1], "drbd_resync_mib_per_s")
    if "candidate_pool_size" in top:
        topology.candidate_pool_size = _mebibytes(path, top["candidate_pool_size"][1], "candidate_pool_size", unit="nodes")
    if "ganeti" in top:
        topology.ganeti = _scalar(path, top["ganeti"][1], "ganeti")
        if topology.ganeti not in ("standin", "real"):
            raise _error(path, top["ganeti"][1], f"ganeti must be standin or real, not {topology.ganeti!r}")
    if "synnefo" in top:
        topology.synnefo = _scalar(path, top["synnefo"][1], "synnefo")
        if topology.synnefo not in ("standin", "real"):
            raise _error(path, top["synnefo"][1], f"synnefo must be standin or real, not {topology.synnefo!r}")
    if "timezone" in top:
        topology.timezone = _scalar(path, top["timezone"][1], "timezone")
        if ".." in topology.timezone.split("/") or not os.path.isfile(os.path.join(ZONEINFO, topology.timezone)):
            raise _error(path, top["timezone"][1], f"timezone {topology.timezone!r} is not a zone of {ZONEINFO}")
    if "apt" in top:
        topology.apt = _apt(path, top["apt"][1])
    if "salt" in top:
        stack = _scalar(path, top["salt"][1], "salt")
        if stack not in saltstack.STACKS:
            raise _error(
                path, top["salt"][1], f"salt: {stack!r} is not a Salt the test bed runs (expected {' or '.join(saltstack.STACKS)})"
            )
        topology.salt = stack
    ganeti = topology.hosts_with("ganeti")
    if "ganeti_clusters" in top:
        _clusters(path, top, topology, member)
    elif member:
        name, (_, vnode) = sorted(member.items())[0]
        raise _error(path, vnode, f"host {name}: cluster needs ganeti_clusters")
    elif "ganeti_master" in top:
        knode, vnode = top["ganeti_master"]
        master = _scalar(path, vnode, "ganeti_master")
        if master not in hosts:
            raise _error(path, vnode, f"ganeti_master {master!r} is not a host")
        if master not in ganeti:
            raise _error(path, vnode, f"ganeti_master {master!r} does not have the ganeti role")
        topology.ganeti_master = master
    elif ganeti:
        raise TopologyError(f"{path}:1: ganeti hosts but no ganeti_master")
    if "instances" in top:
        cluster_of = dict((n, c) for c, info in topology.clusters.items() for n in info["nodes"])
        for name_node, spec in _mapping(path, top["instances"][1], "instances"):
            name = name_node.value
            topology.instances[name], topology.instance_memory[name], topology.instance_specs[name] = _instance(path, name, spec, ganeti)
            template = topology.instance_specs[name].get("disk_template", "ext")
            secondary = topology.instance_specs[name].get("secondary")
            if secondary and cluster_of.get(secondary) != cluster_of.get(topology.instances[name]):
                raise _error(path, spec, f"instance {name}: secondary {secondary!r} is in another Ganeti cluster")
            if topology.ganeti == "real" and template not in REAL_TEMPLATES:
                raise _error(
                    path,
                    spec,
                    f"instance {name}: disk_template {template} needs what this machine lacks (DRBD, LVM, Ceph); "
                    f"with ganeti: real use {', '.join(sorted(REAL_TEMPLATES))}",
                )
    return topology
