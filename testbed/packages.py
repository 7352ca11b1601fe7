"""
The test bed's model of the Debian world it upgrades, and the APT repository built from it.

Versions, package sets, conffiles and service behaviour follow shared/reference/synnefo-0.19.md
(never the formula's defaults: a wrong assumption in the formula must show up as a failing
test). Each package is a real .deb built with dpkg-deb: real maintainer scripts, real
conffiles, real init scripts installed with update-rc.d and started through invoke-rc.d.

The repository mirrors the path shapes of a real wheezy host's sources (inside each host it is
mounted read-only at /srv/testbed-apt):

- ``debian``: Debian main, suites wheezy, wheezy-updates, jessie, jessie-updates, jessie-backports
- ``debian-security``: suites wheezy/updates, jessie/updates
- ``grnet``: apt.dev.grnet.gr's flat layout, ``wheezy/`` and ``jessie/``
- ``ceph/debian-hammer``: suites wheezy, jessie
"""

import dataclasses
import email.utils
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
STANDINS = os.path.join(HERE, "standins")
REPO_MOUNT = "/srv/testbed-apt"

SYNNEFO = {"wheezy": "0.18.1-1~wheezy", "jessie": "0.19-1~jessie"}
BASE_FILES = {"wheezy": ("7.1wheezy11", "7.11", "7"), "jessie": ("8+deb8u11", "8.11", "8")}
GUNICORN = {"wheezy": "0.14.5-3+deb7u1", "jessie": "19.0-1"}
APACHE = {"wheezy": "2.2.22-13+deb7u13", "jessie": "2.4.10-10+deb8u16"}
DJANGO = {"wheezy": "1.4.22-1+deb7u1", "jessie": "1.7.11-1+deb8u3"}
GEVENT = {"wheezy": "1.0.1-2~bpo70+1", "jessie": "1.0.1-2", "jessie-backports": "1.1.1-2~bpo8+1"}
GREENLET = {"wheezy": "0.4.2-1~bpo70+1", "jessie": "0.4.5-1", "jessie-backports": "0.4.10-1~bpo8+1"}
# GRNET's Ganeti build, installed as snf-ganeti (grnet/synnefo docs/install-guide-debian.rst:
# 0.18.1 "apt-get install snf-ganeti ganeti2 drbd8" and the version it recommends; 0.19 the same
# for jessie).
GANETI = {"wheezy": "2.10.7+snap1+b64v1+ext1+lockfix1+ifdown1+qmp1+bpo1-1~wheezy", "jessie": "2.10.7.1+grnet2+bpo2-2~jessie"}
# The binary packages built from Synnefo's own source tree: grnet/synnefo debian/control on the
# debian branch at 0.18.1-1~wheezy (7a8dd33fa) and 0.19-1~jessie (460e29791), the same fifteen.
# They depend on each other with (= version) and move together.
SYNNEFO_SOURCE_PACKAGES = (
    "synnefo",
    "snf-common",
    "snf-webproject",
    "snf-branding",
    "snf-cyclades-app",
    "snf-cyclades-gtools",
    "snf-admin-app",
    "snf-astakos-app",
    "snf-pithos-app",
    "snf-pithos-backend",
    "snf-tools",
    "snf-stats-app",
    "python-astakosclient",
    "snf-django-lib",
    "snf-deploy",
)
# snf-* packages with versions of their own, as a 0.18.1 cloud has them and as they were on
# jessie when 0.19 came out (June 2017), from each project's debian/changelog:
# grnet/snf-image debian-wheezy / debian-jessie, grnet/snf-vncauthproxy debian / debian-jessie,
# grnet/snf-network debian / debian-jessie. snf-ui-app and snf-cloudcms come from projects of
# their own whose sources are not reachable here: their versions are the test bed's, chosen
# only so that nothing can assume they move with Synnefo's.
OWN_VERSIONS = {
    "snf-image": {"wheezy": "0.21-1~wheezy", "jessie": "0.21.1-1~jessie"},
    "snf-vncauthproxy": {"wheezy": "1.6-1~wheezy", "jessie": "1.7-2~jessie"},
    "snf-network": {"wheezy": "0.16-1~wheezy", "jessie": "0.16-2~jessie"},
    "snf-ganeti": GANETI,
    "snf-ui-app": {"wheezy": "0.18.2-1~wheezy", "jessie": "0.19.1-1~jessie"},
    "snf-cloudcms": {"wheezy": "0.15-1~wheezy", "jessie": "0.16-1~jessie"},
}
ARCHIPELAGO = {"wheezy": "0.4.5-1~wheezy", "jessie": "0.5.0-1~jessie"}
CEPH = {"wheezy": "0.94.10-1~bpo70+1", "jessie": "0.94.10-1~bpo80+1"}
SALT_MINION = {"wheezy": "2014.1.13+ds-3~bpo70+1", "jessie": "2014.1.13+ds-3"}
SYSVINIT = {"wheezy": "2.88dsf-41+deb7u1", "jessie": "2.88dsf-59+deb8u1"}
SYSTEMD = "215-17+deb8u7"
INIT_TOOLS = ("shutdown", "reboot", "halt", "poweroff", "telinit", "runlevel")
SUPPORT_VERSION = "1.0"

