"""
Real Ganeti on this machine: Debian 12's Ganeti 3.0 (its command line is 2.10's for everything
the formula asks) with the ``fake`` hypervisor: standalone, to check the stand-in against it
(``tests/testbed/test_ganeti_differential.py``), and on the test bed's Ganeti hosts (topology
``ganeti: real``, ``testbed/cluster.py``), where the hosts' ``gnt-*`` commands reach it through
a :py:class:`Relay` and each node goes down and up with its host.

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

import json
import os
import shlex
import shutil
import signal
import socketserver
import subprocess
import threading
import time

from testbed import timeline

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
    """One real Ganeti node: an overlay over the root, its own namespaces, tini as PID 1.

    Standalone (``netns`` None) it gets its own network namespace; in the test bed it shares
    its host's (``netns``: the host's named namespace), so that Ganeti's node is the host's
    address, and it is powered off and on with the host (:py:meth:`Cluster.power`)."""

    def __init__(self, name, address, base, root, fqdn=None, netns=None, memory_mib=None):
        self.name = name
        self.fqdn = fqdn or name
        self.address = address
        self.dir = os.path.join(base, name)
        self.root = root
        self.netns = netns
        self.memory_mib = memory_mib
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
        mounts = [
            f"mount -t overlay overlay -o lowerdir={self.root},upperdir={self.dir}/upper,workdir={self.dir}/work {merged}",
            f"mount -t proc proc {merged}/proc",
            f"mount -t sysfs sysfs {merged}/sys",
            f"mount -t devpts devpts {merged}/dev/pts -o newinstance,ptmxmode=0666",
            f"mount --bind {merged}/dev/pts/ptmx {merged}/dev/ptmx",
            f"mount -t tmpfs tmpfs {merged}/run",
        ]
        if self.memory_mib:
            # The fake hypervisor reads the node's memory from /proc/meminfo
            # (lib/hypervisor/hv_base.py GetLinuxNodeInfo): a file of the node's own, as lxcfs does.
            with open(os.path.join(self.dir, "meminfo"), "w") as handle:
                handle.write(
                    f"MemTotal: {(self.memory_mib + 512) * 1024} kB\nMemFree: {self.memory_mib * 1024} kB\n"
                    "Buffers: 0 kB\nCached: 0 kB\nActive: 524288 kB\n"
                )
            mounts.append(f"mount --bind {self.dir}/meminfo {merged}/proc/meminfo")
        script = " && ".join(
            mounts + [f"hostname {self.fqdn}", f"exec chroot {merged} /usr/bin/tini -s -- /bin/sh -c {shlex.quote(inner)}"]
        )
        namespaces = ["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork"]
        if self.netns:
            namespaces = ["nsenter", f"--net=/run/netns/{self.netns}", "--"] + namespaces
        else:
            namespaces.insert(4, "--net")
        with open(os.path.join(self.dir, "init.log"), "a") as log:
            self.process = subprocess.Popen(
                ["setsid"] + namespaces + ["/bin/sh", "-c", script],
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

    def boot(self, shared):
        """What every boot of the node does before Ganeti's daemons start: its sshd, the
        directories a fresh ``/run`` lacks, the ``noop`` OS, ``sharedfile``'s directory."""
        self.run(
            # Host keys of its own, made at the first boot (the root's are shared).
            "test -e /etc/ssh/.node-keys || { rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; touch /etc/ssh/.node-keys; }; "
            "mkdir -p /run/sshd /run/lock; chmod 1777 /run/lock; "
            "/usr/sbin/sshd; mkdir -p /srv/ganeti/file-storage /srv/ganeti/shared-file-storage; "
            "printf '/srv/ganeti/file-storage\\n/srv/ganeti/shared-file-storage\\n' > /etc/ganeti/file-storage-paths; "
            "d=/srv/ganeti/os/noop; mkdir -p $d; echo 20 > $d/ganeti_api_version; : > $d/parameters.list; "
            "for s in create export import rename verify; do printf '#!/bin/sh\\nexit 0\\n' > $d/$s; chmod 755 $d/$s; done"
        )
        # sharedfile's directory, the same for every node (in the node's mount namespace only).
        subprocess.run(
            self.nsenter("-m", "mount", "--bind", shared, os.path.join(self.dir, "merged/srv/ganeti/shared-file-storage")),
            check=True,
        )

    def running_instances(self):
        """The instances the fake hypervisor runs on this node (one file each, lib/hypervisor/
        hv_fake.py), read through the node's root; empty when the node is down."""
        pid = self.pid1()
        if pid is None:
            return []
        try:
            return sorted(os.listdir(f"/proc/{pid}/root/run/ganeti/fake-hypervisor"))
        except OSError:
            return []

    def pid1(self):
        """The machine's PID of the node's PID 1 (tini), checked by its root."""
        if self.process is None:
            return None
        # setsid execs unshare (or nsenter, which execs it) in place; unshare forks PID 1.
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
            self.process = None


