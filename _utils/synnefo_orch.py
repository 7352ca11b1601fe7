"""
What the orchestration's states (``ganeti_rolling``, ``synnefo_services``) share on the
salt-master: calling functions on minions through ``saltutil.cmd`` with their failures turned
into ``CommandExecutionError``, applying SLS on minions, firing progress events on the
master's bus, finding the minions by role grain, and the lock that refuses a second run;
and, on the minions too (the version check), which ``snf-*`` packages are not Synnefo's own.

Salt gives utils modules no ``__salt__``: each function takes the caller's as ``functions``.
"""

from __future__ import absolute_import, print_function, unicode_literals

import errno
import fcntl
import json
import logging
import os
import threading
import time

import salt.utils.event
import salt.utils.http
from salt.exceptions import CommandExecutionError

CALL_TIMEOUT = 600
WEB_ROLES = ("astakos", "cyclades", "pithos", "cms")


def call(functions, minion, fun, args=(), kwargs=None, timeout=None, check=True):
    """``fun`` on ``minion``; its return, or an error naming both when it failed."""
    timeout = timeout or CALL_TIMEOUT
    returned = functions["saltutil.cmd"](minion, fun, arg=list(args), kwarg=kwargs or {}, timeout=timeout)
    if minion not in returned:
        raise CommandExecutionError("{}: the minion did not answer {}".format(minion, fun))
    answer = returned[minion]
    ret = answer.get("ret") if isinstance(answer, dict) else answer
    if check and isinstance(answer, dict) and answer.get("retcode", 0) != 0:
        raise CommandExecutionError("{}: {} failed: {}".format(minion, fun, ret))
    return ret


def call_each(functions, minions, fun, args=(), kwargs=None, timeout=None):
    """``fun`` on several minions in one job; ``{minion: return}``, or an error naming every
    minion that failed or did not answer."""
    returned = functions["saltutil.cmd"](
        list(minions), fun, arg=list(args), kwarg=kwargs or {}, tgt_type="list", timeout=timeout or CALL_TIMEOUT
    )
    results, problems = {}, []
    for minion in minions:
        answer = returned.get(minion)
        if answer is None:
            problems.append("{}: the minion did not answer {}".format(minion, fun))
        elif isinstance(answer, dict) and answer.get("retcode", 0) != 0:
            problems.append("{}: {} failed: {}".format(minion, fun, answer.get("ret")))
        else:
            results[minion] = answer.get("ret") if isinstance(answer, dict) else answer
    if problems:
        raise CommandExecutionError("; ".join(problems))
    return results


def answers(functions, minions, fun, args=(), timeout=None):
    """``fun`` on several minions in one job: ``{minion: (ok, return or error text)}``, where
    a minion that failed or did not answer is ``(False, why)`` (each is judged on its own)."""
    returned = functions["saltutil.cmd"](list(minions), fun, arg=list(args), tgt_type="list", timeout=timeout or CALL_TIMEOUT)
    found = {}
    for minion in minions:
        answer = returned.get(minion)
        if answer is None:
            found[minion] = (False, "the minion did not answer {}".format(fun))
        elif isinstance(answer, dict) and answer.get("retcode", 0) != 0:
            found[minion] = (False, "{} failed: {}".format(fun, answer.get("ret")))
        else:
            found[minion] = (True, answer.get("ret") if isinstance(answer, dict) else answer)
    return found


def run(functions, minion, command):
    """Run a command (a list) on a minion; raise with its own error text when it fails."""
    result = call(functions, minion, "cmd.run_all", [command], {"python_shell": False}, check=False)
    if not isinstance(result, dict) or result.get("retcode") != 0:
        detail = (result.get("stderr") or result.get("stdout") or "").strip() if isinstance(result, dict) else result
        raise CommandExecutionError("{}: {} failed: {}".format(minion, " ".join(command), detail))
    return result