# The packages each role has installed: upstream's 0.18.1 install guide
# (docs/install-guide-debian.rst, its apt-get install lines per node) and their dependencies.
ROLE_PACKAGES = {
    "astakos": [
        "snf-common",
        "python-astakosclient",
        "snf-django-lib",
        "snf-webproject",
        "snf-branding",
        "snf-astakos-app",
        "gunicorn",
        "apache2",
    ],
    "cyclades": [
        "snf-common",
        "python-astakosclient",
        "snf-django-lib",
        "snf-webproject",
        "snf-branding",
        "snf-pithos-backend",
        "snf-cyclades-app",
        "snf-vncauthproxy",
        "gunicorn",
        "apache2",
        "archipelago",
    ],
    "pithos": [
        "snf-common",
        "python-astakosclient",
        "snf-django-lib",
        "snf-webproject",
        "snf-branding",
        "snf-pithos-backend",
        "snf-pithos-app",
        "snf-ui-app",
        "gunicorn",
        "apache2",
        "archipelago",
    ],
    "cms": ["snf-common", "snf-webproject", "snf-cloudcms", "gunicorn", "apache2"],
    "ganeti": [
        "snf-common",
        "snf-cyclades-gtools",
        "snf-pithos-backend",
        "archipelago",
        "snf-network",
        "snf-image",
        "snf-ganeti",
        "nfdhcpd",
        "ceph-common",
    ],
}
ROLES = tuple(ROLE_PACKAGES)


@dataclass
class Service:
    name: str
    daemon: str  # file under /usr/lib/testbed/ run by the init script
    start_on_install: bool = True
    enable_var: str = ""  # /etc/default/NAME variable that must be "true", if any


@dataclass
class Package:
    name: str
    version: str
    area: str  # debian, grnet, ceph
    suite: str  # wheezy, jessie, jessie-backports
    depends: list = field(default_factory=list)
    files: dict = field(default_factory=dict)  # path -> (text, mode)
    conffiles: list = field(default_factory=list)
    services: list = field(default_factory=list)
    postinst_extra: str = ""
    preinst: str = ""
    description: str = ""
    links: dict = field(default_factory=dict)  # path -> target
    control: dict = field(default_factory=dict)  # further control fields (Replaces, Breaks)


def _standin(name, **values):
    with open(os.path.join(STANDINS, name), encoding="utf-8") as handle:
        text = handle.read()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def _own_module(name):
    """A module of this package, shipped into the hosts (their programs share its code)."""
    with open(os.path.join(HERE, name), encoding="utf-8") as handle:
        return handle.read()


def _synnefo_conf(codename, package):
    """The settings files (conffiles) of the Synnefo packages, with the cache settings of each
    release: 0.18.1 has the Django 1.4 URIs, 0.19 the Django cache dicts (commented defaults)."""
    files = {}
    if package == "snf-common":
        files["/etc/synnefo/00-snf-common-admins.conf"] = "#ADMINS = (('Admin', 'admin@example.org'),)\n"
    if package == "snf-webproject":
        hosts = "" if codename == "wheezy" else "#ALLOWED_HOSTS = ['*']\n"
        files["/etc/synnefo/10-snf-webproject-deploy.conf"] = f"#DEBUG = False\n{hosts}"
        files["/etc/gunicorn.d/synnefo.example"] = GUNICORN_EXAMPLE
    if package == "snf-cyclades-app":
        if codename == "wheezy":
            files["/etc/synnefo/20-snf-cyclades-app-api.conf"] = (
                "## Cache for VM passwords and public stats (Django 1.4 URI)\n"
                "#CACHE_BACKEND = 'locmem://'\n"
                "## How often the public stats are refreshed\n"
                "#PUBLIC_STATS_CACHE_POPULATE_INTERVAL = 300\n"
                "#CYCLADES_BASE_URL = 'https://cyclades.example.org/cyclades'\n"
            )
            files["/etc/synnefo/20-snf-cyclades-app-vmapi.conf"] = (
                "#VMAPI_CACHE_BACKEND = 'memcached://127.0.0.1:11211/?timeout=3600'\n#VMAPI_CACHE_KEY_PREFIX = 'vmapi'\n"
            )
            files["/etc/synnefo/20-snf-cyclades-app-backend.conf"] = (
                "#BACKEND_ALLOCATOR_MODULE = 'synnefo.logic.allocators.default_allocator.DefaultAllocator'\n"
            )
        else:
            files["/etc/synnefo/20-snf-cyclades-app-api.conf"] = (
                "#PUBLIC_STATS_CACHE = {\n#    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache',\n"
                "#    'LOCATION': '',\n#    'KEY_PREFIX': 'publicstats',\n#    'TIMEOUT': 300,\n#}\n"
                "#VM_PASSWORD_CACHE = {\n#    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache',\n"
                "#    'LOCATION': '',\n#    'KEY_PREFIX': 'vmpassword',\n#    'TIMEOUT': None,\n#}\n"
                "#CYCLADES_BASE_URL = 'https://cyclades.example.org/cyclades'\n"
            )
            files["/etc/synnefo/20-snf-cyclades-app-vmapi.conf"] = (
                "#VMAPI_CACHE = {\n#    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache',\n"
                "#    'LOCATION': '',\n#    'KEY_PREFIX': 'vmapi',\n#}\n"
            )
            files["/etc/synnefo/20-snf-cyclades-app-backend.conf"] = (
                "#BACKEND_ALLOCATOR_MODULE = 'synnefo.logic.allocators.filter_allocator.FilterAllocator'\n"
            )
    if package == "snf-astakos-app":
        files["/etc/synnefo/20-snf-astakos-app-settings.conf"] = "#ASTAKOS_BASE_URL = 'https://accounts.example.org/astakos'\n"
    if package == "snf-pithos-app":
        files["/etc/synnefo/20-snf-pithos-app-settings.conf"] = "#PITHOS_BASE_URL = 'https://storage.example.org/pithos'\n"
    return files


