"""
Repair Cyclades' IP history after the 0.19 migrations, with upstream's fix_ip_history.

Before 0.19, changing a VM's owner lost the association of the past owner with the VM's IPs;
0.19's migration attributes every IP to the VM's current owner. Upstream's tool
``/usr/lib/synnefo/tools/fix_ip_history CHANGELOG [--fix]`` repairs that from a changelog of
owner changes, one per line: ``<vmid>|<from_uuid>|<to_uuid>|<YYYY-MM-DD HH:MM:SS.ffffff>`` (UTC).

The tool is unforgiving, so this module stands between it and the operator:

- :py:func:`validate` checks the whole changelog and reports every bad line;
- :py:func:`plan` runs the tool's dry run on the normalised changelog and parses what it
  would create and update;
- :py:func:`fix` applies it exactly once per changelog content: the tool corrupts the history
  when run twice on a VM that changed owner back and forth. Each run is recorded under
  ``<state_dir>/ip_history/`` (``synnefo_upgrade:state_dir``, default
  ``/var/lib/synnefo_upgrade``; see ``synnefo_files.state_dir``);
- :py:func:`changelog_from_logs` rebuilds a changelog from the per-command logs that 0.18.1's
  ``snf-manage server-modify --user`` left, for clouds that never kept one.
"""

from __future__ import absolute_import, print_function, unicode_literals

import bisect
import calendar
import datetime
import hashlib
import io
import logging
import os
import re
import struct
import tempfile

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "ip_history"

DEFAULT_TOOL = "/usr/lib/synnefo/tools/fix_ip_history"
COMMAND_LOGS = "/var/log/synnefo/commands"
ZONEINFO = "/usr/share/zoneinfo"
# snf-webproject's TIME_ZONE (synnefo/webproject/settings/default/apps.py at 0.18.1 and 0.19:
# "The API depends on the TIME_ZONE being UTC").
SYNNEFO_TIME_ZONE = "UTC"
DRY_RUN_MARK = "Aborting due to dry run mode."

# ASCII digits only (superscripts and full-width digits are digits to str.isdigit(), not to the
# database), within a bigint.
_VM_ID = re.compile(r"^[0-9]+$")
MAX_VM_ID = 2**63 - 1


def _vm_id(text):
    """``text`` as a VM id (ASCII digits, within a bigint), else None."""
    if not _VM_ID.match(text) or len(text) > 19 or int(text) > MAX_VM_ID:
        return None
    return int(text)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\Z")
_ROW = re.compile(
    r"(?P<verb>Creating|Updating) <Address: (?P<address>.*?), Server: (?P<server>\d+), "
    r"Network: (?P<network>\d+), User: (?P<user>.*?), Date: (?P<date>.*?) Action: (?P<action>\w+)>"
)


_COMMAND_LOG = re.compile(r"(\d{12})_server-modify_(\d+)\.log\Z")
_LOGGED = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) - \w+: ?(.*)$")
_OWNER_CHANGED = re.compile(r"Changed the owner of server '(?P<server>[^']*)' from '(?P<old>[^']*)' to '(?P<new>[^']*)'\.")
_COMMAND_LINE = re.compile(r"^\s+command: (.*)$")
# How 0.18.1's VirtualMachine prints itself (snf-cyclades-app synnefo/db/models.py __unicode__).
_VM_REPR = re.compile(r"<vm:([0-9]+)@backend:[^>]*>\Z")


def __virtual__():
    return __virtualname__


