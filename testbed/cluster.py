"""
A whole test cluster: the APT repository, the network, a real salt-master, and one host per
topology entry, each provisioned for real as a wheezy host with Synnefo 0.18.1 for its roles
and running its own salt-minion.

``up`` starts a detached daemon that owns the hosts' supervisor threads and the master and
returns once every minion answers; ``down`` ends it all, and also cleans up after a daemon
that died. Only one test bed runs on a machine at a time (its network names are fixed); its
files live under $SNF_TESTBED_DIR (default /var/tmp/snftb).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import yaml

from testbed import faults, ganeti, mirror, netns, packages, realganeti, realsynnefo, saltstack, synnefo, timeline
from testbed import topology as topology_module
from testbed.host import Host, HostError
from testbed.realsynnefo import database, seed

DEFAULT_DIR = "/var/tmp/snftb"
# ``ganeti: real``: the real nodes' files (apart from the test bed's, whose directory name
# marks the processes down() kills by their command line).
REAL_GANETI_DIR = os.environ.get("SNF_TESTBED_REAL_GANETI_DIR", "/var/tmp/snf-realganeti-testbed")
# Beyond this many hosts, one plain Ganeti node (no other role, not a master) is provisioned
# and the others of its kind start as copies of it, each with its own name, files and minion
# keys: a hundred hosts installing their packages at once would take the machine's cores for
# many minutes. Smaller topologies (every test's) install each host on its own.
CLONE_ABOVE = 12
CLONES_BOOTING = 8
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMULA_PARTS = ("synnefo_upgrade", "_modules", "_states", "_runners", "_utils", "_output")
WEB_ROLES = ("astakos", "cyclades", "pithos", "cms")


class ClusterError(RuntimeError):
    pass


def base_dir():
    return os.environ.get("SNF_TESTBED_DIR", DEFAULT_DIR)


class Paths:
    def __init__(self, base=None):
        self.base = base or base_dir()
        self.shared = os.path.join(self.base, "shared")
        self.repo = os.path.join(self.base, "repo")
        self.master = os.path.join(self.base, "master")
        self.master_conf = os.path.join(self.master, "conf")
        self.formula = os.path.join(self.base, "formula")
        self.pillar = os.path.join(self.base, "pillar")
        self.state = os.path.join(self.base, "cluster.json")
        self.status = os.path.join(self.base, "status")
        self.daemon_pid = os.path.join(self.base, "daemon.pid")
        self.log = os.path.join(self.base, "daemon.log")


# --- what a provisioned host looks like (the site's own files, not the packages') ----------

# The site's gunicorn config: the packaged 0.18.1 example, with the Archipelago hook on the
# hosts that need it.
ARCHIPELAGO_HOOK = "   '--config=/etc/synnefo/gunicorn-hooks/gunicorn-archipelago.py',\n"
APACHE_SITE = """<VirtualHost *:80>
    ServerName {host}.example.org
    RewriteEngine On
    RewriteRule (.*) https://%{{HTTP_HOST}}%{{REQUEST_URI}}
</VirtualHost>
"""
APACHE_SSL_SITE = """<VirtualHost _default_:443>
    ServerName {host}.example.org
    RequestHeader set X-Forwarded-Protocol "https"
    ProxyPreserveHost On
    ProxyPass / http://localhost:8080/ retry=0
    ProxyPassReverse / http://localhost:8080/
    SSLEngine on
