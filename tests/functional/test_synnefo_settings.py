"""synnefo_settings: ALLOWED_HOSTS per node and the backend allocator, on real settings files."""

import os
import stat

import pytest

OLD = "synnefo.logic.allocators.default_allocator.DefaultAllocator"
NEW = "synnefo.logic.allocators.filter_allocator.FilterAllocator"
BACKEND_CONF = f"""## Backend settings (local edits)
# The allocator, kept explicit here:
BACKEND_ALLOCATOR_MODULE = '{OLD}'  # our choice
#BACKEND_ALLOCATOR_MODULE = '{OLD}'
"""


@pytest.fixture
def config_dir(tmp_path):
    path = tmp_path / "synnefo"
    path.mkdir()
    for name, text in (
        ("10-snf-webproject-deploy.conf", "#DEBUG = False\n#ALLOWED_HOSTS = ['*']\n"),
        ("20-snf-cyclades-app-backend.conf", BACKEND_CONF),
    ):
        (path / name).write_text(text)
        os.chown(path / name, 0, 4)
        os.chmod(path / name, 0o640)
    return path


def owner(path):
    info = os.stat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_allowed_hosts_written_in_a_file_of_its_own_like_its_siblings(states, modules, config_dir):
    name = str(config_dir / "99-synnefo-upgrade-allowed-hosts.conf")
    ret = states.synnefo_settings.allowed_hosts(name=name, hosts=["accounts.example.org", "10.0.0.1"], config_dir=str(config_dir))
    assert ret.result is True, ret.comment
    assert owner(name) == (0, 4, 0o640)
    found = modules.synnefo_settings.assignments("ALLOWED_HOSTS", str(config_dir))
    assert [(os.path.basename(a["path"]), a["value"]) for a in found] == [
        ("99-synnefo-upgrade-allowed-hosts.conf", ["accounts.example.org", "10.0.0.1"])
    ]
    again = states.synnefo_settings.allowed_hosts(name=name, hosts=["accounts.example.org", "10.0.0.1"], config_dir=str(config_dir))
    assert again.result is True and again.changes == {}


def test_allowed_hosts_without_pillar_warns_and_writes_nothing(states, config_dir):
    name = str(config_dir / "99-synnefo-upgrade-allowed-hosts.conf")
    ret = states.synnefo_settings.allowed_hosts(name=name, hosts=[], config_dir=str(config_dir))
    assert ret.result is True and ret.changes == {}
    assert "warning" in ret.comment and "['*']" in ret.comment
    assert not os.path.exists(name)


def test_allowed_hosts_refused_when_a_later_file_would_win(states, config_dir):
    (config_dir / "zz-local.conf").write_text("ALLOWED_HOSTS = ['x']\n")
    name = str(config_dir / "99-synnefo-upgrade-allowed-hosts.conf")
    ret = states.synnefo_settings.allowed_hosts(name=name, hosts=["a.example.org"], config_dir=str(config_dir))
    assert ret.result is False and f"{config_dir}/zz-local.conf:1 sets ALLOWED_HOSTS after" in ret.comment
    assert not os.path.exists(name)


def test_allowed_hosts_dry_run(states, config_dir):
    name = str(config_dir / "99-synnefo-upgrade-allowed-hosts.conf")
    ret = states.synnefo_settings.allowed_hosts(name=name, hosts=["a.example.org"], config_dir=str(config_dir), test=True)
    assert ret.result is None and "+ALLOWED_HOSTS = ['a.example.org']" in ret.changes[name]["diff"]
    assert not os.path.exists(name)


@pytest.mark.parametrize(
    "hosts, error",
    [
        ("accounts.example.org", "must be a non-empty list of host names, not 'accounts.example.org'"),
        ({"a": 1}, "must be a non-empty list of host names"),
        (["a.example.org", "evil\nimport os"], "entry 2: 'evil\\nimport os' is not a host name"),
        (["a.example.org\r"], "entry 1"),
        (["a\x00b"], "entry 1"),
        (["a.example.org:443"], "entry 1: 'a.example.org:443' is not a host name"),
        (["a..example.org"], "entry 1"),
        (["-a.example.org"], "entry 1"),
        (["a b"], "entry 1"),
        ([3], "entry 1: 3 is not a host name (a string)"),
        (["x" * 64 + ".org"], "entry 1"),
    ],
)
def test_allowed_hosts_that_django_could_not_match_are_refused_naming_the_pillar_key(states, config_dir, hosts, error):
    name = config_dir / "99-synnefo-upgrade-allowed-hosts.conf"
    name.write_text("ALLOWED_HOSTS = ['old.example.org']\n")
    before = sorted((p.name, p.read_bytes()) for p in config_dir.iterdir())
    ret = states.synnefo_settings.allowed_hosts(name=str(name), hosts=hosts, config_dir=str(config_dir))
    assert ret.result is False and "pillar synnefo_upgrade:allowed_hosts" in ret.comment and error in ret.comment, ret.comment
    assert "nothing was changed" in ret.comment
    assert sorted((p.name, p.read_bytes()) for p in config_dir.iterdir()) == before


