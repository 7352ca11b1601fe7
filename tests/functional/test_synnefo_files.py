"""synnefo_files: the formula's one writer. Backups keep owner, mode and content, and never
overwrite each other; writes are atomic and keep owner and mode."""

import os
import stat

import pytest


@pytest.fixture
def owned(tmp_path):
    path = tmp_path / "etc" / "20-snf-cyclades-app-api.conf"
    path.parent.mkdir()
    path.write_text("FIRST = 1\n")
    os.chown(path, 1234, 4321)
    os.chmod(path, 0o640)
    return path


def test_a_backup_keeps_owner_mode_and_content(modules, owned, backup_dir):
    copy = modules.synnefo_files.backup(str(owned))
    assert copy.startswith(str(backup_dir) + str(owned) + ".")
    info = os.stat(copy)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 4321, 0o640)
    assert open(copy).read() == "FIRST = 1\n"


def test_backups_in_the_same_second_never_overwrite_each_other(modules, owned):
    copies = []
    for number in range(5):
        owned.write_text(f"VERSION = {number}\n")
        copies.append(modules.synnefo_files.backup(str(owned)))
    assert len(set(copies)) == 5
    assert [open(c).read() for c in copies] == [f"VERSION = {n}\n" for n in range(5)]


def test_replace_keeps_owner_and_mode_and_backs_up_first(modules, owned):
    inode = owned.stat().st_ino
    done = modules.synnefo_files.replace(str(owned), "SECOND = 2\n")
    info = owned.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 4321, 0o640)
    assert info.st_ino != inode  # a new file renamed over the old one: no reader sees half
    assert owned.read_text() == "SECOND = 2\n"
    assert open(done["backup"]).read() == "FIRST = 1\n"
    assert not [n for n in os.listdir(owned.parent) if n.startswith(".synnefo_upgrade.")]


def test_a_new_file_takes_the_owner_given(modules, tmp_path):
    path = tmp_path / "new.conf"
    done = modules.synnefo_files.replace(str(path), "X = 1\n", user=1234, group=4321, mode="0640")
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 4321, 0o640)
    assert done["backup"] is None


def test_an_unwritable_place_is_an_error_naming_the_path(modules, tmp_path):
    with pytest.raises(Exception, match=r"/missing/dir/x.conf: cannot write"):
        modules.synnefo_files.replace(str(tmp_path / "missing" / "dir" / "x.conf"), "X = 1\n")
