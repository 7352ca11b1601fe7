"""synnefo_components: cyclades registered again with 0.19's unversioned endpoints, without
prompts, once for given URLs. The programs are the test bed's stand-ins
(testbed/synnefo/programs.py) over a private shared directory."""

import pytest

from testbed import timeline
from testbed.synnefo import programs
from tests.synnefo_host import host_root, program

BASE = "https://cyclades1.example.org/cyclades"
UI = BASE + "/ui"


@pytest.fixture
def astakos(tmp_path, repo_root, state_dir):
    """snf-manage and snf-service-export of an astakos host on ``version``; the registry as
    0.18.1 left it."""
    import shutil

    shutil.rmtree(state_dir / "components", ignore_errors=True)
    shared = tmp_path / "shared"
    shared.mkdir()
    programs.create(str(shared))

    def on(version):
        root = tmp_path / f"root-{version}"
        if not root.exists():
            host_root(root, version=version, packages=("snf-astakos-app",))
        return {
            "manage": str(program(tmp_path / f"snf-manage-{version}", repo_root, root, shared, "astakos1", "snf-manage")),
            "export": str(program(tmp_path / f"export-{version}", repo_root, root, shared, "astakos1", "snf-service-export")),
        }

    return on, shared


def endpoints(shared):
    with programs.Store(str(shared)) as store:
        services = store.state["components"]["cyclades"]["services"]
    return sorted(e["publicURL"] for s in services.values() for e in s["endpoints"])


def test_registers_again_with_unversioned_endpoints_once(states, astakos):
    on, shared = astakos
    assert f"{BASE}/image/v1.0" in endpoints(shared)
    ret = states.synnefo_components.registered(name="cyclades", base_url=BASE, ui_url=UI, **on("0.19-1~jessie"))
    assert ret.result is True, ret.comment
    assert {f"{BASE}/image", f"{BASE}/network", f"{BASE}/volume", f"{BASE}/compute/v2.0"} <= set(endpoints(shared))
    assert not [u for u in endpoints(shared) if u.endswith(("image/v1.0", "network/v2.0", "volume/v2.0"))]
    assert ret.changes["new"] == {"base_url": BASE, "ui_url": UI}
    again = states.synnefo_components.registered(name="cyclades", base_url=BASE, ui_url=UI, **on("0.19-1~jessie"))
    assert again.result is True and again.changes == {}
    assert len([e for e in timeline.read(str(shared)) if e["event"] == "component-modify"]) == 1


def test_dry_run_and_refusals_change_nothing(states, astakos):
    on, shared = astakos
    before = endpoints(shared)
    dry = states.synnefo_components.registered(name="cyclades", base_url=BASE, ui_url=UI, test=True, **on("0.19-1~jessie"))
    assert dry.result is None and dry.changes["new"] == {"base_url": BASE, "ui_url": UI}
    # Before the dist-upgrade too: the dry run of a whole upgrade predicts it.
    early = states.synnefo_components.registered(name="cyclades", base_url=BASE, ui_url=UI, test=True, **on("0.18.1-1~wheezy"))
    assert early.result is None
    old = states.synnefo_components.registered(name="cyclades", base_url=BASE, ui_url=UI, **on("0.18.1-1~wheezy"))
    assert old.result is False and "the export is not 0.19's" in old.comment
    missing = states.synnefo_components.registered(name="cyclades", base_url="", ui_url=UI, **on("0.19-1~jessie"))
    assert missing.result is False and "no base_url or ui_url" in missing.comment
    assert endpoints(shared) == before
    assert not [e for e in timeline.read(str(shared)) if e["event"] == "component-modify"]


def test_a_service_0181_registered_that_019_no_longer_exports_is_purged_and_checked(states, astakos):
    on, shared = astakos
    with programs.Store(str(shared)) as store:
        store.state["components"]["cyclades"]["services"]["cyclades_retired"] = {"type": "retired", "component": "cyclades"}
    ret = states.synnefo_components.registered(name="cyclades", base_url=BASE, ui_url=UI, **on("0.19-1~jessie"))
    assert ret.result is True, ret.comment
    with programs.Store(str(shared)) as store:
        names = sorted(store.state["components"]["cyclades"]["services"])
    assert "cyclades_retired" not in names and names == ret.changes["services"]
