"""
Move Cyclades' cache settings from Synnefo 0.18.1's Django 1.4 URIs to 0.19's three
Django cache entries (upgrade guide: "Update cache settings").

0.18.1 read ``CACHE_BACKEND`` (VM passwords, public stats), ``VMAPI_CACHE_BACKEND`` (falling
back to ``CACHE_BACKEND``), ``VMAPI_CACHE_KEY_PREFIX`` and
``PUBLIC_STATS_CACHE_POPULATE_INTERVAL``, each a URI such as
``memcached://127.0.0.1:11211/?timeout=3600``. 0.19 reads ``PUBLIC_STATS_CACHE``,
``VM_PASSWORD_CACHE`` and ``VMAPI_CACHE``, each ``{BACKEND, LOCATION, KEY_PREFIX, TIMEOUT,
OPTIONS}``, and the old names are obsolete.

How the new entries are derived from the old settings:

- ``PUBLIC_STATS_CACHE``: the backend of ``CACHE_BACKEND``, KEY_PREFIX ``publicstats``, TIMEOUT
  ``PUBLIC_STATS_CACHE_POPULATE_INTERVAL`` if set (the stats were refreshed that often), else the
  URI's ``timeout``, else 300.
- ``VM_PASSWORD_CACHE``: the backend of ``CACHE_BACKEND``, KEY_PREFIX ``vmpassword``, TIMEOUT
  ``None`` (a password must stay until it is read).
- ``VMAPI_CACHE``: the backend of ``VMAPI_CACHE_BACKEND``, else ``CACHE_BACKEND``, KEY_PREFIX
  ``VMAPI_CACHE_KEY_PREFIX`` (default ``vmapi``), TIMEOUT the URI's ``timeout`` when it has one.

Without any old setting, 0.19's defaults (LocMemCache) are the result. The settings files are
parsed with ``ast``, never executed. Obsolete settings are commented out where they are set,
after a marker line, and those commented-out lines are read back on later runs, so the
result does not change once the old settings are gone.
"""

from __future__ import absolute_import, print_function, unicode_literals

import ast
import collections
import glob
import io
import logging
import os
import re
import sys
import tokenize

from salt.exceptions import CommandExecutionError

try:
    from urllib.parse import parse_qsl as _parse_qsl  # novm
except ImportError:  # Python 2
    from urlparse import parse_qsl as _parse_qsl  # novm

log = logging.getLogger(__name__)

__virtualname__ = "cyclades_caches"

OBSOLETE = ("CACHE_BACKEND", "VMAPI_CACHE_BACKEND", "VMAPI_CACHE_KEY_PREFIX", "PUBLIC_STATS_CACHE_POPULATE_INTERVAL")
CACHES = ("PUBLIC_STATS_CACHE", "VM_PASSWORD_CACHE", "VMAPI_CACHE")
MARKER = "# synnefo_upgrade: obsolete since Synnefo 0.19, replaced by"
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
DEFAULTS = {
    "PUBLIC_STATS_CACHE": {"BACKEND": LOCMEM, "LOCATION": "", "KEY_PREFIX": "publicstats", "TIMEOUT": 300},
    "VM_PASSWORD_CACHE": {"BACKEND": LOCMEM, "LOCATION": "", "KEY_PREFIX": "vmpassword", "TIMEOUT": None},
    "VMAPI_CACHE": {"BACKEND": LOCMEM, "LOCATION": "", "KEY_PREFIX": "vmapi"},
}
SCHEMES = {
    "memcached": "django.core.cache.backends.memcached.MemcachedCache",
    "locmem": LOCMEM,
    "dummy": "django.core.cache.backends.dummy.DummyCache",
    "file": "django.core.cache.backends.filebased.FileBasedCache",
    "db": "django.core.cache.backends.db.DatabaseCache",
}
ENTRY_ORDER = ("BACKEND", "LOCATION", "KEY_PREFIX", "TIMEOUT", "VERSION", "KEY_FUNCTION", "OPTIONS")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+\Z")
_TEXT = type("")  # unicode on Python 2 (unicode_literals), str on Python 3
_ASSIGNMENTS = tuple(getattr(ast, kind) for kind in ("Assign", "AugAssign", "AnnAssign") if hasattr(ast, kind))


