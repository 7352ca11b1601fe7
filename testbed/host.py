"""
One test-bed host: its own mount, UTS, PID and network namespaces over a copy-on-write
overlay of the machine's root. Its changes live in its upper layer on disk, survive its
reboots and vanish when the cluster is torn down.

A :class:`Host` is driven by its supervisor thread (:meth:`Host.supervise`), which boots it,
boots it again when it reboots, and records when it is down.
"""

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

from testbed import netns, timeline

HOSTINIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostinit.py")
PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Init scripts of the machine itself, visible in every host through the lower layer: a host
# must run only its own packages' scripts (the machine's would set its clock, start its dbus).
MACHINE_RC_DIRS = ("rc0.d", "rc1.d", "rc2.d", "rc3.d", "rc4.d", "rc5.d", "rc6.d", "rcS.d")
# The machine's APT sources and pins: a host starts with its own wheezy sources only.
MACHINE_APT_DIRS = ("apt/sources.list.d", "apt/preferences.d")
# The machine's own policy-rc.d (container images ship one that forbids every start): a real
# host has none, and the formula's guard must be what keeps services down.
# Salt's own directories on the machine (its config, keys, cached modules) belong to the
# machine: each host's minion starts from nothing, as on a fresh host.
MACHINE_FILES_MASKED = ("/usr/sbin/policy-rc.d", "/etc/salt", "/var/cache/salt", "/var/log/salt", "/srv/salt")
# What the formula keeps on a host (its records, its backups, the policy-rc.d it saved): masked
# whether or not the machine has them yet, so that nothing the formula left on the machine
# (a test's run through Salt's loaders, a demo) shows through into a fresh host.
FORMULA_DIRS_MASKED = ("/var/lib/synnefo_upgrade", "/var/backups/synnefo_upgrade")


# A wheezy host runs sysvinit: none of the machine's systemd (with a systemctl, Salt would take
# the host for a systemd host "in offline mode" and its service states would do nothing). Its
# init and tools come from the test bed's sysvinit package, and jessie's systemd from the
# dist-upgrade, as on a real host.
SYSTEMD_MASKED = (
    "/usr/bin/systemctl",
    "/usr/bin/systemd-run",
    "/usr/lib/systemd/systemd",
    "/usr/sbin/init",
    "/usr/sbin/shutdown",
    "/usr/sbin/reboot",
    "/usr/sbin/halt",
    "/usr/sbin/poweroff",
    "/usr/sbin/telinit",
    "/usr/sbin/runlevel",
)


# A host's own package database: it starts with no package installed (the machine's files
# are there, but dpkg knows only what the host installs), so `dpkg -l` shows a Synnefo host
# and the machine's packages (its systemd 252, its base-files) never meet the test bed's.
DPKG_EMPTY_FILES = ("/var/lib/dpkg/status", "/var/lib/dpkg/available", "/var/lib/dpkg/diversions", "/var/lib/dpkg/statoverride")
DPKG_EMPTY_DIRS = ("/var/lib/dpkg/info", "/var/lib/dpkg/triggers", "/var/lib/dpkg/updates", "/var/lib/dpkg/alternatives")


class HostError(RuntimeError):
    pass


