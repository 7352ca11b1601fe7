"""The dist-upgrade for real: real apt-get and dpkg, through Salt's pkg module, in a private
APT and dpkg world (APT_CONFIG and DPKG_ADMINDIR point every apt and dpkg command at a
temporary directory; dpkg installs under a private root), so the machine's packages are
never touched."""

import hashlib
import os
import subprocess

import pytest

OLD = {"salt-minion": "2014.1.13", "salt-common": "2014.1.13", "snf-common": "0.18.1-1~wheezy", "app": "1.0"}
NEW = {"salt-minion": "2016.11.2", "salt-common": "2016.11.2", "snf-common": "0.19-1~jessie", "app": "2.0"}


def build(directory, versions, work):
    directory.mkdir()
    for name, version in versions.items():
        root = work / f"{name}-{version}"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "usr" / "share" / "doc" / name).mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Test <test@example.org>\n"
            f"Description: {name} for the dist-upgrade tests\n"
        )
        (root / "usr" / "share" / "doc" / name / "version").write_text(version + "\n")
        # Each package ships a conffile, and a payload that makes the sizes differ.
        (root / "etc").mkdir()
        (root / "etc" / f"{name}.conf").write_text(f"# {name} {version}\n")
        (root / "DEBIAN" / "conffiles").write_text(f"/etc/{name}.conf\n")
        (root / "usr" / "share" / "doc" / name / "payload").write_bytes(os.urandom(1024 * len(name)))
        subprocess.run(
            ["dpkg-deb", "-b", "-Zgzip", str(root), str(directory / f"{name}_{version}_all.deb")], check=True, capture_output=True
        )
    packages = subprocess.run(["dpkg-scanpackages", "-m", "."], cwd=directory, check=True, capture_output=True, text=True)
    (directory / "Packages").write_text(packages.stdout)


class AptWorld:
    def __init__(self, base):
        self.base = base
        self.etc = base / "etc"
        self.dpkg = base / "dpkg"
        for directory in (
            "etc/sources.list.d",
            "etc/preferences.d",
            "lists/partial",
            "cache/archives/partial",
            "dpkg/info",
            "dpkg/updates",
            "root",
            "log",
            "work",
        ):
            (base / directory).mkdir(parents=True)
        for name in ("status", "available"):
            (self.dpkg / name).touch()
        build(base / "wheezy", OLD, base / "work")
        build(base / "jessie", NEW, base / "work")
        self.config = base / "apt.conf"
        self.config.write_text(
            f'Dir::Etc "{self.etc}/";\nDir::State::Lists "{base}/lists/";\nDir::State::status "{self.dpkg}/status";\n'
            f'Dir::Cache "{base}/cache/";\nDir::Log "{base}/log/";\nDebug::NoLocking "true";\n'
            f'DPkg::Options {{ "--root={base}/root"; "--admindir={self.dpkg}"; "--force-script-chrootless"; }};\n'
        )
        self.env = dict(os.environ, APT_CONFIG=str(self.config), DPKG_ADMINDIR=str(self.dpkg))
        self.source("wheezy")
        self.run("apt-get", "-q", "update")
        self.run("apt-get", "install", "-y", "-q", *OLD)

    def source(self, suite, extra=""):
        (self.etc / "sources.list").write_text(f"deb [trusted=yes] file:{self.base}/{suite} ./\n{extra}")

    def run(self, *command, stdin=None):
        return subprocess.run(command, env=self.env, check=True, capture_output=True, text=True, input=stdin).stdout

    def versions(self):
        out = self.run("dpkg-query", "-W", "-f", "${Package} ${Version}\n")
        return dict(line.split() for line in out.splitlines())

    def selections(self):
        return dict(line.split() for line in self.run("dpkg", "--get-selections").splitlines())

    def fingerprint(self):
        digest = hashlib.sha256()
        for top in ("dpkg", "lists", "root", "etc"):
            for folder, _, files in sorted(os.walk(self.base / top)):
                for name in sorted(files):
                    path = os.path.join(folder, name)
                    digest.update(path.encode())
                    with open(path, "rb") as handle:
                        digest.update(handle.read())
        return digest.hexdigest()


@pytest.fixture
def world(tmp_path, monkeypatch):
    apt = AptWorld(tmp_path / "apt-world")
    monkeypatch.setenv("APT_CONFIG", str(apt.config))
    monkeypatch.setenv("DPKG_ADMINDIR", str(apt.dpkg))
    assert apt.versions() == OLD
    return apt


def test_the_private_world_is_what_salt_sees(modules, world):
    assert modules.pkg.version("app") == "1.0"
    assert modules.apt_jessie.apt_paths() == {
        "etc": str(world.etc),
        "lists": str(world.base / "lists"),
        "status": str(world.dpkg / "status"),
    }


