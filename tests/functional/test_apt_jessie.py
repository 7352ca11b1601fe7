"""apt_jessie on real files in temporary APT trees: sources, backports pin, policy-rc.d guard."""

import os
import stat
import subprocess

import pytest

SOURCES_LIST = """\
# Debian wheezy
deb http://ftp.gr.debian.org/debian wheezy main contrib non-free
deb-src http://ftp.gr.debian.org/debian wheezy main
deb http://security.debian.org/ wheezy/updates main
deb http://ftp.gr.debian.org/debian wheezy-updates main
#deb http://ftp.gr.debian.org/debian wheezy-proposed-updates main

deb [arch=amd64] http://ftp.gr.debian.org/debian wheezy-backports main # for newer qemu
deb http://mirror.example.org/wheezy-archive/debian stable main
deb http://apt.postgresql.org/pub/repos/apt/ wheezy-pgdg main
"""
SWITCHED = """\
# Debian wheezy
deb http://ftp.gr.debian.org/debian jessie main contrib non-free
deb-src http://ftp.gr.debian.org/debian jessie main
deb http://security.debian.org/ jessie/updates main
deb http://ftp.gr.debian.org/debian jessie-updates main
#deb http://ftp.gr.debian.org/debian wheezy-proposed-updates main

deb [arch=amd64] http://ftp.gr.debian.org/debian jessie-backports main # for newer qemu
deb http://mirror.example.org/wheezy-archive/debian stable main
deb http://apt.postgresql.org/pub/repos/apt/ jessie-pgdg main
"""
GRNET = "deb http://apt.dev.grnet.gr wheezy/\ndeb-src http://apt.dev.grnet.gr wheezy/\n"
CEPH = "deb http://eu.ceph.com/debian-hammer/ wheezy main\n"
LOCAL = "deb http://repo.example.org/internal stable main\n"


@pytest.fixture
def apt_dir(tmp_path):
    root = tmp_path / "apt"
    (root / "sources.list.d").mkdir(parents=True)
    (root / "preferences.d").mkdir()
    files = {
        root / "sources.list": (SOURCES_LIST, 0o644),
        root / "sources.list.d" / "grnet.list": (GRNET, 0o640),
        root / "sources.list.d" / "ceph.list": (CEPH, 0o644),
        root / "sources.list.d" / "local.list": (LOCAL, 0o600),
        root / "sources.list.d" / "old.list.disabled": ("deb http://x wheezy main\n", 0o644),
    }
    for path, (text, mode) in files.items():
        path.write_text(text)
        os.chown(path, 0, 4)
        os.chmod(path, mode)
    return root


def test_sources_switched_changes_only_suites(states, apt_dir, backup_dir):
    local_mtime = (apt_dir / "sources.list.d" / "local.list").stat().st_mtime_ns
    ret = states.apt_jessie.sources_switched(name=str(apt_dir))
    assert ret.result is True
    assert (apt_dir / "sources.list").read_text() == SWITCHED
    assert (
        apt_dir / "sources.list.d" / "grnet.list"
    ).read_text() == "deb http://apt.dev.grnet.gr jessie/\ndeb-src http://apt.dev.grnet.gr jessie/\n"
    assert (apt_dir / "sources.list.d" / "ceph.list").read_text() == "deb http://eu.ceph.com/debian-hammer/ jessie main\n"
    assert (apt_dir / "sources.list.d" / "local.list").stat().st_mtime_ns == local_mtime
    assert (apt_dir / "sources.list.d" / "old.list.disabled").read_text() == "deb http://x wheezy main\n"
    assert sorted(ret.changes) == sorted(
        str(p) for p in (apt_dir / "sources.list", apt_dir / "sources.list.d/grnet.list", apt_dir / "sources.list.d/ceph.list")
    )
    grnet = apt_dir / "sources.list.d" / "grnet.list"
    info = grnet.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 4, 0o640)
    assert open(ret.changes[str(grnet)]["backup"]).read() == GRNET
    assert "\n-deb http://apt.dev.grnet.gr wheezy/\n" in ret.changes[str(grnet)]["diff"]
    assert "\n+deb http://apt.dev.grnet.gr jessie/\n" in ret.changes[str(grnet)]["diff"]
    again = states.apt_jessie.sources_switched(name=str(apt_dir))
    assert again.result is True and again.changes == {}


