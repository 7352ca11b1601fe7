"""Properties of every parser that edits a file, for generated inputs (hypothesis, a fixed
example budget, derandomised so that CI sees the same examples): the module either refuses
with ``CommandExecutionError`` or returns a text that parses, changes only the span it means
to change and leaves every other byte alone; the readers never raise anything else."""

import ast
import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from salt.exceptions import CommandExecutionError

from tests.formula import load

BUDGET = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
APP = "synnefo.webproject.wsgi"

gunicorn = load("_modules/gunicorn_wsgi.py")
caches = load("_modules/cyclades_caches.py")
settings_module = load("_modules/synnefo_settings.py")
apt = load("_modules/apt_jessie.py")
apache = load("_modules/apache_sites.py")
history = load("_modules/ip_history.py")

# Text that is odd where odd text can stand: comments and string values.
odd_text = st.text(
    alphabet=st.sampled_from(list("abc xyz-_./:=#'\"\\\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029é☃")),
    max_size=12,
)
string_literal = odd_text.map(repr)
comment = odd_text.map(lambda text: "# " + text.replace("\n", " ").replace("\r", " "))


def lines_of(text):
    return io.StringIO(text, newline="").readlines()


def statements(text):
    return [ast.dump(node) for node in ast.parse(text).body]


# --- gunicorn configs ---------------------------------------------------------------------


@st.composite
def gunicorn_config(draw):
    quote = draw(st.sampled_from(["'", '"']))
    items = draw(st.lists(st.one_of(string_literal, st.just(repr(APP)), st.just(f"{quote}--workers=2{quote}")), max_size=4))
    opening, closing = draw(st.sampled_from([("(", ")"), ("[", "]")]))
    multi = draw(st.booleans())
    trailing = (draw(st.booleans()) or (opening == "(" and len(items) == 1)) and items  # ('x') is no tuple
    if multi:
        inner = "".join(f"\n    {item}," for item in items[:-1]) + (f"\n    {items[-1]}" if items else "") + ("," if trailing else "")
        args = opening + inner + draw(st.sampled_from(["\n  ", ""])) + closing
    else:
        args = opening + ", ".join(items) + ("," if trailing or (opening == "(" and len(items) == 1) else "") + closing
    entries = []
    if draw(st.booleans()):
        entries.append(f"{quote}mode{quote}: {quote}{draw(st.sampled_from(['django', 'wsgi']))}{quote}")
    if draw(st.booleans()):
        entries.append(f"{quote}environment{quote}: {{}}")
    if draw(st.booleans()):
        entries.append(f"{quote}args{quote}: {args}")
    entries = draw(st.permutations(entries))
    body = ("{\n " + ",\n ".join(entries) + ",\n}") if entries and draw(st.booleans()) else ("{" + ", ".join(entries) + "}")
    before = draw(st.lists(comment, max_size=2))
    after = draw(st.lists(st.one_of(comment, st.just("WORKERS = 2")), max_size=2))
    return "\n".join(before + [f"CONFIG = {body}"] + after) + "\n"


@BUDGET
@given(gunicorn_config())
def test_gunicorn_edits_reach_wsgi_mode_and_touch_nothing_else(text):
    # Every generated config is a plain literal CONFIG: a refusal would be a false one.
    new = gunicorn.converted("/etc/gunicorn.d/synnefo", text=text)["text"]
    tree = ast.parse(new)
    (config,) = [n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "CONFIG"]
    value = ast.literal_eval(config.value)
    assert value["mode"] == "wsgi" and value["args"][-1] == APP and list(value["args"]).count(APP) == 1
    assert value["environment"]["DJANGO_SETTINGS_MODULE"] == "synnefo.settings"
    old_tree = ast.parse(text)
    (old_config,) = [n for n in old_tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "CONFIG"]
    old_args = [a for a in ast.literal_eval(old_config.value).get("args", []) if a != APP]
    assert [a for a in value["args"] if a != APP] == old_args  # the other arguments, in order
    # Every line outside the CONFIG statement as it was.
    old_lines, new_lines = lines_of(text), lines_of(new)
    head, tail = old_config.lineno - 1, len(old_lines) - old_config.end_lineno
    assert new_lines[:head] == old_lines[:head]
    assert tail == 0 or new_lines[-tail:] == old_lines[-tail:]


# --- Cyclades' settings -------------------------------------------------------------------

OBSOLETE_LINES = [
    "CACHE_BACKEND = 'memcached://127.0.0.1:11211/'",
    "VMAPI_CACHE_BACKEND = 'locmem://'",
    "VMAPI_CACHE_KEY_PREFIX = 'vmapi'",
    "PUBLIC_STATS_CACHE_POPULATE_INTERVAL = 600",
    "CACHE_BACKEND = (\n    'memcached://10.0.0.1:11211/'\n)",
]
OTHER_LINES = ["SECRET_KEY = 'sekrit'", "DEBUG = False", "X = {'a': [1, 2]}", "if True:\n    Y = 1", "import os", ""]


@st.composite
def settings_file(draw):
    pieces = draw(st.lists(st.one_of(st.sampled_from(OBSOLETE_LINES), st.sampled_from(OTHER_LINES), comment), max_size=8))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(piece.replace("\n", ending) for piece in pieces) + (ending if draw(st.booleans()) else "")