class Host:
    def __init__(self, name, address, roles, base_dir, shared_dir, repo_dir, salt_minion=""):
        self.name = name
        self.address = address
        self.roles = list(roles)
        self.dir = os.path.join(base_dir, "hosts", name)
        self.upper = os.path.join(self.dir, "upper")
        self.work = os.path.join(self.dir, "work")
        self.root = os.path.join(self.dir, "root")
        self.pid_file = os.path.join(self.dir, "pid1")
        self.shared_dir = shared_dir
        self.repo_dir = repo_dir
        self.salt_minion = salt_minion
        self.netns = netns.host_namespace(name)
        self.process = None
        self.stop_requested = False
        self.booted = threading.Event()

    # --- before the first boot -------------------------------------------------------------

    def prepare(self, files):
        """Create the layers and put ``files`` ({path: (text, mode)}) in the upper layer;
        mask the machine's own init script links."""
        for directory in (self.upper, self.work, self.root):
            os.makedirs(directory, exist_ok=True)
        for rc in MACHINE_RC_DIRS + MACHINE_APT_DIRS:
            lower = os.path.join("/etc", rc)
            if not os.path.isdir(lower):
                continue
            for link in os.listdir(lower):
                self.whiteout(os.path.join("/etc", rc, link))
        for path in MACHINE_FILES_MASKED:
            if os.path.lexists(path):
                self.whiteout(path)
        for path in SYSTEMD_MASKED:
            if os.path.lexists(path):
                self.whiteout(path)
        for path in FORMULA_DIRS_MASKED:
            self.whiteout(path)
        for path in DPKG_EMPTY_FILES:
            self.put(path, "", 0o644)
        for path in DPKG_EMPTY_DIRS:
            self.opaque_dir(path)
        for path, (text, mode) in files.items():
            self.put(path, text, mode)

    def _upper_path(self, path):
        return os.path.join(self.upper, path.lstrip("/"))

    def _make_parents(self, path):
        """Create the parent directories of ``path`` in the upper layer, copying the lower
        layer's modes, and never turning a link of the lower layer (``/bin``) into a dir."""
        parts = os.path.dirname(path.lstrip("/")).split("/")
        current = "/"
        for part in parts:
            if not part:
                continue
            current = os.path.join(current, part)
            if os.path.islink(current):
                raise HostError(f"{current} is a link on the machine: put files under its target instead")
            upper = os.path.join(self.upper, current.lstrip("/"))
            if not os.path.isdir(upper):
                os.mkdir(upper)
                if os.path.isdir(current):
                    info = os.stat(current)
                    os.chmod(upper, stat.S_IMODE(info.st_mode))
                    os.chown(upper, info.st_uid, info.st_gid)

    def put(self, path, text, mode=0o644):
        """Write ``text`` (str, or bytes for a binary file) at ``path`` in the upper layer."""
        self._make_parents(path)
        target = self._upper_path(path)
        if os.path.lexists(target):
            os.unlink(target)
        with open(target, "wb") as handle:
            handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
        os.chmod(target, mode)

    def opaque_dir(self, path):
        """An empty directory in this host that hides the lower layer's content."""
        self._make_parents(path + "/x")
        target = self._upper_path(path)
        os.setxattr(target, "trusted.overlay.opaque", b"y")

    def whiteout(self, path):
        """Hide ``path`` of the lower layer in this host (an overlayfs whiteout)."""
        self._make_parents(path)
        target = self._upper_path(path)
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))

    # --- running ---------------------------------------------------------------------------

    def boot_command(self):
        return [
            "nsenter",
            f"--net={netns.path(self.netns)}",
            "--",
            "unshare",
            "--mount",
            "--uts",
            "--pid",
            "--fork",
            "--propagation",
            "private",
            "--",
            sys.executable,
            HOSTINIT,
            "--name",
            self.name,
            "--root",
            self.root,
            "--upper",
            self.upper,
            "--work",
            self.work,
            "--shared",
            self.shared_dir,
            "--repo",
            self.repo_dir,
            "--project",
            PROJECT,
            "--outer-pid-file",
            self.pid_file,
            "--salt-minion",
            self.salt_minion,
        ]

    def boot(self):
        """Start the host; returns once its PID 1 runs (the boot itself goes on)."""
        if os.path.exists(self.pid_file):
            os.unlink(self.pid_file)
        log = open(os.path.join(self.dir, "console.log"), "ab")
        self.process = subprocess.Popen(self.boot_command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.time() + 30
        while not self.pid1():
            if self.process.poll() is not None:
                raise HostError(f"{self.name} failed to boot (exit {self.process.returncode}); see {self.dir}/console.log")
            if time.time() > deadline:
                raise HostError(f"{self.name} did not start within 30 s")
            time.sleep(0.02)
        self.booted.set()

    def pid1(self):
        """The machine's pid of the host's PID 1, or None when it is down."""
        try:
            with open(self.pid_file) as handle:
                pid = int(handle.read().strip() or 0)
        except (OSError, ValueError):
            return None
        if pid and os.path.exists(f"/proc/{pid}"):
            return pid
        return None

    def wait_booted(self, timeout=60):
        """Wait until the host's init has run its boot scripts (its 'booted' event)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid = self.pid1()
            # Seen from the machine through its init's root: no process started in the host
            # for each look (a hundred hosts booting at once would spend the cores on them).
            if pid and os.path.exists(f"/proc/{pid}/root/run/booted"):
                return
            time.sleep(0.1)
        raise HostError(f"{self.name} did not finish booting within {timeout} s")

    def enter_command(self, command, env=None):
        pid = self.pid1()
        if pid is None:
            raise HostError(f"{self.name} is down")
        environment = ["env", "-i", f"PATH={PATH}", "HOME=/root", "LANG=C", "TERM=dumb", f"HOSTNAME={self.name}"]
        environment += [f"{k}={v}" for k, v in (env or {}).items()]
        return ["nsenter", "-t", str(pid), "-m", "-u", "-p", "-n", "-r", "-w", "--", *environment, *command]

    def run(self, command, check=True, input=None, env=None, timeout=600):
        """Run ``command`` inside the host as root; return the CompletedProcess."""
        result = subprocess.run(self.enter_command(command, env), capture_output=True, text=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise HostError(
                f"{self.name}: {' '.join(command)} exited {result.returncode}: {result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def kill(self):
        """Pull the plug: SIGKILL the host's PID 1, which ends every process in it."""
        pid = self.pid1()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def supervise(self, faults, on_power=None):
        """Boot the host and boot it again after each reboot, until asked to stop. Runs in
        the supervisor's thread; ``faults`` tells whether a host must stay down, ``on_power``
        (host name, up) is told when the host boots and when it is down."""
        on_power = on_power or (lambda name, up: None)
        while not self.stop_requested:
            try:
                self.boot()
            except HostError as exc:
                timeline.record("boot-failed", self.name, shared_dir=self.shared_dir, error=str(exc))
                return
            on_power(self.name, True)
            code = self.process.wait()
            self.booted.clear()
            on_power(self.name, False)
            if self.stop_requested:
                return
            if code != 6:
                timeline.record("powered-off", self.name, shared_dir=self.shared_dir, status=code)
                return
            if faults.stays_down(self.name):
                timeline.record("stays-down", self.name, shared_dir=self.shared_dir, fault="no-return-after-reboot")
                return