def state_results(minion, mods, ret):
    """``{state id: result}`` of a ``state.sls`` return, raising on any failure."""
    if not isinstance(ret, dict):
        raise CommandExecutionError("{}: state.sls {} did not run: {}".format(minion, mods, ret))
    results = dict((key.split("_|-")[1], value) for key, value in ret.items() if isinstance(value, dict) and "_|-" in key)
    failed = ["{}: {}".format(key, value.get("comment")) for key, value in sorted(results.items()) if value.get("result") is False]
    if failed:
        raise CommandExecutionError("{}: {} failed: {}".format(minion, mods, "; ".join(failed)))
    return results


def sls(functions, minion, mods, test=False, pillar=None):
    """Apply SLS on a minion; return ``{state id: result}``, raising on any failure."""
    kwargs = {"test": test}
    if pillar:
        kwargs["pillar"] = pillar
    return state_results(minion, mods, call(functions, minion, "state.sls", [mods], kwargs, check=False))


def sls_on_each(functions, minions, mods, test=False, pillar=None, timeout=None, exclude=None):
    """Apply SLS on several minions at once (``exclude``: SLS names left out, as state.sls
    takes them); return ``{minion: {state id: result}}``, raising with every minion's failure
    (and every minion that did not answer) when any failed."""
    kwargs = {"test": test}
    if pillar:
        kwargs["pillar"] = pillar
    if exclude:
        kwargs["exclude"] = [{"sls": name} for name in exclude]
    returned = functions["saltutil.cmd"](
        list(minions), "state.sls", arg=[mods], kwarg=kwargs, tgt_type="list", timeout=timeout or CALL_TIMEOUT
    )
    results, problems = {}, []
    for minion in minions:
        if minion not in returned:
            problems.append("{}: the minion did not answer state.sls {}".format(minion, mods))
            continue
        answer = returned[minion]
        try:
            results[minion] = state_results(minion, mods, answer.get("ret") if isinstance(answer, dict) else answer)
        except CommandExecutionError as exc:
            problems.append(exc.error)
    if problems:
        raise CommandExecutionError("; ".join(problems))
    return results


def _order(char):
    """A character's weight in a Debian version (dpkg's lib/dpkg/version.c ``order``): ``~``
    before everything, even the end; letters before other characters."""
    if not char or char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _verrevcmp(left, right):
    """dpkg's ``verrevcmp``: non-digit parts by :py:func:`_order`, digit parts as numbers."""
    i = j = 0

    def at(text, index):
        return text[index] if index < len(text) else ""

    while i < len(left) or j < len(right):
        first_diff = 0
        while (at(left, i) and not at(left, i).isdigit()) or (at(right, j) and not at(right, j).isdigit()):
            ours, theirs = _order(at(left, i)), _order(at(right, j))
            if ours != theirs:
                return ours - theirs
            i, j = i + 1, j + 1
        while at(left, i) == "0":
            i += 1
        while at(right, j) == "0":
            j += 1
        while at(left, i).isdigit() and at(right, j).isdigit():
            if not first_diff:
                first_diff = ord(left[i]) - ord(right[j])
            i, j = i + 1, j + 1
        if at(left, i).isdigit():
            return 1
        if at(right, j).isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _version_parts(version):
    version = version.strip()
    epoch, rest = version.split(":", 1) if ":" in version else ("0", version)
    upstream, revision = rest.rsplit("-", 1) if "-" in rest else (rest, "")
    return int(epoch or 0), upstream, revision


def version_cmp(left, right):
    """-1, 0 or 1 as Debian orders the versions ``left`` and ``right`` (``dpkg
    --compare-versions``): the epoch, then the upstream version, then the revision. Here,
    on the master, instead of a minion's ``pkg.version_cmp`` for every host and package."""
    (epoch_l, upstream_l, revision_l), (epoch_r, upstream_r, revision_r) = _version_parts(left), _version_parts(right)
    found = epoch_l - epoch_r or _verrevcmp(upstream_l, upstream_r) or _verrevcmp(revision_l, revision_r)
    return (found > 0) - (found < 0)


def end_run(lock, hook, ret):
    """The end of a phase's run, whatever its outcome: its lock released, and what the
    webhook could not be told (``hook['warnings']``) in its result as ``notify_warnings``."""
    if lock is not None:
        lock.close()
    if hook["warnings"]:
        ret["changes"]["notify_warnings"] = list(hook["warnings"])