def __virtual__():
    return __virtualname__


class SettingsError(CommandExecutionError):
    """A settings file or value this module will not guess about; the message says where."""


def _files(config_dir, name):
    own = os.path.abspath(name) if name else None
    return [p for p in sorted(glob.glob(os.path.join(config_dir, "*.conf"))) if os.path.abspath(p) != own]


def _normal(value):
    """A literal's value with Python 2's byte strings as text, as Python 3 reads them."""
    if isinstance(value, bytes) and bytes is str:
        return value.decode("utf-8")
    if isinstance(value, list):
        return [_normal(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_normal(item) for item in value)
    if isinstance(value, dict):
        return dict((_normal(k), _normal(v)) for k, v in value.items())
    return value


def _repr(value):
    """``repr`` as Python 3 writes it, on Python 2 too (no ``u''``, no ``L``): for messages and
    for the settings file the formula writes."""
    if isinstance(value, _TEXT):
        if bytes is str:
            try:
                return repr(value.encode("ascii"))
            except UnicodeEncodeError:
                return repr(value)
        return repr(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int) or type(value).__name__ == "long":
        return "{:d}".format(value)
    if isinstance(value, dict):
        return "{" + ", ".join("{}: {}".format(_repr(k), _repr(v)) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_repr(item) for item in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_repr(item) for item in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _parse(path, text):
    # Python 2 refuses a coding declaration in a unicode source: give it the bytes.
    source = text.encode("utf-8") if sys.version_info[0] == 2 else text
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise SettingsError("{}:{}: not valid Python: {}".format(path, exc.lineno, exc.msg))
    except (MemoryError, RuntimeError):  # Python 2's parser stack, Python 3's recursion limit
        raise SettingsError("{}: nested too deeply to be read".format(path))


def _source_lines(text):
    """``text`` cut into lines as Python's tokenizer counts them, each with its ending: at
    ``\n``, ``\r\n`` and ``\r`` only (``str.splitlines`` also cuts at form feed, vertical
    tab, 0x1C-0x1E, NEL, U+2028 and U+2029, which would shift every line number after one)."""
    return io.StringIO(text, newline="").readlines()


def _statement_ends(text):
    """The line where each logical line of ``text`` ends (its NEWLINE token), in order."""
    lines = iter(_source_lines(text))
    return [token[3][0] for token in tokenize.generate_tokens(lambda: next(lines, "")) if token[0] == tokenize.NEWLINE]


def _last_line(ends, statement):
    """The last line of a simple statement (Python 2's ast has no end positions)."""
    return next((row for row in ends if row >= statement.lineno), statement.lineno)


def _assignments(path, text):
    """
    The obsolete settings in one file: ``[(setting, value, first line, last line, active)]``
    in file order, active ones from the code and inactive ones from this module's own
    commented-out blocks.
    """
    tree = _parse(path, text)
    ends = _statement_ends(text)
    lines = [line.rstrip("\r\n") for line in _source_lines(text)]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, _ASSIGNMENTS):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name) and t.id in OBSOLETE]
            if not names:
                continue
            if node not in tree.body or not isinstance(node, ast.Assign) or len(targets) != 1:
                raise SettingsError(
                    "{}:{}: {} is set in a way this module cannot read; set it plainly (NAME = value)".format(path, node.lineno, names[0])
                )
            last = _last_line(ends, node)
            siblings = [s for s in tree.body if s is not node and s.lineno <= last and _last_line(ends, s) >= node.lineno]
            if siblings:
                raise SettingsError("{}:{}: {} shares its line with another statement".format(path, node.lineno, names[0]))
            found.append((names[0], _literal(path, node, names[0], lines[node.lineno - 1 : last]), node.lineno, last, True))
    for index, line in enumerate(lines):
        if not line.startswith(MARKER):
            continue
        block = []
        for offset, following in enumerate(lines[index + 1 :], start=index + 2):
            if not following.startswith("# "):
                break
            block.append(following[2:])
            try:
                statement = _parse(path, "\n".join(block)).body
            except SettingsError:
                continue
            if len(statement) == 1 and isinstance(statement[0], ast.Assign):
                target = statement[0].targets[0]
                if isinstance(target, ast.Name) and target.id in OBSOLETE:
                    value = _literal(path, statement[0], target.id, block, offset=index + 1)
                    found.append((target.id, value, index + 2, offset, False))
            break
    found.sort(key=lambda item: item[2])
    return found


