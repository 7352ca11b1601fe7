"""Each stand-in behaviour the formula relies on, as upstream's code has it (one test per row
of testbed/UPSTREAM.md, named there). The stand-ins are called directly, on the machine."""

import io
import json
import os
import sys
import types

import pytest

from testbed import packages
from testbed.synnefo import programs
from tests.synnefo_host import host_root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = "https://cyclades.example.org/cyclades"


def export(version):
    out = io.StringIO()
    os.environ["SNF_TESTBED_ROOT"] = export.roots[version]
    try:
        assert programs.snf_service_export(["cyclades", BASE], out=out) == 0
    finally:
        del os.environ["SNF_TESTBED_ROOT"]
    return json.loads(out.getvalue())


@pytest.fixture(autouse=True)
def roots(tmp_path):
    export.roots = {v: str(host_root(tmp_path / v, version=v, packages=("snf-astakos-app",))) for v in ("0.18.1-1~wheezy", "0.19-1~jessie")}


# --- snf-service-export (snf_service_export.py + synnefo/lib/services.py) ------------------


def test_export_0181_versions_every_url_and_has_no_expose_flag():
    services = export("0.18.1-1~wheezy")
    assert sorted(services) == [
        "cyclades_admin",
        "cyclades_compute",
        "cyclades_network",
        "cyclades_plankton",
        "cyclades_vmapi",
        "cyclades_volume",
    ]
    assert services["cyclades_plankton"]["endpoints"] == [{"versionId": "v1.0", "publicURL": BASE + "/image/v1.0"}]
    assert services["cyclades_admin"]["endpoints"] == [{"versionId": "", "publicURL": BASE + "/admin"}]
    assert not [e for s in services.values() for e in s["endpoints"] if "SNF:exposeVersion" in e]


def test_export_019_keeps_the_version_id_and_marks_it_hidden():
    services = export("0.19-1~jessie")
    assert services["cyclades_plankton"]["endpoints"] == [{"versionId": "v1.0", "SNF:exposeVersion": False, "publicURL": BASE + "/image"}]
    assert services["cyclades_network"]["endpoints"][0] == {"versionId": "v2.0", "SNF:exposeVersion": False, "publicURL": BASE + "/network"}
    assert services["cyclades_volume"]["endpoints"][0]["publicURL"] == BASE + "/volume"
    # fill_endpoints sets the flag to True where the definition has none.
    assert services["cyclades_compute"]["endpoints"][0] == {
        "versionId": "v2.0",
        "SNF:exposeVersion": True,
        "publicURL": BASE + "/compute/v2.0",
    }
    assert services["cyclades_vmapi"]["endpoints"][0]["publicURL"] == BASE + "/vmapi/v1.0"
    assert sorted(services["cyclades_compute"]["resources"]) == ["cpu", "disk", "ram", "total_cpu", "total_ram", "vm"]


def test_export_usage_errors():
    err = io.StringIO()
    assert programs.snf_service_export(["cyclades"], out=io.StringIO(), err=err) == 2 and "Wrong number of arguments" in err.getvalue()
    err = io.StringIO()
    assert programs.snf_service_export(["nova", BASE], out=io.StringIO(), err=err) == 1
    assert err.getvalue() == "Unrecognized component nova\n"


# --- server-modify (synnefo/logic/management/commands/server-modify.py, snf_django commands) ---


@pytest.mark.parametrize("argv", [["--user", "B", "42"], ["42", "--user", "B"], ["--user=B", "--wait", "False", "42"]])
def test_server_modify_prints_and_logs_as_upstream(tmp_path, monkeypatch, argv):
    root = host_root(tmp_path / "root")
    monkeypatch.setenv("SNF_TESTBED_ROOT", str(root))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("SNF_TESTBED_NOW", "1477789200")
    shared = tmp_path / "shared"
    shared.mkdir()
    programs.create(str(shared), vms=[(42, "A")])
    out = io.StringIO()
    assert programs.snf_manage(["server-modify", *argv], shared=str(shared), host="cyclades1", out=out) == 0
    assert out.getvalue().splitlines() == [
        "Changed the owner of server '<vm:42@backend:1>' from 'A' to 'B'.",
        "Changed the project of server '<vm:42@backend:1>' from 'A' to 'B'.",
        "WARNING: User quotas should be out of sync now, run `snf-manage reconcile-resources-cyclades' to review and update them.",
    ]
    (log,) = os.listdir(root / "var/log/synnefo/commands")
    assert (
        log.startswith("161030010000_server-modify_") and oct(os.stat(root / "var/log/synnefo/commands" / log).st_mode & 0o777) == "0o600"
    )
    text = (root / "var/log/synnefo/commands" / log).read_text()
    assert text.startswith(f"2016-10-30 01:00:00,000 - INFO: \n\tcommand: /usr/bin/snf-manage server-modify {' '.join(argv)}\n\tpid: ")
    assert "\n\n\nOutput:\n2016-10-30 01:00:00,042 - INFO: Changed the owner of server '<vm:42@backend:1>'" in text


