"""The formula's own Python files loaded as plain modules, for tests of their pure functions
(Salt's loader would need the minion or master around them)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load(relative_path, name=None):
    """Load ``relative_path`` (e.g. ``_modules/ganeti_rolling.py``) as a fresh module."""
    name = name or relative_path.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
