"""
Real Ganeti on this machine: Debian 12's Ganeti 3.0 (its command line is 2.10's for everything
the formula asks) with the ``fake`` hypervisor, to check the stand-in against it
(``tests/testbed/test_ganeti_differential.py``).

- :py:func:`build`: a Debian bookworm root (``debootstrap --variant=minbase``) with Ganeti, built
  once and cached under ``$SNF_SALT_CACHE`` (default ``/var/cache/snftb``) like the Salt 2019.2
  stack; ``make test`` builds it (``python -m testbed build-ganeti``).
- :py:class:`Cluster`: nodes started over that root (an overlay each), each in its own mount,
  UTS, IPC, network and PID namespaces (nothing runs in the machine's, no interface is made in
  its network namespace), joined by veth pairs to a bridge in the first node's namespace, each
  with its own sshd; ``gnt-cluster init`` on the first, ``gnt-node add`` for the others.
  Instances need an OS: an empty API-20 OS ``noop``. Templates without kernel support only:
  ``sharedfile`` (a directory bind-mounted into every node: shared storage that migrates
  anywhere, as Archipelago's ``ext``), ``file`` (on the node only: cannot move) and
  ``diskless``.

Where this machine differs from a real node, said here once: there is no
``/proc/sysrq-trigger`` in this kernel, so every node's ``gnt-cluster verify`` reports an
``ENODESETUP`` error (``-I ENODESETUP`` makes it a warning); the ``fake`` hypervisor reports the
machine's memory on every node; no DRBD or LVM (no ``drbd``/``plain`` instances). Facts from
``../shared/reference/real-ganeti/README.md``, rechecked by this module's own runs.
"""

import os
import shlex
import shutil
import signal
import subprocess
import time

CACHE = os.environ.get("SNF_SALT_CACHE", "/var/cache/snftb")
ROOT = os.path.join(CACHE, "ganeti-3.0-root")
BUILT = os.path.join(ROOT, ".testbed-built")
BASE = os.environ.get("SNF_REAL_GANETI_DIR", "/var/tmp/snf-realganeti")  # not under the test bed's own directory
PACKAGES = ("ganeti", "fdisk", "iproute2", "procps", "tini", "iputils-ping", "openssh-server", "openssh-client")
DOMAIN = "example.com"
NETWORK = "192.0.2"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MARK = "SNFTB_REAL_GANETI_NODE"


class RealGanetiError(RuntimeError):
    pass


def _kill(pid):
    """SIGKILL ``pid``; one already gone is no error."""
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _mirror():
    """The machine's Debian mirror (its first ``URIs:`` or ``deb`` line)."""
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        try:
            with open(path) as handle:
                for line in handle:
                    words = line.split()
                    if words[:1] == ["URIs:"] and len(words) > 1:
                        return words[1]
                    if words[:1] == ["deb"] and len(words) > 1:
                        return words[1]
        except OSError:
            continue
    return "http://deb.debian.org/debian"