def test_allowed_hosts_in_every_form_django_matches_and_names_in_other_scripts_as_idna(states, modules, config_dir):
    name = config_dir / "99-synnefo-upgrade-allowed-hosts.conf"
    hosts = ["*", ".example.org", "accounts.example.org", "10.0.0.1", "[2001:db8::1]", "παράδειγμα.δοκιμή", "host-1.example.org."]
    ret = states.synnefo_settings.allowed_hosts(name=str(name), hosts=hosts, config_dir=str(config_dir))
    assert ret.result is True, ret.comment
    text = name.read_bytes()
    assert text.decode("ascii")  # Python 2's execfile reads it too
    (found,) = modules.synnefo_settings.assignments("ALLOWED_HOSTS", str(config_dir))
    assert found["value"] == hosts[:5] + ["xn--hxajbheg2az3al.xn--jxalpdlp", "host-1.example.org."]


def test_the_formulas_own_file_is_rewritten_even_when_it_no_longer_parses(states, modules, config_dir):
    """What an earlier version could write (a NUL from pillar): Django cannot load it; the
    formula must still fix its own file."""
    name = config_dir / "99-synnefo-upgrade-allowed-hosts.conf"
    name.write_bytes(b"ALLOWED_HOSTS = ['a\x00b']\n")
    ret = states.synnefo_settings.allowed_hosts(name=str(name), hosts=["a.example.org"], config_dir=str(config_dir))
    assert ret.result is True, ret.comment
    (found,) = modules.synnefo_settings.assignments("ALLOWED_HOSTS", str(config_dir))
    assert found["value"] == ["a.example.org"]


def test_a_settings_file_that_is_not_utf8_is_refused_naming_it(states, config_dir):
    (config_dir / "20-snf-cyclades-app-backend.conf").write_bytes(BACKEND_CONF.encode() + b"# caf\xe9\n")
    ret = states.synnefo_settings.allocator_switched(name=str(config_dir))
    assert ret.result is False and "20-snf-cyclades-app-backend.conf: not UTF-8 text" in ret.comment
    assert "Traceback" not in ret.comment and "nothing was changed" in ret.comment


def test_the_old_default_allocator_is_switched_on_its_own_line(states, config_dir, backup_dir):
    path = config_dir / "20-snf-cyclades-app-backend.conf"
    ret = states.synnefo_settings.allocator_switched(name=str(config_dir))
    assert ret.result is True, ret.comment
    text = path.read_text()
    assert text == BACKEND_CONF.replace(
        f"BACKEND_ALLOCATOR_MODULE = '{OLD}'  # our choice", f"BACKEND_ALLOCATOR_MODULE = '{NEW}'  # our choice"
    )
    assert f"#BACKEND_ALLOCATOR_MODULE = '{OLD}'" in text  # the comment is not a setting
    assert owner(path) == (0, 4, 0o640)
    assert open(ret.changes[str(path)]["backup"]).read() == BACKEND_CONF
    again = states.synnefo_settings.allocator_switched(name=str(config_dir))
    assert again.result is True and again.changes == {}


def test_a_custom_allocator_is_kept_with_a_warning(states, config_dir):
    path = config_dir / "20-snf-cyclades-app-backend.conf"
    path.write_text("BACKEND_ALLOCATOR_MODULE = 'site.allocators.Ours'\n")
    ret = states.synnefo_settings.allocator_switched(name=str(config_dir))
    assert ret.result is True and ret.changes == {}
    assert f"warning: {path}:1 sets a custom allocator site.allocators.Ours: kept" in ret.comment
    assert path.read_text() == "BACKEND_ALLOCATOR_MODULE = 'site.allocators.Ours'\n"


def test_allocator_dry_run_and_a_broken_file(states, config_dir):
    path = config_dir / "20-snf-cyclades-app-backend.conf"
    ret = states.synnefo_settings.allocator_switched(name=str(config_dir), test=True)
    assert ret.result is None and f"+BACKEND_ALLOCATOR_MODULE = '{NEW}'" in ret.changes[str(path)]["diff"]
    assert path.read_text() == BACKEND_CONF
    (config_dir / "30-broken.conf").write_text("A = 1\nB = (\n")
    broken = states.synnefo_settings.allocator_switched(name=str(config_dir))
    assert broken.result is False and f"{config_dir}/30-broken.conf:" in broken.comment and "nothing was changed" in broken.comment
    assert path.read_text() == BACKEND_CONF
