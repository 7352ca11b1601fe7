"""
The database server of a real Synnefo cloud in the test bed: Debian 12's PostgreSQL 15, outside
the hosts being upgraded (as a managed database server is), run as the machine's ``postgres``
user from a data directory of its own (the machine's own cluster is not touched).

- :py:class:`Server`: initdb, start (on a Unix socket, and on a TCP address where the hosts
  reach it), stop, psql, dumps.
- :py:func:`schema_0181`: 0.18.1's schema made by 0.18.1's own code (``snf-manage syncdb``
  then South's ``migrate``, as upstream's install guide runs them), built once and cached as a
  dump beside the 0.18.1 virtualenv.
- :py:func:`settings_dir`: the deployment settings a host's administrator writes into
  ``/etc/synnefo`` by the install guide (the database, a secret key, the base URLs), over the
  release's own packaged ``*.conf``, for running the release's code on the machine.

The databases are the install guide's: ``snf_apps`` (astakos and cyclades) and ``snf_pithos``,
owned by ``synnefo`` (since PostgreSQL 15 the public schema grants CREATE to its owner only,
so the guide's ``GRANT ALL ON DATABASE`` alone is not enough).
"""

import glob
import os
import shutil
import subprocess
import tempfile

from testbed import realsynnefo

BIN = "/usr/lib/postgresql/15/bin"
USER = "synnefo"
PASSWORD = "example_passw0rd"  # the install guide's own example
DATABASES = ("snf_apps", "snf_pithos")
PORT = 5432


class DatabaseError(RuntimeError):
    pass


