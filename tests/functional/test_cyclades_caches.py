"""cyclades_caches: 0.18.1 cache URIs -> 0.19 Django cache entries, on a real settings dir."""

import json
import os
import stat

import pytest

from tests.formula import load

MEMCACHED = "django.core.cache.backends.memcached.MemcachedCache"
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"

FILES = {
    "10-snf-webproject-deploy.conf": "# Django deployment\nALLOWED_HOSTS = ['cyclades.example.org']\nDEBUG = False\n",
    "20-snf-cyclades-app-api.conf": (
        "## Cache backend for VM passwords and public stats\n"
        "#CACHE_BACKEND = 'locmem://'\n"
        "CYCLADES_BASE_URL = 'https://cyclades.example.org/cyclades'\n"
        "PUBLIC_STATS_CACHE_POPULATE_INTERVAL = 600\n"
    ),
    "20-snf-cyclades-app-vmapi.conf": (
        'VMAPI_CACHE_BACKEND = "memcached://127.0.0.1:11211/?timeout=3600"\n'
        "VMAPI_CACHE_KEY_PREFIX = 'vmapi-site'  # local edit\n"
        "VMAPI_BASE_URL = 'https://cyclades.example.org/'\n"
    ),
    "99-local.conf": "CACHE_BACKEND = (\n    'memcached://10.0.0.1:11211;10.0.0.2:11211/'\n)\nSECRET_KEY = 'sekrit'\n",
}


@pytest.fixture
def config_dir(tmp_path):
    directory = tmp_path / "synnefo"
    directory.mkdir()
    os.chmod(directory, 0o2750)
    for name, text in FILES.items():
        path = directory / name
        path.write_text(text)
        os.chown(path, 0, 4)
        os.chmod(path, 0o640)
    return directory


def load_settings(directory):
    """What Synnefo sees: every *.conf executed in name order into one namespace."""
    namespace = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".conf"):
            exec(compile((directory / name).read_text(), name, "exec"), namespace)  # noqa: S102
    namespace.pop("__builtins__")
    return namespace


EXPECTED = {
    "PUBLIC_STATS_CACHE": {"BACKEND": MEMCACHED, "LOCATION": "10.0.0.1:11211;10.0.0.2:11211", "KEY_PREFIX": "publicstats", "TIMEOUT": 600},
    "VM_PASSWORD_CACHE": {"BACKEND": MEMCACHED, "LOCATION": "10.0.0.1:11211;10.0.0.2:11211", "KEY_PREFIX": "vmpassword", "TIMEOUT": None},
    "VMAPI_CACHE": {"BACKEND": MEMCACHED, "LOCATION": "127.0.0.1:11211", "KEY_PREFIX": "vmapi-site", "TIMEOUT": 3600},
}


def test_managed_derives_writes_and_comments_out(states, config_dir, backup_dir):
    before = load_settings(config_dir)
    name = config_dir / "99-cyclades-caches.conf"
    ret = states.cyclades_caches.managed(name=str(name), config_dir=str(config_dir))
    assert ret.result is True, ret.comment
    after = load_settings(config_dir)
    for cache, entry in EXPECTED.items():
        assert after[cache] == entry
    for obsolete in ("CACHE_BACKEND", "VMAPI_CACHE_BACKEND", "VMAPI_CACHE_KEY_PREFIX", "PUBLIC_STATS_CACHE_POPULATE_INTERVAL"):
        assert obsolete not in after
    unrelated = {
        k: v
        for k, v in before.items()
        if k not in ("CACHE_BACKEND", "VMAPI_CACHE_BACKEND", "VMAPI_CACHE_KEY_PREFIX", "PUBLIC_STATS_CACHE_POPULATE_INTERVAL")
    }
    assert {k: after[k] for k in unrelated} == unrelated
    # Every other line kept as it was, in order.
    api = (config_dir / "20-snf-cyclades-app-api.conf").read_text().splitlines()
    assert [line for line in api if not line.startswith("# ")] == [
        "## Cache backend for VM passwords and public stats",
        "#CACHE_BACKEND = 'locmem://'",
        "CYCLADES_BASE_URL = 'https://cyclades.example.org/cyclades'",
    ]
    assert "# PUBLIC_STATS_CACHE_POPULATE_INTERVAL = 600" in api
    local = (config_dir / "99-local.conf").read_text()
    assert "# CACHE_BACKEND = (\n#     'memcached://10.0.0.1:11211;10.0.0.2:11211/'\n# )\nSECRET_KEY = 'sekrit'\n" in local
    # Owners and modes: edited files keep theirs, the new one takes its siblings'.
    for path in config_dir.iterdir():
        info = path.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 4, 0o640), path
    assert set(ret.changes) == {str(name)} | {str(config_dir / n) for n in FILES if n != "10-snf-webproject-deploy.conf"}
    assert ret.changes[str(name)]["new"] is True
    backup = ret.changes[str(config_dir / "99-local.conf")]["backup"]
    assert backup.startswith(str(backup_dir)) and open(backup).read() == FILES["99-local.conf"]


