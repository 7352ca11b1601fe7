"""
Manage single Django settings of Synnefo 0.19 (upgrade guide, "Adjust configuration files").

.. code-block:: yaml

    synnefo-upgrade-allowed-hosts-set:
      synnefo_settings.allowed_hosts:
        - name: /etc/synnefo/99-synnefo-upgrade-allowed-hosts.conf
        - hosts: [accounts.example.org]

    synnefo-upgrade-backend-allocator-switched:
      synnefo_settings.allocator_switched:
        - name: /etc/synnefo

Every file written is backed up and keeps its owner and mode; a new one looks like its
siblings (root:synnefo 0640 on a Synnefo host).
"""

from __future__ import absolute_import, print_function, unicode_literals

from salt.exceptions import CommandExecutionError

__virtualname__ = "synnefo_settings"


def __virtual__():
    if "synnefo_settings.assignments" in __salt__:
        return __virtualname__
    return (False, "the synnefo_settings execution module is not available")


def _write(ret, texts, config_dir, done, would):
    test = __opts__["test"]
    owner = __salt__["cyclades_caches.sibling_owner"](config_dir)
    ret["changes"] = __salt__["synnefo_files.apply"](texts, test=test, new_file_owner=owner)
    if ret["changes"]:
        ret["comment"] = would if test else done
        if test:
            ret["result"] = None
    return ret


def allowed_hosts(name="/etc/synnefo/99-synnefo-upgrade-allowed-hosts.conf", hosts=None, config_dir="/etc/synnefo"):
    """
    Set ``ALLOWED_HOSTS`` on this node to ``hosts``, in the file ``name`` (read after the
    packaged settings). Without ``hosts`` nothing is written and the comment warns that 0.19
    serves every host name (``['*']``).

    name
        The settings file to write.

    hosts
        The host names Django serves on this node.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    if not hosts:
        ret["comment"] = (
            "warning: ALLOWED_HOSTS is not set for this node: Synnefo 0.19 serves every host name (['*']), "
            "set pillar synnefo_upgrade:allowed_hosts to restrict it"
        )
        return ret
    try:
        text = __salt__["synnefo_settings.allowed_hosts_text"](hosts)
        # The formula's own file is rewritten whatever it holds now: never read.
        later = [a for a in __salt__["synnefo_settings.assignments"]("ALLOWED_HOSTS", config_dir, exclude=[name]) if a["path"] > name]
        if later:
            return dict(
                ret,
                result=False,
                comment="{}:{} sets ALLOWED_HOSTS after {}: it would win; nothing was changed".format(
                    later[-1]["path"], later[-1]["line"], name
                ),
            )
        _write(ret, {name: text}, config_dir, "ALLOWED_HOSTS set to {}".format(hosts), "ALLOWED_HOSTS would be set to {}".format(hosts))
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment="{}; nothing was changed".format(exc))
    if not ret["changes"]:
        ret["comment"] = "ALLOWED_HOSTS is already {}".format(hosts)
    return ret


def allocator_switched(
    name="/etc/synnefo",
    old="synnefo.logic.allocators.default_allocator.DefaultAllocator",
    new="synnefo.logic.allocators.filter_allocator.FilterAllocator",
):
    """
    Switch an explicit ``BACKEND_ALLOCATOR_MODULE = old`` in the settings files of ``name``
    to ``new`` (0.19's default). A custom allocator is kept, with a warning in the comment.

    name
        Synnefo's settings directory.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        plan = __salt__["synnefo_settings.allocator_switched"](name, old=old, new=new)
        _write(
            ret,
            plan["texts"],
            name,
            "BACKEND_ALLOCATOR_MODULE switched to {}".format(new),
            "BACKEND_ALLOCATOR_MODULE would be switched to {}".format(new),
        )
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment="{}; nothing was changed".format(exc))
    warnings = [
        "warning: {}:{} sets a custom allocator {}: kept; check it against 0.19's FilterAllocator".format(c["path"], c["line"], c["value"])
        for c in plan["custom"]
    ]
    if not ret["changes"]:
        ret["comment"] = "no explicit {} to switch".format(old.rsplit(".", 1)[1])
    ret["comment"] = "; ".join([ret["comment"]] + warnings)
    return ret
