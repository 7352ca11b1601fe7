"""
Real Synnefo on this machine: GRNET's own code of 0.18.1 and 0.19, each release in a Python 2.7
virtualenv of its own, for the test bed's ``synnefo: real`` hosts and the differential tests.

- :py:func:`build`: both virtualenvs, built once and cached under ``$SNF_SALT_CACHE`` (default
  ``/var/cache/snftb``) beside the Salt 2019.2 stack, whose Python 2.7 they use
  (``python -m testbed build-synnefo``; ``make real-synnefo``, part of ``make test``). A
  change of the sources, the pins or this recipe rebuilds them (a fingerprint, as for Salt).
- The sources are the tarballs of ``SOURCES``, taken from ``$SNF_UPSTREAM_DIR`` (default: the
  project's ``../shared/upstream``), each checked against its sha256 before use (a wrong one
  is refused, named). Where that directory is absent, the same commits are fetched from
  GitHub with git and checked by their commit ids; where GitHub cannot be reached either, the
  build says so.
- Every dependency is pinned in ``requirements-RELEASE.txt`` beside this file; Synnefo's own
  distributions are installed from the sources with ``--no-deps`` (PyPI has an unrelated
  ``archipelago``). Archipelago itself cannot run here: ``archipelago/`` beside this file is
  its stand-in, an installed distribution of that name whose I/O fails clearly.

What the sources need before they build, said once here: 0.18.1's ``setup.py`` files call
``distribute_setup.use_setuptools()``, which downloads distribute from a dead URL (the lines
are dropped in the build copy), and 0.18.1's version modules were generated at release time
and are not in the tree (written from the release's own ``version`` file); snf-vncauthproxy
1.6 likewise.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

from testbed import saltstack

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(os.path.dirname(HERE))
RELEASES = ("0.18.1", "0.19")
# Each release's tarballs (``../shared/upstream/README.md``): file -> (repository, commit, sha256).
SOURCES = {
    "0.18.1": {
        "synnefo-0.18.1-1-wheezy.tar.gz": (
            "grnet/synnefo",
            "7a8dd33fa30c65256b359e99e1e82cde860ec0c4",
            "b08b4d6e65ac5fd363c199b419b6eb591844248fcec4b70e76eed7d04a31299a",
        ),
        "snf-vncauthproxy-1.6-1-wheezy.tar.gz": (
            "grnet/snf-vncauthproxy",
            "27bcf68687cc72d7c6b79a08f09aab03ad49b652",
            "ad8f6d3c7cd9733a6cde07bc50b0af2acf6dc33cf0041ef4564a4905be24f105",
        ),
    },
    "0.19": {
        "synnefo-0.19-1-jessie.tar.gz": (
            "grnet/synnefo",
            "460e29791eae100ea652064749f45a7ee8d9abab",
            "b40eed50e7baa0288dce4826a8d5ca59e381202e9e18128282c7d6f53d0e24dc",
        ),
        "snf-vncauthproxy-1.7-2-jessie.tar.gz": (
            "grnet/snf-vncauthproxy",
            "90b8d9f662bcddc9ef7c2cd6bcc98248e0ee7074",
            "1f3af2356b07dd40d370fd969e815d35ab3b1784eb6b9b5f47fe7386714a8d13",
        ),
    },
}
# Synnefo's distributions a service host runs (the Python side of the role packages of
# testbed/packages.py), in dependency order.
COMPONENTS = (
    "snf-common",
    "astakosclient",
    "snf-django-lib",
    "snf-webproject",
    "snf-branding",
    "snf-astakos-app",
    "snf-pithos-backend",
    "snf-cyclades-app",
    "snf-pithos-app",
)
# The version modules 0.18.1's setup.py files import and its tree lacks (generated at release
# time upstream: see the tree's .gitignore); snf-vncauthproxy 1.6's likewise.
GENERATED_VERSIONS = {
    "synnefo": (
        "snf-common/synnefo/versions/common.py",
        "snf-webproject/synnefo/versions/webproject.py",
        "snf-cyclades-app/synnefo/versions/app.py",
        "snf-cyclades-gtools/synnefo/versions/ganeti.py",
        "snf-django-lib/snf_django/version.py",
        "snf-branding/synnefo_branding/version.py",
        "snf-astakos-app/astakos/version.py",
        "astakosclient/astakosclient/version.py",
        "snf-pithos-backend/pithos/backends/version.py",
        "snf-pithos-app/pithos/api/version.py",
    ),
    "snf-vncauthproxy": ("vncauthproxy/version.py",),
}
# Upstream's files a host has beyond the Python code (each release's debian/*.install), kept
# beside the virtualenv for the test bed's packages: with every component's conf/.
PAYLOAD = (
    "snf-webproject/extras",
    "snf-cyclades-app/synnefo/tools",
    "snf-astakos-app/astakos/scripts",
)
# A change here rebuilds the cached environments.
RECIPE = "2"


# One build error and one command runner for every cached build (testbed/saltstack.py).
BuildError = saltstack.BuildError
_run = saltstack._run


def upstream_dir():
    return os.environ.get("SNF_UPSTREAM_DIR", os.path.join(os.path.dirname(PROJECT), "shared", "upstream"))


def git_base():
    """Where the sources are cloned from when the upstream directory is absent."""
    return os.environ.get("SNF_UPSTREAM_GIT", "https://github.com")


def release_dir(release):
    return os.path.join(saltstack.cache_dir(), f"synnefo-{release}-py2.7")


def venv(release):
    """The virtualenv of ``release`` (its ``bin/snf-manage``, ``bin/python``)."""
    return os.path.join(release_dir(release), "venv")


def payload_dir(release):
    """Upstream's non-Python files of ``release`` (``PAYLOAD``), laid out as in its tree."""
    return os.path.join(release_dir(release), "payload")


