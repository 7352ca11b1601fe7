# -*- coding: utf-8 -*-
"""
Runs under Salt 2019.2 on Python 2.7 (the test bed's legacy stack): loads the formula's
modules with Salt's own loader, as a minion would, and answers calls one JSON line at a time
on stdin/stdout, so that the functional tests run the same behaviours on the Salt of a
wheezy cloud. Started by ``legacy_loaders.py``; never imported by the tests.

Request: ``{"call": "mod.fun", "args": [...], "kwargs": {...}, "env": {...}}``, or
``{"list": true}``, or ``{"reset": true}``. Answer: ``{"return": ...}`` or
``{"error": {"type", "message", "info"}}``.
"""

from __future__ import absolute_import, print_function, unicode_literals

import copy
import io
import json
import os
import shutil
import sys
import traceback

import salt.config
import salt.loader
import salt.pillar


def _jsonable(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def load(base):
    """Fresh loaders over a copy of ``base``: what a call changes in its options (a state run
    with a pillar override does) does not reach the next test, as on a minion, where each job
    runs in its own process."""
    opts = copy.deepcopy(base)
    context = {}
    opts["pillar"] = salt.pillar.get_pillar(opts, opts["grains"], opts["id"], saltenv=opts.get("saltenv")).compile_pillar()
    utils = salt.loader.utils(opts, context=context)
    functions = salt.loader.minion_mods(opts, context=context, utils=utils)
    return opts, context, functions


def main():
    with io.open(sys.argv[1], encoding="utf-8") as handle:
        overrides = json.load(handle)
    base = salt.config.minion_config(None)
    base.update(overrides)
    base["grains"] = salt.loader.grains(base)
    opts, context, functions = load(base)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a module prints must not break the protocol
    environ = dict(os.environ)
    for line in iter(sys.stdin.readline, ""):
        request = json.loads(line)
        try:
            if request.get("reset"):
                shutil.rmtree(opts["cachedir"], ignore_errors=True)
                opts, context, functions = load(base)
                answer = {"return": True}
            elif request.get("list"):
                answer = {"return": sorted(functions)}
            else:
                os.environ.clear()
                os.environ.update(environ)
                os.environ.update(request.get("env") or {})
                returned = functions[request["call"]](*request.get("args", []), **request.get("kwargs", {}))
                answer = {"return": returned}
        except Exception as exc:  # pylint: disable=broad-except
            answer = {
                "error": {
                    "type": type(exc).__name__,
                    "message": getattr(exc, "strerror", None) or str(exc),
                    "info": getattr(exc, "info", None),
                    "traceback": traceback.format_exc(),
                }
            }
        out.write(json.dumps(answer, default=_jsonable) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
