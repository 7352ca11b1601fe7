"""
Move a Debian host's APT from wheezy to jessie, the way the Synnefo 0.19 upgrade guide asks.

- :py:func:`switched_sources`: every APT source on wheezy (Debian, security, updates,
  backports, the flat ``wheezy/`` of apt.dev.grnet.gr, ceph's) rewritten to jessie, changing
  only the suite.
- :py:func:`backports_files`: a jessie-backports source on the host's Debian mirror and a pin
  that takes python-gevent and python-greenlet from it, whatever the backports build's suffix
  (``~bpo8+N``), and nothing else (jessie's gevent 1.0.1 has two SSL bugs);
  :py:func:`backports_below` tells which of them are still below the wanted version.
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

from __future__ import absolute_import, print_function, unicode_literals

import hashlib
import io
import logging
import os
import re
import shutil
import tempfile

import shlex

import salt.utils.path
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "apt_jessie"

POLICY_MARKER = "# synnefo_upgrade: policy-rc.d guard"
POLICY_SCRIPT = """#!/bin/sh
{}
# Installed by the synnefo_upgrade Salt formula while it upgrades this host: packages may not
# start, stop or restart services (exit 101: action forbidden). The formula removes it again.
exit 101
""".format(POLICY_MARKER)
# Defaults of the functions; the formula passes its own (parameters/defaults.yaml).
MINION_PACKAGES = ("salt-minion", "salt-common")
POLICY_RC_D = "/usr/sbin/policy-rc.d"
BACKPORTS_LIST = "jessie-backports.list"
PIN_FILE = "synnefo-upgrade-backports"
DEBIAN_URI = re.compile(r"^[a-z+]+:/+[^ ]*/debian/?$")
# deb [options] uri suite [components]: the suite is the fourth token after the options.
_SOURCE = re.compile(
    r"^(?P<lead>\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?)(?P<uri>\S+)(?P<gap>\s+)(?P<suite>[^\s#]+)(?P<rest>.*)$",
    re.DOTALL,
)


def __virtual__():
    if __grains__.get("os_family") != "Debian":
        return (False, "apt_jessie works on Debian hosts only (os_family is {})".format(__grains__.get("os_family")))
    for program in ("apt-get", "dpkg", "dpkg-query"):
        if not salt.utils.path.which(program):
            return (False, "apt_jessie needs {}, which is not installed".format(program))
    return __virtualname__


def _makedirs(path, mode=0o755):
    if not os.path.isdir(path):
        try:
            os.makedirs(path, mode)
        except OSError as exc:
            raise CommandExecutionError("{}: cannot create the directory: {}".format(path, exc.strerror))


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
        try:
            names = sorted(os.listdir(parts))
        except OSError as exc:
            raise CommandExecutionError("{}: {}".format(parts, exc.strerror))
        files.extend(os.path.join(parts, f) for f in names if f.endswith(".list"))
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
        new = "".join(switch_line(line, from_codename, to_codename) for line in text.splitlines(True))
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
    candidates = [
        s
        for s in parse_sources(name)
        if s["type"] == "deb" and "main" in s["components"] and _switch_suite(s["suite"], from_codename, codename) == codename
    ]
    for source in candidates:
        if DEBIAN_URI.match(source["uri"]):
            return source["uri"], source["options"]
    main = os.path.join(name, "sources.list")
    for source in candidates:
        if source["file"] == main:
            return source["uri"], source["options"]
    raise CommandExecutionError(
        "{}: no 'deb URI {} main' (or {}) source to take the Debian mirror from; give the mirror".format(name, codename, from_codename)
    )


def backports_files(name="/etc/apt", packages=None, suite="jessie-backports", mirror=None, from_codename="wheezy"):
    """
    Return ``{path: text}`` for the backports source (only when no active source has
    ``suite`` yet, or the ``from_codename`` twin the switch turns into it) and for the pin file
    that takes ``packages`` (``{name: lowest version}``) from ``suite`` and nothing else.

    The pin names the release, not a version: backports builds carry a suffix (``1.1.1-2~bpo8+1``)
    that an exact ``Pin: version 1.1.1-2`` never matches, leaving jessie's own build in place
    without a word. The lowest version is checked after the upgrade (:py:func:`backports_below`).

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.backports_files packages='{"python-gevent": "1.1.1", "python-greenlet": "0.4.10"}'
    """
    packages = packages or {}
    for package, version in packages.items():
        if not re.match(r"^[a-z0-9][a-z0-9+.-]+$", str(package)) or not re.match(r"^[0-9A-Za-z.+~:-]+$", str(version)):
            raise CommandExecutionError("backports pin: {!r} = {!r} is not a Debian package name and version".format(package, version))
    files = {}
    codename = suite.split("-", 1)[0]
    if not any(_switch_suite(s["suite"], from_codename, codename) == suite for s in parse_sources(name)):
        if mirror:
            uri, options = mirror, ""
        else:
            uri, options = debian_mirror(name, codename, from_codename)
        bracket = "[{}] ".format(options) if options else ""
        files[os.path.join(name, "sources.list.d", BACKPORTS_LIST)] = (
            "# Added by the synnefo_upgrade Salt formula: gevent and greenlet for Synnefo 0.19.\ndeb {}{} {} main\n".format(
                bracket, uri, suite
            )
        )
    stanzas = [
        "# Managed by the synnefo_upgrade Salt formula: jessie's gevent 1.0.1 has two SSL bugs,",
        "# so these packages come from {}, and nothing else does.".format(suite),
        "",
        "Package: *",
        "Pin: release a={}".format(suite),
        "Pin-Priority: 100",
    ]
    for package in sorted(packages):
        stanzas += ["", "Package: {}".format(package), "Pin: release a={}".format(suite), "Pin-Priority: 990"]
    files[os.path.join(name, "preferences.d", PIN_FILE)] = "\n".join(stanzas) + "\n"
    return files


def backports_below(packages, versions=None):
    """
    Return ``{name: version}`` for each of ``packages`` (``{name: lowest version}``) whose
    version is below the lowest wanted: installed ones, or those of ``versions`` (``{name:
    version}``, a dry run's) where given. A package that is not installed is not reported.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.backports_below '{"python-gevent": "1.1.1", "python-greenlet": "0.4.10"}'
    """
    below = {}
    # Salt keeps the package list of its first look for the job: a dist-upgrade since made it stale.
    __context__.pop("pkg.list_pkgs", None)
    for package, lowest in sorted((packages or {}).items()):
        found = (versions or {}).get(package) or __salt__["pkg.version"](package)
        if found and __salt__["pkg.version_cmp"](found, lowest) < 0:
            below[package] = found
    return below


def _saved_policy(name):
    return os.path.join(__salt__["synnefo_files.state_dir"](), "saved" + os.path.abspath(name))


def _guard_record(name):
    """Present while the formula's guard is in place at ``name``: it tells a guard that
    someone else replaced from a policy-rc.d the host always had."""
    return os.path.join(__salt__["synnefo_files.state_dir"](), "guard" + os.path.abspath(name))


def policy_rc_d_status(name=POLICY_RC_D):
    """
    Tell whether the guard is in place: ``{'present', 'ours', 'saved', 'installed'}``
    (``ours``: the file at ``name`` is the formula's guard, recognised by its marker line, not
    by its ``exit 101``; ``saved``: the host's own policy-rc.d kept aside while the guard is
    in place, or ``None``; ``installed``: the formula installed a guard and has not removed
    it yet).

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.policy_rc_d_status
    """
    text = __salt__["synnefo_files.read"](name) if os.path.lexists(name) else None
    saved = _saved_policy(name)
    return {
        "present": os.path.lexists(name),
        "ours": text is not None and POLICY_MARKER in text.splitlines(),
        "saved": saved if os.path.lexists(saved) else None,
        "installed": os.path.exists(_guard_record(name)),
    }


def policy_rc_d_install(name=POLICY_RC_D):
    """
    Install the guard (a policy-rc.d that exits 101). A policy-rc.d the host already had is
    kept aside under the state directory and put back by :py:func:`policy_rc_d_remove`; a
    policy-rc.d kept aside earlier is never overwritten. Return what was done.

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
                "{} is not the formula's and {} already holds a saved policy-rc.d: refusing to overwrite either".format(
                    name, status["saved"]
                )
            )
        saved = _saved_policy(name)
        _makedirs(os.path.dirname(saved), mode=0o700)
        __salt__["synnefo_files.move"](name, saved)
        log.info("apt_jessie: the host's own %s kept aside in %s", name, saved)
    record = _guard_record(name)
    _makedirs(os.path.dirname(record), mode=0o700)
    __salt__["synnefo_files.replace"](record, "installed\n", mode="600", keep_backup=False)
    __salt__["synnefo_files.replace"](name, POLICY_SCRIPT, user=0, group=0, mode="755")
    log.info("apt_jessie: policy-rc.d guard installed at %s: packages cannot start services", name)
    return {"installed": True, "saved": saved}


