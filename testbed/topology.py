"""
The test bed's topology file:

.. code-block:: yaml

    hosts:
      gnt1: {roles: [ganeti]}
      astakos1: {roles: [astakos]}
    ganeti_master: gnt1
    instances: {vm1: gnt1}
    salt: '2019.2'          # or current (see testbed.saltstack); 2019.2 when not given

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


class TopologyError(ValueError):
    pass


@dataclass
class Topology:
    path: str
    hosts: dict  # name -> [roles]
    ganeti_master: str = ""
    instances: dict = field(default_factory=dict)  # name -> primary node
    salt: str = saltstack.DEFAULT  # the Salt of the master and minions (testbed.saltstack)

    def hosts_with(self, role):
        return [h for h, roles in self.hosts.items() if role in roles]


def _error(path, node, message):
    line = node.start_mark.line + 1 if node is not None else 1
    return TopologyError(f"{path}:{line}: {message}")


def _mapping(path, node, what):
    if not isinstance(node, yaml.MappingNode):
        raise _error(path, node, f"{what} must be a mapping")
    seen = {}
    for key, value in node.value:
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
        if key not in ("hosts", "ganeti_master", "instances", "salt"):
            raise _error(path, knode, f"unknown key {key!r} (expected hosts, ganeti_master, instances, salt)")
    if "hosts" not in top:
        raise TopologyError(f"{path}:1: no 'hosts'")
    hosts = {}
    for name_node, spec in _mapping(path, top["hosts"][1], "hosts"):
        name = name_node.value
        if not HOSTNAME.match(name):
            raise _error(path, name_node, f"host name {name!r} is not a valid hostname (lower case letters, digits, '-')")
        entries = dict((k.value, (k, v)) for k, v in _mapping(path, spec, f"host {name}"))
        for key, (knode, _) in entries.items():
            if key != "roles":
                raise _error(path, knode, f"host {name}: unknown key {key!r} (expected roles)")
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
    topology = Topology(path, hosts)
    if "salt" in top:
        stack = _scalar(path, top["salt"][1], "salt")
        if stack not in saltstack.STACKS:
            raise _error(path, top["salt"][1], f"salt: {stack!r} is not a Salt the test bed runs (expected {' or '.join(saltstack.STACKS)})")
        topology.salt = stack
    ganeti = topology.hosts_with("ganeti")
    if "ganeti_master" in top:
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
        for name_node, node_node in _mapping(path, top["instances"][1], "instances"):
            node = _scalar(path, node_node, f"instance {name_node.value}")
            if node not in ganeti:
                raise _error(path, node_node, f"instance {name_node.value}: primary node {node!r} is not a ganeti host")
            topology.instances[name_node.value] = node
    return topology
