"""Synnefo's side of the test bed: the shared databases its stand-in programs work on."""

import os

from testbed.synnefo import cyclades_db

CYCLADES_DB = "cyclades.sqlite3"


def create(shared, topology):
    """Seed the cyclades database: one VM per Ganeti instance (ids from 1, in name order)."""
    vms = [(index, f"{index:08x}-0000-4000-8000-00000000000{index % 10}") for index, _ in
           enumerate(sorted(topology.instances), start=1)]
    cyclades_db.create(os.path.join(shared, CYCLADES_DB), vms=vms)