def in_parallel(jobs, limit):
    """Run the callables ``jobs``, at most ``limit`` at once, started in their order; return
    ``[(True, result) or (False, exception)]`` in the same order. A job that needs the
    loader's ``__salt__`` carries its caller's context itself (the states'
    ``_in_this_context``): here, inside the utils' loader, the context is the utils' own."""
    results = [None] * len(jobs)
    queue = list(enumerate(jobs))
    taking = threading.Lock()

    def worker():
        while True:
            with taking:
                if not queue:
                    return
                index, job = queue.pop(0)
            try:
                results[index] = (True, job())
            except Exception as exc:  # pylint: disable=broad-except
                results[index] = (False, exc)

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(int(limit), len(jobs))))]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()
    return results


def own_versions(installed, synnefo_packages):
    """The ``snf-*`` packages of ``installed`` (``{name: version}``) that are not built from
    Synnefo's source tree (``synnefo_packages``): snf-image, snf-network, snf-vncauthproxy,
    GRNET's Ganeti build snf-ganeti... Their versions are their own: listed, never checked."""
    return dict((n, v) for n, v in (installed or {}).items() if n.startswith("snf-") and n not in synnefo_packages)


def own_versions_planned(installed, planned, synnefo_packages):
    """``{name: {'old', 'new'}}`` for the host's own-versioned ``snf-*`` packages, ``new``
    from a dry run's ``planned`` packages (the installed version where it keeps it)."""
    return dict(
        (n, {"old": v, "new": (planned.get(n) or {}).get("new", v)}) for n, v in sorted(own_versions(installed, synnefo_packages).items())
    )


def host_facts(functions, minions, synnefo_packages):
    """``{minion: {'codename', 'snf_common', 'own_versions'}}`` in two jobs for all: what the
    report shows of each host before and after."""
    minions = list(minions)
    if not minions:
        return {}
    grains = call_each(functions, minions, "grains.get", ["oscodename"])
    installed = call_each(functions, minions, "pkg.list_pkgs")
    return dict(
        (
            m,
            {
                "codename": grains[m],
                "snf_common": (installed[m] or {}).get("snf-common", ""),
                "own_versions": own_versions(installed[m], synnefo_packages),
            },
        )
        for m in minions
    )


UPGRADE_STATE = "synnefo-upgrade-apt-dist-upgraded-to-jessie"


def _describe(change):
    """A file's change as text: its rename, then its diff."""
    if not isinstance(change, dict):
        return "{}".format(change)
    renamed = ["renamed " + change["renamed"]] if change.get("renamed") else []
    return "\n".join(renamed + ([change["diff"]] if change.get("diff") else []))


def predicted(results):
    """What a dry run of the formula's SLS on a node says it would do: ``{'packages': {name:
    {'old', 'new', 'size'}}, 'download_bytes', 'files': [path], 'diffs': {path: diff},
    'services': [stopped], 'warnings': [...]}``, from the states' own test-mode returns."""
    packages = (results.get(UPGRADE_STATE) or {}).get("changes") or {}
    diffs, services, warnings = {}, [], []
    for state_id, result in sorted(results.items()):
        changes = result.get("changes") or {}
        name = "{}".format(result.get("name") or "")
        if "diff" in changes and name.startswith("/"):
            changes = {name: changes}  # one file's state (gunicorn_wsgi): its change is the file's
        for path, change in changes.items():
            if path.startswith("/"):
                diffs[path] = _describe(change)
        if state_id.startswith("synnefo-upgrade-services-") and state_id.endswith("-stopped") and result.get("result") is None:
            services.append(result.get("name"))
        warnings.extend(part for part in (result.get("comment") or "").split("; ") if part.startswith("warning"))
    return {
        "packages": packages,
        "download_bytes": sum(c.get("size", 0) for c in packages.values()),
        "files": sorted(diffs),
        "diffs": diffs,
        "services": sorted(services),
        "warnings": warnings,
    }