def test_sources_switched_test_mode_writes_nothing(states, apt_dir):
    ret = states.apt_jessie.sources_switched(name=str(apt_dir), test=True)
    assert ret.result is None
    assert "+deb http://security.debian.org/ jessie/updates main" in ret.changes[str(apt_dir / "sources.list")]["diff"]
    assert (apt_dir / "sources.list").read_text() == SOURCES_LIST


@pytest.mark.parametrize(
    "line, expected",
    [
        ("deb http://a/debian wheezy main", "deb http://a/debian jessie main"),
        (
            "  deb   [trusted=yes arch=amd64]   file:///srv/repo   wheezy   main  # x",
            "  deb   [trusted=yes arch=amd64]   file:///srv/repo   jessie   main  # x",
        ),
        ("deb http://a/debian wheezyish main", "deb http://a/debian wheezyish main"),
        ("deb http://a/wheezy/debian stable main", "deb http://a/wheezy/debian stable main"),
        ("# deb http://a/debian wheezy main", "# deb http://a/debian wheezy main"),
        ("debx http://a/debian wheezy main", "debx http://a/debian wheezy main"),
        ("deb http://apt.dev.grnet.gr wheezy/\r\n", "deb http://apt.dev.grnet.gr jessie/\r\n"),
    ],
)
def test_switch_line(modules, line, expected):
    assert modules.apt_jessie.switch_line(line) == expected


def test_backports_source_on_the_hosts_mirror_and_release_pins(states, apt_dir):
    states.apt_jessie.sources_switched(name=str(apt_dir))
    os.unlink(apt_dir / "sources.list")  # no jessie-backports line left: one must be added
    (apt_dir / "sources.list").write_text("deb [trusted=yes] http://ftp.gr.debian.org/debian jessie main\n")
    pins = {"python-gevent": "1.1.1", "python-greenlet": "0.4.10"}
    ret = states.apt_jessie.backports_pinned(name=str(apt_dir), packages=pins)
    assert ret.result is True, ret.comment
    source = (apt_dir / "sources.list.d" / "jessie-backports.list").read_text()
    assert "deb [trusted=yes] http://ftp.gr.debian.org/debian jessie-backports main\n" in source
    pin = (apt_dir / "preferences.d" / "synnefo-upgrade-backports").read_text()
    assert "Package: *\nPin: release a=jessie-backports\nPin-Priority: 100\n" in pin
    # The release, not a version: backports builds carry a ~bpo8+N suffix no exact pin matches.
    assert "Package: python-gevent\nPin: release a=jessie-backports\nPin-Priority: 990\n" in pin
    assert "Package: python-greenlet\nPin: release a=jessie-backports\nPin-Priority: 990\n" in pin
    assert states.apt_jessie.backports_pinned(name=str(apt_dir), packages=pins).changes == {}


def test_existing_backports_source_is_reused(states, apt_dir):
    states.apt_jessie.sources_switched(name=str(apt_dir))
    ret = states.apt_jessie.backports_pinned(name=str(apt_dir), packages={"python-gevent": "1.1.1"})
    assert list(ret.changes) == [str(apt_dir / "preferences.d" / "synnefo-upgrade-backports")]
    assert not (apt_dir / "sources.list.d" / "jessie-backports.list").exists()


def test_backports_before_the_switch_uses_the_wheezy_lines_mirror(states, apt_dir):
    (apt_dir / "sources.list").write_text("deb http://ftp.gr.debian.org/debian wheezy main\n")
    ret = states.apt_jessie.backports_pinned(name=str(apt_dir), packages={"python-gevent": "1.1.1"}, test=True)
    assert ret.result is None
    assert (
        "+deb http://ftp.gr.debian.org/debian jessie-backports main"
        in ret.changes[str(apt_dir / "sources.list.d" / "jessie-backports.list")]["diff"]
    )


def test_a_wheezy_backports_line_counts_as_the_backports_source(states, apt_dir):
    ret = states.apt_jessie.backports_pinned(name=str(apt_dir), packages={"python-gevent": "1.1.1"})
    assert list(ret.changes) == [str(apt_dir / "preferences.d" / "synnefo-upgrade-backports")]


def test_backports_without_a_debian_mirror_fails_clearly(states, apt_dir):
    (apt_dir / "sources.list").write_text("# only the grnet and ceph repositories in sources.list.d\n")
    ret = states.apt_jessie.backports_pinned(name=str(apt_dir), packages={"python-gevent": "1.1.1"})
    assert ret.result is False
    assert "no 'deb URI jessie main' (or wheezy) source" in ret.comment
    assert os.listdir(apt_dir / "preferences.d") == []


