"""
The upgrade's precondition (upgrade guide: "the upgrade to v0.19 must be executed only from
version 0.18.1"): 0.19 replaces South with Django migrations and relies on 0.18.1's schema.

.. code-block:: yaml

    synnefo-upgrade-version-checked:
      synnefo_version.checked:
        - name: snf-common
        - from_version: 0.18.1-1~wheezy
        - to_version: 0.19-1~jessie
        - failhard: True

A host on ``from_version`` passes (the upgrade may proceed), one already on ``to_version`` or
later passes (nothing to upgrade), one without the package passes (not a Synnefo host); any
other version fails, in test mode too, with a message that names the version found.
"""

from __future__ import absolute_import, print_function, unicode_literals

__virtualname__ = "synnefo_version"


def __virtual__():
    if "pkg.version" in __salt__ and "pkg.version_cmp" in __salt__:
        return __virtualname__
    return (False, "synnefo_version needs the pkg module (pkg.version, pkg.version_cmp)")


def checked(name="snf-common", from_version="0.18.1-1~wheezy", to_version="0.19-1~jessie"):
    """
    Pass only where the upgrade from ``from_version`` to ``to_version`` may run (or has run).

    name
        The package whose version tells Synnefo's (all ``snf-*`` packages move together).

    from_version
        The only version the upgrade starts from.

    to_version
        The version the upgrade brings.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    installed = __salt__["pkg.version"](name)
    if not installed:
        ret["comment"] = "{} is not installed: nothing of Synnefo to upgrade here".format(name)
    elif __salt__["pkg.version_cmp"](installed, to_version) >= 0:
        ret["comment"] = "{} {} is installed: nothing to upgrade".format(name, installed)
    elif installed == from_version:
        ret["comment"] = "{} {} is installed: the upgrade to {} may proceed".format(name, installed, to_version)
    else:
        ret["result"] = False
        ret["comment"] = "{} {} is installed: this upgrade to {} starts from {} only".format(name, installed, to_version, from_version)
    return ret