# --- gunicorn behind Synnefo's URL confs (snf-webproject, each app's urls) ----------------


@pytest.fixture
def gunicorn(tmp_path, monkeypatch):
    """The gunicorn stand-in loaded as a module, over a private /etc/synnefo and dpkg info."""
    monkeypatch.setitem(sys.modules, "tbdaemon", types.ModuleType("tbdaemon"))
    text = open(os.path.join(ROOT, "testbed", "standins", "gunicorn-standin")).read().replace("@VERSION@", "19.0")
    module = types.ModuleType("gunicorn_standin")
    exec(compile(text, "gunicorn-standin", "exec"), module.__dict__)
    (tmp_path / "etc").mkdir()
    module.SETTINGS_DIR = str(tmp_path / "etc")
    module.DPKG_INFO = str(host_root(tmp_path / "host", packages=("snf-cyclades-app", "snf-astakos-app")) / "var/lib/dpkg/info")
    module.settings_dir = tmp_path / "etc"
    return module


def test_nothing_is_served_at_the_root(gunicorn):
    assert gunicorn.route("/")[0] == 404
    (gunicorn.settings_dir / "10-snf-webproject-deploy.conf").write_text("WEBPROJECT_ROOT_REDIRECT = '/cyclades/ui/'\n")
    assert gunicorn.route("/")[:1] == (302,) and gunicorn.route("/")[2] == {"Location": "/cyclades/ui/"}


def test_each_apis_unauthenticated_answer(gunicorn):
    status, body, _ = gunicorn.route("/cyclades/compute")
    assert status == 200 and "versions" in json.loads(body)
    assert gunicorn.route("/cyclades/image/")[0] == 200
    assert gunicorn.route("/astakos/account/v1.0/resources")[0] == 200
    assert gunicorn.route("/pithos/object-store/v1/")[0] == 404  # snf-pithos-app is not installed here
    assert gunicorn.route("/cyclades/compute/v2.0/servers")[0] == 404


def test_pithos_wants_a_token(gunicorn, tmp_path):
    gunicorn.DPKG_INFO = str(host_root(tmp_path / "pithos", packages=("snf-pithos-app",)) / "var/lib/dpkg/info")
    assert gunicorn.route("/pithos/object-store/v1/")[0] == 401


@pytest.mark.parametrize(
    "host, allowed, ok",
    [
        ("cyclades1.example.org", ["cyclades1.example.org"], True),
        ("127.0.0.1:8080", ["cyclades1.example.org"], False),
        ("a.example.org:443", [".example.org"], True),
        ("example.org", [".example.org"], True),
        ("evil.org", [".example.org"], False),
        ("anything", ["*"], True),
        ("CYCLADES1.example.org.", ["cyclades1.example.org"], True),
    ],
)
def test_django_host_validation(gunicorn, host, allowed, ok):
    assert gunicorn.host_allowed(host, allowed) is ok


# --- packages (debian/control, install guides, changelogs) ---------------------------------


def test_synnefos_own_packages_are_its_source_trees_fifteen():
    assert len(packages.SYNNEFO_SOURCE_PACKAGES) == 15 and "snf-image" not in packages.SYNNEFO_SOURCE_PACKAGES
    built = {p.name: p.version for p in packages.all_packages() if p.suite == "wheezy"}
    for name, versions in packages.OWN_VERSIONS.items():
        assert built[name] == versions["wheezy"], name
    assert built["snf-common"] == "0.18.1-1~wheezy" and built["snf-vncauthproxy"] == "1.6-1~wheezy"


def test_backports_builds_carry_the_backports_suffix():
    backports = {p.name: p.version for p in packages.backports()}
    assert backports["python-gevent"].startswith("1.1.1-2~bpo8+") and backports["python-greenlet"].startswith("0.4.10-1~bpo8+")


def test_eventd_on_jessie_ignores_its_enable_switch():
    """grnet/synnefo debian/snf-cyclades-gtools.snf-ganeti-eventd.service (0.19): the unit reads
    /etc/default/snf-ganeti-eventd but never tests SNF_EVENTD_ENABLE; wheezy's init does."""
    gtools = {
        p.suite: p for p in packages.synnefo_packages("wheezy") + packages.synnefo_packages("jessie") if p.name == "snf-cyclades-gtools"
    }
    (wheezy,) = [s for s in gtools["wheezy"].services if s.name == "snf-ganeti-eventd"]
    (jessie,) = [s for s in gtools["jessie"].services if s.name == "snf-ganeti-eventd"]
    assert wheezy.enable_var == "SNF_EVENTD_ENABLE" and jessie.enable_var == "" and jessie.start_on_install
