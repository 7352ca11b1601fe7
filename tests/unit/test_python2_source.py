"""Everything Salt loads runs on Salt 2019.2's Python 2.7 too: each file compiles there (a
formatter's ``rb''`` for ``br''``, an f-string, a keyword-only argument would not) and has no
byte beyond ASCII without a coding declaration (PEP 263: Python 2's import refuses the file,
which its compile() of a string does not notice)."""

import pathlib
import re
import subprocess

from testbed import saltstack

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
LOADED = sorted(str(p) for part in ("_modules", "_states", "_utils", "_runners", "_output") for p in (ROOT / part).glob("*.py"))


def test_every_file_salt_loads_compiles_on_python_2_7():
    if not saltstack.legacy_ready():  # make test builds it first; pytest alone builds it here
        saltstack.build_legacy(log=lambda text: None)
    # compile() only: py_compile would write a .pyc (Python 2.7 renames its temporary over
    # whatever cfile names, a device too).
    script = "import sys\nfor path in sys.argv[1:]:\n    compile(open(path, 'rb').read(), path, 'exec')\n"
    result = subprocess.run([saltstack.python(saltstack.LEGACY), "-c", script, *LOADED], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(LOADED) > 20


def test_no_file_salt_loads_needs_an_encoding_python_2_does_not_assume():
    for path in LOADED:
        data = pathlib.Path(path).read_bytes()
        declared = any(re.match(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", line) for line in data.splitlines()[:2])
        strange = [n for n, line in enumerate(data.splitlines(), 1) if any(byte > 127 for byte in line)]
        assert declared or not strange, f"{path}:{strange[:1]}: a byte beyond ASCII without a coding declaration"