def test_bad_pin_is_refused(states, apt_dir):
    ret = states.apt_jessie.backports_pinned(name=str(apt_dir), packages={"python-gevent": "1.1.1-2\nPin-Priority: 1001"})
    assert ret.result is False and "not a Debian package name and version" in ret.comment


def test_pin_file_is_understood_by_apt(states, apt_dir, tmp_path):
    """apt-cache reads the written preferences: a syntax error would show here."""
    states.apt_jessie.sources_switched(name=str(apt_dir))
    states.apt_jessie.backports_pinned(name=str(apt_dir), packages={"python-gevent": "1.1.1"})
    state = tmp_path / "aptstate"
    (state / "lists" / "partial").mkdir(parents=True)
    (state / "status").write_text("")
    # Everything private: this machine's own package database is not consulted.
    run = subprocess.run(
        [
            "apt-cache",
            "-o",
            f"Dir::Etc={apt_dir}",
            "-o",
            f"Dir::State={state}",
            "-o",
            f"Dir::State::status={state / 'status'}",
            "-o",
            "Dir::Cache::pkgcache=",
            "-o",
            "Dir::Cache::srcpkgcache=",
            "policy",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "E:" not in run.stderr


def _archive(root, suites):
    """A Debian archive under ``root`` with ``suites`` ({suite: {package: version}}), the
    layout and Release fields of Debian's own (backports: NotAutomatic, ButAutomaticUpgrades)."""
    for suite, contents in suites.items():
        index = root / "dists" / suite / "main" / "binary-amd64"
        index.mkdir(parents=True)
        for name, version in contents.items():
            build = root / "build" / suite / name
            (build / "DEBIAN").mkdir(parents=True)
            (build / "DEBIAN" / "control").write_text(
                f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: {name}\n"
            )
            subprocess.run(
                ["dpkg-deb", "-b", "-Zgzip", str(build), str(index / f"{name}_{version}_all.deb")], check=True, capture_output=True
            )
        scan = subprocess.run(
            ["dpkg-scanpackages", "-m", str(index.relative_to(root))], cwd=root, check=True, capture_output=True, text=True
        )
        (index / "Packages").write_text(scan.stdout)
        release = [f"Suite: {suite}", f"Codename: {suite}", "Architectures: amd64 all", "Components: main"]
        if suite.endswith("-backports"):
            release += ["NotAutomatic: yes", "ButAutomaticUpgrades: yes"]
        (root / "dists" / suite / "Release").write_text("\n".join(release) + "\n")


def test_the_pin_takes_the_backports_builds_whatever_their_suffix(states, tmp_path):
    """What apt then decides, read from apt-cache policy: gevent and greenlet from backports,
    with the ~bpo8+N versions backports builds really carry, any other backports package left
    at jessie's."""
    mirror = tmp_path / "mirror" / "debian"
    _archive(
        mirror,
        {
            "wheezy": {"python-gevent": "0.13.6-1", "python-greenlet": "0.3.1-2", "nginx": "1.2.1-2.2"},
            "jessie": {"python-gevent": "1.0.1-2", "python-greenlet": "0.4.2-1", "nginx": "1.6.2-5"},
            "jessie-backports": {"python-gevent": "1.1.1-2~bpo8+1", "python-greenlet": "0.4.10-1~bpo8+1", "nginx": "1.9.10-1~bpo8+4"},
        },
    )
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "preferences.d").mkdir()
    (apt / "sources.list").write_text(f"deb [trusted=yes] file:{mirror} wheezy main\n")
    assert states.apt_jessie.sources_switched(name=str(apt)).result is True
    pinned = states.apt_jessie.backports_pinned(name=str(apt), packages={"python-gevent": "1.1.1", "python-greenlet": "0.4.10"})
    assert pinned.result is True
    state = tmp_path / "aptstate"
    (state / "lists" / "partial").mkdir(parents=True)
    (state / "status").write_text("")
    # Everything private: this machine's own package database and sources are not consulted.
    private = [
        "-o",
        f"Dir::Etc={apt}",
        "-o",
        f"Dir::State={state}",
        "-o",
        f"Dir::State::status={state / 'status'}",
        "-o",
        "Dir::Cache::pkgcache=",
        "-o",
        "Dir::Cache::srcpkgcache=",
        "-o",
        "Debug::NoLocking=1",
    ]
    update = subprocess.run(["apt-get", *private, "update"], capture_output=True, text=True)
    assert update.returncode == 0 and "E:" not in update.stderr, update.stderr
    policy = subprocess.run(["apt-cache", *private, "policy", "python-gevent", "python-greenlet", "nginx"], capture_output=True, text=True)
    assert policy.returncode == 0 and "E:" not in policy.stderr, policy.stderr
    candidates = {}
    package = None
    for line in policy.stdout.splitlines():
        if not line.startswith(" "):
            package = line.rstrip(":")
        elif line.strip().startswith("Candidate:"):
            candidates[package] = line.split(":", 1)[1].strip()
    assert candidates == {"python-gevent": "1.1.1-2~bpo8+1", "python-greenlet": "0.4.10-1~bpo8+1", "nginx": "1.6.2-5"}


def test_backports_below_names_jessies_own_gevent(modules, dpkg_installed):
    wanted = {"python-gevent": "1.1.1", "python-greenlet": "0.4.10", "python-absent": "1.0"}
    dpkg_installed({"python-gevent": "1.0.1-2", "python-greenlet": "0.4.10-1~bpo8+1"})
    assert modules.apt_jessie.backports_below(wanted) == {"python-gevent": "1.0.1-2"}
    # A dry run's versions are judged instead of the installed ones.
    assert modules.apt_jessie.backports_below(wanted, {"python-gevent": "1.1.1-2~bpo8+1"}) == {}
    dpkg_installed({"python-gevent": "1.1.1-2~bpo8+1", "python-greenlet": "0.4.5-1"})
    assert modules.apt_jessie.backports_below(wanted) == {"python-greenlet": "0.4.5-1"}


# --- policy-rc.d guard ---------------------------------------------------------------------


@pytest.fixture
def policy(tmp_path):
    return tmp_path / "sbin" / "policy-rc.d"


def run_policy(policy):
    return subprocess.run([str(policy), "gunicorn", "start"]).returncode


def test_guard_installs_exits_101_and_removes_cleanly(states, policy):
    policy.parent.mkdir()
    ret = states.apt_jessie.policy_rc_d_installed(name=str(policy))
    assert ret.result is True and ret.changes
    assert run_policy(policy) == 101
    assert stat.S_IMODE(policy.stat().st_mode) == 0o755
    assert states.apt_jessie.policy_rc_d_installed(name=str(policy)).changes == {}
    removed = states.apt_jessie.policy_rc_d_removed(name=str(policy))
    assert removed.result is True and removed.changes == {"policy-rc.d": "removed"}
    assert not policy.exists()
    assert states.apt_jessie.policy_rc_d_removed(name=str(policy)).changes == {}


def test_hosts_own_policy_is_kept_aside_and_put_back(states, policy):
    policy.parent.mkdir()
    policy.write_text("#!/bin/sh\n# site policy\nexit 0\n")
    os.chmod(policy, 0o750)
    states.apt_jessie.policy_rc_d_installed(name=str(policy))
    assert run_policy(policy) == 101
    states.apt_jessie.policy_rc_d_removed(name=str(policy))
    assert policy.read_text() == "#!/bin/sh\n# site policy\nexit 0\n"
    assert stat.S_IMODE(policy.stat().st_mode) == 0o750


@pytest.fixture
def policy_on_another_filesystem(tmp_path, state_dir):
    """policy-rc.d on a filesystem of its own (a tmpfs), the formula's state directory on
    another: as on a host whose /var is its own filesystem."""
    mount = tmp_path / "usr"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        policy = mount / "sbin" / "policy-rc.d"
        policy.parent.mkdir()
        state_dir.mkdir(parents=True, exist_ok=True)
        assert os.stat(policy.parent).st_dev != os.stat(state_dir).st_dev
        yield policy
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_the_hosts_own_policy_is_kept_aside_across_filesystems_and_put_back(states, policy_on_another_filesystem, state_dir):
    policy = policy_on_another_filesystem
    policy.write_text("#!/bin/sh\n# site policy\nexit 0\n")
    os.chmod(policy, 0o750)
    os.chown(policy, 0, 4)
    ret = states.apt_jessie.policy_rc_d_installed(name=str(policy))
    assert ret.result is True, ret.comment
    assert run_policy(policy) == 101
    saved = state_dir / ("saved" + str(policy))
    assert saved.read_text() == "#!/bin/sh\n# site policy\nexit 0\n" and stat.S_IMODE(saved.stat().st_mode) == 0o750
    assert not [p for p in policy.parent.iterdir() if p.name.startswith(".synnefo_upgrade.")]
    removed = states.apt_jessie.policy_rc_d_removed(name=str(policy))
    assert removed.result is True, removed.comment
    assert policy.read_text() == "#!/bin/sh\n# site policy\nexit 0\n"
    info = policy.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o750, 0, 4) and not saved.exists()