def requirements(release):
    return os.path.join(HERE, f"requirements-{release}.txt")


def _fingerprint(release):
    digest = hashlib.sha256(RECIPE.encode())
    with open(requirements(release), "rb") as handle:
        digest.update(handle.read())
    for name, (repo, commit, sha256) in sorted(SOURCES[release].items()):
        digest.update(f"{name} {repo} {commit} {sha256}\n".encode())
    for root, _, names in sorted(os.walk(os.path.join(HERE, "archipelago"))):
        for name in sorted(n for n in names if n.endswith(".py")):
            with open(os.path.join(root, name), "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def _marker(release):
    return os.path.join(release_dir(release), "complete")


def ready(release):
    try:
        with open(_marker(release)) as handle:
            return handle.read().strip() == _fingerprint(release)
    except OSError:
        return False


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked_tarball(directory, name, expected):
    """``directory/name`` once its sha256 is ``expected``; a BuildError naming it otherwise."""
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise BuildError(f"{path} is missing: the upstream directory must hold every tarball of testbed/realsynnefo SOURCES")
    found = sha256_of(path)
    if found != expected:
        raise BuildError(f"{path}: sha256 {found}, expected {expected}: refusing it (not the commit the test bed was built for)")
    return path


def _fetch_with_git(repo, commit, out, work):
    """``git archive`` of ``commit`` from GitHub into the tarball ``out``, the commit id checked."""
    clone = os.path.join(work, repo.replace("/", "+"))
    if not os.path.isdir(clone):
        try:
            _run(["git", "clone", "--quiet", "--bare", f"{git_base()}/{repo}.git", clone], f"git clone {repo}", timeout=600)
        except (BuildError, OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(
                f"the upstream sources are not in {upstream_dir()} and {git_base()}/{repo} could not be fetched ({exc}); "
                "put the tarballs of ../shared/upstream/README.md there or set SNF_UPSTREAM_DIR"
            ) from exc
    verify = ["git", "--git-dir", clone, "rev-parse", "--verify", "-q", f"{commit}^{{commit}}"]
    found = subprocess.run(verify, capture_output=True, text=True)
    if found.returncode != 0 or found.stdout.strip() != commit:
        raise BuildError(f"{git_base()}/{repo} has no commit {commit}")
    prefix = re.match(r"(.+?-[\d.]+)-\d+-", os.path.basename(out)).group(1)  # synnefo-0.19-1-jessie: synnefo-0.19
    _run(["git", "--git-dir", clone, "archive", "--format=tar.gz", f"--prefix={prefix}/", "-o", out, commit], f"git archive {commit}")
    return out


def sources(release, work):
    """Unpack ``release``'s checked sources under ``work``; return {tarball name: directory}."""
    directory = upstream_dir()
    trees = {}
    for name, (repo, commit, sha256) in sorted(SOURCES[release].items()):
        if os.path.isdir(directory):
            tarball = checked_tarball(directory, name, sha256)
        else:
            tarball = _fetch_with_git(repo, commit, os.path.join(work, name), work)
        with tarfile.open(tarball) as archive:
            top = {member.name.split("/")[0] for member in archive.getmembers()}
            archive.extractall(work)
        if len(top) != 1:
            raise BuildError(f"{tarball} does not unpack into one directory")
        trees[name] = os.path.join(work, top.pop())
    return trees


def _prepare(tree, project, version):
    """Make an old release's tree build with today's setuptools (see the module's docstring)."""
    for root, _, names in os.walk(tree):
        if "setup.py" in names:
            path = os.path.join(root, "setup.py")
            with open(path) as handle:
                lines = handle.readlines()
            kept = [line for line in lines if "distribute_setup" not in line]
            if kept != lines:
                with open(path, "w") as handle:
                    handle.writelines(kept)
    for relative in GENERATED_VERSIONS[project]:
        path = os.path.join(tree, relative)
        if os.path.isdir(os.path.dirname(path)) and not os.path.exists(path):
            with open(path, "w") as handle:
                handle.write(f'__version__ = "{version}"\n')


def _version_of(tree):
    with open(os.path.join(tree, "version")) as handle:
        return handle.read().strip()


def build(release=None, log=print):
    """Build the virtualenv of ``release`` (both when None) unless cached; return their paths."""
    releases = RELEASES if release is None else (release,)
    saltstack.build_legacy(log)
    return [_build_one(r, log) for r in releases]


def _build_one(release, log):
    target = release_dir(release)
    if ready(release):
        return venv(release)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    env = saltstack.python27_build_env()
    pip = [os.path.join(venv(release), "bin", "pip"), "install", "-q", "--no-cache-dir"]
    with tempfile.TemporaryDirectory(prefix=f"snftb-synnefo-{release}.") as work:
        log(f"Synnefo {release}: checking and unpacking GRNET's sources")
        trees = sources(release, work)
        log(f"Synnefo {release}: the Python 2.7 virtualenv and the pinned dependencies")
        saltstack.python27_virtualenv(venv(release))
        _run(pip + ["-r", requirements(release)], f"pip install -r {requirements(release)}", env=env)
        for name, tree in trees.items():
            project = "synnefo" if name.startswith("synnefo-") else "snf-vncauthproxy"
            _prepare(tree, project, _version_of(tree))
            parts = [os.path.join(tree, c) for c in COMPONENTS] if project == "synnefo" else [tree]
            log(f"Synnefo {release}: installing {', '.join(os.path.basename(p) for p in parts)}")
            _run(pip + ["--no-deps", *parts], f"pip install {name}", env=env)
        _run(pip + ["--no-deps", os.path.join(HERE, "archipelago")], "pip install the Archipelago stand-in", env=env)
        # Upstream's own files beside the code, as each release's debian/*.install lays them
        # out: the settings files, fix_ip_history, snf-component-register.
        synnefo_tree = next(tree for name, tree in trees.items() if name.startswith("synnefo-"))
        for relative in PAYLOAD + tuple(f"{c}/conf" for c in COMPONENTS if os.path.isdir(os.path.join(synnefo_tree, c, "conf"))):
            shutil.copytree(os.path.join(synnefo_tree, relative), os.path.join(payload_dir(release), relative))
    # The commands the formula and the test bed run must load (Django 1.4's bare `help` exits 1).
    with tempfile.TemporaryDirectory(prefix="snftb-settings.") as empty:
        for command in ("server-modify", "service-import", "migrate"):
            _run(
                [os.path.join(venv(release), "bin", "snf-manage"), "help", command],
                f"snf-manage help {command} (Synnefo {release})",
                env=dict(os.environ, SYNNEFO_SETTINGS_DIR=empty),
            )
    with open(_marker(release), "w") as handle:
        handle.write(_fingerprint(release) + "\n")
    log(f"built Synnefo {release} in {target}")
    return venv(release)
