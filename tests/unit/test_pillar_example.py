"""pillar.example documents every key the formula reads from pillar (parameters/defaults.yaml),
and nothing the formula does not know."""

import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def keys(data, prefix=""):
    found = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        found.add(path)
        # Maps whose keys are the operator's own (packages, roles, services, caches) stop here.
        if isinstance(value, dict) and value and path not in ("apt:backports_pins", "services", "cyclades:caches", "databases", "health"):
            found |= keys(value, path + ":")
    return found


def test_pillar_example_documents_every_default_key():
    defaults = yaml.safe_load((ROOT / "synnefo_upgrade" / "parameters" / "defaults.yaml").read_text())["values"]
    example = yaml.safe_load((ROOT / "pillar.example").read_text())["synnefo_upgrade"]
    example.pop("lookup", None)
    assert keys(defaults) - keys(example) == set()
    assert keys(example) - keys(defaults) == set()
