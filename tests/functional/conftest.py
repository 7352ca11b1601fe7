"""
Functional tests: the formula's modules loaded by Salt's real loader (no daemons), run
against real files in temporary directories.
"""

import pytest
import salt.config
from saltfactories.utils.functional import Loaders


@pytest.fixture(scope="session")
def minion_opts(repo_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("minion")
    # The file root holds the formula only, as on a master (not the virtualenv beside it).
    formula = root / "file_root"
    formula.mkdir()
    for part in ("synnefo_upgrade", "_modules", "_states"):
        (formula / part).symlink_to(repo_root / part)
    # The formula's directories come from pillar, as pillar.example documents them.
    pillar = root / "pillar"
    pillar.mkdir()
    (pillar / "top.sls").write_text("base:\n  '*':\n    - synnefo_upgrade\n")
    (pillar / "synnefo_upgrade.sls").write_text(
        f"synnefo_upgrade:\n  backup_dir: {root / 'backups'}\n  state_dir: {root / 'state'}\n"
    )
    opts = salt.config.minion_config(None)
    opts.update(
        {
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
            "pillar_roots": {"base": [str(pillar)]},
        }
    )
    return opts


@pytest.fixture(scope="session")
def loaders(minion_opts):
    return Loaders(minion_opts)


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
def state_dir(minion_opts):
    import pathlib

    return pathlib.Path(minion_opts["root_dir"]) / "state"


@pytest.fixture
def backup_dir(minion_opts):
    import pathlib

    return pathlib.Path(minion_opts["root_dir"]) / "backups"
