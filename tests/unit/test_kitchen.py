"""kitchen.yml cannot run here (no Docker engine, no RubyGems): check that it parses and that
every state, pillar file, path and role it names exists, and that it runs the Salt range's
oldest end (2019.2 on Python 2) on the releases the upgrade goes between."""

import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = {"astakos", "cyclades", "pithos", "cms", "ganeti"}


def kitchen():
    return yaml.safe_load((ROOT / "kitchen.yml").read_text())


def sls_exists(name):
    path = ROOT / pathlib.Path(*name.split("."))
    return path.with_suffix(".sls").is_file() or (path / "init.sls").is_file()


def state_tops(config):
    yield config["provisioner"]["state_top"]
    for suite in config["suites"]:
        if "state_top" in suite.get("provisioner", {}):
            yield suite["provisioner"]["state_top"]


def test_every_state_named_exists():
    names = [name for top in state_tops(kitchen()) for targets in top["base"].values() for name in targets]
    assert names and all(sls_exists(name) for name in names), names
    assert not sls_exists("synnefo_upgrade.nowhere")


def test_every_pillar_file_and_path_exists():
    provisioner = kitchen()["provisioner"]
    for source in provisioner["pillars_from_files"].values():
        assert (ROOT / source).is_file(), source
        assert "synnefo_upgrade" in yaml.safe_load((ROOT / source).read_text())
    pillar_names = [n for targets in provisioner["pillars"]["top.sls"]["base"].values() for n in targets]
    assert all(f"{name}.sls" in provisioner["pillars_from_files"] for name in pillar_names)
    assert provisioner["is_file_root"] is True
    for part in ("synnefo_upgrade", "_modules", "_states"):
        assert (ROOT / part).is_dir()


def test_a_suite_per_role_on_wheezy_and_jessie_with_salt_2019_2():
    config = kitchen()
    roles = {role for suite in config["suites"] for role in suite["provisioner"]["grains"]["roles"]}
    assert roles == ROLES
    images = {platform["driver"]["image"] for platform in config["platforms"]}
    assert images == {"debian/eol:wheezy", "debian/eol:jessie"}
    assert config["provisioner"]["salt_version"].startswith("2019.2.")
    assert config["provisioner"]["pip_pkg"] == "salt==" + config["provisioner"]["salt_version"]


def test_formula_has_every_key_of_template_formula_and_agrees_with_the_rest():
    formula = yaml.safe_load((ROOT / "FORMULA").read_text())
    keys = {"name", "os", "os_family", "version", "release", "minimum_version", "summary", "description", "top_level_dir"}
    assert keys <= set(formula) and all(formula[key] not in (None, "") for key in keys)
    assert (ROOT / formula["top_level_dir"] / "init.sls").is_file() and formula["name"] == formula["top_level_dir"]
    assert str(formula["minimum_version"]) == ".".join(kitchen()["provisioner"]["salt_version"].split(".")[:2])
    assert formula["os_family"] == "Debian"