class Cluster:
    """A real Ganeti cluster of ``names`` (the first its master), with the ``noop`` OS and
    ``sharedfile``, ``file`` and ``diskless`` enabled.

    Standalone (``hosts`` None): nodes named ``NAME.example.com`` in their own network, joined
    by a bridge in the first node's. In the test bed, ``hosts`` gives each node its host's
    ``address``, named network namespace (``netns``) and ``memory`` (MiB for instances): the
    nodes are named as the hosts (the formula's minion ids are Ganeti's node names) and the
    cluster's address is ``cluster_address``."""

    def __init__(self, names=("gnt1", "gnt2", "gnt3"), base=BASE, root=ROOT, hosts=None, cluster_address=None):
        self.base = base
        self.root = root
        self.hosts = hosts
        self.master = names[0]
        self.nodes = {}
        for index, name in enumerate(names, start=1):
            if hosts:
                info = hosts[name]
                self.nodes[name] = Node(name, info["address"], base, root, netns=info["netns"], memory_mib=info.get("memory"))
            else:
                self.nodes[name] = Node(name, f"{NETWORK}.{10 + index}", base, root, fqdn=f"{name}.{DOMAIN}")
        self.cluster_name = "cluster" if hosts else f"cluster.{DOMAIN}"
        self.cluster_address = cluster_address or f"{NETWORK}.10"
        self.powering = threading.Lock()

    def hosts_file(self, instances=()):
        lines = ["127.0.0.1 localhost"]
        if self.hosts:
            lines.append(f"{self.cluster_address} cluster")
            lines += [f"{n.address} {n.name}" for n in self.nodes.values()]
            return "\n".join(lines) + "\n"
        lines.append(f"{NETWORK}.10 cluster.{DOMAIN} cluster")
        lines += [f"{n.address} {n.fqdn} {n.name}" for n in self.nodes.values()]
        lines += [f"{NETWORK}.{100 + i} {name}.{DOMAIN} {name}" for i, name in enumerate(instances, 1)]
        return "\n".join(lines) + "\n"

    def up(self, instances=(), candidate_pool_size=None):
        """Start the nodes, their network and sshd, and form the cluster."""
        self.down()
        os.makedirs(self.shared, exist_ok=True)
        for node in self.nodes.values():
            node.start(self.hosts_file(instances))
        if self.hosts:
            # The master's netdev and the instances' default bridge, in each host's network.
            for node in self.nodes.values():
                subprocess.run(
                    node.nsenter("-n", "sh", "-c", "ip link show br0 >/dev/null 2>&1 || ip link add br0 type bridge"), check=True
                )
        else:
            self._network()
        for node in self.nodes.values():
            node.boot(self.shared)
        master = self.nodes[self.master]
        pool = f"--candidate-pool-size={candidate_pool_size} " if candidate_pool_size else ""
        # The cluster's address goes with the master role: on the hosts' own interface in the
        # test bed (every node must reach it), on the bridge standalone.
        netdev = "eth0" if self.hosts else "br0"
        master.run(
            "gnt-cluster init --enabled-hypervisors=fake --enabled-disk-templates=sharedfile,file,diskless "
            f"--nic-parameters=mode=bridged,link=br0 --master-netdev={netdev} --master-netmask=24 --no-etc-hosts {pool}"
            f"{self.cluster_name}",
            timeout=600,
        )
        key = master.run("cat /root/.ssh/id_rsa.pub").stdout.strip()
        for node in self.nodes.values():
            if node.name == self.master:
                continue
            node.run(f"mkdir -p /root/.ssh && chmod 700 /root/.ssh && echo {shlex.quote(key)} >> /root/.ssh/authorized_keys")
            master.run(f"gnt-node add --no-ssh-key-check {node.fqdn} </dev/null", timeout=600)
        return self

    @property
    def shared(self):
        return os.path.join(self.base, "shared")

    def add_instance(self, name, node, template="sharedfile", memory=1024, minmem=None, running=True, always_failover=False):
        """``gnt-instance add`` on the master: the ``noop`` OS, a 1 GiB disk (none for
        ``diskless``), one NIC on the default bridge."""
        params = f"maxmem={memory},minmem={minmem or memory}" + (",always_failover=true" if always_failover else "")
        disk = "" if template == "diskless" else "--disk 0:size=1G "
        self.nodes[self.master_now()].run(
            f"gnt-instance add -t {template} {disk}-o noop -B {params} -n {self.nodes[node].fqdn} "
            f"--no-ip-check --no-name-check {'' if running else '--no-start '}{name} >/dev/null",
            timeout=600,
        )

    def master_now(self):
        """Whichever node is the master now (it moves with master-failover)."""
        for node in self.nodes.values():
            if node.pid1() is None:
                continue
            answer = node.run("gnt-cluster getmaster", check=False, timeout=60).stdout.strip()
            if answer:
                return answer.split(".")[0]  # standalone nodes answer with their domain
        raise RealGanetiError("no node answers gnt-cluster getmaster")

    def running(self):
        """``{instance: node}`` for every instance the fake hypervisor runs, cluster-wide."""
        return dict((instance, node.name) for node in self.nodes.values() for instance in node.running_instances())

    def power(self, name, up):
        """The node's host went down (its processes die with it: Ganeti's daemons, the fake
        hypervisor's instances, ``/run``) or booted (its sshd and mounts again; Ganeti's
        daemons start with the host's ``ganeti`` service, :py:meth:`daemons`)."""
        node = self.nodes[name]
        with self.powering:
            if not up:
                node.stop()
            elif node.pid1() is None:
                node.start(self.hosts_file())
                node.boot(self.shared)

    def daemons(self, name, running):
        """Ganeti's daemons on the node started or stopped (its init script's work)."""
        self.power(name, True)
        action = "start-all" if running else "stop-all"
        self.nodes[name].run(f"/usr/lib/ganeti/daemon-util {action}", timeout=120)

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
        clean(self.base)


