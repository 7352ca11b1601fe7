"""
The Salt a test bed runs: its master, its minions and the CLIs that talk to them.

Two stacks:

- ``2019.2`` (the default): Salt 2019.2.8 on Python 2.7, the newest Salt a Synnefo 0.18.1 host
  (Debian wheezy, Python 2.7.3, glibc 2.13) can run, and so what a real cloud's master and
  minions are. Python 2.7 comes from Debian 11 (bullseye) packages, fetched with a private APT
  state and unpacked under the cache directory (with libssl1.1 and libffi7, which Debian 12
  lacks); the machine's own APT configuration and packages are not touched. Salt and its
  dependencies come from PyPI, pinned in ``salt-2019.2-requirements.txt``, into a Python 2.7
  virtualenv. Built once (``python -m testbed build-salt``, which ``make`` runs) and cached
  under ``$SNF_SALT_CACHE`` (default ``/var/cache/snftb``).
- ``current``: the project's own Salt (the virtualenv running the test bed, Salt 3008).
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LEGACY = "2019.2"
CURRENT = "current"
STACKS = (LEGACY, CURRENT)
DEFAULT = LEGACY
REQUIREMENTS = os.path.join(HERE, "salt-2019.2-requirements.txt")
# Debian 11's Python 2.7 and the two libraries of Debian 11 that Debian 12 no longer has.
BULLSEYE = "deb http://deb.debian.org/debian bullseye main\n"
PYTHON_PACKAGES = (
    "python2.7",
    "python2.7-minimal",
    "libpython2.7-minimal",
    "libpython2.7-stdlib",
    "python2.7-dev",
    "libpython2.7-dev",
    "libpython2.7",
    "libssl1.1",
    "libffi7",
)
# Extension modules linked against those libraries: they find them beside the interpreter.
NEEDS_OLD_LIBS = ("_ssl", "_hashlib", "_ctypes")
# virtualenv 20.22 dropped Python 2 environments; 20.21 seeds pip 20.3.4, the last for 2.7.
VIRTUALENV = "virtualenv<20.22"


class BuildError(RuntimeError):
    pass


def cache_dir():
    return os.environ.get("SNF_SALT_CACHE", "/var/cache/snftb")


def legacy_dir():
    return os.path.join(cache_dir(), "salt-2019.2.8-py2.7")


def _fingerprint():
    """What the cached stack was built from: a change rebuilds it."""
    digest = hashlib.sha256()
    with open(REQUIREMENTS, "rb") as handle:
        digest.update(handle.read())
    digest.update(" ".join(PYTHON_PACKAGES + NEEDS_OLD_LIBS).encode() + BULLSEYE.encode())
    return digest.hexdigest()


def _marker():
    return os.path.join(legacy_dir(), "complete")


def legacy_ready():
    try:
        with open(_marker()) as handle:
            return handle.read().strip() == _fingerprint()
    except OSError:
        return False


def bin_dir(stack=DEFAULT):
    """Where the stack's ``salt``, ``salt-master``, ``salt-minion``, ``salt-call`` live."""
    if stack == CURRENT:
        return os.path.dirname(sys.executable)
    if stack != LEGACY:
        raise ValueError(f"unknown Salt stack {stack!r} (expected one of {', '.join(STACKS)})")
    if not legacy_ready():
        raise BuildError(
            f"Salt 2019.2 on Python 2.7 is not built yet ({legacy_dir()}): run `make` or `.venv/bin/python -m testbed build-salt`"
        )
    return os.path.join(legacy_dir(), "venv", "bin")


def program(name, stack=DEFAULT):
    return os.path.join(bin_dir(stack), name)


def python(stack=DEFAULT):
    return program("python", stack)