def _read(changelog):
    try:
        with io.open(changelog, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise CommandExecutionError("{}: cannot read the changelog: {}".format(changelog, exc.strerror or exc))
    except UnicodeDecodeError as exc:
        raise CommandExecutionError("{}: cannot read the changelog: {}".format(changelog, exc))


def _parse(text, now=None):
    """``(changes, errors)``: changes as dicts with the line number and normalised text."""
    now = now or datetime.datetime.utcnow()
    changes, errors = [], []

    def error(number, raw, message):
        errors.append({"line": number, "text": raw, "error": message})

    seen = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != 4:
            error(number, raw, "expected 4 fields separated by '|', found {}".format(len(fields)))
            continue
        vmid, from_user, to_user, date = fields
        problems = []
        if not _VM_ID.match(vmid):
            problems.append("VM id '{}' is not an integer".format(vmid))
        elif _vm_id(vmid) is None:
            problems.append(
                "VM id '{}' is out of range (Cyclades' ids are at most {})".format(vmid if len(vmid) < 40 else vmid[:20] + "...", MAX_VM_ID)
            )
        for role, user in (("from", from_user), ("to", to_user)):
            if not _UUID.match(user):
                problems.append("{} user '{}' is not a UUID".format(role, user))
        match = _DATE.match(date)
        when = stamp = None
        if not match:
            problems.append("date '{}' is not YYYY-MM-DD HH:MM:SS[.ffffff]".format(date))
        else:
            parts = [int(p) for p in match.groups()[:6]]
            fraction = (match.group(7) or "").ljust(6, "0")
            stamp = "{}.{}".format(date[:19], fraction)
            try:
                when = datetime.datetime(*(parts + [int(fraction)]))
            except ValueError as exc:
                problems.append("date '{}' is not a valid date: {}".format(date, exc))
            else:
                if when > now:
                    problems.append("date '{}' is in the future (dates are UTC)".format(date))
        if from_user and from_user == to_user:
            problems.append("from and to are the same user")
        if problems:
            error(number, raw, "; ".join(problems))
            continue
        normal = "{}|{}|{}|{}".format(int(vmid), from_user, to_user, stamp)
        if normal in seen:
            error(number, raw, "the same change as line {}".format(seen[normal]))
            continue
        seen[normal] = number
        changes.append({"line": number, "vm": int(vmid), "from": from_user, "to": to_user, "date": when, "text": normal})

    by_vm = {}
    for change in changes:
        by_vm.setdefault(change["vm"], []).append(change)
    for vm_changes in by_vm.values():
        vm_changes.sort(key=lambda c: (c["date"], c["line"]))
        for previous, change in zip(vm_changes, vm_changes[1:]):
            if change["date"] == previous["date"]:
                error(
                    change["line"],
                    change["text"],
                    "VM {} changes owner twice at the same time (line {})".format(change["vm"], previous["line"]),
                )
            elif change["from"] != previous["to"]:
                error(
                    change["line"],
                    change["text"],
                    "broken chain for VM {}: from {} but line {} gave it to {}".format(
                        change["vm"], change["from"], previous["line"], previous["to"]
                    ),
                )
    errors.sort(key=lambda e: e["line"])
    return changes, errors


def validate(changelog):
    """
    Check a VM owner changelog and report every error, not only the first.

    Returns ``{'valid': bool, 'changes': N, 'errors': [{'line', 'text', 'error'}]}``.
    Tolerated: surrounding whitespace, CRLF, blank lines, ``#`` comments, dates without
    fractional seconds.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' ip_history.validate /root/owner-changes.log
    """
    changes, errors = _parse(_read(changelog))
    return {"valid": not errors, "changes": len(changes), "errors": errors}


def normalize(changelog):
    """
    Return the changelog in the exact form upstream's tool requires (one change per line,
    LF, microseconds), or raise an error listing the bad lines.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' ip_history.normalize /root/owner-changes.log
    """
    changes, errors = _parse(_read(changelog))
    if errors:
        listed = "; ".join("{}:{}: {}".format(changelog, e["line"], e["error"]) for e in errors[:20])
        more = " (and {} more)".format(len(errors) - 20) if len(errors) > 20 else ""
        raise CommandExecutionError("invalid changelog: {}{}".format(listed, more), info={"errors": errors})
    return "".join(c["text"] + "\n" for c in sorted(changes, key=lambda c: c["line"]))


def _run(tool, normalised, fix):
    if not os.access(tool, os.X_OK):
        raise CommandExecutionError("{}: fix_ip_history is missing or not executable (is Synnefo 0.19 installed?)".format(tool))
    descriptor, name = tempfile.mkstemp(prefix="fix_ip_history.", suffix=".log")
    try:
        with io.open(descriptor, "w", encoding="utf-8") as handle:
            handle.write(normalised)
        cmd = [tool, name] + (["--fix"] if fix else [])
        log.info("ip_history: running %s", " ".join(cmd))
        return __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True, output_loglevel="debug")
    finally:
        os.unlink(name)


