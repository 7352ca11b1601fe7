"""
Test-bed tests: a real cluster of namespace hosts with real APT, dpkg, init scripts and
salt-minions, driven through the test bed's own CLI and Salt's CLIs.
"""

import contextlib
import json
import shlex
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from testbed import cluster, timeline


class Bed:
    """What a test needs of a running test bed."""

    def __init__(self, repo_root):
        self.repo_root = repo_root
        self.paths = cluster.Paths()

    def cli(self, *args, check=False, timeout=300):
        return subprocess.run(
            [sys.executable, "-m", "testbed", *args], cwd=self.repo_root, capture_output=True, text=True, timeout=timeout, check=check
        )

    def sh(self, host, script, check=True):
        result = cluster.host(host, self.paths).run(["sh", "-c", script], check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{host}: {script!r} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def gnt_list(self, host, what, fields):
        """``gnt-WHAT list -o FIELDS`` run on ``host``: ``{name: (the other fields...)}``."""
        out = self.sh(host, f"gnt-{what} list --no-headers --separator='|' -o {fields}").stdout
        return {row.split("|")[0]: tuple(row.split("|")[1:]) for row in out.splitlines()}

    def salt(self, target, *args, timeout=300):
        result = self.cli("salt", target, *args, "--out=json", "--static", f"--timeout={timeout}", timeout=timeout + 30)
        try:
            returned = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"salt {target} {args}: {result.stdout}\n{result.stderr}") from exc
        # Salt 2019.2's CLI puts the job's exit code beside a state run's results (--static).
        for value in returned.values():
            if isinstance(value, dict) and isinstance(value.get("retcode"), int):
                del value["retcode"]
        return returned

    def extend_pillar(self, lines):
        """Append ``lines`` (indented under ``synnefo_upgrade:``) to the test bed's pillar, which
        the master and the minions read, and refresh the minions' pillar."""
        with open(f"{self.paths.pillar}/synnefo_upgrade.sls", "a") as handle:
            handle.write(lines)
        self.salt("*", "saltutil.refresh_pillar")

    def state(self, host, function, **kwargs):
        """Run one state function on a host; return its single result."""
        args = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in kwargs.items()]
        returned = self.salt(host, "state.single", function, *args)[host]
        assert isinstance(returned, dict), returned
        (result,) = returned.values()
        return result

    def salt_stack(self):
        """The Salt the running test bed's master and minions run (testbed.saltstack)."""
        return cluster.load_state(self.paths)["salt"]

    def version(self, host, package):
        return self.sh(host, f"dpkg-query -W -f='${{Version}}' {package}").stdout

    def get(self, host, url, host_header=None):
        """GET ``url`` from inside ``host``, with the Host header its ALLOWED_HOSTS lets through
        (``<host>.example.org``, the test bed pillar's); the body, failing on any error status."""
        header = host_header or f"{host}.example.org"
        script = (
            "import urllib.request; "
            f"print(urllib.request.urlopen(urllib.request.Request({url!r}, headers={{'Host': {header!r}}})).read().decode())"
        )
        return self.sh(host, "python3 -c " + shlex.quote(script)).stdout

    def running(self, host, service):
        return self.sh(host, f"service {service} status", check=False).returncode == 0

    def events(self, since=0.0, **match):
        return [e for e in timeline.read(self.paths.shared) if e["time"] >= since and all(e.get(k) == v for k, v in match.items())]

    def wait_event(self, timeout=60, since=0.0, **match):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.events(since, **match)
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no event {match} within {timeout} s")

    @contextlib.contextmanager
    def master_events(self, host):
        """Listen to the master's event bus; yields wait(tag_part, timeout) that returns the
        first event line containing tag_part. It returns once the listener is known to be
        connected (a probe event fired from ``host`` has come through)."""
        with tempfile.TemporaryFile("w+") as sink:
            listener = subprocess.Popen(
                [sys.executable, "-m", "testbed", "salt-run", "state.event", "pretty=False"],
                cwd=self.repo_root,
                stdout=sink,
                stderr=subprocess.DEVNULL,
                text=True,
            )

            def wait(tag_part, timeout=90):
                deadline = time.time() + timeout
                while time.time() < deadline:
                    sink.seek(0)
                    for line in sink.read().splitlines():
                        if tag_part in line:
                            return line
                    time.sleep(0.2)
                raise AssertionError(f"no event {tag_part!r} on the master's bus within {timeout} s")

            try:
                probe = f"testbed/probe/{uuid.uuid4().hex}"
                deadline = time.time() + 60
                while True:
                    self.salt(host, "event.send", probe, timeout=10)
                    try:
                        wait(probe, timeout=2)
                        break
                    except AssertionError:
                        if time.time() > deadline:
                            raise
                yield wait
            finally:
                listener.terminate()
                listener.wait(timeout=10)

    def wait_ping(self, host, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.salt(host, "test.ping", timeout=5).get(host) is True:
                return
            time.sleep(1)
        raise AssertionError(f"{host}'s minion did not answer within {timeout} s")


@pytest.fixture(scope="module")
def bed(repo_root, request):
    """A running test bed for the module; its topology is the module's TOPOLOGY (a file
    under tests/testbed/topologies) or the default one."""
    name = getattr(request.module, "TOPOLOGY", None)
    cluster.up(str(repo_root / "tests" / "testbed" / "topologies" / name) if name else None)
    try:
        bed = Bed(repo_root)
        synced = bed.salt("*", "saltutil.sync_all")
        assert all("modules.apt_jessie" in synced[h]["modules"] for h in synced), synced
        yield bed
    finally:
        cluster.down()