# The parts of a node's upgrade job shown in the report, by state id.
_PARTS = (
    ("synnefo-upgrade-services-", "services stopped"),
    ("synnefo-upgrade-apt-", "dist-upgrade"),
    ("synnefo-upgrade-version-", "dist-upgrade"),
    ("synnefo-upgrade-databases-", "database migration"),
    ("synnefo-upgrade-cyclades-ip-history-", "IP history"),
    ("synnefo-upgrade-astakos-cyclades-registered-", "registration"),
)


def utc_offset(text):
    """Seconds east of UTC from ``date +%z``'s ``+0200`` / ``-0330``; None when unreadable."""
    text = (text or "").strip()
    if len(text) != 5 or text[0] not in "+-" or not text[1:].isdigit():
        return None
    seconds = int(text[1:3]) * 3600 + int(text[3:5]) * 60
    return seconds if text[0] == "+" else -seconds


def parts(results, started, ended, offset=None):
    """The parts of an SLS run (services stopped, dist-upgrade, database migration, IP
    history, registration, configuration) as ``[{'step', 'start', 'end'}]`` in epoch seconds, from the states'
    ``start_time`` (the minion's local clock, time of day only, ``offset`` seconds east of UTC:
    the minion's zone, by default the master's) and ``duration``, placed on the day that puts
    them inside the job (``started``..``ended``, the master's clock)."""
    if offset is None:  # the master's zone (struct_time has no tm_gmtoff on Python 2.7)
        offset = -(time.altzone if time.daylight and time.localtime(started).tm_isdst > 0 else time.timezone)
    # The minion's midnight, in epoch seconds, of the day the job began on its clock.
    midnight = started - ((started + offset) % 86400)
    spans = {}
    for state_id, result in results.items():
        clock, duration = result.get("start_time"), result.get("duration")
        if not clock or duration is None:
            continue
        try:
            hours, minutes, seconds = clock.split(":")
            of_day = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            continue
        start = min((midnight + of_day + day * 86400 for day in (-1, 0, 1)), key=lambda t: abs(t - started))
        if not started - 60 <= start <= ended + 60:
            continue  # a clock off by more than a minute: not placed rather than misplaced
        name = next((label for prefix, label in _PARTS if state_id.startswith(prefix)), "configuration")
        end = start + float(duration) / 1000.0
        low, high = spans.get(name, (start, end))
        spans[name] = (min(low, start), max(high, end))
    return [{"step": name, "start": low, "end": high} for name, (low, high) in sorted(spans.items(), key=lambda item: item[1])]


def fire(opts, tag, data, hook=None):
    """Fire ``data`` (with the time) on the master's event bus under ``tag``; with ``hook``
    (``{'webhook', 'context', 'warnings'}``, a phase's run) also POST it, with the context, to
    the webhook when it is a moment the webhook hears of, a failed delivery added to the
    hook's warnings."""
    data = dict(data, time=time.time())
    bus = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
    try:
        bus.fire_event(data, tag)
    finally:
        bus.destroy()
    if hook and hook.get("webhook") and notified(data.get("step"), data.get("outcome")):
        warning = notify(hook["webhook"], dict(data, **hook.get("context", {})))
        if warning:
            hook["warnings"].append(warning)


log = logging.getLogger(__name__)
# The moments a webhook hears of: a node's start, end and failure, a run stopped as asked,
# the service phase's start, end and failure.
NOTIFIED = (("node", "started"), ("node", "done"), ("run", "stopped"), ("phase", "started"), ("phase", "done"))


def notify(webhook, message, timeout=10):
    """POST ``message`` (JSON) to ``webhook`` with Salt's HTTP client; a warning text when it
    failed, else None. Never raises: a hook that fails must not fail the run."""
    if not webhook:
        return None
    try:
        result = salt.utils.http.query(
            webhook,
            method="POST",
            data=json.dumps(message, sort_keys=True),
            header_dict={"Content-Type": "application/json"},
            status=True,
            decode=False,
            text=False,
            timeout=timeout,
        )
        status = result.get("status")
        if status is None or not 200 <= int(status) < 300:
            raise ValueError("HTTP status {}: {}".format(status, result.get("error", "")))
    except Exception as exc:  # noqa: BLE001 - whatever the hook does, the run goes on
        warning = "notify: {} {}/{} not delivered to the webhook: {}".format(
            message.get("node"), message.get("step"), message.get("outcome"), exc
        )
        log.warning("synnefo_orch: %s", warning)
        return warning
    return None