GUNICORN_EXAMPLE = """CONFIG = {
 'mode': 'django',
 'environment': {
   'DJANGO_SETTINGS_MODULE': 'synnefo.settings',
 },
 'working_dir': '/etc/synnefo',
 'user': 'synnefo',
 'group': 'synnefo',
 'args': (
   '--bind=127.0.0.1:8080',
   '--worker-class=gevent',
   '--workers=8',
   '--log-level=info',
   '--timeout=43200',
   '--log-file=/var/log/synnefo/gunicorn.log',
 ),
}
"""

SYNNEFO_PACKAGES = {
    # name: (depends within Synnefo, extra depends)
    "snf-common": ([], ["python-gevent (>= 1.0)", "python-greenlet"]),
    "python-astakosclient": ([], []),
    "snf-django-lib": (["snf-common"], ["python-django"]),
    "snf-webproject": (["snf-common", "snf-django-lib"], ["python-django"]),
    "snf-branding": (["snf-common"], []),
    "snf-astakos-app": (["snf-webproject", "python-astakosclient"], []),
    "snf-pithos-backend": (["snf-common"], []),
    "snf-cyclades-app": (["snf-webproject", "snf-pithos-backend", "python-astakosclient"], []),
    "snf-vncauthproxy": ([], []),
    "snf-pithos-app": (["snf-webproject", "snf-pithos-backend"], []),
    "snf-ui-app": (["snf-webproject"], []),
    "snf-cloudcms": (["snf-webproject"], []),
    "snf-cyclades-gtools": (["snf-common"], []),
}


RELEASES = {"wheezy": "0.18.1", "jessie": "0.19"}
# The Synnefo applications a host may carry, by package (upstream's SYNNEFO_EXCLUDE_PACKAGES
# names the others on a host, as a Debian host simply lacks their code).
SYNNEFO_APP_PACKAGES = ("snf-astakos-app", "snf-cyclades-app", "snf-pithos-app")
REAL_SNF_MANAGE = """#!/bin/sh
# Synnefo {release}'s own snf-manage (the test bed's real Synnefo, testbed/realsynnefo): only
# the applications whose packages this host has are loaded, as on a Debian host.
exclude=
for package in {apps}; do
    [ -e /var/lib/dpkg/info/$package.list ] || exclude="$exclude${{exclude:+:}}$package"
done
SYNNEFO_EXCLUDE_PACKAGES=$exclude exec {venv}/bin/{program} "$@"
"""


