"""synnefo_orch.predicted: what a node's dry run says it would do, from the states' own
test-mode returns in each shape the formula's states give them."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("synnefo_orch", ROOT / "_utils" / "synnefo_orch.py")
orch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(orch)

RESULTS = {
    "synnefo-upgrade-services-gunicorn-stopped": {"name": "gunicorn", "result": None, "changes": {}, "comment": "would stop"},
    "synnefo-upgrade-services-apache2-stopped": {"name": "apache2", "result": True, "changes": {}, "comment": "is stopped"},
    "synnefo-upgrade-apt-sources-switched-to-jessie": {
        "name": "/etc/apt",
        "result": None,
        "changes": {"/etc/apt/sources.list": {"diff": "-wheezy\n+jessie"}},
    },
    orch.UPGRADE_STATE: {
        "name": "dist-upgrade",
        "result": None,
        "changes": {"snf-common": {"old": "0.18.1", "new": "0.19", "size": 3000}, "gone": {"old": "1", "new": "", "size": 0}},
    },
    "synnefo-upgrade-gunicorn-config-wsgi-mode": {
        "name": "/etc/gunicorn.d/synnefo",
        "result": None,
        "changes": {"diff": "+ 'mode': 'wsgi',"},
        "comment": "would be switched",
    },
    "synnefo-upgrade-apache-sites-renamed-and-proto-header-set": {
        "name": "/etc/apache2",
        "result": None,
        "changes": {"/etc/apache2/sites-available/synnefo.conf": {"renamed": "synnefo -> synnefo.conf", "diff": "+Proto"}},
    },
    "synnefo-upgrade-settings-allowed-hosts-set": {
        "name": "/etc/synnefo/99-allowed.conf",
        "result": True,
        "changes": {},
        "comment": "warning: ALLOWED_HOSTS is not set for this node, set pillar",
    },
}


def test_every_shape_of_change_is_found_with_its_diff():
    found = orch.predicted(RESULTS)
    assert found["files"] == ["/etc/apache2/sites-available/synnefo.conf", "/etc/apt/sources.list", "/etc/gunicorn.d/synnefo"]
    assert found["diffs"]["/etc/gunicorn.d/synnefo"] == "+ 'mode': 'wsgi',"
    assert found["diffs"]["/etc/apache2/sites-available/synnefo.conf"] == "renamed synnefo -> synnefo.conf\n+Proto"
    assert found["services"] == ["gunicorn"]  # apache2 is stopped already
    assert found["download_bytes"] == 3000 and set(found["packages"]) == {"snf-common", "gone"}
    assert found["warnings"] == ["warning: ALLOWED_HOSTS is not set for this node, set pillar"]


def test_a_node_with_nothing_to_do_predicts_nothing():
    quiet = {k: dict(v, result=True, changes={}, comment="") for k, v in RESULTS.items()}
    assert orch.predicted(quiet) == {"packages": {}, "download_bytes": 0, "files": [], "diffs": {}, "services": [], "warnings": []}