def test_removal_never_deletes_a_policy_the_formula_did_not_write(states, policy):
    policy.parent.mkdir()
    policy.write_text("#!/bin/sh\nexit 0\n")
    ret = states.apt_jessie.policy_rc_d_removed(name=str(policy))
    assert ret.result is True and ret.changes == {}
    assert "not the formula's" in ret.comment
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"


def test_guard_test_mode_changes_nothing(states, policy):
    policy.parent.mkdir()
    ret = states.apt_jessie.policy_rc_d_installed(name=str(policy), test=True)
    assert ret.result is None and ret.changes
    assert not policy.exists()


DOCKER_POLICY = "#!/bin/sh\nexit 101\n"  # what Docker's Debian images ship


def test_the_module_never_deletes_a_policy_it_did_not_write_even_called_directly(modules, policy):
    policy.parent.mkdir()
    policy.write_text(DOCKER_POLICY)
    with pytest.raises(Exception, match="not the formula's guard: left alone"):
        modules.apt_jessie.policy_rc_d_remove(name=str(policy))
    assert policy.read_text() == DOCKER_POLICY


def test_a_plain_exit_101_policy_is_not_taken_for_the_guard(modules, states, policy, state_dir):
    policy.parent.mkdir()
    policy.write_text(DOCKER_POLICY)
    assert modules.apt_jessie.policy_rc_d_status(name=str(policy))["ours"] is False
    installed = states.apt_jessie.policy_rc_d_installed(name=str(policy))
    assert installed.result is True and installed.changes["saved"]  # kept aside, not adopted
    assert "synnefo_upgrade: policy-rc.d guard" in policy.read_text()
    removed = states.apt_jessie.policy_rc_d_removed(name=str(policy))
    assert removed.result is True and policy.read_text() == DOCKER_POLICY


