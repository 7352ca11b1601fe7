"""
Manage the switch of a Debian gunicorn config from django mode to wsgi mode.

Synnefo 0.19 runs gunicorn 19, which refuses django mode. Apply this after the Synnefo
packages are upgraded: ``synnefo.webproject.wsgi`` does not exist in 0.18.1.

.. code-block:: yaml

    gunicorn-config-wsgi-mode:
      gunicorn_wsgi.configured:
        - name: /etc/gunicorn.d/synnefo
        - wsgi_app: synnefo.webproject.wsgi
        - settings_module: synnefo.settings

Only the places that change are edited; the original is backed up (see ``synnefo_files``)
and keeps its owner and mode.
"""

from __future__ import absolute_import, print_function, unicode_literals

from salt.exceptions import CommandExecutionError

__virtualname__ = "gunicorn_wsgi"


def __virtual__():
    if "gunicorn_wsgi.converted" in __salt__:
        return __virtualname__
    return (False, "the gunicorn_wsgi execution module is not available")


def configured(name="/etc/gunicorn.d/synnefo", wsgi_app="synnefo.webproject.wsgi", settings_module="synnefo.settings"):
    """
    Make the gunicorn config ``name`` run Synnefo in wsgi mode: ``'mode': 'wsgi'``,
    ``DJANGO_SETTINGS_MODULE`` in ``environment`` (an existing different value is kept and
    reported) and ``wsgi_app`` as the last item of ``args``, once.

    name
        The gunicorn config file.

    wsgi_app
        The WSGI entry point to put last in ``args``.

    settings_module
        The Django settings module to set when ``environment`` has none.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        wanted = __salt__["gunicorn_wsgi.converted"](name, wsgi_app=wsgi_app, settings_module=settings_module)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = "{}; the file was not changed".format(exc)
        return ret
    notes = wanted["notes"]
    if not wanted["changed"]:
        ret["comment"] = "; ".join(["{} is already in wsgi mode".format(name)] + notes)
        return ret
    test = __opts__["test"]
    try:
        changes = __salt__["synnefo_files.apply"]({name: wanted["text"]}, test=test)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = changes[name]
    if test:
        ret["result"] = None
        ret["comment"] = "; ".join(["{} would be switched to wsgi mode".format(name)] + notes)
    else:
        ret["comment"] = "; ".join(["{} switched to wsgi mode".format(name)] + notes)
    return ret
