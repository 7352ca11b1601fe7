"""
Safe rewriting of configuration files for the Synnefo upgrade formula.

Every file the formula edits goes through :py:func:`replace`: the original is copied (with its
owner, mode and times) under a backup directory that mirrors the file's absolute path, and the
new text is written to a temporary file beside the original, given the original's owner and
mode, and renamed over it, so a reader never sees half a file.

Backups live outside the edited directories on purpose: Debian's gunicorn loads every file in
``/etc/gunicorn.d`` and Synnefo every ``*.conf`` in ``/etc/synnefo``, so a copy left beside
the original could be loaded as configuration.

The backup directory is ``/var/backups/synnefo_upgrade`` and the formula's records live in
``/var/lib/synnefo_upgrade``, unless ``synnefo_upgrade:backup_dir`` or
``synnefo_upgrade:state_dir`` say otherwise (in the minion's configuration or in pillar, as
``pillar.example`` shows).
"""

from __future__ import absolute_import, print_function, unicode_literals

import difflib
import errno
import io
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "synnefo_files"

DEFAULT_BACKUP_DIR = "/var/backups/synnefo_upgrade"
DEFAULT_STATE_DIR = "/var/lib/synnefo_upgrade"
MASK = "****"
# A line that sets a secret: NAME = value / NAME: value / 'NAME': value, where the name says
# secret, password, token, credential or ends in KEY (SECRET_KEY, API_KEY, not KEY_PREFIX).
_SECRET_SETTING = re.compile(
    r"""^(?P<lead>[ +-]?\s*#?\s*(?P<quote>['"]?)(?P<name>[A-Za-z_][\w.-]*)(?P=quote)\s*[=:]\s*)(?P<value>\S.*?)(?P<tail>,?\s*)$"""
)
_SECRET_NAME = re.compile(r"secret|passw|pwd|token|credential|(^|_)key$", re.I)
# user:password@host, in a URI or at the start of a quoted value (a cache's LOCATION).
_URI_PASSWORD = re.compile(r"((?:\w+://|['\"])[^:/@\s'\"]*:)[^@\s'\"]+@")


def __virtual__():
    if os.name != "posix":
        return (False, "synnefo_files needs a POSIX host (owners, modes, atomic rename)")
    return __virtualname__


def _backup_dir(backup_dir=None):
    if backup_dir:
        return backup_dir
    return __salt__["config.get"]("synnefo_upgrade:backup_dir", DEFAULT_BACKUP_DIR)


def _makedirs(path, mode=0o755):
    """``os.makedirs`` that accepts an existing directory (Python 2 has no ``exist_ok``)."""
    try:
        os.makedirs(path, mode)
    except OSError as exc:
        if exc.errno != errno.EEXIST or not os.path.isdir(path):
            raise CommandExecutionError("{}: cannot create the directory: {}".format(path, exc.strerror))


def write_record(path, data):
    """
    Write one of the formula's records (JSON, mode 0600, in a 0700 directory) atomically,
    without a backup: a record must survive a crash of the minion in the middle of a run.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.write_record /var/lib/synnefo_upgrade/db/cyclades.json '{"outcome": "migrated"}'
    """
    _makedirs(os.path.dirname(path), 0o700)
    return replace(path, json.dumps(data, indent=1, sort_keys=True), mode="600", keep_backup=False)