def real_synnefo_files(codename, name):
    """What package ``name`` of real Synnefo lays out at the release ``codename`` carries
    (each release's ``debian/*.install``): its ``conf/`` under /etc/synnefo, the tools under
    /usr/lib/synnefo/tools (run by the release's Python), snf-component-register, the gunicorn
    example; the programs run the release's code (testbed/realsynnefo)."""
    from testbed import realsynnefo

    release = RELEASES[codename]
    payload, venv = realsynnefo.payload_dir(release), realsynnefo.venv(release)
    files = {}
    conf = os.path.join(payload, name, "conf")
    for root, _, names in os.walk(conf):
        for file_name in names:
            path = os.path.join(root, file_name)
            with open(path, encoding="utf-8") as handle:
                files["/etc/synnefo/" + os.path.relpath(path, conf)] = (handle.read(), 0o644)
    if name == "snf-webproject":
        for program in ("snf-manage", "snf-service-export"):
            text = REAL_SNF_MANAGE.format(release=release, apps=" ".join(SYNNEFO_APP_PACKAGES), venv=venv, program=program)
            files[f"/usr/bin/{program}"] = (text, 0o755)
        with open(os.path.join(payload, "snf-webproject/extras/synnefo.example"), encoding="utf-8") as handle:
            files["/etc/gunicorn.d/synnefo.example"] = (handle.read(), 0o644)
    if name == "snf-astakos-app":
        with open(os.path.join(payload, "snf-astakos-app/astakos/scripts/snf-component-register"), encoding="utf-8") as handle:
            files["/usr/bin/snf-component-register"] = (handle.read(), 0o755)
    if name == "snf-cyclades-app":
        tools = os.path.join(payload, "snf-cyclades-app/synnefo/tools")
        for tool in sorted(os.listdir(tools)):
            with open(os.path.join(tools, tool), encoding="utf-8") as handle:
                text = handle.read()
            # dh_python2 points a packaged script at the system's Python; here, the release's.
            text = text.replace("#!/usr/bin/env python", f"#!{venv}/bin/python", 1)
            files[f"/usr/lib/synnefo/tools/{tool}"] = (text, 0o755)
    return files


def synnefo_packages(codename, real=False):
    """Synnefo's packages at ``codename``'s release: the stand-in's programs and settings, or
    with ``real`` upstream's own (:py:func:`real_synnefo_files`)."""
    django = "python-django (<< 1.5)" if codename == "wheezy" else "python-django (>= 1.7)"
    packages = []
    for name, (internal, extra) in SYNNEFO_PACKAGES.items():
        version = OWN_VERSIONS[name][codename] if name in OWN_VERSIONS else SYNNEFO[codename]
        # Within Synnefo's source tree the packages depend on each other's exact version;
        # the others depend on them unversioned.
        depends = [f"{dep} (= {version})" if name in SYNNEFO_SOURCE_PACKAGES else dep for dep in internal]
        depends += [django if d == "python-django" else d for d in extra]
        if real and name in SYNNEFO_SOURCE_PACKAGES:
            files = real_synnefo_files(codename, name)
        else:
            files = {path: (text, 0o644) for path, text in _synnefo_conf(codename, name).items()}
        conffiles = [p for p in files if p.startswith("/etc/")]
        services = []
        postinst = ""
        if name == "snf-common":
            files["/usr/share/synnefo-testbed/version"] = (version + "\n", 0o644)
            postinst = (
                "getent group synnefo >/dev/null || addgroup --system --quiet synnefo\n"
                "getent passwd synnefo >/dev/null || "
                "adduser --system --quiet --ingroup synnefo --no-create-home --home /var/lib/synnefo synnefo\n"
                "mkdir -p /etc/synnefo /var/log/synnefo\n"
                "chown root:synnefo /etc/synnefo && chmod 2750 /etc/synnefo\n"
            )
        if conffiles:
            postinst += (
                "for f in "
                + " ".join(p for p in conffiles if p.startswith("/etc/synnefo/"))
                + "; do [ -e $f ] && chown root:synnefo $f && chmod 0640 $f; done; true\n"
            )
        for program, owner in (
            ("snf-manage", "snf-webproject"),
            ("snf-service-export", "snf-webproject"),
            ("snf-component-register", "snf-astakos-app"),
        ):
            if name == owner and not real:
                files[f"/usr/bin/{program}"] = (f'#!/bin/sh\nexec /usr/bin/python3 /usr/lib/testbed/tbsynnefo.py {program} "$@"\n', 0o755)
        if name == "snf-webproject" and codename == "jessie":
            files["/usr/lib/python2.7/dist-packages/synnefo/webproject/wsgi.py"] = ("application = None\n", 0o644)
        if name == "snf-cyclades-app" and codename == "jessie" and not real:
            files["/usr/lib/synnefo/tools/fix_ip_history"] = (_own_module("synnefo/fix_ip_history"), 0o755)
        if name == "snf-cyclades-app":
            files["/etc/default/snf-dispatcher"] = ("SNF_DSPTCH_ENABLE=true\n", 0o644)
            conffiles.append("/etc/default/snf-dispatcher")
            services.append(Service("snf-dispatcher", "standin-daemon", True, "SNF_DSPTCH_ENABLE"))
        if name == "snf-cyclades-gtools":
            files["/etc/default/snf-ganeti-eventd"] = ("SNF_EVENTD_ENABLE=false\n", 0o644)
            conffiles.append("/etc/default/snf-ganeti-eventd")
            # On jessie eventd also has a systemd unit that ignores SNF_EVENTD_ENABLE and is
            # started on install: modelled as an init script without the variable.
            enable = "SNF_EVENTD_ENABLE" if codename == "wheezy" else ""
            services.append(Service("snf-ganeti-eventd", "standin-daemon", True, enable))
        packages.append(
            Package(
                name,
                version,
                "grnet",
                codename,
                depends,
                files,
                conffiles,
                services,
                postinst,
                "getent group synnefo >/dev/null || addgroup --system --quiet synnefo\n" if conffiles else "",
                f"Synnefo {name} (test bed stand-in)",
            )
        )
    return packages