def policy_rc_d_remove(name=POLICY_RC_D):
    """
    Remove the guard and put back the host's own policy-rc.d if one was kept aside. A
    policy-rc.d the formula did not write is never deleted: a guard that someone replaced
    while it was in place is an error, and the replacement stays.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.policy_rc_d_remove
    """
    status = policy_rc_d_status(name)
    if status["present"] and not status["ours"]:
        if status["saved"] or status["installed"]:
            raise CommandExecutionError(
                "{} was replaced by someone else while the guard was in place: left alone{}".format(
                    name, "; the host's own is still at {}".format(status["saved"]) if status["saved"] else ""
                )
            )
        raise CommandExecutionError("{} is not the formula's guard: left alone".format(name))
    removed = False
    try:
        if status["ours"]:
            os.unlink(name)
            removed = True
        restored = None
        if status["saved"]:
            __salt__["synnefo_files.move"](status["saved"], name)
            restored = name
        if status["installed"]:
            os.unlink(_guard_record(name))
    except (IOError, OSError) as exc:
        raise CommandExecutionError("{}: cannot remove the guard: {}".format(name, exc.strerror))
    log.info("apt_jessie: policy-rc.d guard removed from %s%s", name, " (the host's own put back)" if restored else "")
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
    """Copy dpkg's status file to ``target`` with the packages in ``hold`` marked held. Read as
    bytes: dpkg does not require UTF-8 (an old package's Description or Maintainer may be
    Latin-1), and every other byte is copied as it is."""
    try:
        with open(status_path, "rb") as handle:
            stanzas = handle.read().split(b"\n\n")
    except (IOError, OSError) as exc:
        raise CommandExecutionError("{}: cannot read dpkg's status: {}".format(status_path, exc.strerror or exc))
    held = set(name.encode("utf-8") for name in hold)
    for index, stanza in enumerate(stanzas):
        name = re.search(b"^Package: (\\S+)$", stanza, re.M)
        if name and name.group(1) in held:
            stanzas[index] = re.sub(b"^Status: \\w+ ", b"Status: hold ", stanza, count=1, flags=re.M)
    with open(target, "wb") as handle:
        handle.write(b"\n\n".join(stanzas))