def _rows(stdout):
    found = {"create": [], "update": [], "skipped": 0}
    for line in stdout.splitlines():
        match = _ROW.match(line)
        if match:
            row = match.groupdict()
            verb = row.pop("verb")
            row["server"], row["network"] = int(row["server"]), int(row["network"])
            found["create" if verb == "Creating" else "update"].append(row)
        elif line.startswith("IP log user:"):
            found["skipped"] += 1
    return found


def plan(changelog, tool=DEFAULT_TOOL):
    """
    Return what fix_ip_history would change for this changelog: ``{'create': [rows],
    'update': [rows], 'skipped': N}``, from the tool's dry run (its exit code 1 with
    ``Aborting due to dry run mode.`` is its success). Nothing is written.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' ip_history.plan /root/owner-changes.log
    """
    result = _run(tool, normalize(changelog), fix=False)
    if result["retcode"] == 1 and DRY_RUN_MARK in result["stderr"]:
        return _rows(result["stdout"])
    raise CommandExecutionError(
        "{} dry run failed (exit code {}): {}".format(tool, result["retcode"], result["stderr"].strip() or result["stdout"].strip())
    )


def _record_path(digest):
    return os.path.join(__salt__["synnefo_files.state_dir"](), "ip_history", digest + ".json")


def digest(changelog):
    """
    Return the key under which a changelog's fix is recorded: the SHA-256 of its
    normalised content (so reformatting the file does not make it look new).

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' ip_history.digest /root/owner-changes.log
    """
    return hashlib.sha256(normalize(changelog).encode("utf-8")).hexdigest()


def record(changelog):
    """
    Return the record of an earlier ``fix`` of this changelog's content, or ``None``.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' ip_history.record /root/owner-changes.log
    """
    return _read_record(_record_path(digest(changelog)))


def _read_record(path):
    return __salt__["synnefo_files.read_record"](path, "db_ipaddresshistory")


def _write_record(path, data):
    """Through synnefo_files, the formula's one writer: atomic, it survives a crash."""
    __salt__["synnefo_files.write_record"](path, data)


def fix(changelog, tool=DEFAULT_TOOL):
    """
    Apply the changelog with ``fix_ip_history --fix``, exactly once per changelog content.
    A second call for the same content runs nothing and returns the first run's record with
    ``'already': True``. If a run was interrupted (its record says ``running``), nothing is run
    either: the history must be checked by hand before the record is removed. A run that
    failed is recorded as ``failed``; upstream's tool commits nothing when it fails (one
    transaction), so a later call runs it again.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' ip_history.fix /root/owner-changes.log
    """
    normalised = normalize(changelog)
    key = hashlib.sha256(normalised.encode("utf-8")).hexdigest()
    path = _record_path(key)
    earlier = _read_record(path)
    if earlier is not None and earlier.get("outcome") != "failed":
        if earlier.get("outcome") == "running":
            raise CommandExecutionError(
                "an earlier fix_ip_history run of this changelog did not finish ({}, started "
                "{}); check db_ipaddresshistory by hand, then remove the record".format(path, earlier.get("started"))
            )
        return dict(earlier, already=True)
    started = datetime.datetime.utcnow().isoformat() + "Z"
    entry = {"changelog": changelog, "sha256": key, "started": started, "outcome": "running", "tool": tool}
    # Written before the tool runs: a crash in the middle leaves "running", which blocks a
    # blind second run.
    _write_record(path, entry)
    try:
        result = _run(tool, normalised, fix=True)
        if result["retcode"] != 0:
            raise CommandExecutionError(
                "{} --fix failed (exit code {}): {}".format(tool, result["retcode"], result["stderr"].strip() or result["stdout"].strip())
            )
    except CommandExecutionError as exc:
        entry.update(outcome="failed", finished=datetime.datetime.utcnow().isoformat() + "Z", error=exc.error)
        _write_record(path, entry)
        log.error("ip_history: %s", exc.error)
        raise
    rows = _rows(result["stdout"])
    entry.update(
        outcome="fixed",
        finished=datetime.datetime.utcnow().isoformat() + "Z",
        created=len(rows["create"]),
        updated=len(rows["update"]),
        skipped=rows["skipped"],
    )
    _write_record(path, entry)
    log.info("ip_history: IP history fixed with %s (%s rows created, %s updated)", changelog, entry["created"], entry["updated"])
    return dict(entry, already=False, rows=rows)