@BUDGET
@given(settings_file())
def test_cache_settings_are_commented_out_and_nothing_else_changes(text):
    # Plain assignments only: a refusal would be a false one.
    new = caches.commented_out("/etc/synnefo/20-a.conf", text)
    assigned = {t.id for n in ast.parse(new).body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert not assigned & set(caches.OBSOLETE)
    kept = [
        d for n, d in zip(ast.parse(text).body, statements(text)) if not (isinstance(n, ast.Assign) and n.targets[0].id in caches.OBSOLETE)
    ]
    assert statements(new) == kept
    # Each old line is there, as it was or behind '# ', in order; only marker lines are added.
    old = iter(lines_of(text))
    for line in lines_of(new):
        if line.startswith(caches.MARKER):
            continue
        expected = next(old)
        assert line in (expected, "# " + expected, "# " + expected + "\n")
    assert next(old, None) is None
    assert caches.commented_out("/etc/synnefo/20-a.conf", new) == new  # a second run adds nothing


# --- ALLOWED_HOSTS ------------------------------------------------------------------------


@BUDGET
@given(st.lists(st.text(max_size=20), max_size=4) | st.text(max_size=10))
def test_allowed_hosts_are_written_so_that_they_read_back_or_refused(hosts):
    try:
        text = settings_module.allowed_hosts_text(hosts)
    except CommandExecutionError:
        return
    (statement,) = [n for n in ast.parse(text).body if isinstance(n, ast.Assign)]
    written = ast.literal_eval(statement.value)
    assert len(written) == len(hosts) and text.isascii()
    for entry, host in zip(written, hosts):
        assert entry in (host, settings_module.allowed_host(host)) and "\n" not in entry and "\x00" not in entry


# --- APT sources --------------------------------------------------------------------------


@BUDGET
@given(
    st.sampled_from(["deb", "deb-src", "#deb", " deb", "deb [arch=amd64]"]),
    st.sampled_from(["http://deb.debian.org/debian", "http://apt.dev.grnet.gr", "file:/srv/x"]),
    st.sampled_from(["wheezy", "wheezy-updates", "wheezy/updates", "wheezy-backports", "jessie", "sid", "wheezy/", "stable"]),
    st.sampled_from(["", " main", " main contrib", "  main # note", " wheezy"]),
    st.sampled_from(["", "\t", "  "]),
)
def test_a_sources_line_changes_its_suite_only(kind, uri, suite, rest, gap):
    line = f"{kind} {uri}{gap or ' '}{suite}{rest}"
    new = apt.switch_line(line)
    if new == line:
        return
    assert new.replace("jessie", "wheezy", 1) == line
    assert new.count("jessie") == line.count("jessie") + 1


# --- Apache sites -------------------------------------------------------------------------


@BUDGET
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    'RequestHeader set X-Forwarded-Protocol "https"',
                    "  requestheader SET x-forwarded-protocol https",
                    "ProxyPass / http://localhost:8080/",
                ]
            ),
            comment,
        ),
        max_size=6,
    )
)
def test_an_apache_site_changes_its_header_line_only(tmp_path_factory, lines):
    root = tmp_path_factory.mktemp("apache")
    (root / "sites-available").mkdir()
    (root / "sites-enabled").mkdir()
    text = "\n".join(lines) + "\n"
    (root / "sites-available" / "synnefo.conf").write_text(text)
    apache.__salt__ = {"synnefo_files.read": lambda path: open(path, encoding="utf-8", newline="").read()}
    plan = apache.planned(str(root))
    new = plan["edits"].get(str(root / "sites-available" / "synnefo.conf"), {"text": text})["text"]
    old_lines, new_lines = text.split("\n"), new.split("\n")
    assert len(old_lines) == len(new_lines)
    for old, now in zip(old_lines, new_lines):
        assert now == old or (
            now.lower() == old.lower().replace("x-forwarded-protocol", "x-forwarded-proto") and "requestheader" in old.lower()
        )


# --- the owner changelog and server-modify logs --------------------------------------------


@BUDGET
@given(st.lists(st.text(max_size=60), max_size=6))
def test_a_changelog_is_validated_never_raised_on(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("changelog") / "log"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        result = history.validate(str(path))
    except CommandExecutionError:
        return
    assert set(result) >= {"valid", "errors", "changes"}
    assert all(set(e) >= {"line", "text", "error"} for e in result["errors"])


@BUDGET
@given(st.lists(st.text(max_size=80), min_size=1, max_size=6), st.binary(max_size=60))
def test_server_modify_logs_are_read_never_raised_on(tmp_path_factory, lines, raw):
    directory = tmp_path_factory.mktemp("logs")
    (directory / "160101120000_server-modify_1.log").write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    (directory / "160101120001_server-modify_2.log").write_bytes(raw)
    try:
        rebuilt = history.changelog_from_logs(log_dir=str(directory), timezone="UTC", zoneinfo="/usr/share/zoneinfo")
    except CommandExecutionError:
        return
    named = {os.path.basename(p) for p in rebuilt["without_owner_change"]} | {os.path.basename(u["log"]) for u in rebuilt["unreadable"]}
    assert (
        named | {os.path.basename(e.get("log", "")) for e in rebuilt["entries"]} >= {"160101120001_server-modify_2.log"}
        or rebuilt["entries"]
    )