def apt_paths():
    """
    Return where APT keeps its configuration, package lists and dpkg status on this host, as
    apt itself resolves them (``APT_CONFIG`` and ``Dir`` settings included):
    ``{'etc', 'lists', 'status'}``.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.apt_paths
    """
    result = __salt__["cmd.run_all"](
        ["apt-config", "shell", "ETC", "Dir::Etc/d", "LISTS", "Dir::State::Lists/d", "STATUS", "Dir::State::status/f"],
        python_shell=False,
        ignore_retcode=True,
        output_loglevel="debug",
    )
    if result["retcode"] != 0:
        raise CommandExecutionError("apt-config failed: {}".format(result["stderr"].strip()))
    paths = {}
    for line in result["stdout"].splitlines():
        key, _, value = line.partition("=")
        paths[key.strip().lower()] = shlex.split(value)[0] if value else ""
    return {key: paths[key].rstrip("/") or "/" for key in ("etc", "lists", "status")}


def _prepared_apt_dir(scratch, etc_apt, switch=None, backports=None):
    """A private copy of ``etc_apt`` as the formula's earlier steps would leave it: sources
    switched (``switch``: (from, to)) and the backports source and pin (``backports``:
    {'suite', 'packages'}) in place. Returns the apt options that point apt at it."""
    etc = os.path.join(scratch, "etc-apt")
    shutil.copytree(etc_apt, etc, symlinks=True)
    texts = {}
    if switch:
        texts.update(switched_sources(etc, switch[0], switch[1]))
    if backports:
        texts.update(
            backports_files(
                etc,
                packages=backports.get("packages"),
                suite=backports.get("suite", "jessie-backports"),
                from_codename=switch[0] if switch else "wheezy",
            )
        )
    for path, text in texts.items():
        _makedirs(os.path.dirname(path))
        with io.open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return [
        "-o",
        "Dir::Etc::sourcelist={}/sources.list".format(etc),
        "-o",
        "Dir::Etc::sourceparts={}/sources.list.d".format(etc),
        "-o",
        "Dir::Etc::preferences={}/preferences".format(etc),
        "-o",
        "Dir::Etc::preferencesparts={}/preferences.d".format(etc),
    ]


