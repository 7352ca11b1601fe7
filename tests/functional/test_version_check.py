"""The version refusal, on a real (private) dpkg database: Synnefo 0.19 migrates only from
0.18.1's schema, so a host on any other version is refused by every SLS, applied alone too."""

import pytest

GUNICORN = "CONFIG = {'mode': 'django', 'args': ('--bind=127.0.0.1:8080',)}\n"
SOURCES = "deb http://deb.debian.org/debian wheezy main\n"


@pytest.fixture
def synnefo_installed(tmp_path, monkeypatch):
    """Make dpkg (and so Salt's pkg.version) see snf-common at a version: dpkg-query reads
    the database DPKG_ADMINDIR names."""

    def install(version):
        admin = tmp_path / "dpkg"
        (admin / "info").mkdir(parents=True, exist_ok=True)
        (admin / "status").write_text(
            f"Package: snf-common\nStatus: install ok installed\nPriority: optional\nSection: python\n"
            f"Maintainer: GRNET <synnefo@grnet.gr>\nArchitecture: all\nVersion: {version}\n"
            "Description: Synnefo common infrastructure\n\n"
        )
        monkeypatch.setenv("DPKG_ADMINDIR", str(admin))

    return install


@pytest.fixture
def site(tmp_path):
    (tmp_path / "apt" / "sources.list.d").mkdir(parents=True)
    (tmp_path / "apt" / "sources.list").write_text(SOURCES)
    (tmp_path / "synnefo").write_text(GUNICORN)
    return {"synnefo_upgrade": {"gunicorn": {"config": str(tmp_path / "synnefo")}, "apt": {"config_dir": str(tmp_path / "apt")}}}


def test_the_private_database_is_what_salt_sees(modules, synnefo_installed):
    synnefo_installed("0.18.1-1~wheezy")
    assert modules.pkg.version("snf-common") == "0.18.1-1~wheezy"


# Older, newer and much older on the highstate; a configuration SLS alone (that every SLS
# requires the check is test_sls' structural test).
@pytest.mark.parametrize(
    "sls, version",
    [
        ("synnefo_upgrade", "0.18.0-1~wheezy"),
        ("synnefo_upgrade", "0.18.2-1~wheezy"),
        ("synnefo_upgrade", "0.17-1~wheezy"),
        ("synnefo_upgrade.gunicorn.wsgi", "0.18.2-1~wheezy"),
    ],
)
def test_another_version_is_refused_and_nothing_else_would_run(modules, synnefo_installed, site, tmp_path, version, sls):
    # test=True: were the refusal broken, nothing on this machine may change either.
    synnefo_installed(version)
    raw = modules.state.sls(sls, pillar=site, test=True).raw
    (check,) = [r for key, r in raw.items() if "synnefo-upgrade-version-checked" in key]
    assert check["result"] is False
    assert f"snf-common {version} is installed" in check["comment"] and "0.18.1-1~wheezy only" in check["comment"]
    # Only the guard's removal may still run (Salt runs onfail states past failhard): it
    # changes nothing where the formula installed no guard.
    others = {key: r for key, r in raw.items() if "version-checked" not in key and "policy-rc-d-removed" not in key}
    assert others and all(r["result"] is False and not r["changes"] for r in others.values()), {
        k: (r["result"], r["comment"]) for k, r in others.items() if r["result"] is not False
    }
    assert all(not r["changes"] for r in raw.values())
    assert (tmp_path / "synnefo").read_text() == GUNICORN
    assert (tmp_path / "apt" / "sources.list").read_text() == SOURCES


def test_the_refusal_stops_a_real_run_before_any_change(modules, synnefo_installed, site, tmp_path):
    synnefo_installed("0.18.0-1~wheezy")
    raw = modules.state.sls("synnefo_upgrade.apt.sources", pillar=site).raw
    (only,) = raw.values()  # failhard: nothing after the check was even tried
    assert only["result"] is False and "0.18.0-1~wheezy" in only["comment"]
    assert (tmp_path / "apt" / "sources.list").read_text() == SOURCES


def test_0181_passes_the_check_and_the_steps_would_run(modules, synnefo_installed, site, tmp_path):
    synnefo_installed("0.18.1-1~wheezy")
    raw = modules.state.sls("synnefo_upgrade.apt.sources", pillar=site, test=True).raw
    (check,) = [r for key, r in raw.items() if "synnefo-upgrade-version-checked" in key]
    (switch,) = [r for key, r in raw.items() if "sources-switched" in key]
    assert check["result"] is True and "may proceed" in check["comment"], check
    assert switch["result"] is None and str(tmp_path / "apt" / "sources.list") in switch["changes"]


# A real 0.18.1 Ganeti node and cyclades host (upstream's 0.18.1 install guide): Synnefo's own
# packages at 0.18.1, the other snf-* at versions of their own.
REAL_GANETI_NODE = {
    "snf-common": "0.18.1-1~wheezy",
    "snf-cyclades-gtools": "0.18.1-1~wheezy",
    "snf-pithos-backend": "0.18.1-1~wheezy",
    "snf-image": "0.21-1~wheezy",
    "snf-network": "0.16-1~wheezy",
    "snf-ganeti": "2.10.7+snap1+b64v1+ext1+lockfix1+ifdown1+qmp1+bpo1-1~wheezy",
}


def test_own_versioned_snf_packages_pass_and_are_named(modules, dpkg_installed, site):
    dpkg_installed(REAL_GANETI_NODE)
    raw = modules.state.sls("synnefo_upgrade.version.check", pillar=site, test=True).raw
    (check,) = raw.values()
    assert check["result"] is True and "may proceed" in check["comment"], check
    assert "snf-image 0.21-1~wheezy" in check["comment"] and "snf-network 0.16-1~wheezy" in check["comment"]
    assert "snf-cyclades-gtools" not in check["comment"]


def test_one_of_synnefos_own_packages_at_another_version_is_refused(modules, dpkg_installed, site):
    dpkg_installed(dict(REAL_GANETI_NODE, **{"snf-pithos-backend": "0.18-1~wheezy"}))
    (check,) = modules.state.sls("synnefo_upgrade.version.check", pillar=site, test=True).raw.values()
    assert check["result"] is False and "snf-pithos-backend 0.18-1~wheezy" in check["comment"], check


def test_a_host_on_exactly_019_passes_a_rerun(modules, dpkg_installed, site):
    dpkg_installed({"snf-common": "0.19-1~jessie", "snf-cyclades-gtools": "0.19-1~jessie", "snf-image": "0.21.1-1~jessie"})
    (check,) = modules.state.sls("synnefo_upgrade.version.check", pillar=site, test=True).raw.values()
    assert check["result"] is True and "nothing to upgrade" in check["comment"], check
