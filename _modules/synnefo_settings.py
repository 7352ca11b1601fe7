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
import sys

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "synnefo_settings"

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


def assignments(setting, config_dir="/etc/synnefo"):
    """
    Every top-level assignment of ``setting`` in ``config_dir``/*.conf, in the order Synnefo
    reads them: ``[{'path', 'line', 'value'}]`` (``value`` is None when it is not a literal).

    CLI Example:

    .. code-block:: bash

        salt cyclades1 synnefo_settings.assignments BACKEND_ALLOCATOR_MODULE
    """
    found = []
    for path in _files(config_dir):
        with io.open(path, encoding="utf-8") as handle:
            text = handle.read()
        for node in _tree(path, text).body:
            if not isinstance(node, ast.Assign):
                continue
            if not any(isinstance(t, ast.Name) and t.id == setting for t in node.targets):
                continue
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                value = None
            found.append({"path": path, "line": node.lineno, "value": value})
    return found


def allowed_hosts_text(hosts):
    """
    The settings file that sets ``ALLOWED_HOSTS`` to ``hosts``.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_settings.allowed_hosts_text '["accounts.example.org"]'
    """
    if not hosts or not all(isinstance(h, type("")) or isinstance(h, str) for h in hosts):
        raise CommandExecutionError("ALLOWED_HOSTS must be a non-empty list of host names, not {!r}".format(hosts))
    listed = ", ".join("'{}'".format(h.replace("\\", "\\\\").replace("'", "\\'")) for h in hosts)
    return (
        "# Written by the synnefo_upgrade formula (pillar synnefo_upgrade:allowed_hosts):\n"
        "# the hosts Django serves on this node (Synnefo 0.19 allows every host otherwise).\n"
        "ALLOWED_HOSTS = [{}]\n".format(listed)
    )


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
            with io.open(path, encoding="utf-8") as handle:
                texts[path] = handle.read()
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
