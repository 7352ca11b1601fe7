"""
Re-register Cyclades' service definitions with Astakos, without prompts.

Upgrade guide, "Re-register service and resource definitions": 0.19 exposes the ``image``,
``network`` and ``volume`` endpoints without a version in their URLs (their definitions keep
``versionId`` and say ``SNF:exposeVersion: False``), so cyclades must be registered
again on the Astakos node (``snf-component-register cyclades``). That program only asks
questions; what it runs is usable directly and idempotent::

    snf-manage component-modify cyclades --base-url BASE --ui-url UI --purge-services
    snf-service-export cyclades BASE | snf-manage service-import --json -

Each registration is recorded under ``<state_dir>/components/<component>.json`` (see
``synnefo_files.state_dir``), so a second run with the same URLs changes nothing.
"""

from __future__ import absolute_import, print_function, unicode_literals

import csv
import datetime
import io
import json
import logging
import os

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "synnefo_components"

UNVERSIONED = ("image", "network", "volume")


def __virtual__():
    return __virtualname__


def _run(command, stdin=None):
    result = __salt__["cmd.run_all"](command, python_shell=False, ignore_retcode=True, stdin=stdin)
    if result["retcode"] != 0:
        raise CommandExecutionError(
            "{} failed (exit code {}): {}".format(" ".join(command), result["retcode"], (result["stderr"] or result["stdout"]).strip())
        )
    return result["stdout"]


def listed(manage="snf-manage"):
    """
    The components Astakos knows, as ``snf-manage component-list`` prints them:
    ``{name: {'base_url', 'ui_url'}}``.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_components.listed
    """
    out = _run([manage, "component-list", "-o", "name,base_url,ui_url", "--output-format=csv", "--no-headers"])
    rows = csv.reader(io.StringIO(out))
    return dict((row[0], {"base_url": row[1], "ui_url": row[2]}) for row in rows if len(row) == 3)


def services(component, manage="snf-manage"):
    """
    The names of the services Astakos has registered for ``component``, as ``snf-manage
    service-list`` prints them.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_components.services cyclades
    """
    out = _run([manage, "service-list", "-o", "name,component", "--output-format=csv", "--no-headers"])
    return sorted(row[0] for row in csv.reader(io.StringIO(out)) if len(row) == 2 and row[1] == component)


def exported(component, base_url, export="snf-service-export"):
    """
    The service definitions the installed Synnefo exports for ``component`` at ``base_url``,
    as JSON text; refused while it is 0.18.1's.

    0.19's export (``snf_service_export.py`` with ``fill_endpoints`` of
    ``synnefo/lib/services.py``) keeps ``versionId`` on every endpoint and marks each one
    ``SNF:exposeVersion``: ``False`` on the image, network and volume endpoints, whose
    ``publicURL`` then carries no version. 0.18.1's has no such key and versions every URL.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_components.exported cyclades https://cyclades.example.org/cyclades
    """
    text = _run([export, component, base_url])
    try:
        services = json.loads(text)
    except ValueError as exc:
        raise CommandExecutionError("{} {} printed no JSON: {}".format(export, component, exc))
    if not isinstance(services, dict):
        raise CommandExecutionError("{} {} printed no service definitions: {}".format(export, component, text[:200]))
    old = []
    for _name, service in sorted(services.items()):
        if not isinstance(service, dict) or service.get("type") not in UNVERSIONED:
            continue
        for endpoint in service.get("endpoints") or []:
            url = endpoint.get("publicURL") or ""
            version = endpoint.get("versionId") or ""
            if endpoint.get("SNF:exposeVersion") is not False or (version and url.rstrip("/").endswith("/" + version)):
                old.append(url)
    if old:
        raise CommandExecutionError(
            "the export is not 0.19's: the {} endpoints are not marked 'SNF:exposeVersion': False or carry a version ({}): "
            "is Synnefo 0.19 installed here?".format("/".join(UNVERSIONED), ", ".join(old))
        )
    return text


def _record_path(component):
    return os.path.join(__salt__["synnefo_files.state_dir"](), "components", component + ".json")


def record(component):
    """
    The record of this component's last registration by the formula, or ``None``.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_components.record cyclades
    """
    return __salt__["synnefo_files.read_record"](_record_path(component), "the component with snf-manage component-list")


def register(component, base_url, ui_url, manage="snf-manage", export="snf-service-export"):
    """
    Register ``component`` again with its base and UI URLs and the services the installed
    Synnefo exports; check with ``component-list`` and ``service-list`` (exactly the exported
    services); record it.

    CLI Example:

    .. code-block:: bash

        salt astakos1 synnefo_components.register cyclades https://c.example.org/cyclades https://c.example.org/cyclades/ui
    """
    services_text = exported(component, base_url, export=export)
    _run([manage, "component-modify", component, "--base-url", base_url, "--ui-url", ui_url, "--purge-services"])
    _run([manage, "service-import", "--json", "-"], stdin=services_text)
    found = listed(manage).get(component)
    if found != {"base_url": base_url, "ui_url": ui_url}:
        raise CommandExecutionError(
            "{} is listed as {} after its registration, not {}".format(component, found, {"base_url": base_url, "ui_url": ui_url})
        )
    # What Astakos now serves for it: exactly the exported services, none left from 0.18.1.
    names = sorted(json.loads(services_text))
    registered = services(component, manage)
    if registered != names:
        raise CommandExecutionError(
            "{}'s services in Astakos after its registration are {}, not the exported {}".format(
                component, ", ".join(registered) or "none", ", ".join(names)
            )
        )
    entry = {
        "component": component,
        "base_url": base_url,
        "ui_url": ui_url,
        "services": names,
        "registered": datetime.datetime.utcnow().isoformat() + "Z",
    }
    __salt__["synnefo_files.write_record"](_record_path(component), entry)
    log.info("synnefo_components: %s registered at %s", component, base_url)
    return entry
