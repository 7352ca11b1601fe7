"""
The test bed's timeline: every boot, reboot, service start/stop, package change, drain,
migration and VM outage, one JSON object a line, with its time and host.

The file lives in the directory shared by all hosts (mounted at SHARED_MOUNT inside each), so
the hosts' own programs append to it too. Lines are written with one ``write`` under an
exclusive lock, so concurrent writers never interleave.
"""

import fcntl
import json
import os
import time

SHARED_MOUNT = "/var/lib/synnefo-testbed"
FILE = "timeline.jsonl"


def path(shared_dir=SHARED_MOUNT):
    return os.path.join(shared_dir, FILE)


def record(kind, host, shared_dir=SHARED_MOUNT, **fields):
    """Append one event; return it."""
    event = {"time": round(time.time(), 6), "host": host, "event": kind, **fields}
    line = (json.dumps(event, sort_keys=True) + "\n").encode()
    fd = os.open(path(shared_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)
    return event


def read(shared_dir=SHARED_MOUNT):
    """Every recorded event, oldest first."""
    try:
        with open(path(shared_dir), encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
