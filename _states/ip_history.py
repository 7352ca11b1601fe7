"""
Repair Cyclades' IP history from a VM owner changelog (upgrade guide: "Fix IP history
inconsistencies"). Run on one cyclades host, after ``snf-manage migrate``.

.. code-block:: yaml

    cyclades-ip-history-fixed:
      ip_history.fixed:
        - name: /root/owner-changes.log
        - apply: True

With ``apply: False`` (the default) the state only reports what the tool would change, so an
operator can read the plan before applying it. With ``apply: True`` the fix is applied once per
changelog content and recorded; later runs report the record and run nothing.
"""

from __future__ import absolute_import, print_function, unicode_literals

import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "ip_history"


def __virtual__():
    if "ip_history.validate" in __salt__:
        return __virtualname__
    return (False, "the ip_history execution module is not available")


def _summary(rows):
    return "{} rows to create, {} to update, {} skipped".format(len(rows["create"]), len(rows["update"]), rows["skipped"])


def fixed(name, apply=False, tool="/usr/lib/synnefo/tools/fix_ip_history"):
    """
    Make sure the IP history was repaired with the changelog ``name``.

    name
        The VM owner changelog (``<vmid>|<from_uuid>|<to_uuid>|<date>``, one per line).

    apply
        ``False``: plan only and report. ``True``: apply once.

    tool
        Upstream's fix_ip_history.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        check = __salt__["ip_history.validate"](name)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=str(exc))
    if not check["valid"]:
        lines = ["{}:{}: {}".format(name, e["line"], e["error"]) for e in check["errors"]]
        ret["result"] = False
        ret["comment"] = "invalid changelog, fix_ip_history was not run ({} errors):\n".format(len(lines)) + "\n".join(lines)
        return ret
    if __opts__["test"] and not os.access(tool, os.X_OK):
        # A dry run before the upgrade: the tool and the table it repairs come with 0.19.
        how = "applying them once" if apply else "as a plan only (apply: False)"
        ret["comment"] = (
            "IP history: {} owner changes valid; fix_ip_history comes with Synnefo 0.19 and runs after the cyclades migration, {}".format(
                check["changes"], how
            )
        )
        if apply:
            ret["result"] = None
            ret["changes"] = {"owner_changes": check["changes"]}
        return ret
    try:
        done = __salt__["ip_history.record"](name)
        if done is not None and done.get("outcome") == "fixed":
            ret["comment"] = "IP history already fixed with this changelog on {}; not run again".format(done["finished"])
            return ret
        rows = __salt__["ip_history.plan"](name, tool=tool)
        if not apply or __opts__["test"]:
            verb = "would be fixed" if apply else "plan only (apply: False), nothing written"
            ret["comment"] = "IP history {}: {}".format(verb, _summary(rows))
            if apply:
                ret["result"] = None
                ret["changes"] = {"create": rows["create"], "update": rows["update"]}
            return ret
        outcome = __salt__["ip_history.fix"](name, tool=tool)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=str(exc))
    ret["changes"] = {"create": outcome["rows"]["create"], "update": outcome["rows"]["update"]}
    ret["comment"] = "IP history fixed: {}; recorded as {}".format(_summary(outcome["rows"]), outcome["sha256"])
    return ret
