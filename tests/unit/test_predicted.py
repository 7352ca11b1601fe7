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


def clock(moment):
    import time

    return time.strftime("%H:%M:%S", time.localtime(moment)) + ".{:06d}".format(int(moment % 1 * 1e6))


def test_the_upgrade_job_is_split_into_its_parts_on_the_jobs_own_times():
    started = 1795680000.25  # the master's clock when the job began
    results = {
        "synnefo-upgrade-services-gunicorn-stopped": {"start_time": clock(started + 1), "duration": 500.0},
        "synnefo-upgrade-apt-dist-upgraded-to-jessie": {"start_time": clock(started + 2), "duration": 20000.0},
        "synnefo-upgrade-gunicorn-config-wsgi-mode": {"start_time": clock(started + 22.5), "duration": 100.0},
        "synnefo-upgrade-databases-backed-up-and-migrated-once": {"start_time": clock(started + 23), "duration": 3000.0},
        "synnefo-upgrade-settings-allowed-hosts-set": {"start_time": clock(started + 26.5), "duration": 100.0},
        "synnefo-upgrade-cyclades-ip-history-fixed": {"start_time": clock(started + 26), "duration": 400.0},
        "no-times": {"result": True},
    }
    parts = orch.parts(results, started, started + 30)
    assert [p["step"] for p in parts] == ["services stopped", "dist-upgrade", "configuration", "database migration", "IP history"]
    spans = {p["step"]: (round(p["start"] - started, 2), round(p["end"] - started, 2)) for p in parts}
    assert spans["dist-upgrade"] == (2.0, 22.0) and spans["configuration"] == (22.5, 26.6)
    assert spans["database migration"] == (23.0, 26.0)
    # Times that do not fall inside the job (a clock two hours off) are left out.
    assert orch.parts(results, started + 7200, started + 7230) == []


def test_a_minion_in_another_zone_has_its_parts_placed_by_its_own_offset():
    """A Europe/Athens minion (UTC+2 in winter) times its states two hours ahead of a UTC
    master: read with its offset, its parts land inside the job; with the master's, nowhere."""
    import time

    started = 1796705051.70  # 2026-12-08 04:44:11 UTC
    athens = 2 * 3600
    moment = started + 2 + athens
    on_minion = time.strftime("%H:%M:%S", time.gmtime(moment)) + ".{:06d}".format(int(round(moment % 1 * 1e6)))
    results = {"synnefo-upgrade-apt-dist-upgraded-to-jessie": {"start_time": on_minion, "duration": 5000.0}}
    (part,) = orch.parts(results, started, started + 8, offset=athens)
    assert part["step"] == "dist-upgrade" and round(part["start"] - started, 2) == 2.0 and round(part["end"] - started, 2) == 7.0
    assert orch.parts(results, started, started + 8, offset=0) == []
    assert [orch.utc_offset(t) for t in ("+0200", "-0330", "+0000", "EET", "")] == [7200, -12600, 0, None, None]


def test_answers_judges_each_minion_on_its_own():
    calls = []

    def cmd(minions, fun, arg, tgt_type, timeout):
        calls.append((tuple(minions), fun, tgt_type))
        return {"a": {"ret": {"snf-common": "0.18.1"}, "retcode": 0}, "b": {"ret": "'pkg.list_pkgs' failed", "retcode": 1}}

    found = orch.answers({"saltutil.cmd": cmd}, ["a", "b", "c"], "pkg.list_pkgs")
    assert calls == [(("a", "b", "c"), "pkg.list_pkgs", "list")]  # one job for all
    assert found["a"] == (True, {"snf-common": "0.18.1"})
    assert found["b"] == (False, "pkg.list_pkgs failed: 'pkg.list_pkgs' failed")
    assert found["c"] == (False, "the minion did not answer pkg.list_pkgs")
