"""
How the test bed takes GRNET's sources for real Synnefo (testbed/realsynnefo): each tarball
checked by sha256 and refused by name when it differs, the git fallback checked by commit id,
and the build copy of an old tree prepared for today's setuptools.
"""

import os
import subprocess
import tarfile

import pytest

from testbed import realsynnefo


def _tarball(directory, name, top, files):
    tree = os.path.join(directory, "tree", top)
    for relative, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(tree, relative)), exist_ok=True)
        with open(os.path.join(tree, relative), "w") as handle:
            handle.write(text)
    path = os.path.join(directory, name)
    with tarfile.open(path, "w:gz") as archive:
        archive.add(tree, arcname=top)
    return path


def test_a_tarball_with_another_sha256_is_refused_by_name(tmp_path):
    path = _tarball(str(tmp_path), "synnefo-0.19-1-jessie.tar.gz", "synnefo-0.19", {"version": "0.19\n"})
    with pytest.raises(realsynnefo.BuildError) as error:
        realsynnefo.checked_tarball(str(tmp_path), "synnefo-0.19-1-jessie.tar.gz", "0" * 64)
    assert path in str(error.value) and "refusing" in str(error.value)
    assert realsynnefo.checked_tarball(str(tmp_path), "synnefo-0.19-1-jessie.tar.gz", realsynnefo.sha256_of(path)) == path


def test_a_missing_tarball_is_named(tmp_path):
    with pytest.raises(realsynnefo.BuildError, match="synnefo-0.19-1-jessie.tar.gz is missing"):
        realsynnefo.checked_tarball(str(tmp_path), "synnefo-0.19-1-jessie.tar.gz", "0" * 64)


def test_the_shared_tarballs_are_the_commits_the_bed_was_built_for():
    """The copies in ../shared/upstream match SOURCES (the build refuses them otherwise)."""
    directory = realsynnefo.upstream_dir()
    if not os.path.isdir(directory):
        pytest.skip(f"{directory} is absent on this machine (the build then fetches with git)")
    for release in realsynnefo.RELEASES:
        for name, (_, _, sha256) in realsynnefo.SOURCES[release].items():
            realsynnefo.checked_tarball(directory, name, sha256)


def test_sources_refuse_a_changed_copy_before_unpacking_anything(tmp_path, monkeypatch):
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    for name in realsynnefo.SOURCES["0.19"]:
        _tarball(str(upstream), name, name.split("-1-")[0].split("-2-")[0], {"version": "0.19\n"})
    monkeypatch.setenv("SNF_UPSTREAM_DIR", str(upstream))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(realsynnefo.BuildError, match="refusing it"):
        realsynnefo.sources("0.19", str(work))
    assert os.listdir(str(work)) == []


def _git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=cwd, check=True, capture_output=True)


def test_without_the_directory_the_commit_is_fetched_with_git_and_checked_by_its_id(tmp_path, monkeypatch):
    repo = tmp_path / "git" / "grnet" / "synnefo.git"
    repo.mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    (repo / "version").write_text("0.19\n")
    _git("add", "version", cwd=repo)
    _git("commit", "-q", "-m", "release", cwd=repo)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    monkeypatch.setenv("SNF_UPSTREAM_GIT", "file://" + str(tmp_path / "git"))
    out = str(tmp_path / "synnefo-0.19-1-jessie.tar.gz")
    realsynnefo._fetch_with_git("grnet/synnefo", commit, out, str(tmp_path / "work"))
    with tarfile.open(out) as archive:
        assert "synnefo-0.19/version" in archive.getnames()
    with pytest.raises(realsynnefo.BuildError, match="has no commit " + "1" * 40):
        realsynnefo._fetch_with_git("grnet/synnefo", "1" * 40, out, str(tmp_path / "work"))
    with pytest.raises(realsynnefo.BuildError, match="could not be fetched"):
        realsynnefo._fetch_with_git("grnet/absent", commit, out, str(tmp_path / "work"))


def test_an_old_tree_is_prepared_for_todays_setuptools(tmp_path):
    setup = "import distribute_setup\ndistribute_setup.use_setuptools()\nfrom setuptools import setup\n"
    tree = tmp_path / "synnefo-0.18.1"
    (tree / "snf-common" / "synnefo" / "versions").mkdir(parents=True)
    (tree / "snf-common" / "setup.py").write_text(setup)
    existing = tree / "snf-django-lib" / "snf_django" / "version.py"
    existing.parent.mkdir(parents=True)
    existing.write_text('__version__ = "kept"\n')
    realsynnefo._prepare(str(tree), "synnefo", "0.18.1")
    assert (tree / "snf-common" / "setup.py").read_text() == "from setuptools import setup\n"
    assert (tree / "snf-common" / "synnefo" / "versions" / "common.py").read_text() == '__version__ = "0.18.1"\n'
    assert existing.read_text() == '__version__ = "kept"\n'
