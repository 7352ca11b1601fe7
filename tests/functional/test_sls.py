"""The formula's SLS files, rendered by Salt's real renderer with map.jinja and pillar."""

import pytest


def arguments(state, module):
    """The arguments an SLS gives a state (without Salt's own bookkeeping keys and requisites)."""
    return {k: v for item in state[module] if isinstance(item, dict) for k, v in item.items() if k not in ("order", "require", "onfail")}


def own_states(rendered, sls):
    """The states an SLS defines itself (show_sls also lists those of the SLS it includes)."""
    return {i: s for i, s in rendered.items() if not i.startswith("__") and s.get("__sls__") == sls}


SLS = [
    "synnefo_upgrade.apt.sources",
    "synnefo_upgrade.apt.backports",
    "synnefo_upgrade.apt.policy_rc_d",
    "synnefo_upgrade.apt.policy_rc_d_clean",
    "synnefo_upgrade.apt.dist_upgrade",
    "synnefo_upgrade.gunicorn.wsgi",
    "synnefo_upgrade.apache.sites",
    "synnefo_upgrade.settings.allowed_hosts",
    "synnefo_upgrade.db.migrated",
    "synnefo_upgrade.astakos.register",
    "synnefo_upgrade.cyclades.allocator",
    "synnefo_upgrade.cyclades.caches",
    "synnefo_upgrade.cyclades.ip_history",
    "synnefo_upgrade.services.stopped",
    "synnefo_upgrade.version.check",
    "synnefo_upgrade",
]


@pytest.mark.parametrize("sls", SLS)
def test_every_sls_renders_with_defaults(modules, sls):
    rendered = modules.state.show_sls(sls)
    assert isinstance(rendered, dict), rendered


def test_every_step_publishes_its_result_on_the_event_bus(modules):
    """Each state fires salt/state_result/<jid>/<minion>/synnefo_upgrade/<sls>, for the
    operator's live view."""
    minion = modules.grains.get("id")
    pillar = {
        "synnefo_upgrade": {
            "ip_history": {"changelog": "/root/c.log"},
            "databases": {"cyclades": {"minion": minion}},
            "register": {"minion": minion, "cyclades_base_url": "https://c/cyclades", "cyclades_ui_url": "https://c/ui"},
        }
    }
    for sls in SLS[:-1]:
        states = own_states(modules.state.show_sls(sls, pillar=pillar), sls)
        assert states, sls
        for state_id, state in states.items():
            (module,) = [k for k in state if not k.startswith("__")]
            args = arguments(state, module)
            assert args.get("fire_event") == f"synnefo_upgrade/{sls.split('.', 1)[1]}", (sls, state_id)


def test_defaults_reach_the_states(modules):
    rendered = modules.state.show_sls("synnefo_upgrade.apt.backports")
    state = rendered["synnefo-upgrade-apt-backports-gevent-greenlet-pinned"]
    args = arguments(state, "apt_jessie")
    assert args.pop("fire_event") == "synnefo_upgrade/apt.backports"
    assert args == {
        "name": "/etc/apt",
        "suite": "jessie-backports",
        "packages": {"python-gevent": "1.1.1", "python-greenlet": "0.4.10"},
    }


def test_pillar_overrides_defaults_key_by_key(modules):
    pillar = {
        "synnefo_upgrade": {
            "cyclades": {"caches": {"VMAPI_CACHE": {"LOCATION": "mc:11211"}}},
            "ip_history": {"changelog": "/root/c.log", "apply": True},
            "databases": {"cyclades": {"minion": modules.grains.get("id")}},
        }
    }
    caches = modules.state.show_sls("synnefo_upgrade.cyclades.caches", pillar=pillar)["synnefo-upgrade-cyclades-caches-django-format"]
    args = arguments(caches, "cyclades_caches")
    assert args["caches"] == {"VMAPI_CACHE": {"LOCATION": "mc:11211"}}
    assert args["config_dir"] == "/etc/synnefo"  # not overridden: the default stays
    fixed = modules.state.show_sls("synnefo_upgrade.cyclades.ip_history", pillar=pillar)["synnefo-upgrade-cyclades-ip-history-fixed"]
    args = arguments(fixed, "ip_history")
    assert args == {
        "name": "/root/c.log",
        "apply": True,
        "tool": "/usr/lib/synnefo/tools/fix_ip_history",
        "fire_event": "synnefo_upgrade/cyclades.ip_history",
    }


def test_the_database_migration_runs_only_on_the_minion_pillar_names(modules):
    minion = modules.grains.get("id")
    pillar = {
        "synnefo_upgrade": {
            "databases": {
                "astakos": {"minion": minion, "backup": "pg_dump a > /b/a.dump"},
                "cyclades": {"minion": "cyclades9", "backup": "pg_dump c > /b/c.dump"},
            }
        }
    }
    rendered = modules.state.show_sls("synnefo_upgrade.db.migrated", pillar=pillar)
    (state,) = own_states(rendered, "synnefo_upgrade.db.migrated").values()
    args = arguments(state, "synnefo_db")
    assert args["services"] == ["astakos"] and args["backups"] == {"astakos": "pg_dump a > /b/a.dump"}
    elsewhere = {"synnefo_upgrade": {"databases": {"astakos": {"minion": "astakos9"}, "cyclades": {"minion": "cyclades9"}}}}
    assert own_states(modules.state.show_sls("synnefo_upgrade.db.migrated", pillar=elsewhere), "synnefo_upgrade.db.migrated") == {}
    assert own_states(modules.state.show_sls("synnefo_upgrade.db.migrated"), "synnefo_upgrade.db.migrated") == {}


