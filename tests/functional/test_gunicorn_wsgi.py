"""gunicorn_wsgi: django mode -> wsgi mode, edited in place, on real files."""

import ast
import os
import stat

import pytest

APP = "synnefo.webproject.wsgi"

# The packaged 0.18.1 example, with a local comment and a pithos/cyclades hook.
SYNNEFO_0181 = """\
# Synnefo gunicorn config (local edits: workers)
CONFIG = {
 'mode': 'django',
 'environment': {
   'DJANGO_SETTINGS_MODULE': 'synnefo.settings',
 },
 'working_dir': '/etc/synnefo',
 'user': 'synnefo',
 'group': 'synnefo',
 'args': (
   '--bind=127.0.0.1:8080',
   '--worker-class=gevent',
   '--workers=8',  # was 4
   '--log-level=info',
   '--timeout=43200',
   '--log-file=/var/log/synnefo/gunicorn.log',
   '--config=/etc/synnefo/gunicorn-hooks/gunicorn-archipelago.py',
 ),
}
"""


def config_of(text):
    tree = ast.parse(text)
    return ast.literal_eval(tree.body[-1].value)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "gunicorn.d" / "synnefo"
    path.parent.mkdir()
    path.write_text(SYNNEFO_0181)
    os.chown(path, 0, 4)
    os.chmod(path, 0o640)
    return path


def test_converts_the_packaged_config_editing_only_what_changes(modules, config):
    result = modules.gunicorn_wsgi.converted(str(config))
    new = result["text"]
    assert result["changed"] is True
    parsed = config_of(new)
    assert parsed["mode"] == "wsgi"
    assert parsed["args"][-1] == APP
    assert parsed["args"][:-1] == config_of(SYNNEFO_0181)["args"]
    assert isinstance(parsed["args"], tuple)
    # Byte for byte elsewhere: exactly two lines differ (mode) or are added (the app).
    old_lines, new_lines = SYNNEFO_0181.splitlines(), new.splitlines()
    assert len(new_lines) == len(old_lines) + 1
    assert [line for line in new_lines if line not in old_lines] == [" 'mode': 'wsgi',", f"   '{APP}',"]
    assert "'--workers=8',  # was 4" in new
    assert new.index(f"'{APP}'") > new.index("gunicorn-archipelago.py")


def test_state_writes_keeps_owner_mode_backs_up_and_is_idempotent(states, config, backup_dir):
    before = config.stat()
    ret = states.gunicorn_wsgi.configured(name=str(config))
    assert ret.result is True
    assert "+ 'mode': 'wsgi'," in ret.changes["diff"]
    after = config.stat()
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (0, 4, 0o640)
    assert before.st_ino != after.st_ino  # replaced atomically, not truncated in place
    backup = ret.changes["backup"]
    assert backup.startswith(str(backup_dir))
    assert open(backup).read() == SYNNEFO_0181
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o640
    mtime = config.stat().st_mtime_ns
    again = states.gunicorn_wsgi.configured(name=str(config))
    assert again.result is True
    assert again.changes == {}
    assert config.stat().st_mtime_ns == mtime


def test_test_mode_reports_the_diff_and_writes_nothing(states, config, backup_dir):
    ret = states.gunicorn_wsgi.configured(name=str(config), test=True)
    assert ret.result is None
    assert f"+   '{APP}'," in ret.changes["diff"]
    assert config.read_text() == SYNNEFO_0181
    assert "backup" not in ret.changes


@pytest.mark.parametrize(
    "args, expected",
    [
        ("['--bind=127.0.0.1:8080']", f"['--bind=127.0.0.1:8080', '{APP}']"),
        ("('--bind=127.0.0.1:8080',)", f"('--bind=127.0.0.1:8080', '{APP}',)"),
        ("()", f"('{APP}',)"),
        ("[]", f"['{APP}']"),
        (f"['{APP}', '--workers=2']", f"['--workers=2', '{APP}']"),
        (f"['{APP}', '--workers=2', '{APP}']", f"['--workers=2', '{APP}']"),
        (f"('--workers=2', '{APP}')", f"('--workers=2', '{APP}')"),
        (f"('{APP}', '{APP}')", f"('{APP}',)"),
        (f"['{APP}', '{APP}']", f"['{APP}']"),
    ],
)
def test_args_end_with_the_app_once_and_keep_their_type(modules, tmp_path, args, expected):
    path = tmp_path / "synnefo"
    path.write_text(f"CONFIG = {{'mode': 'django', 'environment': {{'DJANGO_SETTINGS_MODULE': 'synnefo.settings'}}, 'args': {args}}}\n")
    new = modules.gunicorn_wsgi.converted(str(path))["text"]
    assert new == f"CONFIG = {{'mode': 'wsgi', 'environment': {{'DJANGO_SETTINGS_MODULE': 'synnefo.settings'}}, 'args': {expected}}}\n"


