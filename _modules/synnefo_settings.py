"""
Read and change single Django settings in Synnefo's settings files (``/etc/synnefo/*.conf``,
Python read in name order, the last assignment winning).

Upgrade guide, "Adjust configuration files":

- ``ALLOWED_HOSTS``: 0.19 defaults it to ``['*']``; each node may set its own. The formula
  writes the node's list to a file of its own read after the packaged ones, so that no
  packaged conffile is edited (a later package upgrade would prompt for it).
- ``BACKEND_ALLOCATOR_MODULE``: "unless you have explicitly set [it] ... it is advised to switch
  the setting value to the new default". Only an explicit assignment of the old default is
  switched, on its own line; a custom allocator is kept and reported.

The files are parsed with ``ast`` and never executed; a file Python cannot parse is an error
naming the file and line, and nothing is changed.
"""

from __future__ import absolute_import, print_function, unicode_literals

import ast
import glob
import io
import logging
import os
import re
import sys

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "synnefo_settings"

PILLAR_KEY = "synnefo_upgrade:allowed_hosts"
# A DNS label once IDNA-encoded (RFC 1123: letters, digits, inner hyphens, 1-63 of them).
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]{2,45}\]$")
OLD_ALLOCATOR = "synnefo.logic.allocators.default_allocator.DefaultAllocator"
NEW_ALLOCATOR = "synnefo.logic.allocators.filter_allocator.FilterAllocator"


def __virtual__():
    return __virtualname__


def _files(config_dir):
    return sorted(glob.glob(os.path.join(config_dir, "*.conf")))


def _tree(path, text):
    # Python 2 refuses a unicode source that carries a coding declaration: give it bytes.
    source = text.encode("utf-8") if sys.version_info[0] == 2 else text
    try:
        return ast.parse(source, path)
    except SyntaxError as exc:
        raise CommandExecutionError("{}:{}: not valid Python: {}".format(path, exc.lineno or 1, exc.msg))
    except (MemoryError, RuntimeError):  # Python 2's parser stack, Python 3's recursion limit
        raise CommandExecutionError("{}: nested too deeply to be read".format(path))


def assignments(setting, config_dir="/etc/synnefo", exclude=()):
    """
    Every top-level assignment of ``setting`` in ``config_dir``/*.conf, in the order Synnefo
    reads them: ``[{'path', 'line', 'value'}]`` (``value`` is None when it is not a literal).

    CLI Example:

    .. code-block:: bash

        salt cyclades1 synnefo_settings.assignments BACKEND_ALLOCATOR_MODULE
    """
    found = []
    for path in _files(config_dir):
        if path in exclude:
            continue
        text = _read(path)
        for node in _tree(path, text).body:
            if not isinstance(node, ast.Assign):
                continue
            if not any(isinstance(t, ast.Name) and t.id == setting for t in node.targets):
                continue
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, RuntimeError):  # not a literal, or nested too deeply
                value = None
            found.append({"path": path, "line": node.lineno, "value": value})
    return found


def _shown(value):
    """``repr`` without Python 2's ``u`` and ``b`` prefixes, for messages."""
    text = repr(value)
    return text[1:] if text[:2] in ("u'", 'u"', "b'", 'b"') else text


def _read(path):
    try:
        with io.open(path, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise CommandExecutionError(
            "{}: not UTF-8 text (byte {} at offset {}); nothing was changed".format(
                path, repr(exc.object[exc.start : exc.start + 1]), exc.start
            )
        )
    except (IOError, OSError) as exc:
        raise CommandExecutionError("{}: cannot read: {}".format(path, exc.strerror or exc))


def allowed_host(entry):
    """
    One entry of ``ALLOWED_HOSTS`` as Django matches it (``django.http.request.validate_host``):
    ``*``, a host name, ``.domain`` (the domain and its subdomains), an IPv4 address or a
    bracketed IPv6 one. A name in another script is returned IDNA-encoded (``xn--...``, what
    browsers send); anything else (spaces, control characters, a port, an empty label) is an
    error naming the entry.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_settings.allowed_host .example.org
    """
    if not isinstance(entry, (type(""), str)):
        raise CommandExecutionError("{} is not a host name (a string)".format(_shown(entry)))
    if entry == "*" or _IPV4.match(entry) or _IPV6.match(entry):
        return entry
    dot, name = ("." if entry.startswith(".") else ""), entry[1:] if entry.startswith(".") else entry
    try:
        ascii_name = name.encode("idna").decode("ascii") if name else ""
    except UnicodeError as exc:
        raise CommandExecutionError("{} is not a host name: {}".format(_shown(entry), exc))
    labels = ascii_name[:-1].split(".") if ascii_name.endswith(".") else ascii_name.split(".")
    if not ascii_name or len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise CommandExecutionError(
            "{} is not a host name (letters, digits and inner hyphens between dots; '*' or '.domain')".format(_shown(entry))
        )
    return dot + ascii_name


def allowed_hosts_text(hosts):
    """
    The settings file that sets ``ALLOWED_HOSTS`` to ``hosts`` (each checked and IDNA-encoded
    by :py:func:`allowed_host`); what it writes is parsed back before it is returned.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_settings.allowed_hosts_text '["accounts.example.org"]'
    """
    if not isinstance(hosts, (list, tuple)) or not hosts:
        raise CommandExecutionError(
            "ALLOWED_HOSTS (pillar {}) must be a non-empty list of host names, not {}".format(PILLAR_KEY, _shown(hosts))
        )
    checked = []
    for index, entry in enumerate(hosts, start=1):
        try:
            checked.append(allowed_host(entry))
        except CommandExecutionError as exc:
            raise CommandExecutionError("ALLOWED_HOSTS (pillar {}), entry {}: {}".format(PILLAR_KEY, index, exc))
    text = (
        "# Written by the synnefo_upgrade formula (pillar {}):\n"
        "# the hosts Django serves on this node (Synnefo 0.19 allows every host otherwise).\n"
        "ALLOWED_HOSTS = [{}]\n".format(PILLAR_KEY, ", ".join("'{}'".format(h) for h in checked))
    )
    (written,) = _tree("ALLOWED_HOSTS", text).body
    if ast.literal_eval(written.value) != checked:
        raise CommandExecutionError("ALLOWED_HOSTS: the text written would not read back as {!r}".format(checked))
    return text


def allocator_switched(config_dir="/etc/synnefo", old=OLD_ALLOCATOR, new=NEW_ALLOCATOR):
    """
    The settings files' new texts with every explicit ``BACKEND_ALLOCATOR_MODULE = old``
    switched to ``new`` (on the assignment's own line only), and the custom allocators left
    alone: ``{'texts': {path: text}, 'custom': [{'path', 'line', 'value'}]}``.

    CLI Example:

    .. code-block:: bash

        salt cyclades1 synnefo_settings.allocator_switched
    """
    texts, custom = {}, []
    for found in assignments("BACKEND_ALLOCATOR_MODULE", config_dir):
        if found["value"] == new:
            continue
        if found["value"] != old:
            custom.append(found)
            continue
        path = found["path"]
        if path not in texts:
            texts[path] = _read(path)
        lines = io.StringIO(texts[path], newline="").readlines()
        index = found["line"] - 1
        if old not in lines[index]:
            raise CommandExecutionError(
                "{}:{}: BACKEND_ALLOCATOR_MODULE is not written on one line; switch it to {} by hand".format(path, found["line"], new)
            )
        lines[index] = lines[index].replace(old, new, 1)
        texts[path] = "".join(lines)
    for path, text in texts.items():
        _tree(path, text)
    return {"texts": texts, "custom": custom}
