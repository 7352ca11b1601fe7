"""
Synnefo's own programs in the test bed: ``snf-manage`` (migrate, component-list,
component-modify, service-import, backend-modify, server-modify), ``snf-service-export`` and
the interactive ``snf-component-register``, printing and exiting as the reference describes.

Their behaviour follows the installed Synnefo version (/usr/share/synnefo-testbed/version,
shipped by snf-common). The service databases are shared by every host under the shared
directory (``synnefo/``): one schema version per service, the migrations run (with host and
time), Astakos's component registry, the backends, and the cyclades database.

Inside the hosts this file is /usr/lib/testbed/tbsynnefo.py.
"""

import csv
import io
import json
import os
import re
import socket
import sys
import time

try:  # inside a host
    import tbcyclades_db as cyclades_db
    import tbtimeline as timeline
    from tbstandin import LockedJson, create as create_state, take_option as _option
except ImportError:  # on the machine
    from testbed import timeline
    from testbed.standin import LockedJson, create as create_state, take_option as _option
    from testbed.synnefo import cyclades_db

# A test on the machine points SNF_TESTBED_SHARED at a directory of its own.
SHARED = os.environ.get("SNF_TESTBED_SHARED", "/var/lib/synnefo-testbed")
VERSION_FILE = "/usr/share/synnefo-testbed/version"
APPS = {"snf-astakos-app": "astakos", "snf-cyclades-app": "cyclades", "snf-pithos-app": "pithos"}
# Cyclades' service definitions, as upstream's snf-service-export holds them
# (grnet/synnefo snf-astakos-app/astakos/scripts/snf_service_export.py, cyclades_services, the
# same nine at 0.18.1 and 0.19): name, type, prefix, public, versionId, resource names.
CYCLADES_SERVICES = (
    ("cyclades_compute", "compute", "compute", True, "v2.0", ("vm", "total_cpu", "cpu", "total_ram", "ram", "disk")),
    ("cyclades_plankton", "image", "image", True, "v1.0", ()),
    ("cyclades_network", "network", "network", True, "v2.0", ("network-private", "floating_ip")),
    ("cyclades_vmapi", "vmapi", "vmapi", True, "v1.0", ()),
    ("cyclades_helpdesk", "cyclades_helpdesk", "helpdesk", False, "", ()),
    ("cyclades_userdata", "cyclades_userdata", "userdata", False, "", ()),
    ("cyclades_ui", "cyclades_ui", "ui", False, "", ()),
    ("cyclades_admin", "admin", "admin", True, "", ()),
    ("cyclades_volume", "volume", "volume", True, "v2.0", ()),
)
# Each resource's definition beyond its name, service type and origin (the same file's
# resource dicts, identical at 0.18.1 and 0.19; checked by the differential test): the
# description, the unit, whether the API and UI show it, and its name where it is not
# cyclades.<key>.
RESOURCE_DETAILS = {
    "vm": {"desc": "Number of virtual machines"},
    "total_cpu": {"desc": "Number of virtual machine processors", "api_visible": False, "ui_visible": False},
    "cpu": {"desc": "Number of virtual machine processors of running servers"},
    "total_ram": {"desc": "Virtual machine memory size", "unit": "bytes", "api_visible": False, "ui_visible": False},
    "ram": {"desc": "Virtual machine memory size of running servers", "unit": "bytes"},
    "disk": {"desc": "Virtual machine disk size", "unit": "bytes"},
    "network-private": {"desc": "Number of private networks", "name": "cyclades.network.private"},
    "floating_ip": {"desc": "Number of Floating IP addresses"},
}
# 0.19 marks these endpoints 'SNF:exposeVersion': False (same file at 0.19).
HIDDEN_VERSION_019 = ("cyclades_plankton", "cyclades_network", "cyclades_volume")


class CommandError(Exception):
    pass


def _dir(shared):
    return os.path.join(shared, "synnefo")


class Store(LockedJson):
    """The shared Synnefo state, read and written under one lock."""

    def __init__(self, shared=SHARED):
        super().__init__(_dir(shared), "state.json")
        self.shared = shared