def _run(command, what, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        # pip on Python 2.7 prints a deprecation notice on every call: not the error.
        output = [line for line in (result.stdout + result.stderr).strip().splitlines() if "DEPRECATION" not in line]
        raise BuildError(f"{what} failed (exit {result.returncode}): " + "\n".join(output[-15:]))
    return result


def _fetch_python(work, root):
    """Download Debian 11's Python 2.7 with a private APT state and unpack it under ``root``."""
    state = os.path.join(work, "apt")
    for directory in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d", "debs"):
        os.makedirs(os.path.join(state, directory))
    with open(os.path.join(state, "sources.list"), "w") as handle:
        handle.write(BULLSEYE)
    open(os.path.join(state, "status"), "w").close()
    options = [
        "-o",
        f"Dir::Etc::sourcelist={state}/sources.list",
        "-o",
        f"Dir::Etc::sourceparts={state}/sources.list.d",
        "-o",
        f"Dir::Etc::preferencesparts={state}/preferences.d",
        "-o",
        f"Dir::State::Lists={state}/lists",
        "-o",
        f"Dir::State::status={state}/status",
        "-o",
        f"Dir::Cache={state}/cache",
        "-o",
        "Debug::NoLocking=1",
        "-o",
        "APT::Sandbox::User=root",
    ]
    _run(["apt-get", "-q", *options, "update"], "apt-get update (Debian 11)")
    debs = os.path.join(state, "debs")
    _run(["apt-get", "-q", *options, "download", *PYTHON_PACKAGES], "apt-get download (Python 2.7)", cwd=debs)
    for deb in sorted(os.listdir(debs)):
        _run(["dpkg-deb", "-x", os.path.join(debs, deb), root], f"dpkg-deb -x {deb}")
    dynload = os.path.join(root, "usr", "lib", "python2.7", "lib-dynload")
    for module in NEEDS_OLD_LIBS:
        _run(
            ["patchelf", "--set-rpath", "$ORIGIN/../../x86_64-linux-gnu", os.path.join(dynload, f"{module}.x86_64-linux-gnu.so")],
            f"patchelf {module}",
        )
    interpreter = os.path.join(root, "usr", "bin", "python2.7")
    _run([interpreter, "-c", "import ssl, ctypes, hashlib"], "Python 2.7 self-check")
    return interpreter


def python27():
    """The Python 2.7 interpreter unpacked by :py:func:`build_legacy` (Debian 11's)."""
    return os.path.join(legacy_dir(), "python", "usr", "bin", "python2.7")


def python27_build_env():
    """The environment for pip building C extensions against that Python 2.7's headers."""
    include = os.path.join(legacy_dir(), "python", "usr", "include")
    return dict(os.environ, CFLAGS=f"-I{include} -I{include}/python2.7", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore")


def python27_virtualenv(venv):
    """A new Python 2.7 virtualenv at ``venv`` (virtualenv < 20.22, run from a throwaway
    Python 3 environment: the machine's own packages are not touched)."""
    with tempfile.TemporaryDirectory(prefix="snftb-virtualenv.") as work:
        tools = os.path.join(work, "tools")
        _run([sys.executable, "-m", "venv", tools], "python3 -m venv")
        _run([os.path.join(tools, "bin", "pip"), "install", "-q", VIRTUALENV], f"pip install {VIRTUALENV}")
        _run([os.path.join(tools, "bin", "virtualenv"), "-q", "--no-download", "-p", python27(), venv], "virtualenv")
    return venv


def build_legacy(log=print):
    """Build Salt 2019.2.8 on Python 2.7 into the cache (nothing when it is there already);
    return its directory."""
    target = legacy_dir()
    if legacy_ready():
        return target
    for tool in ("apt-get", "dpkg-deb", "patchelf", "gcc"):
        if shutil.which(tool) is None:
            raise BuildError(f"building Salt 2019.2 needs {tool} (make installs it)")
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    with tempfile.TemporaryDirectory(prefix="snftb-salt-build.") as work:
        log("fetching Python 2.7 (Debian 11 packages)")
        _fetch_python(work, os.path.join(target, "python"))
    log("creating the Python 2.7 virtualenv")
    venv = os.path.join(target, "venv")
    python27_virtualenv(venv)
    log("installing Salt 2019.2.8 and its pinned dependencies")
    pip = [os.path.join(venv, "bin", "pip"), "install", "-q", "--no-cache-dir"]
    _run([*pip, "-r", REQUIREMENTS], "pip install salt==2019.2.8", env=python27_build_env())
    version = _run([os.path.join(venv, "bin", "salt-call"), "--version"], "salt-call --version").stdout.strip()
    with open(_marker(), "w") as handle:
        handle.write(_fingerprint() + "\n")
    log(f"built {version} in {target}")
    return target