def _literal(path, node, setting, lines, offset=0):
    """The value assigned by ``node`` (whose source is ``lines``), or an error naming the line."""
    try:
        return _normal(ast.literal_eval(node.value))
    except RuntimeError:  # nested deeper than the recursion limit
        raise SettingsError("{}:{}: {} is nested too deeply to be read".format(path, node.lineno + offset, setting))
    except (ValueError, TypeError, SyntaxError):
        source = " ".join(line.strip() for line in lines).split("=", 1)[-1].strip()
        raise SettingsError("{}:{}: {} is not a literal value ({})".format(path, node.lineno + offset, setting, source))


def legacy_settings(config_dir="/etc/synnefo", name="/etc/synnefo/99-cyclades-caches.conf"):
    """
    Return the obsolete 0.18.1 cache settings in effect, as Synnefo would load them (files in
    name order, the last assignment wins), including those this module commented out.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' cyclades_caches.legacy_settings
    """
    return dict((setting, value) for setting, (value, _) in _legacy(config_dir, name).items())


def _legacy(config_dir, name):
    """``{setting: (value, 'path:line')}`` of :py:func:`legacy_settings`."""
    settings = {}
    for path in _files(config_dir, name):
        for setting, value, first, _, _ in _assignments(path, __salt__["synnefo_files.read"](path)):
            settings[setting] = (value, "{}:{}".format(path, first))
    return settings


def _from(place, function, *args):
    """``function(*args)``, its error prefixed with where the value was set."""
    try:
        return function(*args)
    except SettingsError as exc:
        raise SettingsError("{}: {}".format(place, exc))


def from_uri(uri, setting="CACHE_BACKEND"):
    """
    Translate one Django 1.4 cache URI into a Django 1.7 cache entry (without KEY_PREFIX).

    CLI Example:

    .. code-block:: bash

        salt '*' cyclades_caches.from_uri 'memcached://127.0.0.1:11211/?timeout=3600'
    """
    if not isinstance(uri, _TEXT) or "://" not in uri:
        raise SettingsError("{} = {} is not a cache URI (scheme://location/?params)".format(setting, _repr(uri)))
    scheme, rest = uri.split("://", 1)
    location, _, query = rest.partition("?")
    if scheme in SCHEMES:
        backend = SCHEMES[scheme]
    elif _DOTTED.match(scheme):
        backend = scheme
    else:
        raise SettingsError("{} = {}: unknown cache scheme {}".format(setting, _repr(uri), _repr(scheme)))
    if scheme in ("memcached", "db", "locmem", "dummy"):
        location = location.rstrip("/")
    entry = {"BACKEND": backend, "LOCATION": location}
    options = collections.OrderedDict()  # the URI's order, on Python 2 too
    for key, value in _parse_qsl(query, keep_blank_values=True):
        if key == "timeout":
            entry["TIMEOUT"] = _int(setting, uri, key, value)
        elif key in ("max_entries", "cull_frequency"):
            options[key.upper()] = _int(setting, uri, key, value)
        else:
            raise SettingsError(
                "{} = {}: parameter {} has no 0.19 equivalent; set the cache in pillar".format(setting, _repr(uri), _repr(key))
            )
    if options:
        entry["OPTIONS"] = options
    return entry


def _int(setting, uri, key, value):
    try:
        return int(value)
    except ValueError:
        raise SettingsError("{} = {}: {} is not an integer".format(setting, _repr(uri), key))


