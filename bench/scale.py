"""
Topologies of any size for the benches: ``hosts`` hosts, a tenth of them (at least one)
service nodes (astakos, cyclades, pithos, cms in turn), the others Ganeti nodes in clusters of
at most ``per_cluster`` (each node with two 1 GiB VMs). 100 hosts: 10 clusters x 9 nodes + 10
service nodes.
"""

import tempfile

SERVICE_ROLES = ("astakos", "cyclades", "pithos", "cms")


def topology_text(hosts, per_cluster=9, vms_per_node=2, services=None):
    """The topology's text; ``services``: how many service nodes (default a tenth)."""
    services = max(1, hosts // 10) if services is None else services
    ganeti = hosts - services
    lines, clusters, instances = ["hosts:"], {}, ["instances:"]
    for index in range(ganeti):
        name = f"c{index // per_cluster + 1}"
        node = f"{name}n{index % per_cluster + 1}"
        clusters.setdefault(name, node)  # the first node of each cluster is its master
        lines.append(f"  {node}: {{roles: [ganeti], cluster: {name}}}")
        instances += [f"  vm-{node}-{k}: {node}" for k in range(vms_per_node)]
    for index in range(services):
        lines.append(f"  web{index + 1}: {{roles: [{SERVICE_ROLES[index % len(SERVICE_ROLES)]}]}}")
    if clusters:
        lines += ["ganeti_clusters:"] + [f"  {c}: {{master: {m}}}" for c, m in clusters.items()] + instances
    return "\n".join(lines) + "\n"


def topology_file(hosts, **kwargs):
    """A temporary topology file of ``hosts`` hosts; the caller removes it."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    handle.write(topology_text(hosts, **kwargs))
    handle.close()
    return handle.name
