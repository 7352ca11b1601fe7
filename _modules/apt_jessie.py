"""
Move a Debian host's APT from wheezy to jessie, the way the Synnefo 0.19 upgrade guide asks.

- :py:func:`switched_sources`: every APT source on wheezy (Debian, security, updates,
  backports, the flat ``wheezy/`` of apt.dev.grnet.gr, ceph's) rewritten to jessie, changing
  only the suite.
- :py:func:`backports_files`: a jessie-backports source on the host's Debian mirror and a pin
  that takes exactly python-gevent 1.1.1-2 and python-greenlet 0.4.10-1 from it (jessie's gevent
  1.0.1 has two SSL bugs).
- :py:func:`policy_rc_d_install` / :py:func:`policy_rc_d_remove`: the policy-rc.d guard that
  keeps packages from starting services while they are upgraded.
- :py:func:`simulate` and :py:func:`dist_upgrade`: ``apt-get update`` and a non-interactive
  ``apt-get dist-upgrade`` that keeps locally edited conffiles and never touches the
  salt-minion running it.

Salt's ``pkg`` module does the upgrade itself (``pkg.upgrade dist_upgrade=True``: it already
runs apt non-interactively with ``--force-confdef --force-confold``); this module adds what Salt
has not: the source rewrite, the guard, the minion's protection, a dry run that predicts without
touching the package lists, and ``dpkg --audit`` before and after.
"""

import os
import re
import shutil
import tempfile

from salt.exceptions import CommandExecutionError

__virtualname__ = "apt_jessie"

POLICY_MARKER = "# synnefo_upgrade: policy-rc.d guard"
POLICY_SCRIPT = f"""#!/bin/sh
{POLICY_MARKER}
# Installed by the synnefo_upgrade Salt formula while it upgrades this host: packages may not
# start, stop or restart services (exit 101: action forbidden). The formula removes it again.
exit 101
"""
MINION_PACKAGES = ("salt-minion", "salt-common")
BACKPORTS_LIST = "jessie-backports.list"
PIN_FILE = "synnefo-upgrade-backports"
DEBIAN_URI = re.compile(r"^[a-z+]+:/+[^ ]*/debian/?$")
# deb [options] uri suite [components]: the suite is the fourth token after the options.
_SOURCE = re.compile(
    r"^(?P<lead>\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?)(?P<uri>\S+)(?P<gap>\s+)(?P<suite>[^\s#]+)(?P<rest>.*)$",
    re.DOTALL,
)


def __virtual__():
    return __virtualname__


def source_files(name="/etc/apt"):
    """
    List the one-line-style APT source files under ``name``: ``sources.list`` and
    ``sources.list.d/*.list``.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.source_files
    """
    files = []
    main = os.path.join(name, "sources.list")
    if os.path.isfile(main):
        files.append(main)
    parts = os.path.join(name, "sources.list.d")
    if os.path.isdir(parts):
        files.extend(os.path.join(parts, f) for f in sorted(os.listdir(parts)) if f.endswith(".list"))
    return files


def _switch_suite(suite, from_codename, to_codename):
    if suite == from_codename or suite.startswith((from_codename + "-", from_codename + "/")):
        return to_codename + suite[len(from_codename) :]
    return suite


def switch_line(line, from_codename="wheezy", to_codename="jessie"):
    """
    Return one sources.list line with its suite moved from ``from_codename`` to
    ``to_codename``; any other line (comments, blank lines, other suites) comes back as it was.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.switch_line 'deb http://apt.dev.grnet.gr wheezy/'
    """
    match = _SOURCE.match(line)
    if not match:
        return line
    suite = _switch_suite(match.group("suite"), from_codename, to_codename)
    return match.group("lead") + match.group("uri") + match.group("gap") + suite + match.group("rest")


def parse_sources(name="/etc/apt"):
    """
    Return the active sources under ``name``: ``[{'file', 'line', 'type', 'options', 'uri',
    'suite', 'components'}]``.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.parse_sources
    """
    found = []
    for path in source_files(name):
        text = __salt__["synnefo_files.read"](path) or ""
        for number, line in enumerate(text.splitlines(), start=1):
            match = _SOURCE.match(line)
            if not match:
                continue
            lead = match.group("lead").split(None, 1)
            options = re.search(r"\[([^\]]*)\]", match.group("lead"))
            found.append(
                {
                    "file": path,
                    "line": number,
                    "type": lead[0],
                    "options": options.group(1) if options else "",
                    "uri": match.group("uri"),
                    "suite": match.group("suite"),
                    "components": match.group("rest").split("#", 1)[0].split(),
                }
            )
    return found