def validate_entry(cache, entry):
    """
    Return the problems of one cache entry (an empty list when it is valid).

    CLI Example:

    .. code-block:: bash

        salt '*' cyclades_caches.validate_entry VMAPI_CACHE '{"BACKEND": "x"}'
    """
    problems = []
    if not isinstance(entry, dict):
        return ["{} must be a dict, not {}".format(cache, _repr(entry))]
    for key in entry:
        if key not in ENTRY_ORDER:
            problems.append("{}: unknown key {}".format(cache, _repr(key)))
    backend = entry.get("BACKEND")
    if not isinstance(backend, _TEXT) or not _DOTTED.match(backend):
        problems.append("{}: BACKEND must be a dotted path, not {}".format(cache, _repr(backend)))
    timeout = entry.get("TIMEOUT", 0)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0):
        problems.append("{}: TIMEOUT must be a non-negative integer or None, not {}".format(cache, _repr(timeout)))
    if not isinstance(entry.get("KEY_PREFIX", ""), _TEXT):
        problems.append("{}: KEY_PREFIX must be a string, not {}".format(cache, _repr(entry["KEY_PREFIX"])))
    location = entry.get("LOCATION", "")
    if not (isinstance(location, _TEXT) or (isinstance(location, list) and all(isinstance(item, _TEXT) for item in location))):
        problems.append("{}: LOCATION must be a string or a list of strings, not {}".format(cache, _repr(location)))
    if not isinstance(entry.get("OPTIONS", {}), dict):
        problems.append("{}: OPTIONS must be a dict, not {}".format(cache, _repr(entry["OPTIONS"])))
    return problems


def derive(config_dir="/etc/synnefo", name="/etc/synnefo/99-cyclades-caches.conf", caches=None):
    """
    Return the three 0.19 cache settings for this host: derived from the legacy settings
    (or 0.19's defaults), then ``caches`` (pillar overrides) applied key by key.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' cyclades_caches.derive
    """
    places = _legacy(config_dir, name)
    legacy = dict((setting, value) for setting, (value, _) in places.items())
    result = {cache: dict(entry) for cache, entry in DEFAULTS.items()}
    if "CACHE_BACKEND" in legacy:
        shared = _from(places["CACHE_BACKEND"][1], from_uri, legacy["CACHE_BACKEND"], "CACHE_BACKEND")
        for cache in ("PUBLIC_STATS_CACHE", "VM_PASSWORD_CACHE"):
            result[cache].update({k: v for k, v in shared.items() if k != "TIMEOUT"})
        if "TIMEOUT" in shared:
            result["PUBLIC_STATS_CACHE"]["TIMEOUT"] = shared["TIMEOUT"]
    if "PUBLIC_STATS_CACHE_POPULATE_INTERVAL" in legacy:
        interval = legacy["PUBLIC_STATS_CACHE_POPULATE_INTERVAL"]
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
            raise SettingsError(
                "{}: PUBLIC_STATS_CACHE_POPULATE_INTERVAL = {} is not a number of seconds".format(
                    places["PUBLIC_STATS_CACHE_POPULATE_INTERVAL"][1], _repr(interval)
                )
            )
        result["PUBLIC_STATS_CACHE"]["TIMEOUT"] = interval
    vmapi_uri = legacy.get("VMAPI_CACHE_BACKEND", legacy.get("CACHE_BACKEND"))
    if vmapi_uri is not None:
        setting = "VMAPI_CACHE_BACKEND" if "VMAPI_CACHE_BACKEND" in legacy else "CACHE_BACKEND"
        result["VMAPI_CACHE"].update(_from(places[setting][1], from_uri, vmapi_uri, setting))
    if "VMAPI_CACHE_KEY_PREFIX" in legacy:
        result["VMAPI_CACHE"]["KEY_PREFIX"] = legacy["VMAPI_CACHE_KEY_PREFIX"]
    for cache, override in (caches or {}).items():
        if cache not in CACHES:
            raise SettingsError("caches: unknown cache {} (expected one of {})".format(_repr(cache), ", ".join(CACHES)))
        if not isinstance(override, dict):
            raise SettingsError("caches: {} must be a dict of keys to override".format(cache))
        result[cache].update(override)
    problems = [p for cache in CACHES for p in validate_entry(cache, result[cache])]
    if problems:
        raise SettingsError("invalid cache settings: " + "; ".join(problems))
    return result


def render(caches):
    """
    Return the text of the settings file that sets the three caches.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' cyclades_caches.render "$(salt-call --out=json cyclades_caches.derive)"
    """
    out = [
        "# Managed by the synnefo_upgrade Salt formula (cyclades_caches.managed).",
        "# Synnefo 0.19 cache settings, derived from the 0.18.1 cache URIs (now commented out).",
        "# Loaded after the packaged settings files, so these win.",
    ]
    for cache in CACHES:
        entry = caches[cache]
        out.append("{} = {{".format(cache))
        for key in sorted(entry, key=ENTRY_ORDER.index):
            out.append("    {}: {},".format(_repr(key), _repr(entry[key])))
        out.append("}")
    return "\n".join(out) + "\n"