def base_files(codename):
    version, debian_version, number = BASE_FILES[codename]
    os_release = (
        f'PRETTY_NAME="Debian GNU/Linux {number} ({codename})"\nNAME="Debian GNU/Linux"\n'
        f'VERSION_ID="{number}"\nVERSION="{number} ({codename})"\nVERSION_CODENAME={codename}\nID=debian\n'
        'HOME_URL="http://www.debian.org/"\n'
    )
    files = {
        "/etc/debian_version": (debian_version + "\n", 0o644),
        "/usr/lib/os-release": (os_release, 0o644),
        "/etc/issue": (f"Debian GNU/Linux {number} \\n \\l\n\n", 0o644),
    }
    # The links base-files owns on a merged-/usr host: a package without them would have dpkg
    # delete /bin, /sbin and /lib when it replaces the machine's base-files.
    links = {
        "/bin": "usr/bin",
        "/lib": "usr/lib",
        "/sbin": "usr/sbin",
        "/var/lock": "/run/lock",
        "/var/run": "/run",
        "/etc/os-release": "../usr/lib/os-release",
    }
    return Package(
        "base-files",
        version,
        "debian",
        codename,
        [],
        files,
        ["/etc/debian_version", "/etc/issue"],
        description="Debian base system miscellaneous files (test bed stand-in)",
        links=links,
    )


def service_packages(codename):
    packages = []
    gunicorn_files = {
        "/usr/lib/testbed/gunicorn-standin": (_standin("gunicorn-standin", VERSION=GUNICORN[codename].split("-")[0]), 0o755),
    }
    packages.append(
        Package(
            "gunicorn",
            GUNICORN[codename],
            "debian",
            codename,
            ["python-gevent"],
            gunicorn_files,
            [],
            [Service("gunicorn", "gunicorn-standin")],
            description="gunicorn (test bed stand-in)",
        )
    )
    apache_files = {
        "/usr/lib/testbed/apache2-standin": (_standin("apache2-standin", VERSION=APACHE[codename].split("-")[0]), 0o755),
        "/usr/sbin/apache2ctl": (_standin("apache2ctl"), 0o755),
    }
    packages.append(
        Package(
            "apache2",
            APACHE[codename],
            "debian",
            codename,
            [],
            apache_files,
            [],
            [Service("apache2", "apache2-standin")],
            postinst_extra="mkdir -p /etc/apache2/sites-available /etc/apache2/sites-enabled\n",
            description="Apache HTTP server (test bed stand-in)",
        )
    )
    packages.append(
        Package(
            "archipelago",
            ARCHIPELAGO[codename],
            "grnet",
            codename,
            [],
            {},
            [],
            [Service("archipelago", "standin-daemon", start_on_install=False)],
            description="Archipelago (test bed stand-in)",
        )
    )
    packages.append(
        Package("snf-network", OWN_VERSIONS["snf-network"][codename], "grnet", codename, description="snf-network (test bed stand-in)")
    )
    packages.append(
        Package(
            "snf-image",
            OWN_VERSIONS["snf-image"][codename],
            "grnet",
            codename,
            [],
            dict((f"{SNF_IMAGE_OS_DIR}/{name}", (text, 0o644)) for name, text in SNF_IMAGE_OS.items()),
            description="snf-image (test bed stand-in: its Ganeti OS definition)",
        )
    )
    packages.append(Package("nfdhcpd", SYNNEFO[codename], "grnet", codename, description="nfdhcpd (test bed stand-in)"))
    gnt = {
        f"/usr/sbin/{cmd}": (f'#!/bin/sh\nexec /usr/bin/python3 /usr/lib/testbed/tbganeti.py {cmd} "$@"\n', 0o755)
        for cmd in ("gnt-node", "gnt-instance", "gnt-cluster", "gnt-job")
    }
    packages.append(
        Package(
            "snf-ganeti",
            GANETI[codename],
            "grnet",
            codename,
            [],
            gnt,
            [],
            [Service("ganeti", "standin-daemon")],
            description="Ganeti (test bed stand-in)",
        )
    )
    packages.append(Package("ceph-common", CEPH[codename], "ceph", codename, description="Ceph client (test bed stand-in)"))
    packages.append(Package("python-django", DJANGO[codename], "debian", codename, description="Django (test bed stand-in)"))
    packages.append(
        Package("python-gevent", GEVENT[codename], "debian", codename, ["python-greenlet"], description="gevent (test bed stand-in)")
    )
    packages.append(Package("python-greenlet", GREENLET[codename], "debian", codename, description="greenlet (test bed stand-in)"))
    return packages