def switched_sources(name="/etc/apt", from_codename="wheezy", to_codename="jessie"):
    """
    Return ``{path: new text}`` for the source files under ``name`` that mention
    ``from_codename`` as a suite; files with nothing to change are not listed.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.switched_sources
    """
    changed = {}
    for path in source_files(name):
        text = __salt__["synnefo_files.read"](path) or ""
        new = "".join(switch_line(line, from_codename, to_codename) for line in text.splitlines(keepends=True))
        if new != text:
            changed[path] = new
    return changed


def debian_mirror(name="/etc/apt", codename="jessie", from_codename="wheezy"):
    """
    Return ``(uri, options)`` of the Debian mirror the host uses for ``codename`` (or for
    ``from_codename``, which the switch turns into ``codename``: the mirror is the same): a
    ``deb`` line with that suite and ``main`` whose URI ends in ``/debian``, else the first
    such line in ``sources.list``. Raise an error when there is none.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.debian_mirror
    """
    candidates = [s for s in parse_sources(name) if s["type"] == "deb" and "main" in s["components"]
                  and _switch_suite(s["suite"], from_codename, codename) == codename]
    for source in candidates:
        if DEBIAN_URI.match(source["uri"]):
            return source["uri"], source["options"]
    main = os.path.join(name, "sources.list")
    for source in candidates:
        if source["file"] == main:
            return source["uri"], source["options"]
    raise CommandExecutionError(
        f"{name}: no 'deb URI {codename} main' (or {from_codename}) source to take the Debian mirror from; give the mirror"
    )


def backports_files(name="/etc/apt", packages=None, suite="jessie-backports", mirror=None, from_codename="wheezy"):
    """
    Return ``{path: text}`` for the backports source (only when no active source has
    ``suite`` yet, or the ``from_codename`` twin the switch turns into it) and for the pin file
    that takes exactly ``packages`` (``{name: version}``) from ``suite`` and nothing else.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.backports_files packages='{"python-gevent": "1.1.1-2", "python-greenlet": "0.4.10-1"}'
    """
    packages = packages or {}
    for package, version in packages.items():
        if not re.match(r"^[a-z0-9][a-z0-9+.-]+$", str(package)) or not re.match(r"^[0-9A-Za-z.+~:-]+$", str(version)):
            raise CommandExecutionError(f"backports pin: {package!r} = {version!r} is not a Debian package name and version")
    files = {}
    codename = suite.split("-", 1)[0]
    if not any(_switch_suite(s["suite"], from_codename, codename) == suite for s in parse_sources(name)):
        if mirror:
            uri, options = mirror, ""
        else:
            uri, options = debian_mirror(name, codename, from_codename)
        bracket = f"[{options}] " if options else ""
        files[os.path.join(name, "sources.list.d", BACKPORTS_LIST)] = (
            "# Added by the synnefo_upgrade Salt formula: gevent and greenlet for Synnefo 0.19.\n"
            f"deb {bracket}{uri} {suite} main\n"
        )
    stanzas = [
        "# Managed by the synnefo_upgrade Salt formula: jessie's gevent 1.0.1 has two SSL bugs,",
        f"# so these exact versions come from {suite}, and nothing else does.",
        "",
        "Package: *",
        f"Pin: release a={suite}",
        "Pin-Priority: 100",
    ]
    for package, version in sorted(packages.items()):
        stanzas += ["", f"Package: {package}", f"Pin: version {version}", "Pin-Priority: 990"]
    files[os.path.join(name, "preferences.d", PIN_FILE)] = "\n".join(stanzas) + "\n"
    return files


def _saved_policy(name):
    return os.path.join(__salt__["synnefo_files.state_dir"](), "saved" + os.path.abspath(name))


def policy_rc_d_status(name="/usr/sbin/policy-rc.d"):
    """
    Tell whether the guard is in place: ``{'present', 'ours', 'saved'}`` (``saved``: the
    host's own policy-rc.d kept aside while the guard is in place, or ``None``).

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.policy_rc_d_status
    """
    text = __salt__["synnefo_files.read"](name) if os.path.exists(name) else None
    saved = _saved_policy(name)
    return {
        "present": text is not None,
        "ours": text is not None and POLICY_MARKER in text,
        "saved": saved if os.path.exists(saved) else None,
    }


