"""
States for moving a host's APT from wheezy to jessie (upgrade guide: "Change all APT repos
to jessie", "Upgrade to jessie", the gevent backports and policy-rc.d notes).

.. code-block:: yaml

    apt-sources-jessie:
      apt_jessie.sources_switched:
        - name: /etc/apt
        - from_codename: wheezy
        - to_codename: jessie

    apt-backports-gevent-pinned:
      apt_jessie.backports_pinned:
        - name: /etc/apt
        - packages:
            python-gevent: 1.1.1
            python-greenlet: 0.4.10

    apt-services-kept-down:
      apt_jessie.policy_rc_d_installed: []

    apt-dist-upgraded:
      apt_jessie.dist_upgraded:
        - require:
          - apt_jessie: apt-sources-jessie

    apt-services-allowed-again:
      apt_jessie.policy_rc_d_removed: []

Edited files keep their owner and mode and are backed up (see ``synnefo_files``).
"""

from __future__ import absolute_import, print_function, unicode_literals

from salt.exceptions import CommandExecutionError

__virtualname__ = "apt_jessie"


def __virtual__():
    if "apt_jessie.switched_sources" in __salt__:
        return __virtualname__
    return (False, "the apt_jessie execution module is not available")


def _ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def _write(ret, texts, done, would, nothing):
    test = __opts__["test"]
    try:
        changes = __salt__["synnefo_files.apply"](texts, test=test)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=str(exc))
    if not changes:
        return dict(ret, comment=nothing)
    ret["changes"] = changes
    ret["result"] = None if test else True
    ret["comment"] = (would if test else done).format(files=", ".join(sorted(changes)))
    return ret


def sources_switched(name="/etc/apt", from_codename="wheezy", to_codename="jessie"):
    """
    Rewrite every active ``deb``/``deb-src`` line of ``name``/sources.list and
    ``name``/sources.list.d/*.list whose suite is ``from_codename``, or starts with
    ``from_codename-`` or ``from_codename/``, to the same suite on ``to_codename``. Nothing
    else on the line or in the file changes; files with nothing to change are not written.

    name
        The APT configuration directory.
    """
    ret = _ret(name)
    try:
        texts = __salt__["apt_jessie.switched_sources"](name, from_codename, to_codename)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=str(exc))
    return _write(
        ret,
        texts,
        done="APT sources switched from {} to {} in {{files}}".format(from_codename, to_codename),
        would="APT sources would be switched from {} to {} in {{files}}".format(from_codename, to_codename),
        nothing="no APT source on {} under {}".format(from_codename, name),
    )


def backports_pinned(name="/etc/apt", packages=None, suite="jessie-backports", mirror=None, from_codename="wheezy"):
    """
    Make sure a ``suite`` source exists (on the Debian mirror the host already uses, or
    ``mirror``) and that an ``preferences.d`` file takes ``packages`` from it, whatever the
    backports build's suffix, keeping every other backports package out.

    name
        The APT configuration directory.

    packages
        ``{name: lowest version}``: the packages to take from ``suite``; ``dist_upgraded``
        fails when one stays below its version.

    from_codename
        The release the sources may still be on (the mirror and an existing
        ``wheezy-backports`` line are recognised before the switch, so a dry run of the
        whole upgrade predicts this step too).
    """
    ret = _ret(name)
    try:
        texts = __salt__["apt_jessie.backports_files"](name, packages=packages, suite=suite, mirror=mirror, from_codename=from_codename)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment="{}; nothing was written".format(exc))
    pinned = ", ".join("{} >= {}".format(p, v) for p, v in sorted((packages or {}).items()))
    return _write(
        ret,
        texts,
        done="{} source and pin ({}) written: {{files}}".format(suite, pinned),
        would="{} source and pin ({}) would be written: {{files}}".format(suite, pinned),
        nothing="{} source and pin ({}) already in place".format(suite, pinned),
    )


def policy_rc_d_installed(name="/usr/sbin/policy-rc.d"):
    """
    Keep packages from starting services while they are installed: install a policy-rc.d
    that exits 101. The host's own policy-rc.d, if any, is kept aside for
    ``policy_rc_d_removed`` to put back.

    name
        Where invoke-rc.d looks for the policy script.
    """
    ret = _ret(name)
    status = __salt__["apt_jessie.policy_rc_d_status"](name)
    if status["ours"]:
        return dict(ret, comment="the policy-rc.d guard is already in place")
    aside = " (the host's own policy-rc.d kept aside)" if status["present"] else ""
    ret["changes"] = {"policy-rc.d": "installed (exit 101)" + aside}
    if __opts__["test"]:
        return dict(ret, result=None, comment="the policy-rc.d guard would be installed" + aside)
    try:
        done = __salt__["apt_jessie.policy_rc_d_install"](name)
    except (CommandExecutionError, OSError) as exc:
        return dict(ret, changes={}, result=False, comment=str(exc))
    if done["saved"]:
        ret["changes"]["saved"] = done["saved"]
    return dict(ret, comment="the policy-rc.d guard is installed: packages cannot start services" + aside)