def test_moves_the_app_to_the_end_of_a_multiline_list_keeping_comments(modules, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text(
        'CONFIG = {\n    "mode": "wsgi",\n    "environment": {"DJANGO_SETTINGS_MODULE": "synnefo.settings"},\n'
        '    "args": [\n        "synnefo.webproject.wsgi",  # added early\n        "--bind=0.0.0.0:80",  # public\n    ],\n}\n'
    )
    new = modules.gunicorn_wsgi.converted(str(path))["text"]
    assert new == (
        'CONFIG = {\n    "mode": "wsgi",\n    "environment": {"DJANGO_SETTINGS_MODULE": "synnefo.settings"},\n'
        '    "args": [\n        "--bind=0.0.0.0:80",  # public\n        "synnefo.webproject.wsgi",\n    ],\n}\n'
    )


def test_adds_missing_mode_and_environment_in_the_files_style(modules, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text('CONFIG = {\n    "user": "synnefo",\n    "args": ("--bind=127.0.0.1:8080",),\n}\n')
    new = modules.gunicorn_wsgi.converted(str(path))["text"]
    assert new.startswith(
        'CONFIG = {\n    "environment": {"DJANGO_SETTINGS_MODULE": "synnefo.settings"},\n    "mode": "wsgi",\n    "user": "synnefo",\n'
    )
    assert config_of(new)["args"] == ("--bind=127.0.0.1:8080", APP)


def test_adds_the_setting_to_an_environment_without_it(modules, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text("CONFIG = {'mode': 'wsgi', 'environment': {'LANG': 'C'}, 'args': ('" + APP + "',)}\n")
    parsed = config_of(modules.gunicorn_wsgi.converted(str(path))["text"])
    assert parsed["environment"] == {"DJANGO_SETTINGS_MODULE": "synnefo.settings", "LANG": "C"}


def test_a_different_settings_module_is_kept_and_reported(states, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text("CONFIG = {'mode': 'django', 'environment': {'DJANGO_SETTINGS_MODULE': 'site.settings'}, 'args': []}\n")
    ret = states.gunicorn_wsgi.configured(name=str(path))
    assert ret.result is True
    assert "'site.settings'" in ret.comment and "kept" in ret.comment
    assert config_of(path.read_text())["environment"] == {"DJANGO_SETTINGS_MODULE": "site.settings"}


@pytest.mark.parametrize(
    "text, error",
    [
        ("CONFIG = {'mode': 'django',\n", ":1: not valid Python"),
        ("CONFIG = dict(mode='django')\n", ":1: CONFIG is not a literal dict"),
        ("BIND = 1\n", "no CONFIG assignment"),
        ("ARGS = []\nCONFIG = {\n 'mode': 'django',\n 'args': ARGS,\n}\n", ":4: 'args' is not a literal list or tuple"),
        ("CONFIG = {'environment': ENV, 'args': []}\n", ":1: 'environment' is not a literal dict"),
        ("CONFIG = {\r 'mode': 'django',\r 'args': [],\r}\r", ":1: lone CR line endings"),
        ("CONFIG = {'mode': 'django', 'args': []}\nCONFIG['mode'] = 'django'\n", ":2: CONFIG['mode'] changes CONFIG after"),
        ("CONFIG = {'mode': 'django', 'args': []}\nCONFIG.update(mode='django')\n", ":2: CONFIG.update changes CONFIG after"),
        ("M = 'mode'\nCONFIG = {M: 'django', 'args': []}\n", ":2: CONFIG has an entry whose key is not a literal string"),
    ],
)
def test_unusable_files_fail_clearly_and_stay_untouched(states, tmp_path, text, error):
    path = tmp_path / "synnefo"
    path.write_text(text)
    mtime = path.stat().st_mtime_ns
    ret = states.gunicorn_wsgi.configured(name=str(path))
    assert ret.result is False
    assert f"{path}{error}" in ret.comment or (error.startswith("no") and error in ret.comment)
    assert "not changed" in ret.comment and "Traceback" not in ret.comment
    assert path.read_bytes() == text.encode()
    assert path.stat().st_mtime_ns == mtime


def test_missing_file_fails(states, tmp_path):
    ret = states.gunicorn_wsgi.configured(name=str(tmp_path / "absent"))
    assert ret.result is False
    assert "no such file" in ret.comment


def test_lists_configs_still_in_django_mode_as_debian_gunicorn_loads_them(modules, tmp_path):
    (tmp_path / "synnefo").write_text("CONFIG = {'mode': 'django', 'args': []}\n")
    (tmp_path / "other").write_text("CONFIG = {'mode': 'wsgi', 'args': []}\n")
    (tmp_path / "synnefo.dpkg-dist").write_text("CONFIG = {'mode': 'django', 'args': []}\n")
    (tmp_path / "synnefo.example").write_text("CONFIG = {'mode': 'django', 'args': []}\n")
    (tmp_path / "broken").write_text("CONFIG = {\n")
    found = modules.gunicorn_wsgi.django_mode_configs(str(tmp_path))
    assert found[str(tmp_path / "synnefo")] == "django"
    assert found[str(tmp_path / "broken")].startswith("unreadable:")
    assert set(found) == {str(tmp_path / "synnefo"), str(tmp_path / "broken")}


def test_appends_after_a_commented_last_item_without_trailing_comma(modules, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text("CONFIG = {'mode': 'django', 'args': [\n    '--bind=127.0.0.1:8080'  # local only\n]}\n")
    new = modules.gunicorn_wsgi.converted(str(path))["text"]
    assert new == (
        "CONFIG = {'environment': {'DJANGO_SETTINGS_MODULE': 'synnefo.settings'}, 'mode': 'wsgi', 'args': [\n"
        "    '--bind=127.0.0.1:8080',  # local only\n    '" + APP + "'\n]}\n"
    )


def test_pillar_chooses_where_backups_go(modules, config, tmp_path, minion_root):
    """pillar.example's synnefo_upgrade:backup_dir reaches the module (through config.get)."""
    elsewhere = tmp_path / "pillar-backups"
    pillar = {"synnefo_upgrade": {"backup_dir": str(elsewhere)}, "probe_config": str(config)}
    # The state alone, in an SLS of its own: the formula's would run the dist-upgrade first,
    # on this machine.
    probe = minion_root / "file_root" / "backup_probe.sls"
    probe.write_text("probe-gunicorn-wsgi:\n  gunicorn_wsgi.configured:\n    - name: {{ pillar['probe_config'] }}\n")
    (ret,) = modules.state.sls("backup_probe", pillar=pillar).raw.values()
    assert ret["result"] is True
    assert ret["changes"]["backup"].startswith(str(elsewhere) + "/")
    assert open(ret["changes"]["backup"]).read() == SYNNEFO_0181


@pytest.mark.parametrize(
    "args, bound", [("('--bind=127.0.0.1:8080',)", "127.0.0.1:8080"), ("['-b', '0.0.0.0:80']", "0.0.0.0:80"), ("('--workers=2',)", None)]
)
def test_bind_reads_the_address_from_args(modules, tmp_path, args, bound):
    path = tmp_path / "synnefo"
    path.write_text(f"CONFIG = {{\n 'mode': 'wsgi',\n 'args': {args},\n}}\n")
    assert modules.gunicorn_wsgi.bind(str(path)) == bound


def test_a_base_dict_unpacked_into_config_is_refused(states, tmp_path):
    """{**BASE, ...} (Python 3 only: a syntax error for Python 2's parser) could set the mode
    over the edit."""
    path = tmp_path / "synnefo"
    path.write_text("BASE = {'mode': 'django'}\nCONFIG = {**BASE, 'args': []}\n")
    ret = states.gunicorn_wsgi.configured(name=str(path))
    assert ret.result is False and ("not a literal string (**)" in ret.comment or ":2: not valid Python" in ret.comment), ret.comment


def test_a_later_change_of_another_key_is_no_reason_to_refuse(modules, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text("CONFIG = {'mode': 'django', 'args': []}\nCONFIG['workers'] = 3\n")
    new = modules.gunicorn_wsgi.converted(str(path))["text"]
    assert new.endswith("'args': ['synnefo.webproject.wsgi']}\nCONFIG['workers'] = 3\n") and "'mode': 'wsgi'" in new


def test_a_closing_bracket_right_after_the_last_item_is_no_reason_to_refuse(modules, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text("CONFIG = {\n 'mode': 'django',\n 'args': (\n  '--bind=127.0.0.1:8080',\n  '--workers=2'),\n}\n")
    new = modules.gunicorn_wsgi.converted(str(path))["text"]
    assert "  '--workers=2',\n  'synnefo.webproject.wsgi'),\n" in new
    assert config_of(new)["args"] == ("--bind=127.0.0.1:8080", "--workers=2", "synnefo.webproject.wsgi")


def test_an_empty_config_gets_all_three_settings(modules, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text("CONFIG = {}\n")
    new = modules.gunicorn_wsgi.converted(str(path))["text"]
    assert config_of(new) == {
        "mode": "wsgi",
        "environment": {"DJANGO_SETTINGS_MODULE": "synnefo.settings"},
        "args": ("synnefo.webproject.wsgi",),
    }


def test_bind_refuses_args_it_cannot_read(modules, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text("PORT = '8080'\nCONFIG = {'mode': 'wsgi', 'args': ('--bind=127.0.0.1:' + PORT,)}\n")
    with pytest.raises(Exception, match="not a literal string: the bind address cannot be read"):
        modules.gunicorn_wsgi.bind(str(path))


def test_deeply_nested_configs_are_refused_cleanly(states, tmp_path):
    path = tmp_path / "synnefo"
    path.write_text("CONFIG = {'mode': 'django', 'args': " + "(" * 2000 + ")" * 2000 + "}\n")
    ret = states.gunicorn_wsgi.configured(name=str(path))
    assert ret.result is False and str(path) in ret.comment and "Traceback" not in ret.comment, ret.comment