def _join_urls(*parts):
    """grnet/synnefo snf-common/synnefo/lib/__init__.py join_urls: one slash between parts."""
    url = parts[0]
    for part in parts[1:]:
        url = url.rstrip("/") + "/" + part.lstrip("/")
    return url


def export(base_url, version):
    """The service definitions of cyclades as snf-service-export prints them: the public ones
    only (filter_public), each endpoint's publicURL filled in by fill_endpoints
    (snf-common/synnefo/lib/services.py). At 0.19 fill_endpoints also sets 'SNF:exposeVersion'
    (True where the definition has none) and leaves the version out of the URL where it is
    False; 0.18.1's has no such key and always puts the version in."""
    services = {}
    for name, kind, prefix, public, version_id, resources in CYCLADES_SERVICES:
        if not public:
            continue
        endpoint = {"versionId": version_id}
        expose = True
        if version.startswith("0.19"):
            expose = name not in HIDDEN_VERSION_019
            endpoint["SNF:exposeVersion"] = expose
        endpoint["publicURL"] = _join_urls(base_url, prefix, version_id if expose else "").rstrip("/")
        services[name] = {
            "type": kind,
            "component": "cyclades",
            "prefix": prefix,
            "public": True,
            "endpoints": [endpoint],
            "resources": {
                r: dict({"name": f"cyclades.{r}", "service_type": kind, "service_origin": name}, **RESOURCE_DETAILS[r]) for r in resources
            },
        }
    return services


def create(shared, base_url="https://cyclades1.example.org/cyclades", vms=(), log=()):
    """The state of a 0.18.1 deployment: every database at 0.18.1's schema, cyclades
    registered with 0.18.1's versioned endpoints, one backend."""
    state = {
        "schema": {"astakos": "0.18.1", "cyclades": "0.18.1", "pithos": "0.18.1"},
        "migrations": [],
        "components": {"cyclades": {"base_url": base_url, "ui_url": base_url + "/ui", "services": export(base_url, "0.18.1")}},
        "backends": {"1": {"clustername": "ganeti.example.org", "drained": False}},
    }
    create_state(_dir(shared), "state.json", state)
    cyclades_db.create_0181(os.path.join(shared, "cyclades.sqlite3"), vms=vms, log=log)


def _root():
    """The host's root (a test on the machine points this at a directory of its own)."""
    return os.environ.get("SNF_TESTBED_ROOT", "/")


def installed_version():
    try:
        with open(os.path.join(_root(), VERSION_FILE.lstrip("/"))) as handle:
            return handle.read().strip()
    except OSError as exc:
        raise CommandError("Synnefo is not installed on this host") from exc


def installed_apps():
    found = []
    for package, service in APPS.items():
        if os.path.exists(os.path.join(_root(), f"var/lib/dpkg/info/{package}.list")):
            found.append(service)
    return found


# --- snf-manage ---------------------------------------------------------------------------


# What 0.19's `snf-manage migrate` does on a 0.18.1 database (grnet/synnefo 0.19
# */migrations/, Django 1.7): each Django app of the host's installed Synnefo apps (upstream's
# SYNNEFO_EXCLUDE_PACKAGES leaves the others out) has its first migration FAKED (its tables
# exist) and the rest applied, apps in name order; an app migrated from another host is done.
# The lists and texts are real 0.19's on the test bed's seeded database, held to it by
# tests/testbed/test_synnefo_differential.py.
APP_MIGRATIONS_019 = {
    "auth": ("0001_initial",),
    "contenttypes": ("0001_initial",),
    "db": (
        "0001_initial",
        "0002_ipaddresshistory",
        "0003_auto_ip_ownership",
        "0004_virtualmachine_key_name",
        "0005_backend_public",
        "0006_add_projectbackend",
        "0006a_ipaddresshistory_indices",
    ),
    "im": ("0001_initial", "0002_auto_projectlock"),
    "oa2": ("0001_initial", "0002_auto_now_add"),
    "quotaholder_app": ("0001_initial",),
    "sessions": ("0001_initial",),
    "sites": ("0001_initial",),
    "userdata": ("0001_initial", "0002_conflicting_names", "0003_os_keypairs"),
}
SERVICE_APPS_019 = {
    "astakos": ("auth", "contenttypes", "im", "oa2", "quotaholder_app", "sessions", "sites"),
    "cyclades": ("contenttypes", "db", "sites", "userdata"),
    "pithos": ("contenttypes", "sites"),
}
UNMIGRATED_APPS_019 = {
    "astakos": "django_tables2, webproject",
    "cyclades": "volume, helpdesk, logic, quotas, vmapi, api, ui, webproject, plankton",
    "pithos": "pithos.api, webproject",
}