</VirtualHost>
"""
# Local edits of packaged conffiles: a careless dist-upgrade would prompt for these.
CYCLADES_LOCAL_API = (
    "## Cache for VM passwords and public stats (Django 1.4 URI)\n"
    "CACHE_BACKEND = 'memcached://127.0.0.1:11211/'\n"
    "## How often the public stats are refreshed\n"
    "PUBLIC_STATS_CACHE_POPULATE_INTERVAL = 600\n"
    "CYCLADES_BASE_URL = 'https://cyclades1.example.org/cyclades'\n"
)
CYCLADES_LOCAL_VMAPI = "VMAPI_CACHE_BACKEND = 'memcached://127.0.0.1:11211/?timeout=3600'\n#VMAPI_CACHE_KEY_PREFIX = 'vmapi'\n"

# The old default allocator, set explicitly (the guide: switch it to the FilterAllocator).
CYCLADES_LOCAL_BACKEND = "BACKEND_ALLOCATOR_MODULE = 'synnefo.logic.allocators.default_allocator.DefaultAllocator'\n"


def role_packages(roles):
    wanted = []
    for role in roles:
        for package in packages.ROLE_PACKAGES[role]:
            if package not in wanted:
                wanted.append(package)
    return wanted


def real_site_settings(roles, database_settings, deploy_settings):
    """What an administrator of a real Synnefo host adds to the packaged settings files by the
    install guide: the database (``10-snf-webproject-database.conf``), the secret key, base
    URLs and service tokens (``10-snf-webproject-deploy.conf``). ``{conffile: lines}``."""
    if not any(r in ("astakos", "cyclades", "pithos") for r in roles):
        return {}
    return {
        "/etc/synnefo/10-snf-webproject-database.conf": database_settings,
        "/etc/synnefo/10-snf-webproject-deploy.conf": deploy_settings,
    }


def provision_script(host, roles, ganeti_masters, real_settings=None):
    """The shell commands that install a wheezy host as an operator would have.
    ``real_settings``: on a real Synnefo host, what the administrator adds to its packaged
    settings files (:py:func:`real_site_settings`), and the cyclades edits are added to the
    real files instead of replacing the stand-in's."""
    wheezy_base = packages.BASE_FILES["wheezy"][0]
    lines = [
        "set -e",
        "export DEBIAN_FRONTEND=noninteractive",
        "apt-get update -q",
        # The host was installed as wheezy: base-files' conffiles are the package's own.
        f"apt-get install -y -q -o Dpkg::Options::=--force-confnew testbed-support base-files={wheezy_base} sysvinit",
        "apt-get install -y -q " + " ".join(role_packages(roles)),
    ]
    if any(r in WEB_ROLES for r in roles):
        site = packages.GUNICORN_EXAMPLE
        if {"cyclades", "pithos"} & set(roles):
            site = site.replace(" ),\n}", ARCHIPELAGO_HOOK + " ),\n}")
        lines += [
            "mkdir -p /etc/gunicorn.d /etc/apache2/sites-available /etc/apache2/sites-enabled",
            f"cat > /etc/gunicorn.d/synnefo <<'EOF'\n{site}EOF",
            f"cat > /etc/apache2/sites-available/synnefo <<'EOF'\n{APACHE_SITE.format(host=host)}EOF",
            f"cat > /etc/apache2/sites-available/synnefo-ssl <<'EOF'\n{APACHE_SSL_SITE.format(host=host)}EOF",
            "ln -sf ../sites-available/synnefo /etc/apache2/sites-enabled/synnefo",
            "ln -sf ../sites-available/synnefo-ssl /etc/apache2/sites-enabled/synnefo-ssl",
        ]
    edit = ">>" if real_settings is not None else ">"
    for path, text in sorted((real_settings or {}).items()):
        lines.append(f"cat >> {path} <<'EOF'\n{text}EOF")
    if "cyclades" in roles:
        lines += [
            f"cat {edit} /etc/synnefo/20-snf-cyclades-app-api.conf <<'EOF'\n{CYCLADES_LOCAL_API}EOF",
            f"cat {edit} /etc/synnefo/20-snf-cyclades-app-vmapi.conf <<'EOF'\n{CYCLADES_LOCAL_VMAPI}EOF",
            f"cat {edit} /etc/synnefo/20-snf-cyclades-app-backend.conf <<'EOF'\n{CYCLADES_LOCAL_BACKEND}EOF",
        ]
    if host in ganeti_masters:
        lines.append("sed -i 's/^SNF_EVENTD_ENABLE=.*/SNF_EVENTD_ENABLE=true/' /etc/default/snf-ganeti-eventd")
    return "\n".join(lines) + "\n"