def clean(base):
    """End every node under ``base`` (those of a process that died too: found by the mark in
    their environment) and remove their files."""
    mark = f"{MARK}={base}/".encode()
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read() if pid.isdigit() else b""
        except OSError:
            continue
        if any(entry.startswith(mark) for entry in environ.split(b"\0")):
            _kill(int(pid))
    for name in os.listdir(base) if os.path.isdir(base) else []:
        merged = os.path.join(base, name, "merged")
        if os.path.ismount(merged):
            subprocess.run(["umount", "-l", merged], check=False)
    shutil.rmtree(base, ignore_errors=True)


# --- the test bed's hosts reach the real cluster through a relay --------------------------

SOCKET = "real.sock"  # in the test bed's ganeti directory, seen by every host
# Commands that can move, start or stop an instance, or change a node: run one at a time, the
# fake hypervisor's instances compared before and after to record the timeline's events.
CHANGING = {
    ("gnt-instance", "migrate"),
    ("gnt-instance", "failover"),
    ("gnt-instance", "shutdown"),
    ("gnt-instance", "stop"),
    ("gnt-instance", "startup"),
    ("gnt-instance", "start"),
    ("gnt-node", "migrate"),
    ("gnt-node", "evacuate"),
    ("gnt-node", "failover"),
    ("gnt-node", "modify"),
    ("gnt-cluster", "master-failover"),
    ("gnt-node", "add-tags"),
    ("gnt-node", "remove-tags"),
}


