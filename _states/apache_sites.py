"""
Manage the Apache site files through the jessie upgrade (Apache 2.2 to 2.4, gunicorn 0.14
to 19).

.. code-block:: yaml

    synnefo-upgrade-apache-sites-migrated:
      apache_sites.migrated:
        - name: /etc/apache2

    synnefo-upgrade-apache-config-tested:
      apache_sites.config_tested:
        - name: apache2ctl configtest

Site files get their ``.conf`` suffix (the enabled ones enabled again under the new name, the
disabled ones left disabled) and ``X-Forwarded-Protocol`` becomes ``X-Forwarded-Proto``; each
edited file is backed up and keeps its owner and mode.
"""

from __future__ import absolute_import, print_function, unicode_literals

from salt.exceptions import CommandExecutionError

__virtualname__ = "apache_sites"


def __virtual__():
    if "apache_sites.migrated" in __salt__:
        return __virtualname__
    return (False, "the apache_sites execution module is not available")


def migrated(name="/etc/apache2"):
    """
    Rename the site files of ``name``/sites-available that lack ``.conf`` (re-enabling the
    enabled ones under their new names) and replace the ``X-Forwarded-Protocol`` request
    header with ``X-Forwarded-Proto``.

    name
        Apache's configuration directory.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    test = __opts__["test"]
    try:
        changes = __salt__["apache_sites.migrated"](name, test=test)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment="{}; nothing was changed".format(exc))
    if not changes:
        return dict(ret, comment="the sites of {} are already fit for Apache 2.4 and gunicorn 19".format(name))
    ret["changes"] = changes
    verb = "would be" if test else "were"
    ret["comment"] = "{} site file(s) {} renamed or edited: {}".format(len(changes), verb, ", ".join(sorted(changes)))
    if test:
        ret["result"] = None
    return ret


def config_tested(name="apache2ctl configtest"):
    """
    Check Apache's configuration with ``apache2ctl configtest`` (before Apache is started
    on it). Changes nothing, in test mode too.

    name
        A label for the step.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        ret["comment"] = __salt__["apache_sites.configtest"]() or "Syntax OK"
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
    return ret