def minion_config(host, roles):
    return (
        f"master: {netns.MASTER_ADDRESS}\n"
        f"id: {host}\n"
        "grains:\n"
        f"  roles: {json.dumps(list(roles))}\n"
        "acceptance_wait_time: 1\n"
        "random_reauth_delay: 0\n"
        "recon_randomize: false\n"
        "log_level_logfile: info\n"
    )


def master_config(paths):
    return {
        "interface": netns.MASTER_ADDRESS,
        "root_dir": paths.master,
        "pki_dir": os.path.join(paths.master, "pki"),
        "cachedir": os.path.join(paths.master, "cache"),
        "sock_dir": os.path.join(paths.master, "sock"),
        "log_file": os.path.join(paths.master, "master.log"),
        "pidfile": os.path.join(paths.master, "master.pid"),
        "auto_accept": True,
        "user": "root",
        "file_roots": {"base": [paths.formula]},
        "pillar_roots": {"base": [paths.pillar]},
        "timeout": 30,
        "worker_threads": 4,
    }


# --- the daemon ---------------------------------------------------------------------------


class Daemon:
    """Owns a running test bed: its master process and its hosts' supervisor threads."""

    def __init__(self, topology, paths):
        self.topology = topology
        self.paths = paths
        self.hosts = {}
        self.master = None
        self.mirror = None
        self.stopping = threading.Event()
        self.restarting = threading.Lock()
        self.real_ganeti = None
        self.relay = None
        self.database = None  # synnefo: real's PostgreSQL (testbed.realsynnefo.database)
        self.real_settings = None

    def status(self, text):
        with open(self.paths.status, "w") as handle:
            handle.write(text + "\n")

    def on_power(self, host, up):
        if self.relay is not None:
            if host in self.real_ganeti.nodes:
                self.relay.power(host, up)
            return
        if ganeti.is_node(host, shared=self.paths.shared):
            ganeti.power_changed(host, up, shared=self.paths.shared)

    def start(self):
        paths, topology = self.paths, self.topology
        self.status("building the APT repository")
        minion = saltstack.program("salt-minion", topology.salt)
        packages.build_repository(paths.repo, minion=minion, payload_kib=topology.apt.payload_kib, synnefo=topology.synnefo)
        for directory in (paths.shared, paths.master_conf, paths.formula, paths.pillar):
            os.makedirs(directory, exist_ok=True)
        os.chmod(paths.shared, 0o755)
        for part in FORMULA_PARTS:
            if os.path.isdir(os.path.join(REPO_ROOT, part)):
                os.symlink(os.path.join(REPO_ROOT, part), os.path.join(paths.formula, part))
        self.status("creating the network")
        netns.create_switch()
        if topology.synnefo == "real":
            self.status("starting the database server")
            self.start_database()
        if topology.apt.http:
            self.start_mirror()
        for index, (name, roles) in enumerate(topology.hosts.items(), start=1):
            address = netns.create_host(name, index)
            self.hosts[name] = Host(name, address, roles, paths.base, paths.shared, paths.repo, minion)
        with open(os.path.join(paths.master_conf, "master"), "w") as handle:
            json.dump(master_config(paths), handle, indent=1)
        for name, data in synnefo.pillar(topology).items():
            with open(os.path.join(paths.pillar, name), "w") as handle:
                yaml.safe_dump(data, handle, default_flow_style=False)
        self.write_state()
        self.status(f"starting the salt-master (Salt {topology.salt})")
        self.start_master()
        self.status("provisioning the hosts")
        errors = []
        masters = [c[1] for c in topology.ganeti_clusters()]
        plain = [h for h in self.hosts.values() if h.roles == ["ganeti"] and h.name not in masters]
        clones = plain[1:] if len(self.hosts) > CLONE_ABOVE else []
        self.template = (plain[0], threading.Event(), []) if clones else None
        self.booting = threading.BoundedSemaphore(CLONES_BOOTING)
        # Many hosts booting at once on a few cores each take longer than one alone.
        self.boot_timeout = 60 if len(self.hosts) <= CLONE_ABOVE else 300
        workers = [
            threading.Thread(target=self.provision_clone if h in clones else self.provision, args=(h, errors)) for h in self.hosts.values()
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise ClusterError("; ".join(errors))
        self.status("starting the Ganeti cluster")
        self.start_ganeti()
        synnefo.create(paths.shared, topology)
        # The timeline records the upgrade: what setting up the cluster did goes aside.
        if os.path.exists(timeline.path(paths.shared)):
            os.replace(timeline.path(paths.shared), os.path.join(paths.shared, "setup-timeline.jsonl"))
        self.status("waiting for the minions")
        self.wait_minions(timeout=150 if len(self.hosts) <= CLONE_ABOVE else 600)
        self.write_state()
        timeline.record("testbed-ready", "testbed", shared_dir=paths.shared, hosts=sorted(self.hosts))
        self.status("ready")

    def start_database(self):
        """synnefo: real: PostgreSQL on the bridge's address (outside the hosts, as a managed
        database server), ``snf_apps`` at 0.18.1's schema seeded by 0.18.1's own commands; what
        was seeded (users, VMs) in ``SHARED/synnefo/real.json`` for the tests."""
        hosts = {}
        for role in synnefo.SERVICES:
            name = next((h for h in self.topology.hosts if role in self.topology.hosts[h]), role + "1")
            hosts[role] = f"{name}.example.org"
        self.database = database.Server(os.path.join(self.paths.base, "postgres"), address=netns.MASTER_ADDRESS, wrap=netns.in_switch)
        self.database.init().start()
        self.database.create_databases()
        self.database.restore("snf_apps", database.schema_0181(log=lambda text: None))
        settings = database.settings_dir(
            "0.18.1",
            self.database,
            os.path.join(self.paths.base, "seeding-settings"),
            extra=(f"LOG_DIR = '{self.paths.base}/seeding-log'\n"),
        )
        seeded = seed.seed(self.database, settings, self.topology.instances, users=2, hosts=hosts)
        os.makedirs(os.path.join(self.paths.shared, "synnefo"), exist_ok=True)
        with open(os.path.join(self.paths.shared, "synnefo", "real.json"), "w") as handle:
            json.dump(dict(seeded, database=netns.MASTER_ADDRESS, hosts=hosts), handle, indent=1)
        self.real_settings = (
            self.database.settings(netns.MASTER_ADDRESS),
            database.site_settings(self.database, db_host=netns.MASTER_ADDRESS, hosts=hosts),
        )

    def start_master(self):
        log = open(os.path.join(self.paths.master, "console.log"), "ab")
        command = netns.in_switch([saltstack.program("salt-master", self.topology.salt), "-c", self.paths.master_conf])
        self.master = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def stop_master(self):
        """SIGTERM, then SIGKILL after 10 s, to the master's process group."""
        if self.master and self.master.poll() is None:
            os.killpg(self.master.pid, signal.SIGTERM)
            try:
                self.master.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.master.pid, signal.SIGKILL)
                self.master.wait()

    def restart_master(self):
        """Stop the salt-master and start it again (an operator's restart, or a crash)."""
        with self.restarting:
            self.stop_master()
            self.start_master()
            self.write_state()
            timeline.record("master-restarted", "testbed", shared_dir=self.paths.shared)

    def start_mirror(self):
        log = open(os.path.join(self.paths.base, "mirror.log"), "ab")
        command = [
            sys.executable,
            "-m",
            "testbed",
            "_mirror",
            self.paths.repo,
            self.paths.shared,
            str(self.topology.apt.rate_kib_s),
            str(mirror.PORT),
        ]
        self.mirror = subprocess.Popen(
            netns.in_switch(command), cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.time() + 10
        while (
            subprocess.run(
                netns.in_switch(
                    ["python3", "-c", f"import socket; socket.create_connection(('{netns.MASTER_ADDRESS}', {mirror.PORT}), 1)"]
                ),
                capture_output=True,
            ).returncode
            != 0
        ):
            if self.mirror.poll() is not None or time.time() > deadline:
                raise ClusterError(f"the APT mirror did not start; see {log.name}")
            time.sleep(0.1)

    def apt_uri(self):
        if self.topology.apt.http:
            return mirror.uri(netns.MASTER_ADDRESS)
        return f"file:{packages.REPO_MOUNT}"

    def provision_clone(self, host, errors):
        """Start ``host`` as a copy of the provisioned template host: its upper layer copied
        (packages, dpkg's database, configuration), then its own files, minion configuration
        and keys, and none of the template's minion cache or logs."""
        template, ready, failed = self.template
        try:
            if not ready.wait(1800) or failed:
                raise HostError(f"{host.name}: {template.name}, the host it copies, was not provisioned")
            os.makedirs(host.dir, exist_ok=True)
            subprocess.run(["cp", "-a", template.upper, host.upper], check=True)
            for directory in (host.work, host.root):
                os.makedirs(directory, exist_ok=True)
            for path, (text, mode) in self.host_files(host).items():
                host.put(path, text, mode)
            host.put("/etc/salt/minion", minion_config(host.name, host.roles))
            for leftover in ("etc/salt/pki/minion", "etc/salt/minion_id", "var/cache/salt", "var/log/salt"):
                path = os.path.join(host.upper, leftover)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                elif os.path.lexists(path):
                    os.unlink(path)
            keys = os.path.join(host.upper, "etc/salt/pki/minion")
            os.makedirs(keys, mode=0o700)
            salt_key = saltstack.program("salt-key", self.topology.salt)
            subprocess.run([salt_key, "--gen-keys=minion", f"--gen-keys-dir={keys}"], check=True, capture_output=True)
            with self.booting:  # a few at a time: every boot starts a minion
                threading.Thread(target=host.supervise, args=(faults.Faults(self.paths.shared), self.on_power), daemon=True).start()
                if not host.booted.wait(60):
                    raise HostError(f"{host.name} did not start")
                host.wait_booted(timeout=self.boot_timeout)
        except (HostError, OSError, subprocess.SubprocessError) as exc:
            errors.append(str(exc))

    def provision(self, host, errors):
        try:
            self._provision(host)
        except (HostError, OSError, subprocess.SubprocessError) as exc:
            errors.append(str(exc))
            if self.template and self.template[0] is host:
                self.template[2].append(str(exc))
        finally:
            if self.template and self.template[0] is host:
                self.template[1].set()

    def _provision(self, host):
        """Install ``host`` as an operator would have: its packages, its minion, a reboot."""
        host.prepare(self.host_files(host))
        threading.Thread(target=host.supervise, args=(faults.Faults(self.paths.shared), self.on_power), daemon=True).start()
        if not host.booted.wait(self.boot_timeout):
            raise HostError(f"{host.name} did not start")
        host.wait_booted(timeout=self.boot_timeout)
        real = real_site_settings(host.roles, *self.real_settings) if self.database is not None else None
        script = provision_script(host.name, host.roles, [c[1] for c in self.topology.ganeti_clusters()], real_settings=real)
        result = host.run(["sh", "-c", script], check=False)
        if result.returncode != 0:
            raise HostError(f"{host.name}: provisioning failed: {(result.stdout + result.stderr)[-600:]}")
        # Debian's salt-minion package, configured first so that it starts the right minion.
        # The minion's keys made first, whole: a minion that makes them itself when the
        # package starts it can be cut off by the reboot below, and then never starts
        # again ("RSA key format is not supported").
        salt_key = saltstack.program("salt-key", self.topology.salt)
        host.run(
            [
                "sh",
                "-c",
                f"mkdir -p /etc/salt && cat > /etc/salt/minion <<'EOF'\n{minion_config(host.name, host.roles)}EOF\n"
                f"mkdir -p -m 700 /etc/salt/pki/minion && {salt_key} --gen-keys=minion --gen-keys-dir=/etc/salt/pki/minion\n"
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -q salt-minion",
            ]
        )
        old = host.pid1()
        host.run(["reboot"], check=False)
        deadline = time.time() + self.boot_timeout
        while host.pid1() in (None, old):
            if time.time() > deadline:
                raise HostError(f"{host.name} did not come back after its first reboot")
            time.sleep(0.05)
        host.wait_booted(timeout=self.boot_timeout)

    def host_files(self, host):
        files = {path: (text, 0o644) for path, text in packages.sources_list("wheezy", uri=self.apt_uri()).items()}
        hosts_file = f"127.0.0.1\tlocalhost\n{netns.MASTER_ADDRESS}\tsalt master\n"
        hosts_file += "".join(f"{h.address}\t{h.name}.example.org {h.name}\n" for h in self.hosts.values())
        with open(os.path.join(topology_module.ZONEINFO, self.topology.timezone), "rb") as handle:
            zone = handle.read()
        files.update(
            {
                # The host's clock zone (the operators', Europe/Athens unless the topology says).
                "/etc/localtime": (zone, 0o644),
                "/etc/timezone": (self.topology.timezone + "\n", 0o644),
                "/etc/hostname": (host.name + "\n", 0o644),
                "/etc/hosts": (hosts_file, 0o644),
                "/etc/resolv.conf": ("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", 0o644),
                "/etc/machine-id": (os.urandom(16).hex() + "\n", 0o444),
            }
        )
        return files

    def start_ganeti(self):
        nodes = self.topology.hosts_with("ganeti")
        if not nodes:
            return
        if self.topology.ganeti == "real":
            self.start_real_ganeti(nodes)
            return
        for name, master, pool, members in self.topology.ganeti_clusters():
            ganeti.create(
                self.paths.shared,
                members,
                master,
                dict((i, n) for i, n in self.topology.instances.items() if n in members),
                memory=self.topology.memory,
                instance_memory=self.topology.instance_memory,
                migration_mib_per_s=self.topology.migration_mib_per_s,
                specs=self.topology.instance_specs,
                candidate_pool_size=pool,
                drbd_resync_mib_per_s=self.topology.drbd_resync_mib_per_s,
                name=name,
            )
        for node in nodes:
            version = self.hosts[node].run(["dpkg-query", "-W", "-f=${Version}", "snf-ganeti"], check=False).stdout.strip()
            oses = json.loads(self.hosts[node].run(["python3", "/usr/lib/testbed/tbganeti.py", "os-definitions"]).stdout)
            for service in ganeti.SERVICES + (ganeti.EVENTD,):
                running = self.hosts[node].run(["service", service, "status"], check=False).returncode == 0
                ganeti.service_changed(node, service, running, shared=self.paths.shared, package_version=version or None, oses=oses)

    def start_real_ganeti(self, nodes):
        """Real Ganeti on the Ganeti hosts (testbed/realganeti.py), each node in its host's
        network and named as it, the topology's instances on it, and the relay through which
        the hosts' ``gnt-*`` commands reach it."""
        realganeti.build()
        master = self.topology.ganeti_master
        names = [master] + [n for n in nodes if n != master]
        hosts = dict(
            (n, {"address": self.hosts[n].address, "netns": self.hosts[n].netns, "memory": self.topology.memory[n]}) for n in names
        )
        self.real_ganeti = realganeti.Cluster(names, base=REAL_GANETI_DIR, hosts=hosts, cluster_address=netns.CLUSTER_ADDRESS)
        self.real_ganeti.up(candidate_pool_size=self.topology.candidate_pool_size)
        for name, node in self.topology.instances.items():
            spec = self.topology.instance_specs[name]
            self.real_ganeti.add_instance(
                name,
                node,
                topology_module.REAL_TEMPLATES[spec.get("disk_template", "ext")],
                memory=self.topology.instance_memory[name],
                minmem=spec.get("minmem"),
                running=spec.get("status", "running") == "running",
                always_failover=spec.get("always_failover", False),
            )
        directory = os.path.join(self.paths.shared, "ganeti")
        os.makedirs(directory, exist_ok=True)
        self.relay = realganeti.Relay(self.real_ganeti, directory, self.paths.shared).start()
        # The hosts' Ganeti services reach the relay from now on (testbed/ganeti.py is_node).
        with open(os.path.join(directory, "real.json"), "w") as handle:
            json.dump({"nodes": names}, handle)

    def wait_minions(self, timeout, nudge_every=30):
        """Wait until every minion answers. A minion still silent after ``nudge_every`` seconds
        is killed and started again, as an operator would (seen now and then with Salt 2019.2
        at the test bed's start: a minion that never answers, the cause not found yet); if one
        still does not answer, the error carries the end of its log."""
        deadline = time.time() + timeout
        nudge = time.time() + nudge_every
        wanted = set(self.hosts)
        answered = set()
        while time.time() < deadline:
            if time.time() > nudge:
                for name in sorted(wanted - answered):
                    self.hosts[name].run(
                        ["sh", "-c", "pkill -9 -f bin/salt-minion; rm -f /var/run/salt-minion.pid; /etc/init.d/salt-minion start"],
                        check=False,
                    )
                    print(f"{name}: its minion did not answer: killed and started again", flush=True)
                nudge = time.time() + nudge_every
            result = subprocess.run(
                salt_command(self.paths, "salt", ["*", "test.ping", "--out=json", "--static", "--timeout=5"], stack=self.topology.salt),
                capture_output=True,
                text=True,
            )
            try:
                answered = {k for k, v in json.loads(result.stdout or "{}").items() if v is True}
            except json.JSONDecodeError:
                answered = set()
            if wanted <= answered:
                return
            time.sleep(1)
        silent = sorted(wanted - answered)
        logs = {
            name: self.hosts[name].run(["sh", "-c", "tail -n 15 /var/log/salt/minion; ps -ef | grep [s]alt-minion"], check=False).stdout
            for name in silent
        }
        raise ClusterError(f"minions did not answer: {', '.join(silent)}; their logs end with: {json.dumps(logs)}")

    def write_state(self):
        state = {
            "topology": self.topology.path,
            "hosts": {n: {"address": h.address, "roles": h.roles, "dir": h.dir} for n, h in self.hosts.items()},
            "ganeti_master": self.topology.ganeti_master,
            "ganeti_clusters": dict((n, {"master": m, "nodes": members}) for n, m, _, members in self.topology.ganeti_clusters() if n),
            "instances": self.topology.instances,
            "salt": self.topology.salt,
            "master_pid": self.master.pid if self.master else None,
            "mirror_pid": self.mirror.pid if self.mirror else None,
            "apt": {
                "http": self.topology.apt.http,
                "rate_kib_s": self.topology.apt.rate_kib_s,
                "payload_kib": self.topology.apt.payload_kib,
            },
            "daemon_pid": os.getpid(),
        }
        # Whole or not at all: the CLI and the mirror read it while the daemon runs.
        with open(self.paths.state + ".new", "w") as handle:
            json.dump(state, handle, indent=1)
        os.replace(self.paths.state + ".new", self.paths.state)

    def stop(self):
        for host in self.hosts.values():
            host.stop_requested = True
            host.kill()
        if self.mirror and self.mirror.poll() is None:
            os.killpg(self.mirror.pid, signal.SIGKILL)
        self.stop_master()
        if self.relay is not None:
            self.relay.stop()
        if self.real_ganeti is not None:
            self.real_ganeti.down()
        if self.database is not None:
            self.database.stop()
        netns.delete_all()

    def serve(self):
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.restart_master, daemon=True).start())
        try:
            self.start()
        except Exception as exc:  # noqa: BLE001 - any failure must reach the waiting CLI
            self.status(f"failed: {exc}")
            self.stop()
            return 1
        self.stopping.wait()
        self.stop()
        return 0


