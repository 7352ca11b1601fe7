"""The linters' configuration: pinned in requirements.txt, the same in `make lint` and in
pre-commit, and no rule turned off without a written reason beside it."""

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINTERS = ("ruff", "yamllint", "salt-lint", "vermin")


def pinned():
    return dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)


def test_every_linter_is_pinned_and_run_by_make_lint_and_by_pre_commit():
    versions = pinned()
    assert all(re.fullmatch(r"[\d.]+", versions[tool]) for tool in LINTERS)
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "test: deps venv salt-2019.2 real-ganeti real-synnefo python-range lint" in makefile
    hooks = [hook for repo in yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"] for hook in repo["hooks"]]
    entries = " ".join(hook["entry"] for hook in hooks)
    for command in ("ruff check", "ruff format --check", "yamllint --strict", "salt-lint"):
        assert f"$(VENV)/bin/{command}" in lint and f".venv/bin/{command}" in entries, command
    assert "vermin" in entries and "vermin" in makefile


def disabled_lines(path):
    """(line number, line) of every rule turned off, with the line before it."""
    lines = (ROOT / path).read_text().splitlines()
    found = []
    for number, line in enumerate(lines):
        if re.search(r"\b(ignore|disable)\b", line) and not line.lstrip().startswith("#"):
            found.append((number + 1, line, lines[number - 1] if number else ""))
    return found


def test_no_rule_is_turned_off_without_a_reason():
    checked = 0
    for path in ("ruff.toml", ".yamllint", ".salt-lint"):
        for number, line, before in disabled_lines(path):
            reason = "#" in line or before.lstrip().startswith("#")
            assert reason, f"{path}:{number}: {line.strip()} has no comment saying why"
            checked += 1
    assert checked >= 3