def simulate(refresh=True, hold=None, switch=None, backports=None, sizes=False):
    """
    Predict what ``apt-get dist-upgrade`` would do: ``{package: {'old': version or '', 'new':
    version or ''}}`` (``new`` empty: removed); with ``sizes`` each package also gets ``size``,
    the bytes it still has to download (0 when already in APT's cache). With ``refresh`` the package lists are
    downloaded into a temporary directory, so the prediction reflects the current sources
    while the host's own lists, caches and packages stay untouched. ``hold`` lists packages
    to treat as held (by default the installed salt-minion packages, as the real upgrade
    holds them; see :py:func:`dist_upgrade`), on a private copy of dpkg's status. ``switch`` ((from, to) codenames) and
    ``backports`` ({'suite', 'packages'}) simulate against a private copy of /etc/apt with the
    sources switched and the backports pin in place, as the formula's earlier steps leave it,
    so that a dry run of the whole upgrade predicts the upgrade itself.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.simulate
    """
    paths = apt_paths()
    scratch = tempfile.mkdtemp(prefix="apt_jessie.")
    log.info("apt_jessie: simulating the dist-upgrade in %s (the host's APT state is not touched)", scratch)
    try:
        lists = os.path.join(scratch, "lists")
        shutil.copytree(paths["lists"], lists, ignore=shutil.ignore_patterns("lock", "partial"))
        _makedirs(os.path.join(lists, "partial"))
        status = os.path.join(scratch, "status")
        _status_with_holds(paths["status"], status, _installed(MINION_PACKAGES if hold is None else hold))
        options = [
            "-o",
            "Dir::State::Lists={}".format(lists),
            "-o",
            "Dir::State::status={}".format(status),
            "-o",
            "Dir::Cache::pkgcache=",
            "-o",
            "Dir::Cache::srcpkgcache=",
        ]
        if switch or backports:
            options += _prepared_apt_dir(scratch, paths["etc"], switch=switch, backports=backports)
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        if refresh:
            update = __salt__["cmd.run_all"](["apt-get", "-q"] + options + ["update"], python_shell=False, env=env, ignore_retcode=True)
            _raise_on_apt_error(update, "apt-get update")
        run = __salt__["cmd.run_all"](
            ["apt-get", "-q", "-s"] + options + ["dist-upgrade"], python_shell=False, env=env, ignore_retcode=True
        )
        _raise_on_apt_error(run, "apt-get -s dist-upgrade")
        if sizes:
            uris = __salt__["cmd.run_all"](
                ["apt-get", "-qq", "--print-uris"] + options + ["dist-upgrade"], python_shell=False, env=env, ignore_retcode=True
            )
            _raise_on_apt_error(uris, "apt-get --print-uris dist-upgrade")
    except (shutil.Error, OSError) as exc:
        raise CommandExecutionError("simulating the dist-upgrade in {}: {}".format(scratch, exc))
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
    if sizes:
        # 'URI' name_version_arch.deb size checksum: only what is not in the cache yet.
        fetched = dict((m.group(1), int(m.group(2))) for m in _URI.finditer(uris["stdout"]))
        for name, change in changes.items():
            change["size"] = fetched.get(name, 0) if change["new"] else 0
    return changes


_URI = re.compile(r"^'[^']*' ([^_\s]+)_\S+ (\d+)", re.MULTILINE)


def kept_conffiles(packages=None, root="/"):
    """
    Return the conffiles edited locally (their checksum differs from the one dpkg recorded),
    as ``{package: [path, ...]}``: a dist-upgrade keeps them as they are (``--force-confold``)
    and leaves the package's new version beside them as ``<path>.dpkg-dist``, to be merged by
    hand. ``packages`` limits the answer to those packages (e.g. the ones to upgrade); ``root``
    is where the files are (dpkg's ``--root``).

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.kept_conffiles
        salt '*' apt_jessie.kept_conffiles packages='[snf-common, gunicorn]'
    """
    result = __salt__["cmd.run_all"](
        ["dpkg-query", "-W", "-f", "${Package}\n${Conffiles}\n"], python_shell=False, ignore_retcode=True, output_loglevel="trace"
    )
    if result["retcode"] != 0:
        raise CommandExecutionError("dpkg-query failed: {}".format(result["stderr"].strip()))
    wanted = set(packages) if packages is not None else None
    kept, package = {}, None
    for line in result["stdout"].splitlines():
        if not line.startswith(" "):
            package = line.strip() or package
            continue
        fields = line.split()
        if len(fields) < 2 or "obsolete" in fields[2:] or (wanted is not None and package not in wanted):
            continue
        path, recorded = fields[0], fields[1]
        on_disk = os.path.join(root, path.lstrip("/"))
        if recorded == "newconffile" or not os.path.isfile(on_disk):
            continue
        if _md5(on_disk) != recorded:
            kept.setdefault(package, []).append(path)
    return dict((name, sorted(paths)) for name, paths in kept.items())


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


