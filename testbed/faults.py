"""
Faults the test bed injects on demand, each a file under the shared directory that the
component concerned checks at the moment it matters:

- ``no-return HOST``: the host stays down after its next reboot (the supervisor checks);
- ``refuse-stop HOST SERVICE``: the service ignores SIGTERM, so ``service X stop`` fails
  (after the init script's 5 s of retries);
- ``fail-upgrade HOST PACKAGE``: the package's postinst fails on that host (a failed upgrade);
- ``fail-migration INSTANCE``: the next migration job of that instance is aborted (the
  instance keeps running where it was);
- ``refuse-migration INSTANCE``: every migration of that instance is aborted until the fault
  is cleared (an instance that will not go, however often it is tried);
- ``fail-migration-wrongnode INSTANCE``: the next migration of that instance fails after the
  memory transfer, leaving it running on the target while Ganeti names the source
  (``ERROR_wrongnode``);
- ``fail-db-migrate SERVICE``: ``snf-manage migrate`` fails for that service's database (on
  any host), applying nothing, as a migration that hits an error does.
"""

import os

KINDS = {
    "no-return": ("HOST",),
    "refuse-stop": ("HOST", "SERVICE"),
    "fail-upgrade": ("HOST", "PACKAGE"),
    "fail-migration": ("INSTANCE",),
    "fail-migration-wrongnode": ("INSTANCE",),
    "refuse-migration": ("INSTANCE",),
    "fail-db-migrate": ("SERVICE",),
}


class FaultError(ValueError):
    pass


def path(shared, kind, *args):
    if kind not in KINDS:
        raise FaultError(f"unknown fault {kind!r} (expected one of {', '.join(KINDS)})")
    if len(args) != len(KINDS[kind]):
        raise FaultError(f"fault {kind} takes {' '.join(KINDS[kind])}")
    base = os.path.join(shared, "faults")
    if kind == "no-return":
        return os.path.join(base, f"no-return-{args[0]}")
    if kind == "refuse-stop":
        return os.path.join(base, args[0], f"refuse-stop-{args[1]}")
    if kind == "fail-upgrade":
        return os.path.join(base, args[0], f"fail-configure-{args[1]}")
    if kind == "fail-db-migrate":
        return os.path.join(base, f"db-migrate-fail-{args[0]}")
    if kind == "fail-migration-wrongnode":
        return os.path.join(base, f"migrate-wrongnode-{args[0]}")
    if kind == "refuse-migration":
        return os.path.join(base, f"migrate-refuse-{args[0]}")
    return os.path.join(base, f"migrate-fail-{args[0]}")


def add(shared, kind, *args):
    target = path(shared, kind, *args)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    open(target, "w").close()
    return target


def clear(shared, kind, *args):
    target = path(shared, kind, *args)
    if os.path.exists(target):
        os.unlink(target)


class Faults:
    def __init__(self, shared):
        self.shared = shared

    def stays_down(self, host):
        return os.path.exists(path(self.shared, "no-return", host))
