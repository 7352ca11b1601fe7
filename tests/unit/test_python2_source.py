"""Everything Salt loads runs on Salt 2019.2's Python 2.7 too: each file compiles there (a
formatter's ``rb''`` for ``br''``, an f-string, a keyword-only argument would not)."""

import pathlib
import subprocess

import pytest

from testbed import saltstack

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
LOADED = sorted(str(p) for part in ("_modules", "_states", "_utils", "_runners", "_output") for p in (ROOT / part).glob("*.py"))


def test_every_file_salt_loads_compiles_on_python_2_7():
    if not saltstack.legacy_ready():
        pytest.skip("Salt 2019.2 on Python 2.7 is not built (make salt-2019.2)")
    script = "import sys, py_compile\nfor path in sys.argv[1:]:\n    py_compile.compile(path, cfile='/dev/null', doraise=True)\n"
    result = subprocess.run([saltstack.python(saltstack.LEGACY), "-c", script, *LOADED], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(LOADED) > 20