def policy_rc_d_install(name="/usr/sbin/policy-rc.d"):
    """
    Install the guard (a policy-rc.d that exits 101). A policy-rc.d the host already had is
    kept aside under the state directory and put back by :py:func:`policy_rc_d_remove`.
    Return what was done.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.policy_rc_d_install
    """
    status = policy_rc_d_status(name)
    if status["ours"]:
        return {"installed": False, "saved": status["saved"]}
    saved = None
    if status["present"]:
        if status["saved"]:
            raise CommandExecutionError(
                f"{name} is not the formula's and {status['saved']} already holds a saved policy-rc.d: refusing to overwrite either"
            )
        saved = _saved_policy(name)
        os.makedirs(os.path.dirname(saved), mode=0o700, exist_ok=True)
        shutil.move(name, saved)
    __salt__["synnefo_files.replace"](name, POLICY_SCRIPT, user=0, group=0, mode="755")
    return {"installed": True, "saved": saved}


def policy_rc_d_remove(name="/usr/sbin/policy-rc.d"):
    """
    Remove the guard and put back the host's own policy-rc.d if one was kept aside. A
    policy-rc.d the formula did not write is never deleted.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.policy_rc_d_remove
    """
    status = policy_rc_d_status(name)
    if status["present"] and not status["ours"]:
        raise CommandExecutionError(f"{name} is not the formula's guard: left alone")
    removed = False
    if status["ours"]:
        os.unlink(name)
        removed = True
    restored = None
    if status["saved"]:
        shutil.move(status["saved"], name)
        restored = name
    return {"removed": removed, "restored": restored}


def audit():
    """
    Return the lines of ``dpkg --audit`` (empty when dpkg has nothing half-done).

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.audit
    """
    result = __salt__["cmd.run_all"](["dpkg", "--audit"], python_shell=False, ignore_retcode=True)
    return [line for line in (result["stdout"] + "\n" + result["stderr"]).splitlines() if line.strip()]


_INST = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+)")
_REMV = re.compile(r"^Remv (\S+)(?: \[(\S+)\])?")


def _status_with_holds(status_path, target, hold):
    """Copy dpkg's status file to ``target`` with the packages in ``hold`` marked held."""
    with open(status_path, encoding="utf-8") as handle:
        stanzas = handle.read().split("\n\n")
    for index, stanza in enumerate(stanzas):
        name = re.search(r"^Package: (\S+)$", stanza, re.M)
        if name and name.group(1) in hold:
            stanzas[index] = re.sub(r"^Status: \w+ ", "Status: hold ", stanza, count=1, flags=re.M)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write("\n\n".join(stanzas))


def _prepared_apt_dir(scratch, switch=None, backports=None):
    """A private copy of /etc/apt as the formula's earlier steps would leave it: sources
    switched (``switch``: (from, to)) and the backports source and pin (``backports``:
    {'suite', 'packages'}) in place. Returns the apt options that point apt at it."""
    etc = os.path.join(scratch, "etc-apt")
    shutil.copytree("/etc/apt", etc, symlinks=True)
    texts = {}
    if switch:
        texts.update(switched_sources(etc, switch[0], switch[1]))
    if backports:
        texts.update(backports_files(etc, packages=backports.get("packages"), suite=backports.get("suite", "jessie-backports"),
                                     from_codename=switch[0] if switch else "wheezy"))
    for path, text in texts.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return [
        "-o", f"Dir::Etc::sourcelist={etc}/sources.list",
        "-o", f"Dir::Etc::sourceparts={etc}/sources.list.d",
        "-o", f"Dir::Etc::preferences={etc}/preferences",
        "-o", f"Dir::Etc::preferencesparts={etc}/preferences.d",
    ]


