"""Debian's version order, computed on the master (``synnefo_orch.version_cmp``), against
dpkg's own ``--compare-versions`` on versions drawn at random and those the upgrade meets."""

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.formula import load

orch = load("_utils/synnefo_orch.py")


def dpkg(left, right):
    for relation, answer in (("lt", -1), ("eq", 0)):
        if subprocess.run(["dpkg", "--compare-versions", left, relation, right]).returncode == 0:
            return answer
    return 1


@pytest.mark.parametrize(
    "left, right",
    [
        ("0.18.1-1~wheezy", "0.19-1~jessie"),
        ("0.19-1~jessie", "0.19-1~jessie"),
        ("0.19.1-1~jessie", "0.19-1~jessie"),
        ("0.19~rc1-1", "0.19-1"),
        ("1:0.1", "0.19-1"),
        ("2.10.7+snap1+b64v1-1~wheezy", "2.10.7.1+grnet2+bpo2-2~jessie"),
        ("0.21-1~wheezy", "0.21.1-1~jessie"),
        ("1.0", "1.0-0"),
        ("1.0a", "1.0+"),
        ("1.0~", "1.0"),
        ("007", "7"),
    ],
)
def test_the_versions_the_upgrade_meets(left, right):
    assert orch.version_cmp(left, right) == dpkg(left, right) == -orch.version_cmp(right, left)


UPSTREAM = st.from_regex(r"\A[0-9][0-9A-Za-z.+~]{0,8}\Z")
REVISION = st.from_regex(r"\A[0-9A-Za-z.+~]{1,6}\Z")
VERSION = st.builds(
    lambda epoch, upstream, revision: (f"{epoch}:" if epoch is not None else "") + upstream + (f"-{revision}" if revision else ""),
    st.none() | st.integers(0, 3),
    UPSTREAM,
    st.none() | REVISION,
)


@settings(max_examples=300, deadline=None)
@given(VERSION, VERSION)
def test_the_order_is_dpkgs(left, right):
    assert orch.version_cmp(left, right) == dpkg(left, right)