def _migrate_service(store, service, version, shared, host, out):
    schema = store.state["schema"][service]
    if version.startswith("0.18"):
        out.write(f"Running migrations for {service}:\n- Nothing to migrate.\n")
        timeline.record("db-migrate", host, shared_dir=shared, service=service, version=version, applied=False)
        return
    if schema not in ("0.18.1", "0.19"):
        raise CommandError(f"The {service} database is at {schema}: 0.19 migrates only from 0.18.1")
    done = store.state.setdefault("migrated_apps", [])
    apps = [a for a in SERVICE_APPS_019[service] if a not in done]
    out.write(
        f"Operations to perform:\n  Synchronize unmigrated apps: {UNMIGRATED_APPS_019[service]}\n"
        f"  Apply all migrations: {', '.join(SERVICE_APPS_019[service])}\nSynchronizing apps without migrations:\n"
        "  Creating tables...\n  Installing custom SQL...\n  Installing indexes...\nRunning migrations:\n"
    )
    if not apps:
        out.write("  No migrations to apply.\n")
        store.state["schema"][service] = "0.19"
        timeline.record("db-migrate", host, shared_dir=shared, service=service, version=version, applied=False)
        return
    if os.path.exists(os.path.join(shared, "faults", f"db-migrate-fail-{service}")):
        raise CommandError(f"Error applying {service}'s migrations: could not obtain lock (injected fault)")
    for app in apps:
        for name in APP_MIGRATIONS_019[app]:
            if name == "0001_initial":
                out.write(f"  Applying {app}.{name}... FAKED\n")
            elif name == "0003_auto_ip_ownership":
                # Its RunPython prints on the "Applying" line (Django writes that with
                # ending=""), and " OK" follows on a line of its own.
                created = cyclades_db.migrate_to_019(os.path.join(shared, "cyclades.sqlite3"))
                out.write(f"  Applying {app}.{name}...Created {created} IP history entries.\n OK\n")
            else:
                out.write(f"  Applying {app}.{name}... OK\n")
        done.append(app)
    store.state["schema"][service] = "0.19"
    store.state["migrations"].append({"service": service, "host": host, "version": version, "time": time.time()})
    timeline.record("db-migrate", host, shared_dir=shared, service=service, version=version, applied=True)


def migrate(args, shared, host, out):
    version = installed_version()
    services = installed_apps()
    if not services:
        raise CommandError("No Synnefo application is installed on this host")
    # One database transaction per service, as Django applies them: a failure in one leaves
    # the services migrated before it migrated.
    for service in services:
        with Store(shared) as store:
            _migrate_service(store, service, version, shared, host, out)
    return 0


def component_list(args, shared, host, out):
    fields = (_option(args, "-o") or "name,base_url,ui_url").split(",")
    output_format = _option(args, "--output-format") or "pretty"
    headers = "--no-headers" not in args
    with Store(shared) as store:
        rows = [[name if f == "name" else str(info.get(f, "")) for f in fields] for name, info in sorted(store.state["components"].items())]
    _write_table(out, fields, rows, output_format, headers)
    return 0


