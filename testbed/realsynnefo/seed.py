"""
A seeded 0.18.1 cloud in a real database: made with 0.18.1's own commands where they exist,
as upstream's install guide (docs/install-guide-debian.rst at 0.18.1) has an administrator
run them (users, components and their services, the Ganeti backend with ``--no-check --no-init``, a
volume type and a flavor), and with 0.18.1's ORM where Ganeti would have had to answer
(``seed_orm.py``: the public network, a VM per topology instance with its NIC, floating IP
and IPAddressLog row).
"""

import json
import os
import subprocess

from testbed import realsynnefo
from testbed.realsynnefo import database

HERE = os.path.dirname(os.path.abspath(__file__))
RELEASE = "0.18.1"
CLUSTER = "ganeti.example.org"
# 0.18.1's IP log for the VMs: allocations from this day on, one a day.
ALLOCATED = "2016-01-{day:02d} 10:00:00"
COMPONENTS = ("astakos", "cyclades", "pithos")


def user_email(index):
    return f"user{index}@example.org"


def _service_import(settings, component, base_url):
    export = subprocess.run(
        [os.path.join(realsynnefo.venv(RELEASE), "bin", "snf-service-export"), component, base_url],
        capture_output=True,
        text=True,
        env=dict(os.environ, SYNNEFO_SETTINGS_DIR=settings),
        check=True,
    ).stdout
    database.manage(RELEASE, settings, "service-import", "--json", "-", stdin=export)


def seed(server, settings, instances, users=2, hosts=None, name="snf_apps"):
    """Seed ``server``'s ``snf_apps`` (at 0.18.1's schema) for a cloud whose VMs are
    ``instances`` (Ganeti instance names); ``hosts``: {component: host name} for the base URLs;
    ``name``: the database ``settings`` reach.
    Return ``{'users': [uuid...], 'vms': {instance: {'id', 'owner', 'address'}}}``."""
    hosts = dict({c: f"{c}1.example.org" for c in COMPONENTS}, **(hosts or {}))
    for index in range(1, users + 1):
        database.manage(RELEASE, settings, "user-add", user_email(index), "User", str(index), "--password=testbed")
    users_sql = "SELECT u.email, a.uuid FROM auth_user u JOIN im_astakosuser a ON a.user_ptr_id = u.id ORDER BY u.email"
    rows = server.psql(users_sql, database=name)
    uuids = [uuid for email, uuid in rows if email in {user_email(i) for i in range(1, users + 1)}]
    for component in COMPONENTS:
        base = f"https://{hosts[component]}/{component}"
        database.manage(RELEASE, settings, "component-add", component, f"--base-url={base}", f"--ui-url={base}/ui")
        _service_import(settings, component, base)
    # --no-check skips only the credentials' check: without --no-init it asks Ganeti's RAPI
    # for the nodes' resources (backend-add.py at 0.18.1). A new backend is drained.
    add = ("backend-add", f"--clustername={CLUSTER}", "--user=synnefo", "--pass=testbed", "--no-check", "--no-init")
    database.manage(RELEASE, settings, *add)
    database.manage(RELEASE, settings, "volume-type-create", "--name=ext_archipelago", "--disk-template=ext_archipelago")
    volume_type = server.psql("SELECT id FROM db_volumetype WHERE name = 'ext_archipelago'", database=name)[0][0]
    database.manage(RELEASE, settings, "flavor-create", "1", "1024", "20", volume_type)
    backend = server.psql(f"SELECT id FROM db_backend WHERE clustername = '{CLUSTER}'", database=name)[0][0]
    database.manage(RELEASE, settings, "backend-modify", "--drained=False", backend)
    flavor = server.psql("SELECT id FROM db_flavor ORDER BY id LIMIT 1", database=name)[0][0]
    vms = []
    for index, name in enumerate(sorted(instances), start=1):
        vms.append([name, uuids[(index - 1) % len(uuids)], f"192.0.2.{index}", ALLOCATED.format(day=min(index, 28))])
    spec = {"backend": int(backend), "flavor": int(flavor), "vms": vms}
    result = subprocess.run(
        [os.path.join(realsynnefo.venv(RELEASE), "bin", "python"), os.path.join(HERE, "seed_orm.py"), json.dumps(spec)],
        capture_output=True,
        text=True,
        env=dict(os.environ, SYNNEFO_SETTINGS_DIR=settings),
    )
    if result.returncode != 0:
        raise database.DatabaseError(f"seeding the VMs with 0.18.1's models failed: {result.stderr.strip()[-2000:]}")
    ids = json.loads(result.stdout.strip().splitlines()[-1])
    return {"users": uuids, "vms": {name: {"id": ids[name], "owner": owner, "address": address} for name, owner, address, _ in vms}}
