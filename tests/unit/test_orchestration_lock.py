"""A second run of the orchestration is refused while one runs, and allowed once it has
ended, however it ended (the lock is the running process's: it goes with it)."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest
from salt.exceptions import CommandExecutionError

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Rolling:
    """The orchestration's lock as its states take it (synnefo_orch.lock in the cachedir)."""

    def __init__(self, module, cachedir):
        self.module, self.opts = module, {"cachedir": cachedir}

    def _lock(self):
        return self.module.lock(self.opts, "orchestration")


@pytest.fixture
def rolling(tmp_path):
    spec = importlib.util.spec_from_file_location("synnefo_orch", ROOT / "_utils" / "synnefo_orch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Rolling(module, str(tmp_path))


def test_a_second_run_is_refused_while_the_first_holds_the_lock(rolling):
    first = rolling._lock()
    with pytest.raises(CommandExecutionError, match="another run of the orchestration"):
        rolling._lock()
    first.close()
    rolling._lock().close()


def test_the_lock_goes_with_a_killed_run(rolling, tmp_path):
    lock = tmp_path / "synnefo_upgrade.orchestration.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, sys, time\n"
                f"handle = open({str(lock)!r}, 'a+')\n"
                "fcntl.flock(handle, fcntl.LOCK_EX)\n"
                "print('held', flush=True)\n"
                "time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(CommandExecutionError, match="refusing to start a second one"):
            rolling._lock()
    finally:
        holder.kill()
        holder.wait()
    rolling._lock().close()