def read_record(path, check="the result"):
    """
    Return one of the formula's records, or ``None`` when there is none. A record that is
    not JSON is an error that says what to ``check`` by hand before removing it.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.read_record /var/lib/synnefo_upgrade/db/cyclades.json
    """
    text = read(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise CommandExecutionError("{}: the record is not valid JSON; check {} by hand, then remove it".format(path, check))


def progress():
    """
    Return where the orchestration's service phase left this host (``{'phase', 'stage',
    'since', 'error'}``, from ``<state_dir>/progress.json``), or ``None``.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_files.progress
    """
    return read_record(os.path.join(state_dir(), "progress.json"), "the host's upgrade")


def set_progress(phase, stage, error=None):
    """
    Record this host's stage in the orchestration (kept on the host: a crash of the
    orchestration cannot lose it). Return the record.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_files.set_progress services upgrading
    """
    entry = {"phase": phase, "stage": stage, "since": int(time.time()), "error": error}
    write_record(os.path.join(state_dir(), "progress.json"), entry)
    return entry


def state_dir():
    """
    Return the directory where the formula keeps its records on this host
    (``synnefo_upgrade:state_dir``, default ``/var/lib/synnefo_upgrade``).

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.state_dir
    """
    return __salt__["config.get"]("synnefo_upgrade:state_dir", DEFAULT_STATE_DIR)


def read(path):
    """
    Return the text of ``path`` (UTF-8), or ``None`` when it does not exist.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.read /etc/gunicorn.d/synnefo
    """
    try:
        with io.open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise CommandExecutionError("{}: cannot read: {}".format(path, exc.strerror or exc))
    except UnicodeDecodeError as exc:
        raise CommandExecutionError("{}: cannot read: {}".format(path, exc))


def mask_secrets(text):
    """
    Return ``text`` (a file, a diff) with the value of every line that sets a secret
    (``SECRET_KEY = ...``, ``'PASSWORD': ...``, ``*_TOKEN``, ...) and every URI's password
    replaced by ``****``: what state returns, events, the job cache, the plan and the report
    may show.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.mask_secrets "SECRET_KEY = 'x'"
    """
    out = []
    for line in text.splitlines(True):
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        found = _SECRET_SETTING.match(body)
        if found and _SECRET_NAME.search(found.group("name")):
            body = found.group("lead") + MASK + found.group("tail")
        out.append(_URI_PASSWORD.sub(r"\1" + MASK + "@", body) + ending)
    return "".join(out)


def diff(path, new_text, old_text=None):
    """
    Return the unified diff that turns the current ``path`` (or ``old_text``) into
    ``new_text``; an empty string when they are equal. A missing file diffs as empty.
    Secrets are masked in it (:py:func:`mask_secrets`): the diff is published.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.diff /etc/apt/sources.list "deb http://deb.debian.org/debian jessie main"
    """
    if old_text is None:
        old_text = read(path) or ""
    return mask_secrets(
        "".join(
            difflib.unified_diff(
                old_text.splitlines(True),
                new_text.splitlines(True),
                fromfile=path,
                tofile=path,
            )
        )
    )


def _claim(target):
    """Create ``target`` exclusively (or ``target.N``, the first free one) and return its path:
    two backups of one file in the same second never share a name."""
    suffix = 0
    candidate = target
    while True:
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return candidate
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise CommandExecutionError("{}: cannot create the backup: {}".format(candidate, exc.strerror))
        suffix += 1
        candidate = "{}.{}".format(target, suffix)


def backup(path, backup_dir=None):
    """
    Copy ``path`` under the backup directory, keeping owner, mode and times; return the
    copy's path. The copy is named after the file's absolute path and the time, so no
    backup overwrites another.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.backup /etc/apt/sources.list
    """
    root = _backup_dir(backup_dir)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = os.path.join(root, os.path.abspath(path).lstrip("/")) + "." + stamp
    _makedirs(os.path.dirname(target), mode=0o700)
    candidate = _claim(target)
    try:
        shutil.copy2(path, candidate)
        info = os.stat(path)
        os.chown(candidate, info.st_uid, info.st_gid)
    except (IOError, OSError) as exc:
        raise CommandExecutionError("{}: cannot back up to {}: {}".format(path, candidate, exc.strerror or exc))
    log.info("synnefo_files: backed up %s to %s", path, candidate)
    return candidate


def _copy_attributes(source, target):
    """Give ``target`` the extended attributes of ``source`` (its POSIX ACLs among them:
    ``system.posix_acl_access``), where the platform has them: Python 3's ``os.*xattr``,
    else GNU cp. A filesystem without them is no error (there is nothing to keep)."""
    if hasattr(os, "listxattr"):
        try:
            names = os.listxattr(source)  # novm: Python 3 only, checked above
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                return
            raise
        for name in names:
            if name == "security.selinux":
                continue  # the new file's label is the policy's
            os.setxattr(target, name, os.getxattr(source, name))  # novm: Python 3 only, checked above
        return
    if "cmd.run_all" in __salt__:
        result = __salt__["cmd.run_all"](
            ["cp", "--attributes-only", "--preserve=mode,xattr", source, target], python_shell=False, ignore_retcode=True
        )
        if result["retcode"] != 0:
            log.warning("synnefo_files: %s: extended attributes not kept: %s", source, result["stderr"].strip())


def _fsync_dir(directory):
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def move(source, target):
    """
    Move ``source`` to ``target`` whole or not at all, also across filesystems (a ``/var`` of
    its own): a rename, else a copy beside the target (owner, mode, times; a link stays a
    link), synced, renamed into place, then the source removed, each directory synced.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.move /usr/sbin/policy-rc.d /var/lib/synnefo_upgrade/saved/usr/sbin/policy-rc.d
    """
    try:
        try:
            os.rename(source, target)
            return target
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        directory = os.path.dirname(target) or "."
        handle, temporary = tempfile.mkstemp(prefix=".synnefo_upgrade.", dir=directory)
        os.close(handle)
        try:
            if os.path.islink(source):
                os.unlink(temporary)
                os.symlink(os.readlink(source), temporary)
            else:
                shutil.copy2(source, temporary)
                info = os.stat(source)
                os.chown(temporary, info.st_uid, info.st_gid)
                with open(temporary, "rb") as copy:
                    os.fsync(copy.fileno())
            os.rename(temporary, target)
        finally:
            if os.path.lexists(temporary):
                os.unlink(temporary)
        _fsync_dir(directory)
        os.unlink(source)
        _fsync_dir(os.path.dirname(source) or ".")
    except (IOError, OSError) as exc:
        raise CommandExecutionError("{}: cannot move it to {}: {}".format(source, target, exc.strerror or exc))
    return target


def replace(path, new_text, user=None, group=None, mode=None, backup_dir=None, keep_backup=True):
    """
    Write ``new_text`` to ``path`` atomically. An existing file keeps its owner, mode,
    extended attributes and ACLs and is backed up first (unless ``keep_backup=False``, for the
    formula's own records); a symbolic link stays a link and its target is what is edited; a
    new file takes ``user``, ``group`` and ``mode`` when given (names or ids; mode as an octal
    string or int). The directory is synced after the rename. Return ``{'path', 'backup'}``.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.replace /etc/synnefo/99-cyclades-caches.conf "X = 1" user=root group=synnefo mode=0640
    """
    if isinstance(new_text, bytes):  # Python 2's json.dumps gives bytes for ASCII
        new_text = new_text.decode("utf-8")
    if os.path.islink(path):
        target = os.path.realpath(path)
        if not os.path.exists(target):
            raise CommandExecutionError("{}: a symbolic link to {}, which does not exist: not writing through it".format(path, target))
        log.info("synnefo_files: %s is a link: editing its target %s", path, target)
        path = target
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    saved = None
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise CommandExecutionError("{}: cannot write: {}".format(path, exc.strerror))
        info = None
    if info is not None:
        uid, gid, perms = info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)
        if keep_backup:
            saved = backup(path, backup_dir)
    else:
        uid = _resolve_user(user) if user is not None else os.geteuid()
        gid = _resolve_group(group) if group is not None else os.getegid()
        perms = int(str(mode), 8) if mode is not None else 0o644
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=".synnefo_upgrade.", dir=directory)
        with io.open(handle, "w", encoding="utf-8", newline="") as out:
            out.write(new_text)
            out.flush()
            os.fsync(out.fileno())
        if info is not None:
            _copy_attributes(path, temporary)
        os.chown(temporary, uid, gid)
        os.chmod(temporary, perms)
        os.rename(temporary, path)  # atomic on POSIX, over an existing file too
        temporary = None
        _fsync_dir(directory)
    except (IOError, OSError) as exc:
        raise CommandExecutionError("{}: cannot write: {}".format(path, exc.strerror or exc))
    except (UnicodeError, ValueError) as exc:
        raise CommandExecutionError("{}: cannot write the new text: {}".format(path, exc))
    finally:
        # Whatever went wrong (an encoding error too), no half-written temporary stays.
        if temporary and os.path.lexists(temporary):
            os.unlink(temporary)
    log.info("synnefo_files: wrote %s%s", path, " (backup {})".format(saved) if saved else "")
    return {"path": path, "backup": saved}