def salt_command(paths, program, args, stack=None):
    """The command line of ``salt``, ``salt-run`` or ``salt-key`` against the test bed's master,
    from the Salt it runs (read from the running test bed when ``stack`` is not given)."""
    stack = stack or load_state(paths).get("salt", saltstack.DEFAULT)
    return netns.in_switch([saltstack.program(program, stack), "-c", paths.master_conf, *args])


# --- what the CLI calls -------------------------------------------------------------------


def up(topology_path=None, timeout=300):
    """Start a test bed for the topology (the default one when None); return once every
    minion answers. Raises TopologyError before anything starts if the file is invalid."""
    topology = topology_module.load(topology_path)
    if topology.salt == saltstack.LEGACY:
        saltstack.build_legacy(log=lambda text: None)
    if topology.synnefo == "real":
        # Built once and cached (make real-synnefo); the first time here takes minutes.
        realsynnefo.build(log=lambda text: print(f"   {text}", flush=True))
    paths = Paths()
    down()
    os.makedirs(paths.base, exist_ok=True)
    with open(paths.status, "w") as handle:
        handle.write("starting\n")
    log = open(paths.log, "ab")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "testbed", "_daemon", topology.path],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    with open(paths.daemon_pid, "w") as handle:
        handle.write(str(daemon.pid))
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = read_status(paths)
        if status == "ready":
            return topology
        if status.startswith("failed") or daemon.poll() is not None:
            detail = status if status.startswith("failed") else f"the daemon exited ({daemon.returncode}); see {paths.log}"
            down()
            raise ClusterError(f"test bed did not start: {detail}")
        time.sleep(0.2)
    down()
    raise ClusterError(f"test bed did not start within {timeout} s")


