"""What the Ganeti phase keeps in a node's tags for a resumed run: the instances to bring back
and when the instances allowed downtime went down (so a resumed run reports their whole
downtime), all of it removed with the node's progress."""

import pytest

from tests.formula import load


@pytest.fixture(scope="module")
def states():
    return load("_states/ganeti_rolling.py")


def test_the_shutdown_time_is_read_back_from_the_nodes_tags(states):
    tags = ["synnefo-upgrade:stage:upgrading", "synnefo-upgrade:down:plain1", "synnefo-upgrade:shut-down:1796190384", "site:x"]
    assert states._shut_down_since(tags) == 1796190384
    assert states._shut_down_since(["synnefo-upgrade:shut-down:soon", "synnefo-upgrade:down:plain1"]) is None
    assert states._recorded(tags) == {"plain1": "down"}


def test_the_shutdown_time_goes_with_the_nodes_progress(states):
    tags = ["synnefo-upgrade:stage:restoring", "synnefo-upgrade:shut-down:1796190384", "synnefo-upgrade:was-candidate", "site:x"]
    assert states._progress(tags) == ["synnefo-upgrade:stage:restoring", "synnefo-upgrade:shut-down:1796190384"]