def build(root=ROOT):
    """Build the bookworm root with Ganeti unless it is built already; return its path."""
    if os.path.exists(os.path.join(root, ".testbed-built")):
        return root
    if not shutil.which("debootstrap"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "debootstrap"], check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        )
    if not os.path.exists(os.path.join(root, "usr", "bin", "apt-get")):
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, _mirror()], check=True, stdout=subprocess.DEVNULL)
    # Maintainer scripts must not start daemons in the build.
    with open(os.path.join(root, "usr", "sbin", "policy-rc.d"), "w") as handle:
        handle.write("#!/bin/sh\nexit 101\n")
    os.chmod(os.path.join(root, "usr", "sbin", "policy-rc.d"), 0o755)
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
    script = "apt-get update -qq && apt-get install -y -q --no-install-recommends " + " ".join(PACKAGES)
    subprocess.run(
        ["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", f"--mount-proc={root}/proc", "chroot", root, "/bin/sh", "-c", script],
        check=True,
        stdout=subprocess.DEVNULL,
        env={"PATH": PATH, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C", "HOME": "/root"},
    )
    open(os.path.join(root, ".testbed-built"), "w").close()
    return root


class Node:
    """One real Ganeti node: an overlay over the root, its own namespaces, tini as PID 1."""

    def __init__(self, name, index, base, root):
        self.name = name
        self.fqdn = f"{name}.{DOMAIN}"
        self.address = f"{NETWORK}.{10 + index}"
        self.dir = os.path.join(base, name)
        self.root = root
        self.process = None

    def start(self, hosts_file):
        for sub in ("upper/etc", "work", "merged"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, "upper/etc/hostname"), "w") as handle:
            handle.write(self.fqdn + "\n")
        with open(os.path.join(self.dir, "upper/etc/hosts"), "w") as handle:
            handle.write(hosts_file)
        merged = os.path.join(self.dir, "merged")
        inner = "ip link set lo up; exec sleep infinity"
        script = " && ".join(
            [
                f"mount -t overlay overlay -o lowerdir={self.root},upperdir={self.dir}/upper,workdir={self.dir}/work {merged}",
                f"mount -t proc proc {merged}/proc",
                f"mount -t sysfs sysfs {merged}/sys",
                f"mount -t devpts devpts {merged}/dev/pts -o newinstance,ptmxmode=0666",
                f"mount --bind {merged}/dev/pts/ptmx {merged}/dev/ptmx",
                f"mount -t tmpfs tmpfs {merged}/run",
                f"hostname {self.fqdn}",
                f"exec chroot {merged} /usr/bin/tini -s -- /bin/sh -c {shlex.quote(inner)}",
            ]
        )
        with open(os.path.join(self.dir, "init.log"), "w") as log:
            self.process = subprocess.Popen(
                ["setsid", "unshare", "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "/bin/sh", "-c", script],
                env={"PATH": PATH, MARK: self.dir},  # how down() finds a node it did not start
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.time() + 20
        while self.pid1() is None:
            if time.time() > deadline:
                raise RealGanetiError(f"{self.name}: did not start: {open(os.path.join(self.dir, 'init.log')).read()}")
            time.sleep(0.1)

    def pid1(self):
        """The machine's PID of the node's PID 1 (tini), checked by its root."""
        if self.process is None:
            return None
        # setsid execs unshare in place; unshare forks the namespace's PID 1.
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as handle:
                children = handle.read().split()
        except OSError:
            return None
        for child in children:
            try:
                if os.readlink(f"/proc/{child}/root") == os.path.join(self.dir, "merged"):
                    return int(child)
            except OSError:
                continue
        return None

    def run(self, command, check=True, timeout=300):
        """Run a shell command inside the node (as root, in its namespaces and root)."""
        pid = self.pid1()
        if pid is None:
            raise RealGanetiError(f"{self.name} is not running")
        result = subprocess.run(
            self.nsenter("-m", "-u", "-i", "-n", "-p", "-r", "-w")
            + ["env", "-i", f"PATH={PATH}", "HOME=/root", "LC_ALL=C", "TERM=dumb", "/bin/bash", "-c", "cd /; " + command],
            stdin=subprocess.DEVNULL,  # Ganeti's commands must never wait for a terminal
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RealGanetiError(f"{self.name}: {command!r} exited {result.returncode}: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def nsenter(self, *args):
        return ["nsenter", "-t", str(self.pid1())] + list(args)

    def stop(self):
        pid = self.pid1()
        if pid is not None:
            _kill(pid)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Cluster:
    """A real Ganeti cluster of ``names`` (the first its master), with the ``noop`` OS and
    ``sharedfile``, ``file`` and ``diskless`` enabled."""

    def __init__(self, names=("gnt1", "gnt2", "gnt3"), base=BASE, root=ROOT):
        self.base = base
        self.root = root
        self.nodes = dict((name, Node(name, i + 1, base, root)) for i, name in enumerate(names))
        self.master = names[0]

    def hosts_file(self, instances=()):
        lines = ["127.0.0.1 localhost", f"{NETWORK}.10 cluster.{DOMAIN} cluster"]
        lines += [f"{n.address} {n.fqdn} {n.name}" for n in self.nodes.values()]
        lines += [f"{NETWORK}.{100 + i} {name}.{DOMAIN} {name}" for i, name in enumerate(instances, 1)]
        return "\n".join(lines) + "\n"

    def up(self, instances=()):
        """Start the nodes, their network and sshd, and form the cluster."""
        self.down()
        os.makedirs(os.path.join(self.base, "shared"), exist_ok=True)
        for node in self.nodes.values():
            node.start(self.hosts_file(instances))
        self._network()
        for node in self.nodes.values():
            node.run(
                "rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; mkdir -p /run/sshd /run/lock; chmod 1777 /run/lock; "
                "/usr/sbin/sshd; mkdir -p /srv/ganeti/file-storage /srv/ganeti/shared-file-storage; "
                "printf '/srv/ganeti/file-storage\\n/srv/ganeti/shared-file-storage\\n' > /etc/ganeti/file-storage-paths; "
                "d=/srv/ganeti/os/noop; mkdir -p $d; echo 20 > $d/ganeti_api_version; : > $d/parameters.list; "
                "for s in create export import rename verify; do printf '#!/bin/sh\\nexit 0\\n' > $d/$s; chmod 755 $d/$s; done"
            )
            # sharedfile's directory, the same for every node (in the node's mount namespace only).
            subprocess.run(
                node.nsenter(
                    "-m",
                    "mount",
                    "--bind",
                    os.path.join(self.base, "shared"),
                    os.path.join(node.dir, "merged/srv/ganeti/shared-file-storage"),
                ),
                check=True,
            )
        master = self.nodes[self.master]
        master.run(
            "gnt-cluster init --enabled-hypervisors=fake --enabled-disk-templates=sharedfile,file,diskless "
            "--nic-parameters=mode=bridged,link=br0 --master-netdev=br0 --master-netmask=24 --no-etc-hosts "
            f"cluster.{DOMAIN}",
            timeout=600,
        )
        key = master.run("cat /root/.ssh/id_rsa.pub").stdout.strip()
        for node in self.nodes.values():
            if node.name == self.master:
                continue
            node.run(f"mkdir -p /root/.ssh && chmod 700 /root/.ssh && echo {shlex.quote(key)} >> /root/.ssh/authorized_keys")
            master.run(f"gnt-node add --no-ssh-key-check {node.fqdn} </dev/null", timeout=600)
        return self

    def _network(self):
        """A bridge in the first node's namespace; each other node joins it by a veth pair."""
        first = self.nodes[self.master]
        subprocess.run(first.nsenter("-n", "ip", "link", "add", "br0", "type", "bridge"), check=True)
        for i, node in enumerate(n for n in self.nodes.values() if n is not first):
            port = f"port{i + 1}"
            subprocess.run(
                first.nsenter("-n", "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", str(node.pid1())),
                check=True,
            )
            subprocess.run(first.nsenter("-n", "sh", "-c", f"ip link set {port} master br0 && ip link set {port} up"), check=True)
            bridge = "ip link add br0 type bridge && ip link set eth0 master br0 && ip link set eth0 up && ip link set br0 up"
            subprocess.run(node.nsenter("-n", "sh", "-c", f"{bridge} && ip addr add {node.address}/24 dev br0"), check=True)
        subprocess.run(first.nsenter("-n", "sh", "-c", f"ip link set br0 up && ip addr add {first.address}/24 dev br0"), check=True)

    def run(self, command, node=None, check=False, timeout=300):
        return self.nodes[node or self.master].run(command, check=check, timeout=timeout)

    def down(self):
        for node in self.nodes.values():
            node.stop()
        # Whatever still runs inside a node's root (a node this process did not start: an
        # interrupted earlier run) goes too.
        mark = f"{MARK}={self.base}/".encode()
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    environ = handle.read() if pid.isdigit() else b""
            except OSError:
                continue
            if any(entry.startswith(mark) for entry in environ.split(b"\0")):
                _kill(int(pid))
        for node in self.nodes.values():
            merged = os.path.join(node.dir, "merged")
            if os.path.ismount(merged):
                subprocess.run(["umount", "-l", merged], check=False)
        shutil.rmtree(self.base, ignore_errors=True)
