"""
The upgrade's precondition (upgrade guide: "the upgrade to v0.19 must be executed only from
version 0.18.1"): 0.19 replaces South with Django migrations and relies on 0.18.1's schema.

.. code-block:: yaml

    synnefo-upgrade-version-checked:
      synnefo_version.checked:
        - name: snf-common
        - from_version: 0.18.1-1~wheezy
        - to_version: 0.19-1~jessie
        - packages: [snf-common, snf-webproject, snf-cyclades-app]
        - failhard: True

A host on ``from_version`` passes (the upgrade may proceed), one already on ``to_version`` or
later passes (nothing to upgrade), one without the package passes (not a Synnefo host); any
other version fails, in test mode too, with a message that names the version found. On
``from_version``, every other installed one of ``packages`` (built from Synnefo's own source
tree) must be at exactly ``from_version`` too. ``snf-*`` packages outside that set (snf-image, snf-network, snf-vncauthproxy,
snf-ganeti...) have versions of their own: they are named in the comment, never checked.
"""

from __future__ import absolute_import, print_function, unicode_literals

__virtualname__ = "synnefo_version"


def __virtual__():
    if "pkg.version" in __salt__ and "pkg.version_cmp" in __salt__:
        return __virtualname__
    return (False, "synnefo_version needs the pkg module (pkg.version, pkg.version_cmp)")


def _listed(versions):
    return ", ".join("{} {}".format(n, v) for n, v in sorted(versions.items()))


def checked(name="snf-common", from_version="0.18.1-1~wheezy", to_version="0.19-1~jessie", packages=None):
    """
    Pass only where the upgrade from ``from_version`` to ``to_version`` may run (or has run).

    name
        The package whose version tells Synnefo's.

    from_version
        The only version the upgrade starts from.

    to_version
        The version the upgrade brings.

    packages
        The packages built from Synnefo's own source tree (pillar
        ``synnefo_upgrade:synnefo_packages``): each one installed must be at exactly
        ``from_version`` when ``name`` is.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    installed = __salt__["pkg.version"](name)
    if not installed:
        ret["comment"] = "{} is not installed: nothing of Synnefo to upgrade here".format(name)
        return ret
    packages = packages or []
    listed = __salt__["pkg.list_pkgs"]() if packages else {}
    synnefo = dict((n, v) for n, v in listed.items() if n in packages and n != name)
    own = __utils__["synnefo_orch.own_versions"](listed, packages)
    aside = "; snf-* packages with versions of their own, not checked: {}".format(_listed(own)) if own else ""
    if __salt__["pkg.version_cmp"](installed, to_version) >= 0:
        # A dist-upgrade that stopped half way is the formula's to finish: named, not refused.
        behind = dict((n, v) for n, v in synnefo.items() if __salt__["pkg.version_cmp"](v, to_version) < 0)
        left = "; still behind, for the dist-upgrade to finish: {}".format(_listed(behind)) if behind else ""
        ret["comment"] = "{} {} is installed: nothing to upgrade{}{}".format(name, installed, left, aside)
    elif installed == from_version:
        wrong = dict((n, v) for n, v in synnefo.items() if v != from_version)
        if wrong:
            ret["result"] = False
            ret["comment"] = "{} {} is installed, but Synnefo's own packages must all be {}: found {}".format(
                name, installed, from_version, _listed(wrong)
            )
            return ret
        ret["comment"] = "{} {} is installed: the upgrade to {} may proceed{}".format(name, installed, to_version, aside)
    else:
        ret["result"] = False
        ret["comment"] = "{} {} is installed: this upgrade to {} starts from {} only".format(name, installed, to_version, from_version)
    return ret