def service_list(args, shared, host, out):
    """upstream's service-list (astakos/im/management/commands/service-list.py, a ListCommand):
    fields id, name, component (the component's name), type; csv or pretty."""
    fields = (_option(args, "-o") or "id,name,component,type").split(",")
    rows = []
    with Store(shared) as store:
        for component, info in sorted(store.state["components"].items()):
            for name, service in sorted(info.get("services", {}).items()):
                values = {"id": str(len(rows) + 1), "name": name, "component": component, "type": service.get("type", "")}
                rows.append([values[f] for f in fields])
    _write_table(out, fields, rows, _option(args, "--output-format") or "pretty", "--no-headers" not in args)
    return 0


def _write_table(out, fields, rows, output_format, headers):
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if headers:
            writer.writerow(fields)
        writer.writerows(rows)
        out.write(buffer.getvalue())
    else:
        for row in ([fields] if headers else []) + rows:
            out.write("  ".join(row) + "\n")


def component_modify(args, shared, host, out):
    base_url = _option(args, "--base-url")
    ui_url = _option(args, "--ui-url")
    purge = "--purge-services" in args
    names = [a for a in args if not a.startswith("-")]
    if len(names) != 1:
        raise CommandError("Please provide a component name or ID.")
    with Store(shared) as store:
        component = store.state["components"].get(names[0])
        if component is None:
            raise CommandError(f"Component with name '{names[0]}' does not exist.")
        if base_url:
            component["base_url"] = base_url
        if ui_url:
            component["ui_url"] = ui_url
        if purge:
            component["services"] = {}
        timeline.record("component-modify", host, shared_dir=shared, component=names[0], base_url=component["base_url"])
    return 0


def service_import(args, shared, host, out, stdin):
    if "--json" not in args:
        raise CommandError("Please provide a json file (--json).")
    source = args[args.index("--json") + 1] if args.index("--json") + 1 < len(args) else "-"
    text = stdin.read() if source == "-" else open(source).read()
    try:
        services = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"Failed to load json file: {exc}") from exc
    with Store(shared) as store:
        for name, service in services.items():
            component = store.state["components"].get(service["component"])
            if component is None:
                raise CommandError(f"Component '{service['component']}' not found.")
            component["services"][name] = service
    return 0


def backend_modify(args, shared, host, out):
    drained = _option(args, "--drained")
    ids = [a for a in args if not a.startswith("-")]
    if not ids or drained not in ("True", "False"):
        raise CommandError("Usage: snf-manage backend-modify --drained=True|False BACKEND_ID")
    with Store(shared) as store:
        if ids[0] not in store.state["backends"]:
            raise CommandError(f"Backend with ID '{ids[0]}' does not exist.")
        store.state["backends"][ids[0]]["drained"] = drained == "True"
    timeline.record("backend-drained" if drained == "True" else "backend-undrained", host, shared_dir=shared, backend=ids[0])
    return 0


def _now():
    """The command's clock: the real one, or SNF_TESTBED_NOW (epoch seconds) so that a test can
    run owner changes on both sides of a daylight-saving change."""
    return float(os.environ.get("SNF_TESTBED_NOW") or time.time())


def _settings_time_zone():
    """Django's TIME_ZONE as the host's /etc/synnefo sets it (the last uncommented assignment in
    the files' name order), else snf-webproject's default ``UTC`` (grnet/synnefo
    snf-webproject/synnefo/webproject/settings/default/apps.py at 0.18.1 and 0.19)."""
    zone = "UTC"
    directory = os.path.join(_root(), "etc/synnefo")
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith(".conf"):
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    found = re.match(r"""TIME_ZONE\s*=\s*['"]([^'"]+)['"]""", line)
                    zone = found.group(1) if found else zone
    return zone


def _use_settings_time_zone():
    """What Django does when its settings load (django/conf/__init__.py, 1.4 and 1.7): TZ set to
    TIME_ZONE for the whole process, so snf-manage's logs are in that zone (UTC by default),
    whatever the host's clock zone. Checked against real Synnefo by
    tests/testbed/test_synnefo_differential.py."""
    os.environ["TZ"] = _settings_time_zone()
    time.tzset()


