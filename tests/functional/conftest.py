"""
Functional tests: the formula's modules loaded by Salt's real loader (no daemons), run
against real files in temporary directories. Every test runs twice: on the project's Salt
(3008, salt-factories' loaders) and on the Salt of a wheezy cloud (2019.2 on Python 2.7,
the test bed's legacy stack, through ``legacy_loaders``).
"""

import pathlib

import pytest
import salt.config
from saltfactories.utils.functional import Loaders

from testbed import saltstack
from tests.functional.legacy_loaders import LegacyLoaders

SALT_VERSIONS = ("3008", "2019.2")


@pytest.fixture(scope="session")
def minion_root(tmp_path_factory):
    return tmp_path_factory.mktemp("minion")


@pytest.fixture(scope="session")
def minion_overrides(repo_root, minion_root):
    """The minion options both Salts load the formula with."""
    root = minion_root
    # The file root holds the formula only, as on a master (not the virtualenv beside it).
    formula = root / "file_root"
    formula.mkdir()
    for part in ("synnefo_upgrade", "_modules", "_states", "_utils"):
        (formula / part).symlink_to(repo_root / part)
    # The formula's directories come from pillar, as pillar.example documents them.
    pillar = root / "pillar"
    pillar.mkdir()
    (pillar / "top.sls").write_text("base:\n  '*':\n    - synnefo_upgrade\n")
    (pillar / "synnefo_upgrade.sls").write_text(f"synnefo_upgrade:\n  backup_dir: {root / 'backups'}\n  state_dir: {root / 'state'}\n")
    return {
        "id": "functional",
        "file_client": "local",
        "root_dir": str(root),
        "cachedir": str(root / "cache"),
        # Derived from the default cachedir at load time: without this the loader would
        # write into the machine's own /var/cache/salt/minion/extmods.
        "extension_modules": str(root / "cache" / "extmods"),
        "pki_dir": str(root / "pki"),
        "sock_dir": str(root / "sock"),
        "log_file": str(root / "minion.log"),
        "file_roots": {"base": [str(formula)]},
        "module_dirs": [str(repo_root / "_modules")],
        "states_dirs": [str(repo_root / "_states")],
        "utils_dirs": [str(repo_root / "_utils")],
        "pillar_roots": {"base": [str(pillar)]},
    }


@pytest.fixture(scope="session")
def minion_opts(minion_overrides):
    opts = salt.config.minion_config(None)
    opts.update(minion_overrides)
    return opts


@pytest.fixture(scope="session", params=SALT_VERSIONS, ids=[f"salt{v}" for v in SALT_VERSIONS])
def salt_version(request):
    return request.param


@pytest.fixture(scope="session")
def loaders(salt_version, minion_opts, minion_overrides, minion_root):
    if salt_version == "3008":
        yield Loaders(minion_opts)
        return
    legacy = LegacyLoaders(saltstack.python(saltstack.LEGACY), minion_overrides, minion_root)
    try:
        yield legacy
    finally:
        legacy.close()


@pytest.fixture(autouse=True)
def reset_loaders_state(loaders):
    try:
        yield
    finally:
        loaders.reset_state()


@pytest.fixture
def modules(loaders):
    return loaders.modules


@pytest.fixture
def states(loaders):
    return loaders.states


@pytest.fixture
def state_dir(minion_root):
    return pathlib.Path(minion_root) / "state"


@pytest.fixture
def backup_dir(minion_root):
    return pathlib.Path(minion_root) / "backups"


@pytest.fixture
def dpkg_installed(tmp_path, monkeypatch):
    """Make dpkg (and so Salt's pkg module) see these packages installed at these versions:
    a private database that DPKG_ADMINDIR names. Call it again to replace the set."""

    def install(versions):
        admin = tmp_path / "dpkg-installed"
        (admin / "info").mkdir(parents=True, exist_ok=True)
        (admin / "status").write_text(
            "".join(
                f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: python\n"
                f"Maintainer: Debian <debian@example.org>\nArchitecture: all\nVersion: {version}\nDescription: {name}\n\n"
                for name, version in versions.items()
            )
        )
        monkeypatch.setenv("DPKG_ADMINDIR", str(admin))

    return install