class Relay:
    """A Unix socket in the directory every test-bed host mounts: a host's ``gnt-*`` command
    (``testbed/ganeti.py`` ``main``) runs on the real node of the same name, its output and
    exit code returned as they are; Ganeti's service starting or stopping on a host starts or
    stops the node's daemons. The timeline gets the events the stand-in records (migration,
    failover, vm-outage, vm-shutdown, vm-restored, migration-failed, drain, undrain,
    master-failover), read from what the fake hypervisor runs before and after each command
    that can change it, and ``vm-outage`` for each instance still running on a node whose
    host goes down.

    The one place where this machine is let differ from a real node: ``gnt-cluster verify``
    runs with ``--ignore-errors=ENODESETUP`` (no ``/proc/sysrq-trigger`` in this kernel, so
    every node would report a setup error; Ganeti makes it a warning)."""

    def __init__(self, cluster, directory, shared_dir):
        self.cluster = cluster
        self.path = os.path.join(directory, SOCKET)
        self.shared_dir = shared_dir
        self.changing = threading.Lock()
        self.server = None

    def start(self):
        relay = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                try:
                    answer = relay.answer(json.loads(self.rfile.readline()))
                except Exception as exc:  # noqa: BLE001 - the host must get an answer
                    answer = {"returncode": 1, "stdout": "", "stderr": f"test bed relay: {exc!r}\n"}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        if os.path.exists(self.path):
            os.unlink(self.path)
        self.server = socketserver.ThreadingUnixStreamServer(self.path, Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def event(self, kind, host, **fields):
        timeline.record(kind, host, shared_dir=self.shared_dir, **fields)

    def answer(self, request):
        host = request["host"]
        if request.get("service") is not None:
            self.cluster.daemons(host, request["running"])
            return {"returncode": 0, "stdout": "", "stderr": ""}
        argv = list(request["argv"])
        if argv[:2] == ["gnt-cluster", "verify"]:
            argv.insert(2, "--ignore-errors=ENODESETUP")
        if tuple(argv[:2]) not in CHANGING:
            return self._run(host, argv)
        with self.changing:
            before, began = self.cluster.running(), time.time()
            result = self._run(host, argv)
            result["seconds"] = round(time.time() - began, 3)
            self._record(host, argv, result, before, self.cluster.running())
        return result

    def _run(self, host, argv):
        node = self.cluster.nodes[host]
        if node.pid1() is None:
            return {"returncode": 1, "stdout": "", "stderr": f"{host} is down\n"}
        result = node.run(shlex.join(argv), check=False, timeout=3600)
        return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}

    def _record(self, host, argv, result, before, after):
        command = argv[1]
        for instance in sorted(set(before) | set(after)):
            source, target = before.get(instance), after.get(instance)
            if source and target and source != target:
                if command == "failover":
                    self.event("vm-outage", source, instance=instance, reason=f"failover to {target}")
                    self.event("failover", source, instance=instance, source=source, target=target, seconds=result["seconds"])
                else:
                    cleanup = "--cleanup" in argv
                    self.event(
                        "migration", source, instance=instance, source=source, target=target, cleanup=cleanup, seconds=result["seconds"]
                    )
            elif source and not target:
                self.event("vm-outage", source, instance=instance, reason=" ".join(argv[:2]))
                if command in ("shutdown", "stop"):
                    self.event("vm-shutdown", source, instance=instance)
            elif target and not source:
                self.event("vm-restored", target, instance=instance)
        ok = result["returncode"] == 0
        name = argv[-1]
        if command == "migrate" and argv[0] == "gnt-instance" and not ok:
            self.event("migration-failed", host, instance=name, error=result["stderr"].strip()[-500:])
        elif command == "failover" and argv[0] == "gnt-instance" and ok and name not in before:
            pnode = self._run(host, ["gnt-instance", "list", "--no-headers", "-o", "pnode", name])["stdout"].strip()
            self.event("failover", host, instance=name, target=pnode, seconds=result["seconds"])
        elif command == "modify" and ok and any(a.startswith("--drained=") for a in argv):
            drained = [a for a in argv if a.startswith("--drained=")][-1].split("=", 1)[1] == "yes"
            self.event("drain" if drained else "undrain", name, by=host)
        elif command == "master-failover" and ok:
            self.event("master-failover", host, new=host)
        elif command in ("add-tags", "remove-tags") and ok:
            self.event("node-tags", argv[2], command=command, tags=argv[3:])

    def power(self, host, up):
        """The host went down (instances still running there are an outage) or booted."""
        if not up:
            for instance in self.cluster.nodes[host].running_instances():
                self.event("vm-outage", host, instance=instance, reason=f"{host} went down")
        self.cluster.power(host, up)