# snf-image's Ganeti OS definition, the same at 0.21 (wheezy) and 0.21.1 (jessie): grnet/snf-image
# snf-image-host/{ganeti_api_version,variants.list,parameters.list} at tags 0.21, 0.21.1,
# debian/0.21-1wheezy and debian/0.21.1-1jessie; installed under DATADIR/ganeti/os
# (snf-image-host/configure.ac --with-os-dir default).
SNF_IMAGE_OS_DIR = "/usr/share/ganeti/os/snf-image"
SNF_IMAGE_OS = {
    "ganeti_api_version": "20\n",
    "variants.list": "default\n",
    "parameters.list": (
        "img_id The id of the image to be installed (the id will be the image's file name prefix)\n"
        "img_format The format of the image to be installed\n"
        "img_passwd The password to be assigned to the user accounts\n"
        "img_passwd_hash Hashed version of the password to be assigned to the user accounts (conflicts with img_passwd)\n"
        "img_properties The image properties that are used to customize the image (json.dumps format)\n"
        "img_personality The files to be injected into the image (base64 encoded in a json.dumps format)\n"
        "auth_keys Keys to append to the users' authorized keys files for remote log in\n"
        "os_product_key A product key to be used to license a Windows deployment (windows-only)\n"
        "os_answer_file An answer file used by Windows to automate the setup process (windows-only)\n"
        "config_url The URL to download configuration data from\n"
    ),
}


def support_package(codename):
    files = {
        "/usr/bin/tb-event": (_standin("tb-event"), 0o755),
        "/usr/lib/testbed/tbtimeline.py": (_own_module("timeline.py"), 0o644),
        "/usr/lib/testbed/tbganeti.py": (_own_module("ganeti.py"), 0o644),
        "/usr/lib/testbed/tbstandin.py": (_own_module("standin.py"), 0o644),
        "/usr/lib/testbed/tbsynnefo.py": (_own_module("synnefo/programs.py"), 0o644),
        "/usr/lib/testbed/tbcyclades_db.py": (_own_module("synnefo/cyclades_db.py"), 0o644),
        "/usr/lib/testbed/standin-daemon": (_standin("standin-daemon"), 0o755),
        "/usr/lib/testbed/tbdaemon.py": (_standin("tbdaemon.py"), 0o644),
    }
    return Package(
        "testbed-support",
        SUPPORT_VERSION,
        "debian",
        codename,
        [],
        files,
        description="Helpers of the Synnefo upgrade test bed (never upgraded)",
    )


def salt_minion(codename, minion):
    """Debian's salt-minion: its init script controls the host's real minion (``minion`` is
    the project's salt-minion program), so an upgrade that restarts it ends the running job."""
    script = _standin("salt-minion-init.in", VERSION=SALT_MINION[codename], MINION=minion)
    return Package(
        "salt-minion",
        SALT_MINION[codename],
        "debian",
        codename,
        [],
        {"/etc/init.d/salt-minion": (script, 0o755)},
        ["/etc/init.d/salt-minion"],
        [Service("salt-minion", "")],
        description="salt-minion (test bed stand-in)",
    )


def init_system(codename):
    """wheezy: sysvinit and its tools. jessie: sysvinit is transitional and pulls in systemd and
    systemd-sysv, whose /sbin/init is systemd from the next boot on and whose reboot, halt and
    friends are links to systemctl (which, until then, falls back to /run/initctl)."""
    tools = _standin("init-tools")
    if codename == "wheezy":
        links = {f"/sbin/{tool}": "/lib/sysvinit/init-tools" for tool in INIT_TOOLS + ("init",)}
        return [
            Package(
                "sysvinit",
                SYSVINIT[codename],
                "debian",
                codename,
                [],
                {"/lib/sysvinit/init-tools": (tools, 0o755)},
                description="System-V-like init (test bed stand-in)",
                links=links,
            )
        ]
    systemd_links = {"/lib/systemd/systemd": "/bin/systemctl", "/usr/bin/systemd-run": "/bin/systemctl"}
    sysv_links = {f"/sbin/{tool}": "/bin/systemctl" for tool in INIT_TOOLS}
    sysv_links["/sbin/init"] = "/lib/systemd/systemd"
    replaces = {"Replaces": f"sysvinit (<< {SYSVINIT['jessie']})", "Breaks": f"sysvinit (<< {SYSVINIT['jessie']})"}
    return [
        Package(
            "sysvinit",
            SYSVINIT[codename],
            "debian",
            codename,
            ["systemd-sysv"],
            description="System-V-like init, transitional package to systemd-sysv (test bed stand-in)",
        ),
        Package(
            "systemd",
            SYSTEMD,
            "debian",
            codename,
            [],
            {"/bin/systemctl": (tools, 0o755)},
            description="system and service manager (test bed stand-in)",
            links=systemd_links,
        ),
        Package(
            "systemd-sysv",
            SYSTEMD,
            "debian",
            codename,
            ["systemd"],
            description="systemd as /sbin/init (test bed stand-in)",
            links=sysv_links,
            control=replaces,
        ),
    ]


