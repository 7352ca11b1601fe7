"""
What a Ganeti node's own upgrade must hold to, applied on the node itself (the per-node
highstate): the upgrade stops archipelago, replaces the hypervisor's packages and reboots, so
it takes down every instance running there. The orchestration (``synnefo_upgrade.orch``)
moves them away first; a highstate on a node that still runs them is refused.

.. code-block:: yaml

    synnefo-upgrade-services-ganeti-node-runs-no-primary:
      ganeti_node.no_running_primary:
        - name: gnt2
        - failhard: True
"""

from __future__ import absolute_import, print_function, unicode_literals

from salt.exceptions import CommandExecutionError

__virtualname__ = "ganeti_node"


def __virtual__():
    if "ganeti_rolling.running_primaries" in __salt__:
        return __virtualname__
    return (False, "ganeti_node needs the ganeti_rolling execution module (a Ganeti node with gnt-node)")


def no_running_primary(name):
    """
    Pass only when the Ganeti node ``name`` is the primary of no running instance. In test
    mode a node that still runs some is reported (``None``): the orchestration's own dry run
    plans their moves before its upgrade.

    name
        The Ganeti node (the minion's id).
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        running = __salt__["ganeti_rolling.running_primaries"](name)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment="{}: cannot tell which instances run here: {}; nothing was changed".format(name, exc))
    if not running:
        return dict(ret, comment="{} runs no primary instance".format(name))
    what = "{} is the primary of running {}: its upgrade (archipelago stopped, reboot) would take them down".format(
        name, ", ".join(running)
    )
    if __opts__["test"]:
        return dict(ret, result=None, comment=what + "; a real run refuses unless they are moved away first")
    return dict(
        ret,
        result=False,
        comment=what + "; refused, nothing was changed: upgrade Ganeti nodes with salt-run state.orchestrate synnefo_upgrade.orch",
    )
