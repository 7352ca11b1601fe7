"""apache_sites: site files renamed to *.conf and re-enabled as they were, the proxy header
that gunicorn 19 trusts, on real files and links."""

import os
import stat

import pytest

SSL_SITE = """<VirtualHost _default_:443>
    ServerName web1.example.org
    RequestHeader set X-Forwarded-Protocol "https"
    ProxyPass / http://localhost:8080/ retry=0
</VirtualHost>
"""
PLAIN_SITE = "<VirtualHost *:80>\n    ServerName web1.example.org\n</VirtualHost>\n"


@pytest.fixture
def apache(tmp_path):
    """An Apache 2.2 configuration as the test bed's wheezy hosts have it: synnefo and
    synnefo-ssl enabled, a disabled legacy site, one already named .conf, a dpkg leftover."""
    root = tmp_path / "apache2"
    available, enabled = root / "sites-available", root / "sites-enabled"
    available.mkdir(parents=True)
    enabled.mkdir()
    (available / "synnefo").write_text(PLAIN_SITE)
    (available / "synnefo-ssl").write_text(SSL_SITE)
    (available / "legacy").write_text(SSL_SITE)
    (available / "other.conf").write_text(PLAIN_SITE)
    (available / "synnefo.dpkg-old").write_text(PLAIN_SITE)
    os.chown(available / "synnefo-ssl", 0, 4)
    os.chmod(available / "synnefo-ssl", 0o640)
    for name in ("synnefo", "synnefo-ssl", "other.conf"):
        os.symlink(f"../sites-available/{name}", enabled / name)
    return root


def listing(root):
    available = sorted(os.listdir(root / "sites-available"))
    enabled = {n: os.readlink(root / "sites-enabled" / n) for n in sorted(os.listdir(root / "sites-enabled"))}
    return available, enabled


def test_renames_reenables_and_sets_the_proto_header(states, apache, backup_dir):
    ino = os.stat(apache / "sites-available" / "synnefo").st_ino
    ret = states.apache_sites.migrated(name=str(apache))
    assert ret.result is True, ret.comment
    available, enabled = listing(apache)
    assert available == ["legacy.conf", "other.conf", "synnefo-ssl.conf", "synnefo.conf", "synnefo.dpkg-old"]
    # Enabled ones again under their new names; the disabled one stays disabled.
    assert enabled == {
        "other.conf": "../sites-available/other.conf",
        "synnefo-ssl.conf": "../sites-available/synnefo-ssl.conf",
        "synnefo.conf": "../sites-available/synnefo.conf",
    }
    assert os.stat(apache / "sites-available" / "synnefo.conf").st_ino == ino  # renamed, not copied
    ssl = apache / "sites-available" / "synnefo-ssl.conf"
    assert 'RequestHeader set X-Forwarded-Proto "https"' in ssl.read_text()
    assert "X-Forwarded-Protocol" not in ssl.read_text()
    assert ssl.read_text().replace("X-Forwarded-Proto ", "X-Forwarded-Protocol ") == SSL_SITE
    info = ssl.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 4, 0o640)
    change = ret.changes[str(ssl)]
    assert change["renamed"].endswith("synnefo-ssl -> " + str(ssl))
    assert change["enabled"] == str(apache / "sites-enabled" / "synnefo-ssl.conf")
    assert open(change["backup"]).read() == SSL_SITE and change["backup"].startswith(str(backup_dir))
    assert "+    RequestHeader set X-Forwarded-Proto" in change["diff"]
    assert "header" not in ret.changes.get(str(apache / "sites-available" / "synnefo.conf"), {})
    again = states.apache_sites.migrated(name=str(apache))
    assert again.result is True and again.changes == {}
    assert listing(apache) == (available, enabled)


def test_test_mode_reports_every_change_and_touches_nothing(states, apache, backup_dir):
    before = listing(apache)
    texts = {p: p.read_text() for p in (apache / "sites-available").iterdir()}
    backups = sorted(backup_dir.rglob("*")) if backup_dir.exists() else []
    ret = states.apache_sites.migrated(name=str(apache), test=True)
    assert ret.result is None
    assert sorted(os.path.basename(p) for p in ret.changes) == ["legacy.conf", "synnefo-ssl.conf", "synnefo.conf"]
    assert "enabled" not in ret.changes[str(apache / "sites-available" / "legacy.conf")]
    assert "+    RequestHeader set X-Forwarded-Proto" in ret.changes[str(apache / "sites-available" / "synnefo-ssl.conf")]["diff"]
    assert listing(apache) == before
    assert {p: p.read_text() for p in (apache / "sites-available").iterdir()} == texts
    assert (sorted(backup_dir.rglob("*")) if backup_dir.exists() else []) == backups


def test_a_taken_conf_name_is_refused_before_anything_changes(states, apache):
    (apache / "sites-available" / "synnefo-ssl.conf").write_text("# someone else's\n")
    before = listing(apache)
    ret = states.apache_sites.migrated(name=str(apache))
    assert ret.result is False
    assert f"{apache}/sites-available/synnefo-ssl cannot be renamed: {apache}/sites-available/synnefo-ssl.conf exists" in ret.comment
    assert listing(apache) == before
    assert "X-Forwarded-Protocol" in (apache / "sites-available" / "synnefo-ssl").read_text()