_ERROR_LINE = re.compile(r"^(E:|Err:?|dpkg:)|\b(error|errors|failed|failure)\b", re.IGNORECASE)


def _apt_errors(result):
    """apt's and dpkg's own error lines, and what the failing maintainer scripts said."""
    lines = (result.get("stderr", "") + "\n" + result.get("stdout", "")).splitlines()
    return [line.strip() for line in lines if _ERROR_LINE.search(line)] or [line for line in lines if line.strip()][-5:]


def _raise_on_apt_error(result, what):
    failed = result["retcode"] != 0 or any(line.startswith(("E:", "Err:")) for line in result["stderr"].splitlines())
    if failed:
        raise CommandExecutionError("{} failed: ".format(what) + " | ".join(_apt_errors(result)))


def _installed(packages):
    packages = list(packages)
    if not packages:
        return []
    versions = __salt__["pkg.version"](*packages)
    if not isinstance(versions, dict):  # a single name asked returns a string
        versions = {packages[0]: versions}
    return [name for name, version in versions.items() if version]


def dist_upgrade(download_only=False, hold=None):
    """
    ``apt-get update`` then a non-interactive ``apt-get dist-upgrade`` (locally edited conffiles
    are kept, never prompted for), with the packages of ``hold`` (by default the salt-minion
    packages) held while it runs and released after, so that the upgrade can neither remove
    nor restart the minion running it. Refuses to start when ``dpkg --audit``
    reports unfinished work, and fails when it does afterwards. Returns ``{package: {'old',
    'new'}}``; with ``download_only`` only fetches and returns what was fetched.

    CLI Example:

    .. code-block:: bash

        salt '*' apt_jessie.dist_upgrade
        salt '*' apt_jessie.dist_upgrade download_only=True
    """
    hold = MINION_PACKAGES if hold is None else hold
    pending = audit()
    if pending:
        raise CommandExecutionError("dpkg reports unfinished work, not upgrading: " + " | ".join(pending))
    held_before = set(__salt__["pkg.get_selections"](state="hold").get("hold", []))
    to_hold = [p for p in _installed(hold) if p not in held_before]
    if download_only:
        planned = simulate(refresh=True, hold=hold)
    log.info("apt_jessie: apt-get update before the dist-upgrade")
    # Salt's own refresh (inside pkg.upgrade) carries on past a source that failed to update,
    # which would give a partial upgrade: refresh first, failing on any source's error.
    try:
        __salt__["pkg.refresh_db"](failhard=True)
    except CommandExecutionError as exc:
        raise CommandExecutionError("apt-get update failed, not upgrading: {}".format(exc.error))
    for package in to_hold:
        __salt__["pkg.hold"](package)
    log.info("apt_jessie: apt-get dist-upgrade%s (held: %s)", " --download-only" if download_only else "", ", ".join(to_hold) or "nothing")
    try:
        changes = __salt__["pkg.upgrade"](refresh=False, dist_upgrade=True, download_only=download_only)
    except CommandExecutionError as exc:
        info = getattr(exc, "info", None) or {}
        result = info.get("result") or {}
        detail = " | ".join(_apt_errors(result)) if result else str(exc)
        raise CommandExecutionError("apt-get dist-upgrade failed: {}".format(detail), info={"changes": info.get("changes", {})})
    finally:
        for package in to_hold:
            __salt__["pkg.unhold"](package)
    broken = audit()
    if broken:
        raise CommandExecutionError("dpkg reports unfinished work after the upgrade: " + " | ".join(broken), info={"changes": changes})
    log.info("apt_jessie: dist-upgrade done, %d packages %s", len(changes), "downloaded" if download_only else "changed")
    if download_only:
        return {name: dict(change, downloaded=True) for name, change in planned.items() if change["new"]}
    return changes
