"""Topology files: the default one loads; every mistake names the file and line."""

import pytest

from testbed import topology


def test_default_topology():
    loaded = topology.load()
    assert list(loaded.hosts) == ["gnt1", "gnt2", "gnt3", "astakos1", "cyclades1", "pithos1"]
    assert loaded.ganeti_master == "gnt1"
    assert loaded.instances["vm6"] == "gnt3"
    assert loaded.hosts_with("ganeti") == ["gnt1", "gnt2", "gnt3"]


def test_a_host_may_carry_several_roles(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("hosts:\n  all1: {roles: [astakos, cyclades, pithos, cms, ganeti]}\nganeti_master: all1\n")
    assert topology.load(str(path)).hosts == {"all1": ["astakos", "cyclades", "pithos", "cms", "ganeti"]}


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("hosts:\n  gnt1: {roles: [ganeti]}\nganeti_master: gnt2\n", 3, "ganeti_master 'gnt2' is not a host"),
        ("hosts:\n  gnt1: {roles: [ganeti]}\n  web1: {roles: [astakos]}\nganeti_master: web1\n", 4, "does not have the ganeti role"),
        ("hosts:\n  gnt1: {roles: [ganeti]}\n", 1, "ganeti hosts but no ganeti_master"),
        ("hosts:\n  gnt1: {roles: [ganeti]}\nganeti_master: gnt1\ninstances:\n  vm1: web9\n", 5, "primary node 'web9' is not a ganeti host"),
        ("hosts:\n  Bad_Name: {roles: [cms]}\n", 2, "not a valid hostname"),
        ("hosts:\n  web1: {roles: []}\n", 2, "roles must be a non-empty list"),
        ("hosts:\n  web1: {roles: [cms, cms]}\n", 2, "role 'cms' given twice"),
        ("hosts:\n  web1: {roles: [cms]}\n  web1: {roles: [astakos]}\n", 3, "'web1' given twice (first on line 2)"),
        ("hosts:\n  web1: {rolez: [cms]}\n", 2, "unknown key 'rolez'"),
        ("hosts:\n  web1: {roles: [cms]}\nextra: 1\n", 3, "unknown key 'extra'"),
        ("hosts: [web1]\n", 1, "hosts must be a mapping"),
        ("hosts:\n  web1: {roles: [cms]\n", 3, "not valid YAML"),
        ("", 1, "empty topology"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(topology.TopologyError) as error:
        topology.load(str(path))
    assert str(error.value).startswith(f"{path}:{line}: ")
    assert message in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(topology.TopologyError, match="cannot read"):
        topology.load(str(tmp_path / "none.yaml"))
