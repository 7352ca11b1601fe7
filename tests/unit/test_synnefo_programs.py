"""The test bed's Synnefo programs, run on the machine against a private shared directory."""

import io
import sqlite3

import pytest

from testbed.synnefo import programs
from tests.synnefo_host import host_root


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """A shared directory, and a host root with Synnefo 0.19's cyclades installed."""
    root = host_root(tmp_path / "root")
    monkeypatch.setenv("SNF_TESTBED_ROOT", str(root))
    data = tmp_path / "shared"
    data.mkdir()
    programs.create(
        str(data), vms=[(1, "aaaaaaaa-0000-4000-8000-000000000001")], log=[("192.0.2.1", 1, 1, "2016-01-01 10:00:00.000000", None)]
    )
    return str(data)


def run(shared, version, *args, stdin=""):
    out = io.StringIO()
    code = programs.snf_manage(list(args), shared=shared, host="cyclades1", out=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


def test_migrate_019_once_per_service_and_builds_the_ip_history(shared):
    code, out = run(shared, "0.19", "migrate")
    assert code == 0 and "Applying db.0003_auto_ip_ownership...Created 1 IP history entries.\n OK\n" in out
    with sqlite3.connect(f"{shared}/cyclades.sqlite3") as db:
        rows = db.execute("SELECT address, user_id, action FROM db_ipaddresshistory").fetchall()
    assert rows == [("192.0.2.1", "aaaaaaaa-0000-4000-8000-000000000001", "associate")]
    code, out = run(shared, "0.19", "migrate")
    assert "No migrations to apply." in out
    with programs.Store(shared) as store:
        assert [m["service"] for m in store.state["migrations"]] == ["cyclades"]


def test_pithos_has_no_django_migration_of_its_own_in_019(shared, monkeypatch, tmp_path):
    """Its backend's schema is alembic's: a pithos host's migrate applies only Django's own apps
    it loads (contenttypes, sites: FAKED on a 0.18.1 database), once, as real 0.19 does."""
    monkeypatch.setenv("SNF_TESTBED_ROOT", str(host_root(tmp_path / "pithos-root", packages=("snf-pithos-app",))))
    code, out = run(shared, "0.19", "migrate")
    assert code == 0 and "Applying contenttypes.0001_initial... FAKED\n  Applying sites.0001_initial... FAKED\n" in out
    assert "Applying db." not in out and "Applying im." not in out
    code, out = run(shared, "0.19", "migrate")
    assert code == 0 and "No migrations to apply." in out and "Applying" not in out
    with programs.Store(shared) as store:
        assert store.state["migrations"] == [{**store.state["migrations"][0], "service": "pithos"}]


def test_component_register_prompts_and_re_registers_without_versions(shared):
    out = io.StringIO()
    answers = io.StringIO("y\nhttps://c.example.org/cyclades\nhttps://c.example.org/cyclades/ui\ny\n")
    assert programs.snf_component_register(["cyclades"], shared=shared, host="astakos1", stdin=answers, out=out) == 0
    assert out.getvalue().count("?") == 2 and "Base URL: " in out.getvalue() and "UI URL: " in out.getvalue()
    code, listing = run(shared, "0.19", "component-list", "-o", "name,base_url,ui_url", "--output-format=csv", "--no-headers")
    assert listing == "cyclades,https://c.example.org/cyclades,https://c.example.org/cyclades/ui\n"
    with programs.Store(shared) as store:
        urls = {s["type"]: s["endpoints"][0]["publicURL"] for s in store.state["components"]["cyclades"]["services"].values()}
    assert urls["image"] == "https://c.example.org/cyclades/image"
    assert urls["compute"] == "https://c.example.org/cyclades/compute/v2.0"


def test_modify_then_export_import_is_the_non_interactive_registration(shared):
    base = "https://c.example.org/cyclades"
    assert run(shared, "0.19", "component-modify", "cyclades", "--base-url", base, "--ui-url", base + "/ui", "--purge-services")[0] == 0
    exported = io.StringIO()
    programs.snf_service_export(["cyclades", base], out=exported)
    assert run(shared, "0.19", "service-import", "--json", "-", stdin=exported.getvalue())[0] == 0
    with programs.Store(shared) as store:
        services = store.state["components"]["cyclades"]["services"]
    assert services["cyclades_network"]["endpoints"][0]["publicURL"] == base + "/network"


def test_unknown_command_and_component(shared):
    with pytest.raises(programs.CommandError, match="Unknown command"):
        run(shared, "0.19", "frobnicate")
    with pytest.raises(programs.CommandError, match="does not exist"):
        run(shared, "0.19", "component-modify", "nova", "--base-url", "x")


def test_service_list_names_each_components_services(shared):
    code, listing = run(shared, "0.19", "service-list", "-o", "name,component", "--output-format=csv", "--no-headers")
    assert code == 0 and "cyclades_plankton,cyclades\n" in listing and len(listing.splitlines()) == 6
