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
        (
            "hosts:\n  gnt1: {roles: [ganeti]}\nganeti_master: gnt1\ninstances:\n  vm1: web9\n",
            5,
            "primary node 'web9' is not a ganeti host",
        ),
        ("hosts:\n  Bad_Name: {roles: [cms]}\n", 2, "not a valid hostname"),
        ("hosts:\n  web1: {roles: []}\n", 2, "roles must be a non-empty list"),
        ("hosts:\n  web1: {roles: [cms, cms]}\n", 2, "role 'cms' given twice"),
        ("hosts:\n  web1: {roles: [cms]}\n  web1: {roles: [astakos]}\n", 3, "'web1' given twice (first on line 2)"),
        ("hosts:\n  web1: {rolez: [cms]}\n", 2, "unknown key 'rolez'"),
        ("hosts:\n  web1: {roles: [cms]}\nextra: 1\n", 3, "unknown key 'extra'"),
        ("hosts: [web1]\n", 1, "hosts must be a mapping"),
        ("hosts:\n  web1: {roles: [cms]\n", 3, "not valid YAML"),
        ("", 1, "empty topology"),
        ("hosts:\n  gnt1: {roles: [ganeti], memory: lots}\nganeti_master: gnt1\n", 2, "memory must be a positive number of MiB"),
        ("hosts:\n  gnt1: {roles: [ganeti]}\nganeti_master: gnt1\ninstances:\n  vm1: {memory: 512}\n", 5, "instance vm1: no node"),
        (
            "hosts:\n  gnt1: {roles: [ganeti]}\nganeti_master: gnt1\ninstances:\n  vm1: {node: gnt1, memory: 0}\n",
            5,
            "instance vm1: memory must be a positive number",
        ),
        ("hosts:\n  gnt1: {roles: [ganeti]}\nganeti_master: gnt1\ninstances:\n  vm1: {node: gnt1, cpus: 2}\n", 5, "unknown key 'cpus'"),
        ("hosts:\n  web1: {roles: [cms]}\nsalt: '3000'\n", 3, "not a Salt the test bed runs"),
        ("hosts:\n  web1: {roles: [cms]}\napt: {http: yes please}\n", 3, "apt: http must be true or false"),
        ("hosts:\n  web1: {roles: [cms]}\napt:\n  http: true\n  rate_kib_s: 0\n", 5, "rate_kib_s must be a positive number of KiB/s"),
        ("hosts:\n  web1: {roles: [cms]}\napt:\n  rate_kib_s: 100\n", 4, "rate_kib_s needs http: true"),
        ("hosts:\n  web1: {roles: [cms]}\napt: {http: true, payload_kib: -1}\n", 3, "payload_kib must be a number of KiB"),
        ("hosts:\n  web1: {roles: [cms]}\napt: {mirror: x}\n", 3, "apt: unknown key 'mirror'"),
        ("hosts:\n  web1: {roles: [cms]}\nganeti: fake\n", 3, "ganeti must be standin or real, not 'fake'"),
        (
            "hosts:\n  g1: {roles: [ganeti]}\n  g2: {roles: [ganeti]}\nganeti: real\nganeti_master: g1\ninstances:\n"
            "  vm1: {node: g1, disk_template: drbd, secondary: g2}\n",
            7,
            "instance vm1: disk_template drbd needs what this machine lacks",
        ),
        ("hosts:\n  a1: {roles: [ganeti], cluster: alpha}\nganeti_master: a1\n", 2, "host a1: cluster needs ganeti_clusters"),
        (
            "hosts:\n  a1: {roles: [ganeti], cluster: alpha}\nganeti_clusters:\n  alpha: {master: a1}\nganeti_master: a1\n",
            5,
            "ganeti_master and ganeti_clusters",
        ),
        ("hosts:\n  a1: {roles: [ganeti], cluster: alpha}\nganeti_clusters:\n  alpha: {}\n", 4, "cluster alpha: no master"),
        (
            "hosts:\n  a1: {roles: [ganeti], cluster: alpha}\n  b1: {roles: [ganeti], cluster: beta}\nganeti_clusters:\n"
            "  alpha: {master: b1}\n  beta: {master: b1}\n",
            5,
            "cluster alpha: master 'b1' is not one of its hosts",
        ),
        (
            "hosts:\n  a1: {roles: [ganeti], cluster: alpha}\n  b1: {roles: [ganeti], cluster: gamma}\nganeti_clusters:\n"
            "  alpha: {master: a1}\n",
            3,
            "host b1: cluster 'gamma' is not in ganeti_clusters",
        ),
        (
            "hosts:\n  a1: {roles: [ganeti], cluster: alpha}\n  b1: {roles: [ganeti]}\nganeti_clusters:\n  alpha: {master: a1}\n",
            5,
            "host b1: a ganeti host must name its cluster",
        ),
        ("hosts:\n  a1: {roles: [ganeti], cluster: alpha}\nganeti_clusters:\n  Alpha: {master: a1}\n", 4, "cluster name 'Alpha'"),
        (
            "hosts:\n  a1: {roles: [ganeti], cluster: alpha}\nganeti_clusters:\n  alpha: {master: a1, pool: 3}\n",
            4,
            "cluster alpha: unknown key 'pool'",
        ),
        (
            "hosts:\n  a1: {roles: [ganeti], cluster: alpha}\n  a2: {roles: [ganeti], cluster: alpha}\n"
            "  b1: {roles: [ganeti], cluster: beta}\nganeti_clusters: {alpha: {master: a1}, beta: {master: b1}}\ninstances:\n"
            "  vm1: {node: a1, disk_template: drbd, secondary: b1}\n",
            7,
            "instance vm1: secondary 'b1' is in another Ganeti cluster",
        ),
        (
            "hosts:\n  a1: {roles: [ganeti], cluster: alpha}\nganeti: real\nganeti_clusters:\n  alpha: {master: a1}\n",
            4,
            "the test bed runs one real Ganeti cluster",
        ),
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