def _run(command, what, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise DatabaseError(f"{what} failed (exit {result.returncode}): {(result.stdout + result.stderr).strip()[-2000:]}")
    return result


def available():
    """Why PostgreSQL 15 cannot run here, or '' when it can."""
    if not os.path.exists(os.path.join(BIN, "postgres")):
        return f"{BIN}/postgres is missing (Debian's postgresql-15; make installs it)"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user (Debian's postgresql-common makes it)"
    return ""


class Server:
    """A PostgreSQL server with its data under ``directory``; ``address``: also listen there
    (TCP, password authentication from the test bed's network); ``wrap``: a function giving the
    command line that starts it (the bed runs it in its switch namespace)."""

    def __init__(self, directory, address="", port=PORT, wrap=None):
        self.directory = directory
        self.data = os.path.join(directory, "data")
        self.socket_dir = os.path.join(directory, "socket")
        self.address = address
        self.port = port
        self.wrap = wrap or (lambda command: command)

    def _as_postgres(self, command):
        return ["runuser", "-u", "postgres", "--", *command]

    def init(self):
        why = available()
        if why:
            raise DatabaseError(why)
        os.makedirs(self.socket_dir, exist_ok=True)
        shutil.chown(self.directory, "postgres", "postgres")
        shutil.chown(self.socket_dir, "postgres", "postgres")
        os.chmod(self.directory, 0o755)
        _run(self._as_postgres([f"{BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"]), "initdb")
        # Local connections as anyone (the bed's own tools); the hosts with the password.
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as handle:
            handle.write("local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all 10.200.0.0/24 scram-sha-256\n")
        return self

    def start(self, timeout=30):
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses='{self.address or ''}' -c fsync=off"
        pg_ctl = [f"{BIN}/pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "-t", str(timeout), "start"]
        _run(self.wrap(self._as_postgres(pg_ctl)), "pg_ctl start")
        return self

    @property
    def log(self):
        return os.path.join(self.directory, "postgres.log")

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(self._as_postgres([f"{BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"]), capture_output=True)

    def dsn_args(self, database="postgres"):
        return ["-h", self.socket_dir, "-p", str(self.port), "-U", "postgres", "-d", database]

    def psql(self, sql, database="snf_apps"):
        """Run ``sql``; return its rows as lists of strings (unaligned, tab-separated)."""
        result = _run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", *self.dsn_args(database), "-c", sql], "psql")
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def create_databases(self, names=DATABASES):
        if not self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{USER}'", database="postgres"):
            self.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'", database="postgres")
        for name in names:
            self.psql(f"CREATE DATABASE {name} OWNER {USER}", database="postgres")

    def dump(self, database, path):
        _run(["pg_dump", "-Fc", "-f", path, *self.dsn_args(database)], f"pg_dump {database}")

    def restore(self, database, path):
        _run(["pg_restore", "--no-owner", f"--role={USER}", "--exit-on-error", *self.dsn_args(database), path], f"pg_restore {database}")

    def settings(self, host=None, name="snf_apps"):
        """The ``DATABASES`` setting of a Synnefo host reaching this server (``host``: its
        address; default its socket) for the database ``name``."""
        where = host or self.socket_dir
        return (
            "DATABASES = {\n"
            "    'default': {\n"
            "        'ENGINE': 'django.db.backends.postgresql_psycopg2',\n"
            f"        'NAME': '{name}',\n        'USER': '{USER}',\n        'PASSWORD': '{PASSWORD}',\n"
            f"        'HOST': '{where}',\n        'PORT': '{self.port}',\n"
            "    }\n"
            "}\n"
        )


# The deployment values the install guide has an administrator write (0.18.1 and 0.19 alike).
DEPLOY_SETTINGS = """SECRET_KEY = 'testbed-secret-key-not-for-production'
ASTAKOS_BASE_URL = 'https://{astakos}/astakos'
CYCLADES_BASE_URL = 'https://{cyclades}/cyclades'
PITHOS_BASE_URL = 'https://{pithos}/pithos'
CYCLADES_SERVICE_TOKEN = 'testbed-cyclades-token'
PITHOS_SERVICE_TOKEN = 'testbed-pithos-token'
ASTAKOS_AUTH_URL = 'https://{astakos}/astakos/identity/v2.0'
BACKEND_DB_CONNECTION = 'postgresql://{user}:{password}@{db_host}:{port}/snf_pithos'
"""


def site_settings(server, db_host=None, hosts=None):
    """The site's values beyond the database (the secret key, base URLs, service tokens, the
    pithos backend's database); ``hosts``: {component: host name} of the base URLs."""
    hosts = dict({c: f"{c}1.example.org" for c in ("astakos", "cyclades", "pithos")}, **(hosts or {}))
    values = dict(hosts, user=USER, password=PASSWORD, db_host=db_host or "localhost", port=server.port)
    return DEPLOY_SETTINGS.format(**values)


def deploy_settings(server, db_host=None, name="snf_apps", hosts=None):
    """The site's own settings (what the install guide has an administrator write into
    ``/etc/synnefo``): the database and :py:func:`site_settings`."""
    return server.settings(db_host, name) + site_settings(server, db_host, hosts)


def settings_dir(release, server, directory, name="snf_apps", extra=""):
    """``directory`` filled as a host's ``/etc/synnefo`` of ``release`` that reaches ``server``
    through its socket, database ``name``: the packaged ``*.conf`` of every component, then
    the site's file (with ``extra`` settings)."""
    os.makedirs(directory, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(realsynnefo.payload_dir(release), "*", "conf", "*.conf"))):
        shutil.copy(path, directory)
    with open(os.path.join(directory, "99-testbed-deploy.conf"), "w") as handle:
        handle.write(deploy_settings(server, name=name) + extra)
    return directory


def manage(release, settings, *args, check=True, env=None, stdin=None):
    """``snf-manage ARGS`` of ``release`` with ``settings`` as its ``/etc/synnefo``."""
    command = [os.path.join(realsynnefo.venv(release), "bin", "snf-manage"), *args]
    environment = dict(os.environ, SYNNEFO_SETTINGS_DIR=settings, **(env or {}))
    result = subprocess.run(command, capture_output=True, text=True, env=environment, input=stdin)
    if check and result.returncode != 0:
        raise DatabaseError(f"snf-manage {' '.join(args)} ({release}) failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def _schema_dump():
    return os.path.join(realsynnefo.release_dir("0.18.1"), "schema-snf_apps.dump")


def schema_0181(log=print):
    """The cached dump of ``snf_apps`` at 0.18.1's schema, made by 0.18.1's own code (built
    when missing, or older than the 0.18.1 virtualenv)."""
    dump = _schema_dump()
    marker = os.path.join(realsynnefo.release_dir("0.18.1"), "complete")
    if os.path.exists(dump) and os.path.getmtime(dump) >= os.path.getmtime(marker):
        return dump
    log("Synnefo 0.18.1: its schema made by its own migrations (syncdb, then South's migrate)")
    with tempfile.TemporaryDirectory(prefix="snftb-pg-schema.") as work:
        server = Server(work).init().start()
        try:
            server.create_databases()
            settings = settings_dir("0.18.1", server, os.path.join(work, "settings"))
            manage("0.18.1", settings, "syncdb", "--noinput")
            manage("0.18.1", settings, "migrate", "--noinput")
            server.dump("snf_apps", dump + ".new")
        finally:
            server.stop()
    os.replace(dump + ".new", dump)
    return dump
