"""The cyclades database of the test bed: the tables fix_ip_history reads and writes."""

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS db_virtualmachine (id INTEGER PRIMARY KEY, userid VARCHAR(100) NOT NULL);
CREATE TABLE IF NOT EXISTS db_ipaddresshistory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address VARCHAR(64) NOT NULL,
    server_id INTEGER NOT NULL,
    network_id INTEGER NOT NULL,
    user_id VARCHAR(128) NOT NULL,
    action VARCHAR(32) NOT NULL CHECK (action IN ('associate', 'disassociate')),
    action_date TIMESTAMP NOT NULL,
    action_reason VARCHAR(1024)
);
"""


def create(path, vms=()):
    """Create the tables; ``vms`` is ``[(vmid, owner uuid)]``."""
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.executemany("INSERT OR REPLACE INTO db_virtualmachine (id, userid) VALUES (?, ?)", vms)


def record(path, address, server, network, user, action, date, reason="migrated"):
    """Add one IP history row, as 0.19's migration 0003 would have created it."""
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO db_ipaddresshistory (address, server_id, network_id, user_id, action, action_date, action_reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (address, server, network, user, action, date, reason),
        )


def rows(path):
    """Every history row as a tuple, in id order."""
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT address, server_id, network_id, user_id, action, action_date, action_reason"
            " FROM db_ipaddresshistory ORDER BY id"
        ).fetchall()
