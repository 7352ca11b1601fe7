"""
Bring Apache 2.2 site files to what Apache 2.4 (jessie) and gunicorn 19 expect.

Upgrade guide, "Adjust configuration files": "Do not forget to add .conf suffix on apache's
conf files", and "change the header's key from X-FORWARDED-PROTOCOL to X-FORWARDED-PROTO".
Apache 2.4 only includes ``sites-enabled/*.conf``: a site file without the suffix is silently
ignored. gunicorn 19 trusts ``X-Forwarded-Proto: https`` (``secure_scheme_headers``), no longer
the ``X-Forwarded-Protocol`` that gunicorn 0.14 was patched to read.

:py:func:`planned` reads ``sites-available`` and ``sites-enabled`` and returns what to do, as
data: each site to rename (and whether it is enabled, so that it is enabled again under its
new name; a disabled site stays disabled) and each file whose header line changes, with its
new text. :py:func:`migrated` does it: every edited file is backed up and keeps its owner and
mode (``synnefo_files``), a rename keeps the file itself.
"""

from __future__ import absolute_import, print_function, unicode_literals

import logging
import os
import re

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "apache_sites"

# Not sites: what dpkg and editors leave beside them.
SKIPPED_SUFFIXES = (".dpkg-old", ".dpkg-dist", ".dpkg-new", ".dpkg-bak", ".bak", ".orig", "~", ".swp")
_OLD_HEADER = re.compile(r"^(\s*RequestHeader\s+set\s+)X-Forwarded-Protocol(\s)", re.I | re.M)


def __virtual__():
    return __virtualname__


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        if not os.path.isdir(path):
            return []
        raise CommandExecutionError("cannot read {}: {}".format(path, exc.strerror))


def _enabled_links(config_dir):
    """``{site file name: [links in sites-enabled pointing at it]}``."""
    available = os.path.join(config_dir, "sites-available")
    enabled_dir = os.path.join(config_dir, "sites-enabled")
    links = {}
    for name in _listdir(enabled_dir):
        path = os.path.join(enabled_dir, name)
        if not os.path.islink(path):
            continue
        target = os.path.normpath(os.path.join(enabled_dir, os.readlink(path)))
        if os.path.dirname(target) == os.path.normpath(available):
            links.setdefault(os.path.basename(target), []).append(name)
    return links


def planned(config_dir="/etc/apache2"):
    """
    Return what :py:func:`migrated` would do, changing nothing:
    ``{'renames': [{'from', 'to', 'enabled'}], 'edits': {path: new text}}``. A site whose
    ``.conf`` name is already taken by a different file is an error naming both.

    CLI Example:

    .. code-block:: bash

        salt '*' apache_sites.planned
    """
    available = os.path.join(config_dir, "sites-available")
    names = [n for n in _listdir(available) if os.path.isfile(os.path.join(available, n)) and not n.startswith(".")]
    links = _enabled_links(config_dir)
    renames, edits = [], {}
    for name in names:
        path = os.path.join(available, name)
        final = path
        if not name.endswith(".conf") and not name.endswith(SKIPPED_SUFFIXES):
            final = path + ".conf"
            if os.path.exists(final):
                raise CommandExecutionError("{} cannot be renamed: {} exists already".format(path, final))
            renames.append({"from": path, "to": final, "enabled": bool(links.get(name))})
        elif name.endswith(SKIPPED_SUFFIXES):
            continue
        text = __salt__["synnefo_files.read"](path)
        new = _OLD_HEADER.sub(r"\1X-Forwarded-Proto\2", text or "")
        if text is not None and new != text:
            edits[final] = {"from": path, "text": new}
    return {"renames": renames, "edits": edits}


def _enable(config_dir, name):
    """Enable ``sites-available/name`` as a2ensite does: a relative link in sites-enabled."""
    link = os.path.join(config_dir, "sites-enabled", name)
    if not os.path.lexists(link):
        os.symlink(os.path.join("..", "sites-available", name), link)


def migrated(config_dir="/etc/apache2", test=False, backup_dir=None):
    """
    Rename every site file without ``.conf`` (re-enabling under the new name the enabled
    ones; the disabled ones stay disabled) and replace the ``X-Forwarded-Protocol`` request
    header with ``X-Forwarded-Proto``. Return ``{path: change}``; with ``test=True`` change
    nothing and return what would change.

    CLI Example:

    .. code-block:: bash

        salt '*' apache_sites.migrated test=True
    """
    plan = planned(config_dir)
    changes = {}
    for rename in plan["renames"]:
        old_name, new_name = os.path.basename(rename["from"]), os.path.basename(rename["to"])
        change = {"renamed": "{} -> {}".format(rename["from"], rename["to"])}
        if rename["enabled"]:
            change["enabled"] = os.path.join(config_dir, "sites-enabled", new_name)
        changes[rename["to"]] = change
        if test:
            continue
        try:
            os.rename(rename["from"], rename["to"])
            for link in _enabled_links(config_dir).get(old_name, []):
                os.unlink(os.path.join(config_dir, "sites-enabled", link))
            if rename["enabled"]:
                _enable(config_dir, new_name)
        except OSError as exc:
            raise CommandExecutionError("cannot rename {}: {}".format(rename["from"], exc.strerror))
        log.info("apache_sites: renamed %s to %s", rename["from"], rename["to"])
    for path, edit in sorted(plan["edits"].items()):
        # In test mode the file still has its old name: the diff is taken from there.
        source = edit["from"] if test else path
        applied = __salt__["synnefo_files.apply"]({source: edit["text"]}, test=test, backup_dir=backup_dir)
        if source in applied:
            changes.setdefault(path, {}).update(applied[source])
    return changes


def configtest():
    """
    Run ``apache2ctl configtest``; raise with Apache's own message when it fails.

    CLI Example:

    .. code-block:: bash

        salt '*' apache_sites.configtest
    """
    result = __salt__["cmd.run_all"](["apache2ctl", "configtest"], python_shell=False, ignore_retcode=True)
    output = (result.get("stderr", "") + "\n" + result.get("stdout", "")).strip()
    if result["retcode"] != 0:
        raise CommandExecutionError("apache2ctl configtest failed: {}".format(output))
    return output