def backports():
    """jessie-backports: the two packages the guide wants, and one it does not (a newer
    Django), to show that the pin takes nothing else."""
    return [
        Package(
            "python-gevent",
            GEVENT["jessie-backports"],
            "debian",
            "jessie-backports",
            ["python-greenlet (>= 0.4.10)"],
            description="gevent (backport)",
        ),
        Package("python-greenlet", GREENLET["jessie-backports"], "debian", "jessie-backports", description="greenlet (backport)"),
        Package("python-django", "1.8.18-1~bpo8+1", "debian", "jessie-backports", description="Django (backport, not wanted)"),
    ]


def all_packages(minion="/usr/bin/salt-minion", synnefo="standin"):
    packages = []
    for codename in ("wheezy", "jessie"):
        packages += synnefo_packages(codename, real=synnefo == "real") + service_packages(codename)
        packages += [base_files(codename), support_package(codename), salt_minion(codename, minion)]
        packages += init_system(codename)
    return packages + backports()


# --- building -------------------------------------------------------------------------------


def _init_script(service, package):
    return _standin(
        "init-script.in",
        NAME=service.name,
        PACKAGE=package.name,
        VERSION=package.version,
        DAEMON=f"/usr/lib/testbed/{service.daemon}",
        ENABLE_VAR=service.enable_var,
    )


def _maintainer_scripts(package):
    postinst = [
        "#!/bin/sh",
        "set -e",
        # A fault the test bed can inject: this package's upgrade fails on one host.
        f'if [ -e "/var/lib/synnefo-testbed/faults/$(hostname)/fail-configure-{package.name}" ]; then',
        f'    echo "{package.name}: configuration failed (injected fault)" >&2; exit 1',
        "fi",
        package.postinst_extra.rstrip("\n"),
    ]
    postinst.append('if [ "$1" = configure ]; then')
    postinst.append("    :")
    for service in package.services:
        postinst.append(f"    update-rc.d {service.name} defaults >/dev/null")
        if service.start_on_install:
            postinst.append(f"    invoke-rc.d {service.name} start || exit 1")
    if package.name != "testbed-support":
        postinst.append(f'    tb-event package-configured package={package.name} version={package.version} "old=$2" || true')
    postinst.append("fi")
    prerm = ["#!/bin/sh", "set -e"]
    for service in package.services:
        prerm.append(f'if [ "$1" = remove ] || [ "$1" = upgrade ]; then invoke-rc.d {service.name} stop || exit 1; fi')
    postrm = ["#!/bin/sh", "set -e"]
    for service in package.services:
        postrm.append(f'if [ "$1" = purge ]; then update-rc.d {service.name} remove >/dev/null; fi')
    scripts = {
        "postinst": "\n".join(line for line in postinst if line) + "\n",
        "prerm": "\n".join(prerm) + "\n",
        "postrm": "\n".join(postrm) + "\n",
    }
    if package.preinst:
        scripts["preinst"] = "#!/bin/sh\nset -e\n" + package.preinst
    return scripts