def simulate(refresh=True, hold=None, switch=None, backports=None):
    """
    Predict what ``apt-get dist-upgrade`` would do: ``{package: {'old': version or '', 'new':
    version or ''}}`` (``new`` empty: removed). With ``refresh`` the package lists are
    downloaded into a temporary directory, so the prediction reflects the current sources
    while the host's own lists, caches and packages stay untouched. ``hold`` lists packages
    to treat as held (by default the installed salt-minion packages, as the real upgrade
    holds them), on a private copy of dpkg's status. ``switch`` ((from, to) codenames) and
    ``backports`` ({'suite', 'packages'}) simulate against a private copy of /etc/apt with the
    sources switched and the backports pin in place, as the formula's earlier steps leave it,
    so that a dry run of the whole upgrade predicts the upgrade itself.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.simulate
    """
    scratch = tempfile.mkdtemp(prefix="apt_jessie.")
    try:
        lists = os.path.join(scratch, "lists")
        shutil.copytree("/var/lib/apt/lists", lists, ignore=shutil.ignore_patterns("lock", "partial"))
        os.makedirs(os.path.join(lists, "partial"), exist_ok=True)
        status = os.path.join(scratch, "status")
        _status_with_holds("/var/lib/dpkg/status", status, _installed_minion_packages() if hold is None else hold)
        options = [
            "-o", f"Dir::State::Lists={lists}",
            "-o", f"Dir::State::status={status}",
            "-o", "Dir::Cache::pkgcache=",
            "-o", "Dir::Cache::srcpkgcache=",
        ]
        if switch or backports:
            options += _prepared_apt_dir(scratch, switch=switch, backports=backports)
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        if refresh:
            update = __salt__["cmd.run_all"](["apt-get", "-q", *options, "update"], python_shell=False, env=env, ignore_retcode=True)
            _raise_on_apt_error(update, "apt-get update")
        run = __salt__["cmd.run_all"](["apt-get", "-q", "-s", *options, "dist-upgrade"], python_shell=False, env=env, ignore_retcode=True)
        _raise_on_apt_error(run, "apt-get -s dist-upgrade")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    changes = {}
    for line in run["stdout"].splitlines():
        inst = _INST.match(line)
        if inst:
            changes[inst.group(1)] = {"old": inst.group(2) or "", "new": inst.group(3)}
            continue
        remv = _REMV.match(line)
        if remv:
            changes[remv.group(1)] = {"old": remv.group(2) or "", "new": ""}
    return changes


_ERROR_LINE = re.compile(r"^(E:|Err:?|dpkg:)|\b(error|errors|failed|failure)\b", re.IGNORECASE)


def _apt_errors(result):
    """apt's and dpkg's own error lines, and what the failing maintainer scripts said."""
    lines = (result.get("stderr", "") + "\n" + result.get("stdout", "")).splitlines()
    return [l.strip() for l in lines if _ERROR_LINE.search(l)] or [l for l in lines if l.strip()][-5:]


def _raise_on_apt_error(result, what):
    failed = result["retcode"] != 0 or any(l.startswith(("E:", "Err:")) for l in result["stderr"].splitlines())
    if failed:
        raise CommandExecutionError(f"{what} failed: " + " | ".join(_apt_errors(result)))


def _installed_minion_packages():
    versions = __salt__["pkg.version"](*MINION_PACKAGES)
    if isinstance(versions, str):  # a single name asked returns a string
        versions = {MINION_PACKAGES[0]: versions}
    return [name for name, version in versions.items() if version]


def dist_upgrade(download_only=False):
    """
    ``apt-get update`` then a non-interactive ``apt-get dist-upgrade`` (locally edited conffiles
    are kept, never prompted for), with the salt-minion packages held so that the upgrade can
    neither remove nor restart the minion running it. Refuses to start when ``dpkg --audit``
    reports unfinished work, and fails when it does afterwards. Returns ``{package: {'old',
    'new'}}``; with ``download_only`` only fetches and returns what was fetched.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.dist_upgrade
        salt '*' apt_jessie.dist_upgrade download_only=True
    """
    pending = audit()
    if pending:
        raise CommandExecutionError("dpkg reports unfinished work, not upgrading: " + " | ".join(pending))
    held_before = set(__salt__["pkg.get_selections"](state="hold").get("hold", []))
    to_hold = [p for p in _installed_minion_packages() if p not in held_before]
    if download_only:
        planned = simulate(refresh=True)
    # Salt's own refresh (inside pkg.upgrade) carries on past a source that failed to update,
    # which would give a partial upgrade: refresh first, failing on any source's error.
    try:
        __salt__["pkg.refresh_db"](failhard=True)
    except CommandExecutionError as exc:
        raise CommandExecutionError(f"apt-get update failed, not upgrading: {exc.error}") from exc
    for package in to_hold:
        __salt__["pkg.hold"](package)
    try:
        changes = __salt__["pkg.upgrade"](refresh=False, dist_upgrade=True, download_only=download_only)
    except CommandExecutionError as exc:
        info = getattr(exc, "info", None) or {}
        result = info.get("result") or {}
        detail = " | ".join(_apt_errors(result)) if result else str(exc)
        raise CommandExecutionError(f"apt-get dist-upgrade failed: {detail}", info={"changes": info.get("changes", {})}) from exc
    finally:
        for package in to_hold:
            __salt__["pkg.unhold"](package)
    broken = audit()
    if broken:
        raise CommandExecutionError("dpkg reports unfinished work after the upgrade: " + " | ".join(broken), info={"changes": changes})
    if download_only:
        return {name: dict(change, downloaded=True) for name, change in planned.items() if change["new"]}
    return changes
