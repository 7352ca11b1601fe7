"""The README's operator sections: every pillar key in the reference, and every message the
troubleshooting quotes printed by the formula's code (so the table cannot drift from it)."""

import pathlib
import re

import yaml

from tests.unit.test_pillar_example import keys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CODE = ("_modules", "_states", "_utils", "_runners")


def readme_section(title):
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def source_text():
    text = "".join(path.read_text() for part in CODE for path in sorted((ROOT / part).glob("*.py")))
    # Strings split over lines by implicit concatenation read as one.
    return re.sub(r'"\s*\n\s*"', "", text)


def test_the_pillar_reference_names_every_key():
    defaults = yaml.safe_load((ROOT / "synnefo_upgrade" / "parameters" / "defaults.yaml").read_text())["values"]
    named = set(re.findall(r"`([a-z_]+(?::[a-z_<>]+)*)`", readme_section("Pillar reference")))
    every = keys(defaults) - {"databases", "services"} | {"databases:<service>:minion", "databases:<service>:backup", "services:<role>"}
    leaves = {key for key in every if not any(other.startswith(key + ":") for other in every)}
    assert len(leaves) > 30 and leaves - named == set()


def test_every_troubleshooting_message_is_printed_by_the_code():
    table = readme_section("Troubleshooting")
    messages = re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE)
    assert len(messages) >= 25
    code = source_text()
    for message in messages:
        fragments = [f.strip(" :") for f in re.split(r"\.\.\.|<[a-z]+>", message)]
        for fragment in (f for f in fragments if len(f) >= 6):
            assert fragment in code, f"README troubleshooting quotes {message!r}: {fragment!r} is not in the code"