def _resolve_user(user):
    if isinstance(user, int) or str(user).isdigit():
        return int(user)
    import pwd  # pylint: disable=import-outside-toplevel

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise CommandExecutionError("no such user: {}".format(user))


def _resolve_group(group):
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    import grp  # pylint: disable=import-outside-toplevel

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise CommandExecutionError("no such group: {}".format(group))


def apply(texts, test=False, backup_dir=None, new_file_owner=None):
    """
    Bring several files to the texts wanted for them, as one step of a state.

    ``texts`` maps each path to its wanted text. Files already equal are left alone (not
    rewritten, their mtime does not move). Return ``{path: {'diff': ..., 'backup': ...}}``
    for the files that differ; with ``test=True`` nothing is written and no backup is made.
    ``new_file_owner`` (``{'user', 'group', 'mode'}``) is used for files that do not exist.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.apply '{"/tmp/a.conf": "A = 1\n"}' test=True
    """
    changes = {}
    for path, text in texts.items():
        current = read(path)
        if current == text:
            continue
        entry = {"diff": diff(path, text, old_text=current or "")}
        if current is None:
            entry["new"] = True
        if not test:
            owner = new_file_owner or {}
            entry["backup"] = replace(path, text, backup_dir=backup_dir, **owner)["backup"]
        changes[path] = entry
    return changes
