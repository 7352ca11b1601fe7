"""
Re-register a Synnefo component with Astakos (upgrade guide, "Re-register service and
resource definitions"), on the Astakos node, without prompts.

.. code-block:: yaml

    synnefo-upgrade-cyclades-registered:
      synnefo_components.registered:
        - name: cyclades
        - base_url: https://cyclades.example.org/cyclades
        - ui_url: https://cyclades.example.org/cyclades/ui
"""

from __future__ import absolute_import, print_function, unicode_literals

from salt.exceptions import CommandExecutionError

__virtualname__ = "synnefo_components"


def __virtual__():
    if "synnefo_components.register" in __salt__:
        return __virtualname__
    return (False, "the synnefo_components execution module is not available")


def registered(name, base_url, ui_url, manage="snf-manage", export="snf-service-export"):
    """
    Register ``name`` again with 0.19's service definitions, once for these URLs.

    name
        The component (cyclades).

    base_url, ui_url
        Its base and UI URLs, as Astakos lists them.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    if not base_url or not ui_url:
        return dict(
            ret, result=False, comment="{}: no base_url or ui_url given (pillar synnefo_upgrade:register); nothing was changed".format(name)
        )
    try:
        earlier = __salt__["synnefo_components.record"](name)
        current = __salt__["synnefo_components.listed"](manage).get(name)
        wanted = {"base_url": base_url, "ui_url": ui_url}
        if earlier and current == wanted and all(earlier.get(k) == v for k, v in wanted.items()):
            return dict(ret, comment="{} is registered at {} with 0.19's services already".format(name, base_url))
        if __opts__["test"]:
            # Before the dist-upgrade the export is still 0.18.1's: nothing to check yet.
            return dict(
                ret,
                result=None,
                changes={"old": current, "new": wanted},
                comment="{} would be registered again at {}".format(name, base_url),
            )
        entry = __salt__["synnefo_components.register"](name, base_url, ui_url, manage=manage, export=export)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=str(exc))
    ret["changes"] = {"old": current, "new": wanted, "services": entry["services"]}
    ret["comment"] = "{} registered again at {}".format(name, base_url)
    return ret