def test_a_second_save_never_overwrites_the_first(modules, policy):
    policy.parent.mkdir()
    policy.write_text("#!/bin/sh\n# the site's first policy\nexit 0\n")
    first = modules.apt_jessie.policy_rc_d_install(name=str(policy))
    saved = first["saved"]
    policy.write_text("#!/bin/sh\n# someone else's, written over the guard\nexit 0\n")
    with pytest.raises(Exception, match="already holds a saved policy-rc.d"):
        modules.apt_jessie.policy_rc_d_install(name=str(policy))
    assert open(saved).read() == "#!/bin/sh\n# the site's first policy\nexit 0\n"
    assert policy.read_text() == "#!/bin/sh\n# someone else's, written over the guard\nexit 0\n"


@pytest.mark.parametrize("host_had_one", [True, False])
def test_a_guard_replaced_while_in_place_is_a_failure(states, policy, host_had_one):
    policy.parent.mkdir()
    if host_had_one:
        policy.write_text("#!/bin/sh\nexit 0\n")
    states.apt_jessie.policy_rc_d_installed(name=str(policy))
    policy.write_text("#!/bin/sh\n# replaced by someone else\nexit 0\n")
    ret = states.apt_jessie.policy_rc_d_removed(name=str(policy))
    assert ret.result is False and "replaced by someone else" in ret.comment
    assert policy.read_text() == "#!/bin/sh\n# replaced by someone else\nexit 0\n"


def test_removal_in_test_mode_removes_nothing(states, policy):
    policy.parent.mkdir()
    policy.write_text("#!/bin/sh\n# site policy\nexit 0\n")
    states.apt_jessie.policy_rc_d_installed(name=str(policy))
    guard = policy.read_text()
    ret = states.apt_jessie.policy_rc_d_removed(name=str(policy), test=True)
    assert ret.result is None and ret.changes["policy-rc.d"] == "removed" and "restored" in ret.changes
    assert policy.read_text() == guard
    assert states.apt_jessie.policy_rc_d_removed(name=str(policy)).result is True
    assert policy.read_text() == "#!/bin/sh\n# site policy\nexit 0\n"