def test_second_run_changes_nothing_and_derives_the_same(states, modules, config_dir):
    name = config_dir / "99-cyclades-caches.conf"
    assert states.cyclades_caches.managed(name=str(name), config_dir=str(config_dir)).result is True
    mtimes = {p: p.stat().st_mtime_ns for p in config_dir.iterdir()}
    again = states.cyclades_caches.managed(name=str(name), config_dir=str(config_dir))
    assert again.result is True and again.changes == {}
    assert {p: p.stat().st_mtime_ns for p in config_dir.iterdir()} == mtimes
    assert modules.cyclades_caches.derive(str(config_dir), str(name)) == EXPECTED


def test_test_mode_predicts_and_writes_nothing(states, config_dir):
    name = config_dir / "99-cyclades-caches.conf"
    ret = states.cyclades_caches.managed(name=str(name), config_dir=str(config_dir), test=True)
    assert ret.result is None
    assert "+# CACHE_BACKEND = (" in ret.changes[str(config_dir / "99-local.conf")]["diff"]
    assert "+    'KEY_PREFIX': 'vmapi-site'," in ret.changes[str(name)]["diff"]
    assert not name.exists()
    assert {p.name: p.read_text() for p in config_dir.iterdir()} == FILES


def test_no_legacy_settings_gives_019_defaults(modules, tmp_path):
    (tmp_path / "20-snf-cyclades-app-api.conf").write_text("#CACHE_BACKEND = 'locmem://'\n")
    caches = modules.cyclades_caches.derive(str(tmp_path), str(tmp_path / "99-cyclades-caches.conf"))
    assert caches == {
        "PUBLIC_STATS_CACHE": {"BACKEND": LOCMEM, "LOCATION": "", "KEY_PREFIX": "publicstats", "TIMEOUT": 300},
        "VM_PASSWORD_CACHE": {"BACKEND": LOCMEM, "LOCATION": "", "KEY_PREFIX": "vmpassword", "TIMEOUT": None},
        "VMAPI_CACHE": {"BACKEND": LOCMEM, "LOCATION": "", "KEY_PREFIX": "vmapi"},
    }


def test_vmapi_falls_back_to_cache_backend(modules, tmp_path):
    (tmp_path / "20-a.conf").write_text("CACHE_BACKEND = 'memcached://mc:11211/?timeout=120'\n")
    caches = modules.cyclades_caches.derive(str(tmp_path), str(tmp_path / "99-x.conf"))
    assert caches["VMAPI_CACHE"] == {"BACKEND": MEMCACHED, "LOCATION": "mc:11211", "KEY_PREFIX": "vmapi", "TIMEOUT": 120}
    assert caches["PUBLIC_STATS_CACHE"]["TIMEOUT"] == 120
    assert caches["VM_PASSWORD_CACHE"]["TIMEOUT"] is None