def notified(step, outcome):
    """Whether a step's outcome is one the webhook hears of (every failure is)."""
    return outcome == "failed" or (step, outcome) in NOTIFIED


class _Zone(object):
    """Local time in ``timezone`` for the block (``TZ`` and ``time.tzset``: the system's own
    zone data, on Python 2.7 as on 3), the process's zone put back after."""

    def __init__(self, timezone):
        self.timezone = timezone

    def __enter__(self):
        self.saved = os.environ.get("TZ")
        os.environ["TZ"] = self.timezone or "UTC"
        time.tzset()
        return self

    def __exit__(self, *_):
        if self.saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = self.saved
        time.tzset()


def _clock(text, what):
    try:
        hours, minutes = (int(part) for part in "{}".format(text).split(":"))
        if 0 <= hours < 24 and 0 <= minutes < 60:
            return hours, minutes
    except ValueError:
        pass
    raise CommandExecutionError("pillar synnefo_upgrade:orchestration:window:{}: '{}' is not a time of day (HH:MM)".format(what, text))


def window_state(window, now=None):
    """``(open, moment)`` of the maintenance ``window`` (``{start, end, timezone}``, times of
    day, an end before the start crossing midnight) at ``now``: open with the moment it closes,
    or closed with the moment it opens next (epoch seconds)."""
    now = time.time() if now is None else now
    start, end = _clock(window.get("start"), "start"), _clock(window.get("end"), "end")
    timezone = window.get("timezone") or "UTC"
    if not os.path.exists(os.path.join("/usr/share/zoneinfo", timezone)):
        raise CommandExecutionError("pillar synnefo_upgrade:orchestration:window:timezone: unknown zone '{}'".format(timezone))
    with _Zone(timezone):
        today = time.localtime(now)
        openings = []
        for days in (-1, 0, 1):
            opens = time.mktime((today.tm_year, today.tm_mon, today.tm_mday + days, start[0], start[1], 0, 0, 0, -1))
            after = 1 if end <= start else 0
            closes = time.mktime((today.tm_year, today.tm_mon, today.tm_mday + days + after, end[0], end[1], 0, 0, 0, -1))
            if opens <= now < closes:
                return True, closes
            openings.append(opens)
    return False, min(o for o in openings if o > now)


def window_refusal(window, needed, now=None):
    """Why ``needed`` seconds of work must not start now in the maintenance ``window`` (a
    text naming when it closes or opens again, in the window's zone), or None when they fit
    (or there is no window)."""
    if not window or not window.get("start"):
        return None
    now = time.time() if now is None else now
    is_open, moment = window_state(window, now)
    with _Zone(window.get("timezone")):
        when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(moment))
    if is_open and now + needed <= moment:
        return None
    if is_open:
        return "the maintenance window closes at {} and this needs about {:.0f} min; it opens again at {}".format(
            when, needed / 60.0, _next_opening(window, moment)
        )
    return "outside the maintenance window; it opens at {}".format(when)


def _next_opening(window, closes):
    is_open, moment = window_state(window, closes + 1)
    with _Zone(window.get("timezone")):
        return time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(moment))


def role_minions(functions):
    """``{minion: roles}`` for every minion with a roles grain, from the master's grains cache
    (so a minion that is down is still listed)."""
    cached = functions["saltutil.runner"]("cache.grains", tgt="*")
    return dict((m, grains.get("roles", [])) for m, grains in (cached or {}).items() if grains and grains.get("roles"))


def lock(opts, name):
    """An exclusive lock in the master's cachedir, or an error when another run holds it;
    close the returned file to release it."""
    path = os.path.join(opts["cachedir"], "synnefo_upgrade.{}.lock".format(name))
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError) as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise CommandExecutionError("another run of the orchestration holds {}: refusing to start a second one".format(path))
        raise
    return handle