def build_deb(package, out_dir):
    """Build ``package`` with dpkg-deb; return the .deb's path."""
    with tempfile.TemporaryDirectory(prefix="tbpkg.") as tree:
        files = dict(package.files)
        for service in package.services:
            files.setdefault(f"/etc/init.d/{service.name}", (_init_script(service, package), 0o755))
        conffiles = sorted(set(package.conffiles) | {f"/etc/init.d/{s.name}" for s in package.services})
        for path, (text, mode) in files.items():
            target = os.path.join(tree, path.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            os.chmod(target, mode)
        for path, target in package.links.items():
            link = os.path.join(tree, path.lstrip("/"))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(target, link)
        debian = os.path.join(tree, "DEBIAN")
        os.makedirs(debian)
        depends = list(package.depends)
        if package.name != "testbed-support":
            depends.append("testbed-support")
        control = [
            f"Package: {package.name}",
            f"Version: {package.version}",
            "Architecture: all",
            "Maintainer: Synnefo upgrade test bed <testbed@localhost>",
            "Section: misc",
            "Priority: optional",
        ]
        if depends:
            control.append("Depends: " + ", ".join(depends))
        control += [f"{key}: {value}" for key, value in package.control.items()]
        control.append(f"Description: {package.description or package.name}")
        with open(os.path.join(debian, "control"), "w") as handle:
            handle.write("\n".join(control) + "\n")
        if conffiles:
            with open(os.path.join(debian, "conffiles"), "w") as handle:
                handle.write("\n".join(conffiles) + "\n")
        for script, text in _maintainer_scripts(package).items():
            path = os.path.join(debian, script)
            with open(path, "w") as handle:
                handle.write(text)
            os.chmod(path, 0o755)
        os.makedirs(out_dir, exist_ok=True)
        deb = os.path.join(out_dir, f"{package.name}_{package.version.replace(':', '%3a')}_all.deb")
        # Random payloads do not compress: the fastest level spares the time of trying.
        level = ["-z1"] if any(isinstance(text, bytes) for text, _ in files.values()) else []
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", *level, "--build", tree, deb], check=True, capture_output=True)
    return deb


# Each area is an archive root (what a sources line's URI points at); suites live below it.
ARCHIVES = {"debian": "debian", "security": "debian-security", "grnet": "grnet", "ceph": "ceph/debian-hammer"}
# Suites published with no packages, so that a host's full set of sources resolves.
EMPTY_SUITES = [("debian", "wheezy-updates"), ("debian", "jessie-updates"), ("security", "wheezy/updates"), ("security", "jessie/updates")]


def _index_dir(area, suite):
    """Where the Packages index (and the .debs) of ``suite`` live, relative to the archive root."""
    if area == "grnet":
        return suite  # flat repository: deb URI wheezy/
    return os.path.join("dists", suite, "main", "binary-amd64")


def _write_index(archive, index_dir):
    os.makedirs(os.path.join(archive, index_dir), exist_ok=True)
    scan = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", index_dir, "/dev/null"], cwd=archive, capture_output=True, text=True, check=True
    )
    data = scan.stdout.encode()
    with open(os.path.join(archive, index_dir, "Packages"), "wb") as handle:
        handle.write(data)
    with gzip.open(os.path.join(archive, index_dir, "Packages.gz"), "wb") as handle:
        handle.write(data)


def _write_release(directory, suite, flat):
    lines = [
        "Origin: Synnefo test bed",
        f"Label: {suite}",
        f"Suite: {suite}",
        f"Codename: {suite}",
        "Date: " + email.utils.formatdate(usegmt=True),
        "Architectures: amd64 all",
    ]
    if not flat:
        lines.append("Components: main")
    if suite.endswith("-backports"):
        lines += ["NotAutomatic: yes", "ButAutomaticUpgrades: yes"]
    lines.append("SHA256:")
    for root, _, names in os.walk(directory):
        for name in sorted(n for n in names if n.startswith("Packages")):
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                data = handle.read()
            lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {os.path.relpath(path, directory)}")
    with open(os.path.join(directory, "Release"), "w") as handle:
        handle.write("\n".join(lines) + "\n")


def with_payload(package, kib):
    """``package`` carrying ``kib`` KiB of incompressible data, as real packages weigh."""
    if kib:
        files = dict(package.files)
        files[f"/usr/share/doc/{package.name}/testbed-payload"] = (os.urandom(kib * 1024), 0o644)
        package = dataclasses.replace(package, files=files)
    return package


def build_repository(repo, minion="/usr/bin/salt-minion", payload_kib=0, synnefo="standin"):
    """Build every package and publish it under ``repo``; return {(area, suite): [names]}.
    ``payload_kib``: the weight added to each package a host upgrades to (jessie's)."""
    if os.path.isdir(repo):
        shutil.rmtree(repo)
    published = {}
    for package in all_packages(minion, synnefo=synnefo):
        if package.suite != "wheezy" and package.name != "testbed-support":
            package = with_payload(package, payload_kib)
        archive = os.path.join(repo, ARCHIVES[package.area])
        build_deb(package, os.path.join(archive, _index_dir(package.area, package.suite)))
        published.setdefault((package.area, package.suite), []).append(package.name)
    for area, suite in list(published) + EMPTY_SUITES:
        archive = os.path.join(repo, ARCHIVES[area])
        _write_index(archive, _index_dir(area, suite))
        top = os.path.join(archive, suite) if area == "grnet" else os.path.join(archive, "dists", suite)
        _write_release(top, suite, flat=area == "grnet")
    return published


def sources_list(codename="wheezy", uri=f"file:{REPO_MOUNT}"):
    """The APT sources of a test-bed host on ``codename``, as a real host would have them
    (``uri``: where the repository is, the read-only mount or the test bed's HTTP mirror)."""
    main = (
        f"deb [trusted=yes] {uri}/debian {codename} main\n"
        f"deb [trusted=yes] {uri}/debian-security {codename}/updates main\n"
        f"deb [trusted=yes] {uri}/debian {codename}-updates main\n"
    )
    grnet = f"deb [trusted=yes] {uri}/grnet {codename}/\n"
    ceph = f"deb [trusted=yes] {uri}/ceph/debian-hammer/ {codename} main\n"
    return {"/etc/apt/sources.list": main, "/etc/apt/sources.list.d/grnet.list": grnet, "/etc/apt/sources.list.d/ceph.list": ceph}