@pytest.mark.parametrize(
    "uri, entry",
    [
        ("locmem://", {"BACKEND": LOCMEM, "LOCATION": ""}),
        ("dummy://", {"BACKEND": "django.core.cache.backends.dummy.DummyCache", "LOCATION": ""}),
        (
            "file:///var/tmp/django_cache",
            {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": "/var/tmp/django_cache"},
        ),
        (
            "db://my_cache_table?max_entries=100",
            {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "my_cache_table", "OPTIONS": {"MAX_ENTRIES": 100}},
        ),
        (
            "memcached://h:1;h2:2/?timeout=5&cull_frequency=3",
            {"BACKEND": MEMCACHED, "LOCATION": "h:1;h2:2", "TIMEOUT": 5, "OPTIONS": {"CULL_FREQUENCY": 3}},
        ),
    ],
)
def test_django_14_uris(modules, uri, entry):
    assert modules.cyclades_caches.from_uri(uri) == entry


def test_pillar_overrides_key_by_key(modules, config_dir):
    caches = modules.cyclades_caches.derive(
        str(config_dir), str(config_dir / "99-cyclades-caches.conf"), caches={"VMAPI_CACHE": {"LOCATION": "mc2:11211", "TIMEOUT": None}}
    )
    assert caches["VMAPI_CACHE"] == dict(EXPECTED["VMAPI_CACHE"], LOCATION="mc2:11211", TIMEOUT=None)
    assert caches["PUBLIC_STATS_CACHE"] == EXPECTED["PUBLIC_STATS_CACHE"]


@pytest.mark.parametrize(
    "files, caches, error",
    [
        ({"20-a.conf": "import os\nCACHE_BACKEND = os.environ['CACHE']\n"}, None, "20-a.conf:2: CACHE_BACKEND is not a literal value"),
        ({"20-a.conf": "CACHE_BACKEND = 'redis://x'\n"}, None, "unknown cache scheme 'redis'"),
        ({"20-a.conf": "CACHE_BACKEND = 'memcached://x/?weird=1'\n"}, None, "parameter 'weird' has no 0.19 equivalent"),
        ({"20-a.conf": "if True:\n    CACHE_BACKEND = 'locmem://'\n"}, None, "20-a.conf:2: CACHE_BACKEND is set in a way"),
        ({"20-a.conf": "CACHE_BACKEND = 'locmem://\n"}, None, "20-a.conf:1: not valid Python"),
        ({}, {"VMAPI_CACHE": {"BACKEND": "not a path"}}, "BACKEND must be a dotted path"),
        ({}, {"VMAPI_CACHE": {"TIMEOUT": -1}}, "TIMEOUT must be a non-negative integer or None"),
        ({}, {"VMAPI_CACHE": {"TIMEOUT": "300"}}, "TIMEOUT must be a non-negative integer or None"),
        ({}, {"VMAPI_CACHE": {"KEY_PREFIX": 3}}, "KEY_PREFIX must be a string"),
        ({}, {"OTHER_CACHE": {}}, "unknown cache 'OTHER_CACHE'"),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(states, tmp_path, files, caches, error):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "10-keep.conf").write_text("CACHE_BACKEND = 'locmem://'\n")
    snapshot = {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    ret = states.cyclades_caches.managed(name=str(tmp_path / "99-cyclades-caches.conf"), config_dir=str(tmp_path), caches=caches)
    assert ret.result is False
    assert error in ret.comment
    assert "nothing was written" in ret.comment
    assert {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == snapshot


@pytest.mark.parametrize("order", ["interval last", "interval first"])
def test_populate_interval_wins_over_the_uri_timeout_for_public_stats(modules, tmp_path, order):
    """The stats were refreshed every PUBLIC_STATS_CACHE_POPULATE_INTERVAL seconds: that, not
    the shared URI's timeout, is how long they stay cached; VMAPI keeps the URI's timeout."""
    directory = tmp_path / "synnefo"
    directory.mkdir()
    lines = ["CACHE_BACKEND = 'memcached://10.0.0.1:11211/?timeout=60'", "PUBLIC_STATS_CACHE_POPULATE_INTERVAL = 900"]
    if order == "interval first":
        lines.reverse()
    (directory / "20-snf-cyclades-app-api.conf").write_text("\n".join(lines) + "\n")
    caches = modules.cyclades_caches.derive(config_dir=str(directory), name=str(directory / "99-caches.conf"))
    assert caches["PUBLIC_STATS_CACHE"]["TIMEOUT"] == 900
    assert caches["VMAPI_CACHE"]["TIMEOUT"] == 60
    assert caches["VM_PASSWORD_CACHE"]["TIMEOUT"] is None
    assert caches["PUBLIC_STATS_CACHE"]["LOCATION"] == "10.0.0.1:11211"


@pytest.mark.parametrize(
    "odd",
    ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"],
    ids=["form-feed", "vertical-tab", "0x1c", "0x1d", "0x1e", "NEL", "U+2028", "U+2029"],
)
def test_characters_that_split_lines_for_str_but_not_for_python_never_shift_the_edit(states, tmp_path, odd):
    """str.splitlines() also cuts at these; Python's tokenizer (and so ast's line numbers)
    does not: the edit must comment out CACHE_BACKEND, never the line above or below it."""
    text = f"# memcached for the VM passwords{odd} and the stats\nSECRET_KEY = 'sekrit'\nCACHE_BACKEND = 'locmem://'\nDEBUG = False\n"
    path = tmp_path / "20-a.conf"
    path.write_bytes(text.encode("utf-8"))
    name = str(tmp_path / "99-cyclades-caches.conf")
    assert states.cyclades_caches.managed(name=name, config_dir=str(tmp_path)).result is True
    edited = path.read_bytes().decode("utf-8")
    namespace = {}
    exec(compile(edited, "20-a.conf", "exec"), namespace)  # noqa: S102
    assert namespace["SECRET_KEY"] == "sekrit" and namespace["DEBUG"] is False and "CACHE_BACKEND" not in namespace
    assert edited.count("# CACHE_BACKEND = 'locmem://'\n") == 1 and edited.startswith(text.split("SECRET_KEY")[0])
    again = states.cyclades_caches.managed(name=name, config_dir=str(tmp_path))
    assert again.result is True and not again.changes and path.read_bytes().decode("utf-8") == edited


def test_old_mac_line_endings_are_kept_and_the_right_line_commented(states, tmp_path):
    text = "SECRET_KEY = 'sekrit'\rCACHE_BACKEND = 'locmem://'\rDEBUG = False\r"
    path = tmp_path / "20-a.conf"
    path.write_bytes(text.encode())
    assert states.cyclades_caches.managed(name=str(tmp_path / "99-cyclades-caches.conf"), config_dir=str(tmp_path)).result is True
    edited = path.read_bytes().decode()
    assert (
        edited.startswith("SECRET_KEY = 'sekrit'\r") and "# CACHE_BACKEND = 'locmem://'\r" in edited and edited.endswith("DEBUG = False\r")
    )


def test_an_edit_that_would_change_anything_else_is_refused():
    check = load("_modules/cyclades_caches.py")._check_commented_out
    old = "SECRET_KEY = 'a'\nCACHE_BACKEND = 'locmem://'\n"
    for new in (
        "# SECRET_KEY = 'a'\nCACHE_BACKEND = 'locmem://'\n",  # the wrong line
        "SECRET_KEY = 'a'\nCACHE_BACKEND = 'locmem://'\n# x\n",  # the obsolete one still set
        "SECRET_KEY = 'b'\n# CACHE_BACKEND = 'locmem://'\n",  # another value changed
        "SECRET_KEY = 'a'\n# CACHE_BACKEND = 'locmem://'\n'''\n",  # does not parse
    ):
        with pytest.raises(Exception) as error:
            check("/etc/synnefo/20-a.conf", old, new)
        assert "/etc/synnefo/20-a.conf" in str(error.value) and "nothing was written" in str(error.value)


def test_secrets_beside_the_edited_lines_never_reach_the_return(states, tmp_path):
    """A state's changes go to the event bus, the job cache, the plan and the report: the
    diff's context must not carry a secret's value, nor must its changed lines."""
    text = (
        "DATABASES = {'default': {\n"
        "    'PASSWORD': \"sekrit-2\",\n"
        "}}\n"
        "SECRET_KEY = 'sekrit-1'\n"
        "CACHE_BACKEND = 'memcached://cache:sekrit-3@10.0.0.1:11211/'\n"
        "ASTAKOS_AUTH_TOKEN = 'sekrit-4'\n"
        "VMAPI_CACHE_KEY_PREFIX = 'vmapi-site'\n"
    )
    (tmp_path / "20-a.conf").write_text(text)
    name = str(tmp_path / "99-cyclades-caches.conf")
    dry = states.cyclades_caches.managed(name=name, config_dir=str(tmp_path), test=True)
    ret = states.cyclades_caches.managed(name=name, config_dir=str(tmp_path))
    assert ret.result is True, ret.comment
    for shown in (json.dumps(dry.raw), json.dumps(ret.raw)):
        assert "sekrit" not in shown, shown
    diff = ret.changes[str(tmp_path / "20-a.conf")]["diff"]
    assert " SECRET_KEY = ****\n" in diff and "     'PASSWORD': ****,\n" in diff
    assert "+# VMAPI_CACHE_KEY_PREFIX = 'vmapi-site'\n" in diff  # not a secret: shown


@pytest.mark.parametrize("depth", [120, 2000])
def test_deeply_nested_settings_are_refused_cleanly(states, tmp_path, depth):
    """Python 2.7's parser runs out of stack near 100 levels (MemoryError), Python 3's at
    its recursion limit: a clear error naming the file, nothing written."""
    (tmp_path / "20-a.conf").write_text("CACHE_BACKEND = " + "[" * depth + "]" * depth + "\n")
    before = (tmp_path / "20-a.conf").read_bytes()
    ret = states.cyclades_caches.managed(name=str(tmp_path / "99-cyclades-caches.conf"), config_dir=str(tmp_path))
    assert ret.result is False and "20-a.conf" in ret.comment and "nothing was written" in ret.comment, ret.comment
    assert "Traceback" not in ret.comment and (tmp_path / "20-a.conf").read_bytes() == before