def _zone(timezone, zoneinfo):
    """``(transitions, offsets after each, offset before the first)`` of a TZif file (the
    64-bit block when there is one): enough to turn local times into UTC."""
    if timezone == "localtime":
        path = "/etc/localtime"
    else:
        if timezone.startswith("/") or ".." in timezone.split("/"):
            raise CommandExecutionError("timezone {!r} is not a zone name like Europe/Athens".format(timezone))
        path = os.path.join(zoneinfo, timezone)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise CommandExecutionError("{}: cannot read the time zone {}: {}".format(path, timezone or "of this host", exc.strerror or exc))
    if data[:4] != b"TZif":
        raise CommandExecutionError("{}: not a TZif time zone file".format(path))

    try:
        return _tzif(data)
    except (struct.error, IndexError):
        raise CommandExecutionError("{}: a truncated or damaged TZif time zone file".format(path))


def _tzif(data):
    def counts(at):
        return struct.unpack(">6l", data[at + 20 : at + 44])  # isut, isstd, leap, times, types, chars

    isut, isstd, leap, times, types, chars = counts(0)
    at, width, code = 44, 4, "l"
    if data[4:5] not in (b"\x00", b""):
        at += times * 5 + types * 6 + chars + leap * 8 + isstd + isut
        isut, isstd, leap, times, types, chars = counts(at)
        at, width, code = at + 44, 8, "q"
    moments = struct.unpack(">{}{}".format(times, code), data[at : at + times * width])
    at += times * width
    indexes = struct.unpack(">{}B".format(times), data[at : at + times])
    at += times
    offsets = [struct.unpack(">lBB", data[at + 6 * i : at + 6 * i + 6])[0] for i in range(types)]
    return list(moments), [offsets[i] for i in indexes], offsets[0] if offsets else 0


def _utc_candidates(local, zone):
    """Every UTC time (epoch seconds) that reads as ``local`` (naive) in ``zone``: one, or two
    in the hour repeated when clocks go back, or none in the hour skipped when they go forward."""
    moments, after, first = zone
    seconds = calendar.timegm(local.timetuple())

    def offset_at(utc):
        index = bisect.bisect_right(moments, utc) - 1
        return first if index < 0 else after[index]

    return sorted(set(seconds - o for o in set(after + [first]) if offset_at(seconds - o) == o))


def _read_command_log(path):
    with io.open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _server_id(printed, command):
    """The VM id of an owner change: from the server as the command printed it
    (``<vm:42@backend:1>``), else from its command line, where the id is the one positional
    argument after ``server-modify`` and every option takes a value (``--user UUID``,
    ``--user=UUID``), in any order. ``''`` when neither tells."""
    found = _VM_REPR.match(printed)
    if found and _vm_id(found.group(1)) is not None:
        return found.group(1)
    if _vm_id(printed) is not None:
        return printed
    words = command.split()
    words = words[words.index("server-modify") + 1 :] if "server-modify" in words else []
    positional, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = "=" not in word
        else:
            positional.append(word)
    return positional[0] if len(positional) == 1 and _vm_id(positional[0]) is not None else ""


def _owner_change(path, zone):
    """The owner change a server-modify log records, or ``None`` when it records none."""
    text = _read_command_log(path)
    command = next((m.group(1) for m in map(_COMMAND_LINE.match, text.splitlines()) if m), "")
    for line in text.splitlines():
        logged = _LOGGED.match(line)
        changed = _OWNER_CHANGED.search(logged.group(3)) if logged else None
        if not changed:
            continue
        local = datetime.datetime.strptime(logged.group(1), "%Y-%m-%d %H:%M:%S")
        candidates = _utc_candidates(local, zone)
        if not candidates:
            raise CommandExecutionError("{} is not a time in this zone (skipped by a clock change)".format(logged.group(1)))
        # The hour repeated when clocks go back: the log's last write tells which one it was.
        written = os.stat(path).st_mtime
        seconds = min(candidates, key=lambda c: abs(c - written))
        server = _server_id(changed.group("server"), command)
        if not server:
            raise CommandExecutionError("no server id in {!r} nor in the command line {!r}".format(changed.group("server"), command))
        utc = datetime.datetime.utcfromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S") + ".{}000".format(logged.group(2))
        return {
            "vm": int(server),
            "from": changed.group("old"),
            "to": changed.group("new"),
            "date": utc,
            "local": "{},{}".format(logged.group(1), logged.group(2)),
            "ambiguous": len(candidates) > 1,
            "log": path,
        }
    return None


