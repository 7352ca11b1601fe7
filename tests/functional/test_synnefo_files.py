"""synnefo_files: the formula's one writer. Backups keep owner, mode and content, and never
overwrite each other; writes are atomic and keep owner and mode."""

import os
import struct
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


def test_a_symbolic_link_stays_a_link_and_its_target_is_edited(modules, owned, tmp_path):
    link = tmp_path / "gunicorn.d" / "synnefo"
    link.parent.mkdir()
    link.symlink_to(owned)
    done = modules.synnefo_files.replace(str(link), "SECOND = 2\n")
    assert link.is_symlink() and os.readlink(link) == str(owned)
    assert owned.read_text() == "SECOND = 2\n"
    info = owned.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 4321, 0o640)
    assert open(done["backup"]).read() == "FIRST = 1\n" and done["path"] == str(owned)


def test_a_dangling_link_is_refused(modules, tmp_path):
    link = tmp_path / "synnefo"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(Exception, match="a symbolic link to .*nowhere, which does not exist"):
        modules.synnefo_files.replace(str(link), "X = 1\n")
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def test_a_text_that_cannot_be_written_leaves_no_temporary_file(modules, owned):
    """A lone surrogate cannot be encoded (Python 3; Python 2 writes it): a clear error, the
    file as it was, no temporary left beside it."""
    try:
        modules.synnefo_files.replace(str(owned), "BROKEN = '\udc80'\n")
    except Exception as exc:  # noqa: BLE001 - the Salt 2019.2 worker re-raises as RuntimeError
        assert "cannot write the new text" in str(exc)
        assert owned.read_text() == "FIRST = 1\n"
    assert not [n for n in os.listdir(owned.parent) if n.startswith(".synnefo_upgrade.")]


def acl(user, perms):
    """A POSIX access ACL as the kernel stores it (linux/posix_acl_xattr.h, version 2): the
    owner rw, a named user with ``perms``, the group r, the mask, others nothing."""
    entries = [(0x01, 6, 0xFFFFFFFF), (0x02, perms, user), (0x04, 4, 0xFFFFFFFF), (0x10, 6, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


def test_extended_attributes_and_acls_are_kept(modules, owned):
    os.setxattr(owned, "user.site.note", b"managed by hand")
    os.setxattr(owned, "system.posix_acl_access", acl(4242, 4))
    modules.synnefo_files.replace(str(owned), "SECOND = 2\n")
    assert owned.read_text() == "SECOND = 2\n"
    assert os.getxattr(owned, "user.site.note") == b"managed by hand"
    assert os.getxattr(owned, "system.posix_acl_access") == acl(4242, 4)
    info = owned.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 4321, 0o660)  # the ACL's mask shows as group bits