def test_memory_and_migration_rate_with_their_defaults(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "hosts:\n  gnt1: {roles: [ganeti], memory: 4096}\n  gnt2: {roles: [ganeti]}\nganeti_master: gnt1\n"
        "instances:\n  vm1: gnt1\n  vm2: {node: gnt2, memory: 3072}\nmigration_mib_per_s: 1024\nsalt: current\n"
    )
    loaded = topology.load(str(path))
    assert loaded.memory == {"gnt1": 4096, "gnt2": 8192}
    assert loaded.instances == {"vm1": "gnt1", "vm2": "gnt2"}
    assert loaded.instance_memory == {"vm1": 1024, "vm2": 3072}
    assert loaded.migration_mib_per_s == 1024 and loaded.salt == "current"
    assert topology.load().salt == "2019.2" and topology.load().migration_mib_per_s == 4096


def test_apt_over_http_and_its_defaults(tmp_path):
    assert topology.load().apt == topology.Apt(http=False, rate_kib_s=4096, payload_kib=0)
    path = tmp_path / "t.yaml"
    path.write_text("hosts:\n  web1: {roles: [cms]}\napt: {http: true}\n")
    assert topology.load(str(path)).apt == topology.Apt(http=True, rate_kib_s=4096, payload_kib=2048)
    path.write_text("hosts:\n  web1: {roles: [cms]}\napt: {http: true, rate_kib_s: 512, payload_kib: 0}\n")
    assert topology.load(str(path)).apt == topology.Apt(http=True, rate_kib_s=512, payload_kib=0)


def test_the_test_bed_serves_a_pillar_fit_for_its_topology(tmp_path):
    from testbed import synnefo

    path = tmp_path / "t.yaml"
    path.write_text(
        "hosts:\n  gnt1: {roles: [ganeti]}\n  web-a: {roles: [astakos, cyclades]}\n  cyc2: {roles: [cyclades]}\nganeti_master: gnt1\n"
    )
    files = synnefo.pillar(topology.load(str(path)))
    cloud = files["synnefo_upgrade.sls"]["synnefo_upgrade"]
    assert {s: d["minion"] for s, d in cloud["databases"].items()} == {"astakos": "web-a", "cyclades": "web-a"}
    assert all(d["backup"] for d in cloud["databases"].values())
    assert cloud["register"] == {
        "minion": "web-a",
        "cyclades_base_url": "https://web-a.example.org/cyclades",
        "cyclades_ui_url": "https://web-a.example.org/cyclades/ui",
    }
    assert files["top.sls"]["base"]["web-a"] == ["host_web_a"]
    assert files["host_web_a.sls"]["synnefo_upgrade"]["settings"]["allowed_hosts"] == ["web-a.example.org"]


def test_real_ganeti_topology_plays_ext_and_plain_with_what_runs_here():
    loaded = topology.load(
        str(topology.os.path.join(topology.os.path.dirname(__file__), "..", "testbed", "topologies", "real-ganeti.yaml"))
    )
    assert loaded.ganeti == "real" and topology.load().ganeti == "standin"
    templates = {n: topology.REAL_TEMPLATES[s.get("disk_template", "ext")] for n, s in loaded.instance_specs.items()}
    assert templates == {"ext1": "sharedfile", "off1": "sharedfile", "ext2": "sharedfile", "plain1": "file"}


def test_several_ganeti_clusters_each_with_its_master_and_pool(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "hosts:\n  a1: {roles: [ganeti], cluster: alpha}\n  a2: {roles: [ganeti], cluster: alpha}\n"
        "  b1: {roles: [ganeti], cluster: beta}\n  web1: {roles: [cms]}\ncandidate_pool_size: 5\n"
        "ganeti_clusters:\n  alpha: {master: a2, candidate_pool_size: 1}\n  beta: {master: b1}\n"
    )
    loaded = topology.load(str(path))
    assert loaded.ganeti_clusters() == [("alpha", "a2", 1, ["a1", "a2"]), ("beta", "b1", 5, ["b1"])]
    assert loaded.cluster_of("a1") == "alpha" and loaded.cluster_of("web1") is None
    # The single-cluster form is one cluster without a name.
    assert topology.load().ganeti_clusters() == [(None, "gnt1", 10, ["gnt1", "gnt2", "gnt3"])]
