"""
The functional tests' loaders on Salt 2019.2 under Python 2.7: the same interface as
salt-factories' ``Loaders`` (``modules.mod.fun(...)``, ``states.mod.fun(...)`` returning
``StateResult``), answered by ``salt2019_worker.py`` running in the test bed's legacy Salt.
"""

import json
import os
import pathlib
import subprocess

import salt.exceptions
from saltfactories.utils.functional import MultiStateResult, StateResult

WORKER = pathlib.Path(__file__).with_name("salt2019_worker.py")
# What a test sets in its environment for the modules' commands (the test bed's stand-ins'
# databases, a private APT and dpkg world) reaches the worker's commands too.
FORWARDED_ENV = ("SNF_", "DPKG_", "APT_")
# The state functions salt-factories wraps, with the wrapper it uses.
SINGLE = ("state.low", "state.single", "state.sls_id")
MULTI = ("state.apply", "state.high", "state.highstate", "state.sls", "state.template", "state.template_str", "state.test", "state.top")


class LegacyLoaders:
    def __init__(self, python, overrides, workdir):
        config = pathlib.Path(workdir) / "overrides.json"
        config.write_text(json.dumps(overrides))
        self.process = subprocess.Popen(
            [python, str(WORKER), str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(pathlib.Path(workdir) / "worker.log", "ab"),
            text=True,
        )
        self.modules = _Namespace(self, "modules")
        self.states = _Namespace(self, "states")
        self.functions = self.request({"list": True})

    def request(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Salt 2019.2 worker died (exit {self.process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            error = answer["error"]
            cls = getattr(salt.exceptions, error["type"], None)
            if cls is None or not issubclass(cls, Exception):
                raise RuntimeError(f"{error['type']}: {error['message']}\n{error['traceback']}")
            if issubclass(cls, salt.exceptions.SaltException):
                raise cls(error["message"], info=error["info"]) if error["info"] is not None else cls(error["message"])
            raise cls(error["message"])
        return answer["return"]

    def call(self, function, *args, **kwargs):
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
        returned = self.request({"call": function, "args": list(args), "kwargs": kwargs, "env": env})
        if function in SINGLE:
            return StateResult(returned)
        if function in MULTI:
            return MultiStateResult(returned)
        return returned

    def reset_state(self):
        self.request({"reset": True})

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


class _Namespace:
    def __init__(self, loaders, kind):
        self._loaders = loaders
        self._kind = kind

    def __getattr__(self, module):
        return _Module(self._loaders, self._kind, module)

    def __iter__(self):
        return iter(self._loaders.functions)

    def __contains__(self, name):
        return name in self._loaders.functions


class _Module:
    def __init__(self, loaders, kind, module):
        self._loaders = loaders
        self._kind = kind
        self._module = module

    def __getattr__(self, function):
        name = f"{self._module}.{function}"
        if self._kind == "states":
            return lambda *args, **kwargs: self._loaders.call("state.single", name, *args, **kwargs)
        return lambda *args, **kwargs: self._loaders.call(name, *args, **kwargs)