def commented_out(path, text=None):
    """
    Return the text of settings file ``path`` with every active obsolete cache setting
    commented out behind a marker line; every other line is kept.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' cyclades_caches.commented_out /etc/synnefo/20-snf-cyclades-app-api.conf
    """
    if text is None:
        text = __salt__["synnefo_files.read"](path)
    lines = _source_lines(text)
    for _setting, _, first, last, active in reversed(_assignments(path, text)):
        if not active:
            continue
        block = ["# {}".format(line) for line in lines[first - 1 : last]]
        if not block[-1].endswith(("\n", "\r")):
            block[-1] += "\n"
        note = "{} {} (see the formula's cache file)\n".format(MARKER, ", ".join(CACHES))
        lines[first - 1 : last] = [note] + block
    new = "".join(lines)
    if new != text:
        _check_commented_out(path, text, new)
    return new


def _check_commented_out(path, old, new):
    """Refuse an edit that would not parse, would leave an obsolete setting active, or would
    change anything but the obsolete settings' lines (each kept behind ``# ``, after a marker
    line)."""
    tree = _parse(path, old)
    try:
        edited = _parse(path, new)
    except SettingsError as exc:
        raise SettingsError("{}: commenting out the obsolete settings would not parse ({}); nothing was written".format(path, exc))
    removed = set(id(node) for node in tree.body if isinstance(node, ast.Assign) and _obsolete_target(node))
    kept = [ast.dump(node) for node in tree.body if id(node) not in removed]
    left = [name for name, _, _, _, active in _assignments(path, new) if active]
    if left or [ast.dump(node) for node in edited.body] != kept:
        raise SettingsError(
            "{}: commenting out the obsolete settings would change more than them{}; nothing was written".format(
                path, " ({} still set)".format(", ".join(left)) if left else ""
            )
        )
    old_lines, new_lines = _source_lines(old), _source_lines(new)
    index = 0
    for line in new_lines:
        if index < len(old_lines) and line in (old_lines[index], "# " + old_lines[index], "# " + old_lines[index] + "\n"):
            index += 1
        elif not line.startswith(MARKER):
            raise SettingsError(
                "{}: commenting out the obsolete settings would change the line {!r}; nothing was written".format(path, line)
            )
    if index != len(old_lines):
        raise SettingsError("{}: commenting out the obsolete settings would lose lines; nothing was written".format(path))


def _obsolete_target(node):
    return any(isinstance(t, ast.Name) and t.id in OBSOLETE for t in node.targets)


def wanted_texts(name="/etc/synnefo/99-cyclades-caches.conf", config_dir="/etc/synnefo", caches=None):
    """
    Return ``{path: text}`` for every file that ``cyclades_caches.managed`` would write: the
    caches file and each settings file whose obsolete settings get commented out.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' cyclades_caches.wanted_texts
    """
    texts = {name: render(derive(config_dir, name, caches))}
    for path in _files(config_dir, name):
        current = __salt__["synnefo_files.read"](path)
        new = commented_out(path, current)
        if new != current:
            texts[path] = new
    log.info("cyclades_caches: caches derived for %s; %d settings files with obsolete settings", name, len(texts) - 1)
    return texts


def sibling_owner(config_dir="/etc/synnefo"):
    """
    Return ``{'user', 'group', 'mode'}`` of the settings files in ``config_dir``, for a new
    file that should look like them (Synnefo's are root:synnefo 0640).

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:cyclades' cyclades_caches.sibling_owner
    """
    siblings = sorted(glob.glob(os.path.join(config_dir, "*.conf")))
    path = siblings[0] if siblings else config_dir
    try:
        info = os.stat(path)
    except OSError as exc:
        raise CommandExecutionError("{}: {}".format(path, exc.strerror))
    mode = "{:o}".format(info.st_mode & 0o7777) if siblings else "640"
    return {"user": info.st_uid, "group": info.st_gid, "mode": mode}
