"""Teardown leaves nothing behind, even after the daemon crashed; the machine is untouched."""

import hashlib
import os
import signal
import subprocess
import sys

import pytest

from testbed import cluster, netns

pytestmark = pytest.mark.testbed

WATCHED = ("/etc/apt", "/etc/synnefo", "/etc/gunicorn.d", "/etc/salt", "/var/cache/salt", "/usr/sbin/policy-rc.d", "/etc/rc2.d")


def fingerprint():
    """Paths, modes and contents of the machine's files a host could have touched."""
    digest = {}
    for top in WATCHED:
        if not os.path.lexists(top):
            digest[top] = None
            continue
        walk = [(top, [], [])] if not os.path.isdir(top) else os.walk(top)
        for directory, _, names in walk:
            for name in [""] + names:
                path = os.path.join(directory, name) if name else directory
                info = os.lstat(path)
                content = b""
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as handle:
                        content = handle.read()
                digest[path] = (info.st_mode, info.st_uid, info.st_gid, hashlib.sha256(content).hexdigest())
    return digest


def leftovers(base):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            with open(f"/proc/{pid}/mountinfo") as handle:
                mounts = handle.read()
        except OSError:
            continue
        if "hostinit.py" in cmdline or base in cmdline:
            found.append(f"process {pid}: {cmdline}")
        if f"upperdir={base}" in mounts:
            found.append(f"overlay seen by {pid}")
    found += [f"netns {n}" for n in netns.existing()]
    if os.path.exists(base):
        found.append(f"{base} still exists")
    return found


def test_down_after_a_daemon_crash_leaves_no_trace(repo_root, tmp_path):
    before = fingerprint()
    topology = tmp_path / "two.yaml"
    topology.write_text("hosts:\n  gnt1: {roles: [ganeti]}\n  web1: {roles: [astakos, cms]}\nganeti_master: gnt1\ninstances: {vm1: gnt1}\n")
    cli = [sys.executable, "-m", "testbed"]
    up = subprocess.run(cli + ["up", str(topology)], cwd=repo_root, capture_output=True, text=True)
    paths = cluster.Paths()
    try:
        assert up.returncode == 0, up.stderr
        state = cluster.load_state(paths)
        assert sorted(state["hosts"]) == ["gnt1", "web1"]
        subprocess.run(
            cli + ["exec", "web1", "--", "sh", "-c", "echo '# local' > /etc/apt/sources.list.d/x.list; apt-get update -q"],
            cwd=repo_root,
            check=True,
            capture_output=True,
        )
        os.kill(state["daemon_pid"], signal.SIGKILL)  # the daemon dies; its hosts and master live on
        assert leftovers(paths.base)
    finally:
        down = subprocess.run(cli + ["down"], cwd=repo_root, capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    assert leftovers(paths.base) == []
    assert fingerprint() == before


def test_invalid_topology_fails_before_anything_starts(repo_root, tmp_path):
    topology = tmp_path / "bad.yaml"
    topology.write_text("hosts:\n  gnt1: {roles: [ganeti]}\n  web1: {roles: [webserver]}\nganeti_master: gnt1\n")
    result = subprocess.run([sys.executable, "-m", "testbed", "up", str(topology)], cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{topology}:3: host web1: unknown role 'webserver'" in result.stderr
    assert netns.existing() == []
    assert not os.path.exists(cluster.Paths().base)
