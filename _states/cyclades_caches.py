"""
Manage Cyclades' three 0.19 cache settings (upgrade guide: "Update cache settings").

.. code-block:: yaml

    cyclades-caches-django-format:
      cyclades_caches.managed:
        - name: /etc/synnefo/99-cyclades-caches.conf
        - config_dir: /etc/synnefo
        - caches:
            VMAPI_CACHE:
              BACKEND: django.core.cache.backends.memcached.MemcachedCache
              LOCATION: 127.0.0.1:11211

Writes ``PUBLIC_STATS_CACHE``, ``VM_PASSWORD_CACHE`` and ``VMAPI_CACHE`` to ``name`` (named to
load after the packaged settings) and comments out the obsolete 0.18.1 settings where they
are set. How the entries are derived is described in the ``cyclades_caches`` execution
module. A new file takes its siblings' owner, group and mode; edited files keep theirs and
are backed up.
"""

from __future__ import absolute_import, print_function, unicode_literals

from salt.exceptions import CommandExecutionError

__virtualname__ = "cyclades_caches"


def __virtual__():
    if "cyclades_caches.wanted_texts" in __salt__:
        return __virtualname__
    return (False, "the cyclades_caches execution module is not available")


def managed(name="/etc/synnefo/99-cyclades-caches.conf", config_dir="/etc/synnefo", caches=None):
    """
    Make Cyclades' cache settings 0.19's: three Django cache entries, no obsolete settings.

    name
        The settings file to write the three caches to.

    config_dir
        Where Synnefo's settings files (``*.conf``) are.

    caches
        Overrides for ``PUBLIC_STATS_CACHE``, ``VM_PASSWORD_CACHE``, ``VMAPI_CACHE``, key by key.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        texts = __salt__["cyclades_caches.wanted_texts"](name=name, config_dir=config_dir, caches=caches)
        owner = __salt__["cyclades_caches.sibling_owner"](config_dir)
    except (CommandExecutionError, OSError) as exc:
        ret["result"] = False
        ret["comment"] = "{}; nothing was written".format(exc)
        return ret
    try:
        changes = __salt__["synnefo_files.apply"](texts, test=__opts__["test"], new_file_owner=owner)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    if not changes:
        ret["comment"] = "cache settings are already in 0.19's format"
        return ret
    ret["changes"] = changes
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = "{} settings files would be changed".format(len(changes))
    else:
        ret["comment"] = "{} settings files changed".format(len(changes))
    return ret