def synnefo_time_zone(config_dir="/etc/synnefo"):
    """
    The time zone snf-manage writes its command logs in: Synnefo's ``TIME_ZONE`` setting, the
    last assignment in ``config_dir``/*.conf, else snf-webproject's default ``UTC``. Django
    puts ``TIME_ZONE`` into the process's ``TZ`` when its settings load (Django 1.4 and 1.7,
    ``django/conf/__init__.py``), so the logs' times are in that zone whatever the host's
    clock zone is.

    CLI Example:

    .. code-block:: bash

        salt cyclades1 ip_history.synnefo_time_zone
    """
    found = __salt__["synnefo_settings.assignments"]("TIME_ZONE", config_dir=config_dir)
    if not found:
        return SYNNEFO_TIME_ZONE
    last = found[-1]
    if not last["value"] or not isinstance(last["value"], (type(""), str)):
        raise CommandExecutionError("{}:{}: TIME_ZONE is not a zone name".format(last["path"], last["line"]))
    return last["value"]


def changelog_from_logs(log_dir=COMMAND_LOGS, timezone=None, output=None, zoneinfo=ZONEINFO, config_dir="/etc/synnefo"):
    """
    Rebuild a VM owner changelog from the logs of 0.18.1's ``snf-manage server-modify --user``
    (``<log_dir>/<yymmddHHMMSS>_server-modify_<pid>.log``): each log's "Changed the owner"
    line, its time in ``timezone`` (a zone name such as ``Europe/Athens``, or ``localtime`` for
    the host's ``/etc/localtime``; default :py:func:`synnefo_time_zone`, the zone snf-manage
    really writes them in: Synnefo's ``TIME_ZONE``, ``UTC`` unless ``config_dir`` sets
    another, whatever the host's clock zone) converted to UTC with microseconds, ordered by
    time. In the
    hour repeated when clocks go back, the log file's modification time decides which of the
    two it was (keep the logs' mtimes when copying them). Returns ``{'changelog': text in the
    tool's format, 'entries': [{'vm', 'from', 'to', 'date', 'local', 'ambiguous', 'log'}],
    'unreadable': [{'log', 'error'}], 'without_owner_change': [log], 'valid', 'errors',
    'output'}``; ``errors`` are :py:func:`validate`'s on the result (e.g. a broken chain
    where a log is missing). With ``output`` the changelog is also written there (mode 0600;
    an existing file is backed up first) for the operator to review before the upgrade.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' ip_history.changelog_from_logs timezone=Europe/Athens output=/root/owner-changes.log
    """
    zone = _zone(timezone or synnefo_time_zone(config_dir), zoneinfo)
    try:
        names = sorted(os.listdir(log_dir))
    except OSError as exc:
        raise CommandExecutionError("{}: cannot list the command logs: {}".format(log_dir, exc.strerror))
    entries, unreadable, without = [], [], []
    for name in names:
        if not _COMMAND_LOG.match(name):
            continue
        path = os.path.join(log_dir, name)
        try:
            entry = _owner_change(path, zone)
        except (IOError, OSError) as exc:
            unreadable.append({"log": path, "error": exc.strerror or "{}".format(exc)})
            continue
        except (CommandExecutionError, ValueError) as exc:
            unreadable.append({"log": path, "error": getattr(exc, "error", None) or "{}".format(exc)})
            continue
        if entry is None:
            without.append(path)
        else:
            entries.append(entry)
    entries.sort(key=lambda e: (e["date"], e["log"]))
    text = "".join("{}|{}|{}|{}\n".format(e["vm"], e["from"], e["to"], e["date"]) for e in entries)
    changes, errors = _parse(text)
    for error in errors:
        error["log"] = entries[error["line"] - 1]["log"]
    result = {
        "changelog": text,
        "entries": entries,
        "unreadable": unreadable,
        "without_owner_change": without,
        "valid": not errors,
        "errors": errors,
        "output": None,
    }
    if output:
        __salt__["synnefo_files.replace"](output, text, mode="0600")
        result["output"] = output
    return result