def _asctime(moment):
    """Python logging's asctime, in the process's local time (TZ: Django's TIME_ZONE), as
    snf-manage's logs have it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment)) + ",%03d" % int(moment % 1 * 1000)


def server_modify(args, shared, host, out):
    """``--user UUID SERVER_ID``: change the owner, print upstream's line and leave upstream's
    per-command log (``<yymmddHHMMSS>_server-modify_<pid>.log``, Django's TIME_ZONE, 0600) with the
    command line and the output; the change is recorded in the timeline with its UTC time."""
    command = ["/usr/bin/snf-manage", "server-modify"] + list(args)
    # optparse, as upstream's command has it: options (each takes a value, "--user UUID" or
    # "--user=UUID") and the one server id, in any order.
    options, ids, rest = {}, [], list(args)
    while rest:
        word = rest.pop(0)
        if word.startswith("--") and "=" in word:
            options[word.split("=", 1)[0]] = word.split("=", 1)[1]
        elif word.startswith("-"):
            options[word] = rest.pop(0) if rest else ""
        else:
            ids.append(word)
    user = options.get("--user")
    if len(ids) != 1:
        raise CommandError("Please provide a server ID")
    if not user:
        raise CommandError("Usage: snf-manage server-modify --user UUID SERVER_ID")
    server = int(ids[0])
    import sqlite3

    started = _now()
    with sqlite3.connect(os.path.join(shared, "cyclades.sqlite3")) as db:
        row = db.execute("SELECT userid FROM db_virtualmachine WHERE id = ?", (server,)).fetchone()
        if row is None:
            raise CommandError(f"Server with ID '{server}' does not exist.")
        db.execute("UPDATE db_virtualmachine SET userid = ? WHERE id = ?", (user, server))
    changed = started + 0.0421
    # Upstream's lines (snf-cyclades-app synnefo/logic/management/commands/server-modify.py at
    # 0.18.1), the server printed as its model prints itself (<vm:ID@backend:BACKEND_ID>).
    printed = f"<vm:{server}@backend:1>"
    lines = [
        f"Changed the owner of server '{printed}' from '{row[0]}' to '{user}'.\n",
        f"Changed the project of server '{printed}' from '{row[0]}' to '{user}'.\n",
        "WARNING: User quotas should be out of sync now, run `snf-manage reconcile-resources-cyclades' to review and update them.\n",
    ]
    out.write("".join(lines))
    logdir = os.path.join(_root(), "var/log/synnefo/commands")
    os.makedirs(logdir, exist_ok=True)
    stamp = time.strftime("%y%m%d%H%M%S", time.localtime(started))
    path = os.path.join(logdir, f"{stamp}_server-modify_{os.getpid()}.log")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(f"{_asctime(started)} - INFO: \n\tcommand: {' '.join(command)}\n\tpid: {os.getpid()}\n\n\nOutput:\n")
        # Each write to the command's stdout is one record (snf-django-lib's NewlineStreamHandler).
        handle.write("".join(f"{_asctime(changed)} - INFO: {line}" for line in lines))
    os.utime(path, (changed, changed))
    # To the millisecond, as much as the log's asctime keeps.
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(changed)) + ".%03d000" % int(changed % 1 * 1000)
    timeline.record("owner-change", host, shared_dir=shared, server=server, old=row[0], new=user, utc=when, log=path)
    return 0


SNF_MANAGE = {
    "migrate": migrate,
    "component-list": component_list,
    "component-modify": component_modify,
    "service-list": service_list,
    "backend-modify": backend_modify,
    "server-modify": server_modify,
}


def snf_manage(args, shared=SHARED, host=None, out=sys.stdout, stdin=sys.stdin):
    host = host or socket.gethostname()
    if not args:
        raise CommandError("Usage: snf-manage <command> [options]")
    command, rest = args[0], list(args[1:])
    _use_settings_time_zone()
    if command == "service-import":
        return service_import(rest, shared, host, out, stdin)
    if command not in SNF_MANAGE:
        raise CommandError(f"Unknown command: '{command}'")
    return SNF_MANAGE[command](rest, shared, host, out)


# --- snf-service-export and snf-component-register ----------------------------------------


def snf_service_export(args, out=sys.stdout, err=sys.stderr):
    """Upstream's optparse: a wrong argument count is a usage error (exit 2); an unknown
    component prints "Unrecognized component NAME" (exit 1). The test bed models cyclades'."""
    if len(args) != 2:
        err.write("Usage: snf-service-export <component_name> <base_url>\n\nsnf-service-export: error: Wrong number of arguments.\n")
        return 2
    if args[0] != "cyclades":
        err.write(f"Unrecognized component {args[0]}\n")
        return 1
    # Upstream prints json.dumps(..., indent=4) of a plain dict: in no particular order.
    out.write(json.dumps(export(args[1], installed_version()), indent=4) + "\n")
    return 0


# snf-component-register's texts (grnet/synnefo snf-astakos-app/astakos/scripts/
# snf-component-register at 0.18.1 and 0.19, a bash script).
COMPONENT_DESCRIPTIONS = {"astakos": "account management component", "cyclades": "compute component", "pithos": "file storage component"}
COMPONENT_EXAMPLES = {
    "astakos": "https://accounts.example.synnefo.org/astakos",
    "cyclades": "https://compute.example.synnefo.org/cyclades",
    "pithos": "https://storage.example.synnefo.org/pithos",
}


def snf_component_register(args, shared=SHARED, host=None, stdin=sys.stdin, out=sys.stdout):
    """Upstream's interactive script for one component, its prompts and messages word for word
    (checked against the real script by tests/testbed/test_synnefo_differential.py). One
    deliberate difference: at the end of its input upstream's ``decide`` loop asks again for
    ever ("Please answer yes or no."); the stand-in stops with an error instead of hanging."""
    host = host or socket.gethostname()
    name = args[0] if args else ""
    if name and name not in COMPONENT_DESCRIPTIONS:
        out.write(f"{name} is not a recognized Synnefo component.\n")
        return 0
    if not name:
        raise CommandError("the test bed's snf-component-register registers one component at a time")
    description = COMPONENT_DESCRIPTIONS[name]

    def read():
        out.flush()
        answer = stdin.readline()
        if not answer:
            raise CommandError("no more input (upstream's script would ask again for ever)")
        return answer.rstrip("\n")

    def decide(prompt):
        while True:
            out.write(prompt)
            answer = read()
            if answer[:1] in ("Y", "y"):
                return True
            if answer[:1] in ("N", "n"):
                return False
            out.write("Please answer yes or no.\n")

    with Store(shared) as store:
        registered = name in store.state["components"]
    if registered:
        out.write(f"The {description} ({name}) is registered.\n")
        if not decide("Re-register (y/n)? "):
            return 0
    elif not decide(f"Register the {description} ({name}) (y/n)? "):
        return 0
    out.write(f"Registering the {description} ({name}):\nGive the URL of {name} base installation (e.g. {COMPONENT_EXAMPLES[name]})\n")
    out.write("Base URL: ")
    base_url = read()
    out.write(f"Give the URL of the {name} UI (e.g. {base_url.rstrip('/')}/ui)\nUI URL: ")
    ui_url = read()
    if not decide(f"Register {name} with the given URLs (y/n)? "):
        return 0
    out.write(f"Registering {name}'s services and resources...\n")
    with Store(shared) as store:
        component = store.state["components"].setdefault(name, {"services": {}})
        component.update(base_url=base_url, ui_url=ui_url, services=export(base_url, installed_version()))
    timeline.record("component-register", host, shared_dir=shared, component=name, base_url=base_url)
    return 0


def main(program, args):
    try:
        if program == "snf-manage":
            return snf_manage(args)
        if program == "snf-service-export":
            return snf_service_export(args)
        if program == "snf-component-register":
            return snf_component_register(args)
    except CommandError as exc:
        sys.stdout.flush()
        print(f"CommandError: {exc}", file=sys.stderr)
        return 1
    print(f"unknown program {program}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(os.path.basename(sys.argv[1]), sys.argv[2:]))