def restart_master(timeout=60):
    """Have the running test bed's daemon restart its salt-master; return once the new one
    takes connections on its ports."""
    paths = Paths()
    old = load_state(paths).get("master_pid")
    with open(paths.daemon_pid) as handle:
        os.kill(int(handle.read().strip()), signal.SIGHUP)
    deadline = time.time() + timeout
    probe = "import socket; [socket.create_connection(('{0}', p), 1) for p in (4505, 4506)]".format(netns.MASTER_ADDRESS)
    while time.time() < deadline:
        if load_state(paths).get("master_pid") != old:
            if subprocess.run(netns.in_switch(["python3", "-c", probe]), capture_output=True).returncode == 0:
                return
        time.sleep(0.2)
    raise ClusterError(f"the salt-master did not start again within {timeout} s; see {paths.master}/master.log")


def read_status(paths):
    try:
        with open(paths.status) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def load_state(paths=None):
    paths = paths or Paths()
    try:
        with open(paths.state) as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise ClusterError(f"no test bed is running ({paths.state} missing)") from exc


def host(name, paths=None):
    """A handle on a running host of the test bed (for exec)."""
    paths = paths or Paths()
    state = load_state(paths)
    if name not in state["hosts"]:
        raise ClusterError(f"no host {name!r} in the test bed (hosts: {', '.join(sorted(state['hosts']))})")
    info = state["hosts"][name]
    return Host(name, info["address"], info["roles"], paths.base, paths.shared, paths.repo)