def policy_rc_d_removed(name="/usr/sbin/policy-rc.d"):
    """
    Remove the formula's policy-rc.d guard and put back the host's own, if one was kept aside.
    A policy-rc.d the formula did not write is never removed.

    name
        Where invoke-rc.d looks for the policy script.
    """
    ret = _ret(name)
    status = __salt__["apt_jessie.policy_rc_d_status"](name)
    if status["present"] and not status["ours"]:
        if status["saved"] or status["installed"]:
            original = "; the original is still at {}".format(status["saved"]) if status["saved"] else ""
            return dict(
                ret,
                result=False,
                comment="{} was replaced by someone else while the guard was in place: left alone{}".format(name, original),
            )
        return dict(ret, comment="{} is not the formula's guard: left alone".format(name))
    if not status["present"] and not status["saved"]:
        return dict(ret, comment="the policy-rc.d guard is not in place")
    changes = {}
    if status["ours"]:
        changes["policy-rc.d"] = "removed"
    if status["saved"]:
        changes["restored"] = "{} -> {}".format(status["saved"], name)
    ret["changes"] = changes
    if __opts__["test"]:
        return dict(ret, result=None, comment="the policy-rc.d guard would be removed")
    try:
        __salt__["apt_jessie.policy_rc_d_remove"](name)
    except (CommandExecutionError, OSError) as exc:
        return dict(ret, changes={}, result=False, comment=str(exc))
    return dict(ret, comment="the policy-rc.d guard is removed: packages may start services again")


def dist_upgraded(name, download_only=False, from_codename="wheezy", to_codename="jessie", backports=None, hold=None):
    """
    ``apt-get update`` and a non-interactive ``apt-get dist-upgrade`` that keeps locally
    edited conffiles and never removes or restarts the salt-minion running it. ``changes``
    lists every package with its old and new version. In test mode the upgrade is simulated
    (each package with the bytes it would download, ``size``)
    against freshly downloaded lists kept in a temporary directory: nothing on the host
    changes.

    name
        A label for the step.

    download_only
        Only fetch the packages (``apt-get -d``), so that the upgrade itself is quicker.

    hold
        Packages held while the upgrade runs and released after (default: the salt-minion
        packages, whose upgrade would kill the job running it).

    from_codename, to_codename, backports
        Test mode only: the simulation runs against a private copy of /etc/apt with the
        sources switched and the backports pin (``{'suite', 'packages'}``) in place, as the
        formula's earlier steps would leave it, so that a dry run of the whole upgrade shows
        the upgrade itself. The real run uses the host's APT configuration as it is.
    """
    ret = _ret(name)
    wanted = (backports or {}).get("packages") or {}
    verb = "downloaded" if download_only else "upgraded"
    try:
        if __opts__["test"]:
            planned = __salt__["apt_jessie.simulate"](
                refresh=True, hold=hold, switch=[from_codename, to_codename], backports=backports, sizes=True
            )
            below = {} if download_only else _backports_below(wanted, dict((p, c["new"]) for p, c in planned.items()))
            if below:
                return dict(ret, result=False, changes=planned, comment=below + " (nothing was changed)")
            if not planned:
                return dict(ret, comment="nothing to upgrade")
            size = sum(change.get("size", 0) for change in planned.values())
            return dict(
                ret,
                result=None,
                changes=planned,
                comment="{} packages would be {} ({:.1f} MiB to download)".format(len(planned), verb, size / 1048576.0),
            )
        changes = __salt__["apt_jessie.dist_upgrade"](download_only=download_only, hold=hold)
        below = {} if download_only else _backports_below(wanted)
    except CommandExecutionError as exc:
        info = getattr(exc, "info", None) or {}
        # The message alone: what did change is in ``changes``, not repeated in the comment.
        return dict(ret, result=False, changes=info.get("changes", {}), comment=exc.error)
    if below:
        return dict(ret, result=False, changes=changes, comment=below)
    if not changes:
        return dict(ret, comment="nothing to upgrade")
    return dict(ret, changes=changes, comment="{} packages {}".format(len(changes), verb))


def _backports_below(wanted, versions=None):
    """The failure message when a package the backports pin should bring stays below its
    lowest version after the upgrade (or would, by the dry run's ``versions``), else ''."""
    below = __salt__["apt_jessie.backports_below"](wanted, versions) if wanted else {}
    if not below:
        return ""
    return "{} below what the backports pin wants ({}): jessie's build was chosen, not the backports one; check {}".format(
        ", ".join("{} {}".format(p, v) for p, v in sorted(below.items())),
        ", ".join("{} >= {}".format(p, wanted[p]) for p in sorted(below)),
        "apt-cache policy " + " ".join(sorted(below)),
    )