def test_cyclades_is_registered_only_on_the_minion_pillar_names(modules):
    minion = modules.grains.get("id")
    register = {"minion": minion, "cyclades_base_url": "https://c/cyclades", "cyclades_ui_url": "https://c/cyclades/ui"}
    rendered = modules.state.show_sls("synnefo_upgrade.astakos.register", pillar={"synnefo_upgrade": {"register": register}})
    (state,) = own_states(rendered, "synnefo_upgrade.astakos.register").values()
    assert arguments(state, "synnefo_components")["base_url"] == "https://c/cyclades"
    elsewhere = {"synnefo_upgrade": {"register": dict(register, minion="astakos9")}}
    assert (
        own_states(modules.state.show_sls("synnefo_upgrade.astakos.register", pillar=elsewhere), "synnefo_upgrade.astakos.register") == {}
    )


def test_ip_history_is_skipped_without_a_changelog_and_off_the_cyclades_database_minion(modules):
    assert modules.state.show_sls("synnefo_upgrade.cyclades.ip_history") == {}
    elsewhere = {"synnefo_upgrade": {"ip_history": {"changelog": "/root/c.log"}, "databases": {"cyclades": {"minion": "cyclades9"}}}}
    assert modules.state.show_sls("synnefo_upgrade.cyclades.ip_history", pillar=elsewhere) == {}


def test_ip_history_runs_after_the_cyclades_migration(modules):
    minion = modules.grains.get("id")
    pillar = {"synnefo_upgrade": {"ip_history": {"changelog": "/root/c.log"}, "databases": {"cyclades": {"minion": minion}}}}
    low = modules.state.show_low_sls("synnefo_upgrade.cyclades.ip_history", pillar=pillar)
    (fixed,) = [c for c in low if c["__id__"] == "synnefo-upgrade-cyclades-ip-history-fixed"]
    assert {"synnefo_db": "synnefo-upgrade-databases-backed-up-and-migrated-once"} in fixed["require"]


# Taking the guard away must stay possible whatever is installed: it undoes the formula's own change.
GUARDED = [sls for sls in SLS[:-1] if sls != "synnefo_upgrade.apt.policy_rc_d_clean"]


@pytest.mark.parametrize("sls", GUARDED)
def test_every_sls_requires_the_version_check(modules, sls):
    """Applied alone, no SLS can act on a host the version check refuses: each requires it,
    itself or through the SLS it requires."""
    pillar = {
        "synnefo_upgrade": {"ip_history": {"changelog": "/root/c.log"}, "databases": {"cyclades": {"minion": modules.grains.get("id")}}}
    }
    low = {chunk["__id__"]: chunk for chunk in modules.state.show_low_sls(sls, pillar=pillar)}
    assert "synnefo-upgrade-version-checked" in low, sls

    def required_sls(chunk):
        return {req["sls"] for req in chunk.get("require", []) if "sls" in req}

    def reaches_check(chunk, seen=()):
        wanted = required_sls(chunk)
        if "synnefo_upgrade.version.check" in wanted or chunk["__sls__"] == "synnefo_upgrade.version.check":
            return True
        return any(reaches_check(c, seen + (c["__id__"],)) for c in low.values() if c["__sls__"] in wanted and c["__id__"] not in seen)

    for chunk in low.values():
        if chunk["__sls__"] == sls and chunk["fun"] not in ("policy_rc_d_removed", "succeed_without_changes"):
            assert reaches_check(chunk), (sls, chunk["__id__"])


def test_configuration_sls_alone_brings_the_upgrade_first(modules):
    """gunicorn's wsgi mode needs 0.19 installed: applied alone its SLS still runs after the
    dist-upgrade, never before it."""
    low = modules.state.show_low_sls("synnefo_upgrade.gunicorn.wsgi")
    ids = [chunk["__id__"] for chunk in sorted(low, key=lambda c: c["order"])]
    (wsgi,) = [c for c in low if c["__id__"] == "synnefo-upgrade-gunicorn-config-wsgi-mode"]
    assert {"sls": "synnefo_upgrade.apt.dist_upgrade"} in wsgi["require"]
    assert ids.index("synnefo-upgrade-apt-dist-upgraded-to-jessie") < ids.index("synnefo-upgrade-gunicorn-config-wsgi-mode")


def test_sources_sls_in_test_mode_on_a_private_apt_dir(modules, tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb http://deb.debian.org/debian wheezy main\n")
    pillar = {"synnefo_upgrade": {"apt": {"config_dir": str(tmp_path)}}}
    rets = modules.state.sls("synnefo_upgrade.apt.sources", pillar=pillar, test=True).raw
    (ret,) = [r for key, r in rets.items() if "sources-switched" in key]
    assert ret["result"] is None
    assert "+deb http://deb.debian.org/debian jessie main" in ret["changes"][str(tmp_path / "sources.list")]["diff"]
    assert (tmp_path / "sources.list").read_text() == "deb http://deb.debian.org/debian wheezy main\n"


def test_highstate_on_a_host_without_synnefo_only_moves_apt(modules):
    """This machine has no Synnefo and no role grain: the highstate renders only the APT
    steps (the services, the guard and the configuration belong to Synnefo hosts; the
    test bed checks those on real ones)."""
    low = {chunk["__id__"]: chunk for chunk in modules.state.show_low_sls("synnefo_upgrade")}
    assert sorted(low, key=lambda k: low[k]["order"]) == [
        "synnefo-upgrade-version-checked",
        "synnefo-upgrade-apt-sources-switched-to-jessie",
        "synnefo-upgrade-apt-backports-gevent-greenlet-pinned",
        "synnefo-upgrade-apt-dist-upgraded-to-jessie",
    ]