def test_the_minion_is_held_during_the_upgrade_and_released_after(modules, world):
    world.source("jessie")
    changes = modules.apt_jessie.dist_upgrade()
    assert changes["app"] == {"old": "1.0", "new": "2.0"}
    assert changes["snf-common"]["new"] == "0.19-1~jessie"
    assert "salt-minion" not in changes and "salt-common" not in changes
    versions = world.versions()
    assert versions["salt-minion"] == OLD["salt-minion"] and versions["app"] == "2.0"  # held while apt ran
    selections = world.selections()
    assert selections["salt-minion"] == selections["salt-common"] == "install"  # and released after


def test_a_hold_of_the_operator_stays(modules, world):
    world.run("dpkg", "--set-selections", stdin="app hold\n")
    world.source("jessie")
    modules.apt_jessie.dist_upgrade()
    assert world.versions()["app"] == "1.0"
    assert world.selections()["app"] == "hold" and world.selections()["salt-minion"] == "install"


def test_a_failed_refresh_stops_the_upgrade_before_anything_is_installed(modules, world):
    world.source("jessie", extra=f"deb [trusted=yes] file:{world.base}/missing ./\n")
    with pytest.raises(Exception, match="apt-get update failed, not upgrading"):
        modules.apt_jessie.dist_upgrade()
    assert world.versions() == OLD
    assert set(world.selections().values()) == {"install"}  # nothing left held


def test_unfinished_dpkg_work_refuses_the_upgrade(modules, world):
    status = (world.dpkg / "status").read_text()
    (world.dpkg / "status").write_text(
        status.replace("Package: app\nStatus: install ok installed", "Package: app\nStatus: install ok half-configured")
    )
    world.source("jessie")
    with pytest.raises(Exception, match="dpkg reports unfinished work, not upgrading"):
        modules.apt_jessie.dist_upgrade()
    assert world.versions()["snf-common"] == OLD["snf-common"]


def test_test_mode_predicts_the_upgrade_and_changes_nothing(states, world):
    world.source("jessie")
    before = world.fingerprint()
    ret = states.apt_jessie.dist_upgraded(name="dist-upgrade", test=True)
    assert ret.result is None
    # Each package with the bytes of its .deb: what the upgrade would download.
    sizes = {name: (world.base / "jessie" / f"{name}_{NEW[name]}_all.deb").stat().st_size for name in NEW}
    assert ret.changes["app"] == {"old": "1.0", "new": "2.0", "size": sizes["app"]}
    assert ret.changes["snf-common"]["size"] == sizes["snf-common"] != sizes["app"]
    total = sizes["app"] + sizes["snf-common"]
    assert f"2 packages would be upgraded ({total / 1048576.0:.1f} MiB to download)" == ret.comment
    assert "salt-minion" not in ret.changes  # the real run holds it, so the prediction does
    assert world.fingerprint() == before
    assert world.versions() == OLD


def test_a_dpkg_status_that_is_not_utf8_is_read_as_dpkg_reads_it(states, world):
    """dpkg does not require UTF-8: an old package's Latin-1 Maintainer must not stop the
    prediction (the download step calls it), nor reach the copy changed."""
    status = world.dpkg / "status"
    status.write_bytes(status.read_bytes().replace(b"Maintainer: Test <test@example.org>", b"Maintainer: Jos\xe9 <j@example.org>", 1))
    world.source("jessie")
    ret = states.apt_jessie.dist_upgraded(name="dist-upgrade", test=True)
    assert ret.result is None, ret.comment
    assert ret.changes["app"]["new"] == "2.0" and "salt-minion" not in ret.changes
    assert b"Jos\xe9" in status.read_bytes()


def test_locally_edited_conffiles_are_named_with_their_package(modules, world):
    root = world.base / "root"
    assert modules.apt_jessie.kept_conffiles(root=str(root)) == {}
    (root / "etc" / "app.conf").write_text("# edited by the operator\n")
    (root / "etc" / "snf-common.conf").write_text("# edited too\n")
    assert modules.apt_jessie.kept_conffiles(root=str(root)) == {"app": ["/etc/app.conf"], "snf-common": ["/etc/snf-common.conf"]}
    assert modules.apt_jessie.kept_conffiles(packages=["app"], root=str(root)) == {"app": ["/etc/app.conf"]}


def test_the_state_upgrades_and_a_second_run_has_nothing_to_do(states, world):
    world.source("jessie")
    ret = states.apt_jessie.dist_upgraded(name="dist-upgrade")
    assert ret.result is True and ret.changes["app"]["new"] == "2.0"
    again = states.apt_jessie.dist_upgraded(name="dist-upgrade")
    assert again.result is True and again.changes == {} and again.comment == "nothing to upgrade"
