"""The cyclades database of the test bed: the tables fix_ip_history reads and writes."""

import sqlite3

VM_TABLE = "CREATE TABLE IF NOT EXISTS db_virtualmachine (id INTEGER PRIMARY KEY, userid VARCHAR(100) NOT NULL);\n"
SCHEMA = (
    VM_TABLE
    + """
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
)


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
            "SELECT address, server_id, network_id, user_id, action, action_date, action_reason FROM db_ipaddresshistory ORDER BY id"
        ).fetchall()


LOG_SCHEMA = (
    VM_TABLE
    + """
CREATE TABLE IF NOT EXISTS db_ipaddresslog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address VARCHAR(64) NOT NULL,
    server_id INTEGER NOT NULL,
    network_id INTEGER NOT NULL,
    allocated_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP,
    active BOOLEAN NOT NULL
);
"""
)


def create_0181(path, vms=(), log=()):
    """A 0.18.1 cyclades database: VMs and the old IP log (``log``: (address, server,
    network, allocated_at, released_at or None))."""
    with sqlite3.connect(path) as db:
        db.executescript(LOG_SCHEMA)
        db.executemany("INSERT OR REPLACE INTO db_virtualmachine (id, userid) VALUES (?, ?)", vms)
        db.executemany(
            "INSERT INTO db_ipaddresslog (address, server_id, network_id, allocated_at, released_at, active) VALUES (?, ?, ?, ?, ?, ?)",
            [(a, s, n, at, rel, rel is None) for a, s, n, at, rel in log],
        )


def migrate_to_019(path):
    """0.19's migration 0003: build db_ipaddresshistory from db_ipaddresslog, attributing every
    address to the VM's *current* owner (the inconsistency fix_ip_history repairs); each
    row's reason ``migration from IPAddressLog <id>`` (grnet/synnefo 0.19
    snf-cyclades-app/synnefo/db/migrations/0003_auto_ip_ownership.py). Return how many rows
    it created (the migration prints that number)."""
    created = 0
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        owners = dict(db.execute("SELECT id, userid FROM db_virtualmachine"))
        for log_id, address, server, network, allocated, released in db.execute(
            "SELECT id, address, server_id, network_id, allocated_at, released_at FROM db_ipaddresslog ORDER BY id"
        ).fetchall():
            user = owners.get(server, "")
            reason = f"migration from IPAddressLog {log_id}"
            rows = [(address, server, network, user, "associate", allocated, reason)]
            if released:
                rows.append((address, server, network, user, "disassociate", released, reason))
            created += len(rows)
            db.executemany(
                "INSERT INTO db_ipaddresshistory (address, server_id, network_id, user_id, action, action_date, action_reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    return created
