"""Fixtures shared by every test layer."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


@pytest.fixture(scope="session", autouse=True)
def _salt_temp_log_handler_closed():
    """Salt's import installs a deferred stderr handler that it flushes at exit, after
    pytest has closed its captured stderr; hand its records to pytest's handlers instead."""
    yield
    import salt._logging.impl  # pylint: disable=import-outside-toplevel

    salt._logging.impl.shutdown_temp_handler()