def _pid1s(paths):
    hosts_dir = os.path.join(paths.base, "hosts")
    pids = []
    for name in os.listdir(hosts_dir) if os.path.isdir(hosts_dir) else []:
        try:
            with open(os.path.join(hosts_dir, name, "pid1")) as handle:
                pids.append(int(handle.read().strip()))
        except (OSError, ValueError):
            pass
    return pids


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def down():
    """Stop the test bed and remove every trace of it: daemon, master, hosts (and so their
    mounts and namespaces), network namespaces, files. Works after a crash too."""
    paths = Paths()
    daemon_pid = None
    try:
        with open(paths.daemon_pid) as handle:
            daemon_pid = int(handle.read().strip())
    except (OSError, ValueError):
        pass
    if daemon_pid and _kill(daemon_pid, signal.SIGTERM):
        deadline = time.time() + 20
        while time.time() < deadline and os.path.exists(f"/proc/{daemon_pid}") and not _zombie(daemon_pid):
            time.sleep(0.05)
        _kill(daemon_pid, signal.SIGKILL)
    for pid in _pid1s(paths):
        _kill(pid, signal.SIGKILL)
    try:
        state = load_state(paths)
        for pid in (state.get("master_pid"), state.get("mirror_pid")):
            try:
                if pid:
                    os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    except ClusterError:
        pass
    _kill_strays(paths.base)
    realganeti.clean(REAL_GANETI_DIR)
    netns.delete_all()
    if os.path.isdir(paths.base):
        shutil.rmtree(paths.base, ignore_errors=True)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] == "Z"
    except OSError:
        return True


def _kill_strays(base):
    """Any process still running from the test bed's files (a master, a launcher)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
        except OSError:
            continue
        if base in cmdline and "_daemon" not in cmdline:
            _kill(int(entry), signal.SIGKILL)
