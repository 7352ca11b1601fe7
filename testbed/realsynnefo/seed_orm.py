# -*- coding: utf-8 -*-
"""
What a 0.18.1 cloud's database holds that only Ganeti could have made: the public network and
its subnet, and a VM per topology instance with its NIC, its floating IP and that IP's
IPAddressLog row. Made with 0.18.1's own models (its ORM), as Synnefo's server creation would
leave them once Ganeti had answered (grnet/synnefo 0.18.1 snf-cyclades-app/synnefo/logic/
servers.py ``create``, ips.py ``allocate_public_ip``, backend.py ``process_op_status``).

Run by the test bed (testbed/realsynnefo/seed.py) with 0.18.1's Python 2.7 and settings:
``python seed_orm.py JSON`` where JSON is ``{"backend": ID, "flavor": ID, "user": UUID,
"vms": [[name, owner uuid, address, "YYYY-mm-dd HH:MM:SS"], ...]}``. Prints the VMs' ids as
JSON (``{name: id}``).
"""

from __future__ import print_function

import datetime
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synnefo.settings")

from django.db import transaction  # noqa: E402
from synnefo.db import models  # noqa: E402


def _date(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


@transaction.commit_on_success
def seed(spec):
    backend = models.Backend.objects.get(id=spec["backend"])
    flavor = models.Flavor.objects.get(id=spec["flavor"])
    network = models.Network.objects.create(
        name="public",
        userid=None,
        public=True,
        flavor="IP_LESS_ROUTED",
        mode="routed",
        link="snf-link-0",
        mac_prefix="aa:00:0",
        state="ACTIVE",
        floating_ip_pool=True,
        external_router=True,
    )
    subnet = models.Subnet.objects.create(network=network, ipversion=4, cidr="192.0.2.0/24", gateway="192.0.2.254", dhcp=True)
    models.BackendNetwork.objects.create(network=network, backend=backend, operstate="ACTIVE", mac_prefix="aa:00:0")
    ids = {}
    for name, owner, address, allocated in spec["vms"]:
        vm = models.VirtualMachine.objects.create(
            name=name,
            userid=owner,
            project=owner,
            backend=backend,
            flavor=flavor,
            imageid="debian-base",
            image_version=1,
            operstate="STARTED",
            backendjobstatus="success",
            backendopcode="OP_INSTANCE_CREATE",
            backendtime=_date(allocated),
        )
        nic = models.NetworkInterface.objects.create(
            machine=vm, network=network, userid=owner, index=0, mac="aa:00:00:00:00:%02x" % vm.id, state="ACTIVE"
        )
        models.IPAddress.objects.create(
            network=network, subnet=subnet, nic=nic, userid=owner, project=owner, address=address, floating_ip=True, ipversion=4
        )
        log = models.IPAddressLog.objects.create(address=address, server_id=vm.id, network_id=network.id, active=True)
        # allocated_at is auto_now_add: the allocation's own time is set after.
        models.IPAddressLog.objects.filter(id=log.id).update(allocated_at=_date(allocated))
        ids[name] = vm.id
    return ids


if __name__ == "__main__":
    print(json.dumps(seed(json.loads(sys.argv[1]))))
