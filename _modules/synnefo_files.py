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

import difflib
import os
import shutil
import stat
import tempfile
import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "synnefo_files"

DEFAULT_BACKUP_DIR = "/var/backups/synnefo_upgrade"
DEFAULT_STATE_DIR = "/var/lib/synnefo_upgrade"


def __virtual__():
    return __virtualname__


def _backup_dir(backup_dir=None):
    if backup_dir:
        return backup_dir
    return __salt__["config.get"]("synnefo_upgrade:backup_dir", DEFAULT_BACKUP_DIR)


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
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandExecutionError(f"{path}: cannot read: {exc}") from exc


def diff(path, new_text, old_text=None):
    """
    Return the unified diff that turns the current ``path`` (or ``old_text``) into
    ``new_text``; an empty string when they are equal. A missing file diffs as empty.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.diff /etc/apt/sources.list "deb http://deb.debian.org/debian jessie main"
    """
    if old_text is None:
        old_text = read(path) or ""
    return "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=path,
            tofile=path,
        )
    )


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
    suffix = 0
    candidate = target
    while os.path.exists(candidate):
        suffix += 1
        candidate = f"{target}.{suffix}"
    os.makedirs(os.path.dirname(candidate), mode=0o700, exist_ok=True)
    try:
        shutil.copy2(path, candidate)
        info = os.stat(path)
        os.chown(candidate, info.st_uid, info.st_gid)
    except OSError as exc:
        raise CommandExecutionError(f"{path}: cannot back up to {candidate}: {exc}") from exc
    return candidate


def replace(path, new_text, user=None, group=None, mode=None, backup_dir=None):
    """
    Write ``new_text`` to ``path`` atomically. An existing file keeps its owner and mode and
    is backed up first; a new file takes ``user``, ``group`` and ``mode`` when given (names or
    ids; mode as an octal string or int). Return ``{'path', 'backup'}``.

    CLI Example:

    .. code-block:: bash

        salt '*' synnefo_files.replace /etc/synnefo/99-cyclades-caches.conf "X = 1" user=root group=synnefo mode=0640
    """
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    saved = None
    if os.path.exists(path):
        info = os.stat(path)
        uid, gid, perms = info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)
        saved = backup(path, backup_dir)
    else:
        uid = _resolve_user(user) if user is not None else os.geteuid()
        gid = _resolve_group(group) if group is not None else os.getegid()
        perms = int(str(mode), 8) if mode is not None else 0o644
    handle, temporary = tempfile.mkstemp(prefix=".synnefo_upgrade.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(new_text)
            out.flush()
            os.fsync(out.fileno())
        os.chown(temporary, uid, gid)
        os.chmod(temporary, perms)
        os.replace(temporary, path)
    except OSError as exc:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise CommandExecutionError(f"{path}: cannot write: {exc}") from exc
    return {"path": path, "backup": saved}


def _resolve_user(user):
    if isinstance(user, int) or str(user).isdigit():
        return int(user)
    import pwd  # pylint: disable=import-outside-toplevel

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError as exc:
        raise CommandExecutionError(f"no such user: {user}") from exc


def _resolve_group(group):
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    import grp  # pylint: disable=import-outside-toplevel

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise CommandExecutionError(f"no such group: {group}") from exc


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
