"""
What the test bed's stand-in programs (Ganeti's, Synnefo's) share: their state, a JSON file
read and written under an exclusive lock so that the programs of several hosts can change it
at once, and their option parsing. Inside the hosts this file is /usr/lib/testbed/tbstandin.py.
"""

import fcntl
import json
import os


def create(directory, name, state):
    """Write a fresh state file ``name`` (and its lock) in ``directory``."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "w") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    open(os.path.join(directory, "lock"), "a").close()


class LockedJson:
    """``with LockedJson(directory, name) as s: s.state[...] = ...``: loaded under the lock,
    saved (atomically) when the block ends without an exception."""

    def __init__(self, directory, name):
        self.directory = directory
        self.path = os.path.join(directory, name)

    def __enter__(self):
        self.lock = open(os.path.join(self.directory, "lock"), "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        with open(self.path) as handle:
            self.state = json.load(handle)
        return self

    def __exit__(self, kind, *_):
        if kind is None:
            temporary = self.path + ".tmp"
            with open(temporary, "w") as handle:
                json.dump(self.state, handle, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        self.lock.close()


def take_option(args, name, default=None):
    """Remove ``name VALUE`` or ``name=VALUE`` from ``args`` and return VALUE (or ``default``)."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            value = args[index + 1]
            del args[index : index + 2]
            return value
        if arg.startswith(name + "="):
            del args[index]
            return arg.split("=", 1)[1]
    return default
