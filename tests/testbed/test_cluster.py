"""
The default six-host test cluster: what it starts as, and that Ganeti's rules, reboots,
outages, upgrades by hand and the formula's APT states behave for real in it. The tests run
in file order on one cluster; each leaves the hosts it used in a state the next ones expect.
"""

import os
import time

import pytest

from testbed import packages

pytestmark = pytest.mark.testbed

WHEEZY, JESSIE = packages.SYNNEFO["wheezy"], packages.SYNNEFO["jessie"]


def test_hosts_start_as_wheezy_with_0181_for_their_roles(bed):
    grains = bed.salt("*", "grains.item", "oscodename", "osmajorrelease", "roles")
    assert sorted(grains) == ["astakos1", "cyclades1", "gnt1", "gnt2", "gnt3", "pithos1"]
    for host, values in grains.items():
        assert values["oscodename"] == "wheezy" and values["osmajorrelease"] == 7, host
    assert grains["gnt2"]["roles"] == ["ganeti"] and grains["pithos1"]["roles"] == ["pithos"]
    for host in grains:
        assert bed.version(host, "snf-common") == WHEEZY
    assert bed.version("gnt1", "snf-ganeti") == packages.GANETI["wheezy"]
    # snf-* packages that are not Synnefo's, at versions of their own (upstream's install guide).
    assert bed.version("gnt1", "snf-image") == packages.OWN_VERSIONS["snf-image"]["wheezy"] == "0.21-1~wheezy"
    assert bed.version("cyclades1", "snf-vncauthproxy") == "1.6-1~wheezy"
    assert bed.sh("astakos1", "dpkg-query -W snf-cyclades-app", check=False).returncode != 0
    listing = bed.sh("cyclades1", "stat -c '%a %U:%G' /etc/synnefo /etc/synnefo/20-snf-cyclades-app-api.conf").stdout.split("\n")
    assert listing[:2] == ["2750 root:synnefo", "640 root:synnefo"]
    assert "'mode': 'django'" in bed.sh("pithos1", "cat /etc/gunicorn.d/synnefo").stdout
    for service in ("gunicorn", "apache2", "archipelago", "snf-dispatcher"):
        assert bed.running("cyclades1", service), service
    answer = bed.get("cyclades1", "http://127.0.0.1:8080/_testbed/")
    assert '"synnefo": "0.18.1-1~wheezy"' in answer and '"gunicorn": "0.14.5"' in answer
    assert bed.running("gnt1", "snf-ganeti-eventd") and not bed.running("gnt2", "snf-ganeti-eventd")
    # Behind apache, 0.18.1's gunicorn 0.14 sees HTTPS through X-Forwarded-Protocol.
    assert '"url_scheme": "https"' in bed.get("pithos1", "http://127.0.0.1:443/_testbed/")
    assert bed.sh("gnt1", "gnt-instance list --no-headers -o name,pnode,status").stdout.split("\n")[:2] == [
        "vm1 gnt1 running",
        "vm2 gnt1 running",
    ]


def test_the_master_and_every_minion_run_salt_2019_2_on_python_2_7(bed):
    """A wheezy cloud's Salt: the newest that runs on wheezy's Python 2.7."""
    reports = bed.salt("*", "test.versions_report")
    assert sorted(reports) == ["astakos1", "cyclades1", "gnt1", "gnt2", "gnt3", "pithos1"]
    for host, report in reports.items():
        assert "Salt: 2019.2.8" in report and "Python: 2.7." in report, host
    master = bed.cli("salt-run", "--versions-report", check=True).stdout
    assert "Salt: 2019.2.8" in master and "Python: 2.7." in master


def test_formula_dry_run_of_a_service_node_predicts_the_upgrade_and_changes_nothing(bed):
    """The per-minion upgrade (init.sls) in test mode on cyclades1, before anything else."""
    host = "cyclades1"
    fingerprint = (
        "dpkg-query -W | md5sum; find /etc/apt /etc/synnefo /etc/gunicorn.d /etc/apache2 /usr/sbin/policy-rc.d "
        "/var/lib/apt/lists -type f 2>/dev/null | sort | xargs md5sum | md5sum; ls -l /etc/apache2/sites-enabled; "
        "service gunicorn status"
    )
    before = bed.sh(host, fingerprint).stdout
    results = bed.salt(host, "state.apply", "synnefo_upgrade", "test=True", timeout=120)[host]
    steps = {key.split("_|-")[1]: value for key, value in results.items()}
    upgrade = steps["synnefo-upgrade-apt-dist-upgraded-to-jessie"]
    assert upgrade["result"] is None
    # With the bytes it would download (the test bed's packages are real .debs).
    assert upgrade["changes"]["snf-cyclades-app"] == {"old": WHEEZY, "new": JESSIE, "size": upgrade["changes"]["snf-cyclades-app"]["size"]}
    assert upgrade["changes"]["snf-cyclades-app"]["size"] > 0
    assert upgrade["changes"]["python-gevent"]["new"] == packages.GEVENT["jessie-backports"]  # through the backports pin
    assert "python-django" in upgrade["changes"] and upgrade["changes"]["python-django"]["new"] == packages.DJANGO["jessie"]
    assert steps["synnefo-upgrade-services-snf-dispatcher-stopped"]["result"] is None
    assert steps["synnefo-upgrade-cyclades-caches-django-format"]["result"] is None
    sites = steps["synnefo-upgrade-apache-sites-renamed-and-proto-header-set"]
    assert (
        sites["result"] is None
        and '+    RequestHeader set X-Forwarded-Proto "https"' in sites["changes"]["/etc/apache2/sites-available/synnefo-ssl.conf"]["diff"]
    )
    allocator = steps["synnefo-upgrade-cyclades-backend-allocator-switched"]
    assert allocator["result"] is None and "/etc/synnefo/20-snf-cyclades-app-backend.conf" in allocator["changes"]
    assert all(step["result"] in (None, True) for step in steps.values()), steps
    assert bed.sh(host, fingerprint).stdout == before


def test_exec_passes_output_and_exit_code_through(bed):
    result = bed.cli("exec", "astakos1", "--", "sh", "-c", "hostname; echo oops >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "astakos1\n", "oops\n")
    assert bed.cli("exec", "nohost", "--", "true").returncode == 1


def test_timeline_and_status_commands(bed):
    import json

    lines = bed.cli("timeline", check=True).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert events[0]["event"] == "testbed-ready" and all({"time", "host", "event"} <= set(e) for e in events)
    status = json.loads(bed.cli("status", check=True).stdout)
    assert status["hosts"]["gnt2"]["roles"] == ["ganeti"] and status["ganeti_master"] == "gnt1"


def test_hosts_are_isolated_from_each_other_and_the_machine(bed):
    bed.sh("astakos1", "echo mine > /etc/astakos-only")
    assert bed.sh("pithos1", "test -e /etc/astakos-only", check=False).returncode != 0
    assert not os.path.exists("/etc/astakos-only")
    assert bed.sh("gnt1", "ip -4 -o addr show eth0").stdout.split()[3] == "10.200.0.11/24"


def test_what_the_formula_left_on_the_machine_never_shows_in_a_host(bed):
    """Records and backups a run of the formula left on the machine itself (a functional
    test, a demo) would make a fix look done inside every host."""
    planted = []
    for directory in ("/var/lib/synnefo_upgrade", "/var/backups/synnefo_upgrade"):
        existed = os.path.isdir(directory)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"testbed-planted-{os.getpid()}")
        with open(path, "w") as handle:
            handle.write('{"phase": "services", "stage": "done"}\n')
        planted.append((path, directory, existed))
    try:
        for host in ("gnt1", "astakos1"):
            for path, directory, _ in planted:
                assert bed.sh(host, f"test -e {path} || test -e {directory}/progress.json", check=False).returncode != 0, (host, path)
        progress = bed.salt("gnt1", "synnefo_files.progress")["gnt1"]
        assert progress is None, progress
    finally:
        for path, directory, existed in planted:
            os.unlink(path)
            if not existed:
                os.rmdir(directory)


def test_migration_to_a_drained_node_fails(bed):
    since = time.time()
    assert bed.sh("gnt1", "gnt-node modify --drained=yes gnt2").returncode == 0
    result = bed.sh("gnt1", "gnt-instance migrate -f -n gnt2 vm1", check=False)
    assert result.returncode == 1 and result.stderr.splitlines()[-1] == "Can't use drained node gnt2"
    assert "vm1 gnt1 running" in bed.sh("gnt1", "gnt-instance list --no-headers").stdout
    assert bed.events(since, event="migration-failed", instance="vm1")
    assert bed.sh("gnt1", "gnt-node list --no-headers -o name,drained gnt2").stdout == "gnt2 Y\n"
    # Only the master may change the cluster.
    denied = bed.sh("gnt2", "gnt-node modify --drained=no gnt2", check=False)
    assert denied.returncode == 1 and "not the master node" in denied.stderr
    bed.sh("gnt1", "gnt-node modify --drained=no gnt2")
    assert bed.events(since, event="drain", host="gnt2") and bed.events(since, event="undrain", host="gnt2")


def test_node_migrate_submits_one_job_per_instance(bed):
    since = time.time()
    parent = bed.sh("gnt1", "gnt-node migrate -f --submit -n gnt2 gnt3").stdout.strip()
    assert parent.startswith("JobID: ")
    info = bed.sh("gnt1", f"gnt-job info {parent.split()[1]}").stdout
    children = [int(j) for j in info.split("Result: ")[1].strip(" []\n").replace("true,", "").replace("[", "").replace("]", "").split(",")]
    assert len(children) == 2
    # The parent job is done at once; the instances move only as their own jobs run.
    assert "Status: success" in info
    for job in children:
        bed.sh("gnt1", f"gnt-job wait {job}")
    assert bed.sh("gnt1", "gnt-node list --no-headers -o name,pinst_cnt gnt3").stdout == "gnt3 0\n"
    assert [e["instance"] for e in bed.events(since, event="migration")] == ["vm5", "vm6"]
    for instance in ("vm5", "vm6"):
        bed.sh("gnt1", f"gnt-instance migrate -f -n gnt3 {instance}")
    assert bed.sh("gnt1", "gnt-node list --no-headers -o name,pinst_cnt gnt3").stdout == "gnt3 2\n"
    assert not bed.events(since, event="vm-outage")


def test_reboot_restarts_enabled_services_and_records_vm_outages(bed):
    since = time.time()
    bed.sh("gnt1", "reboot", check=False)
    restored = [bed.wait_event(since=since, event="vm-restored", instance=vm)[0] for vm in ("vm1", "vm2")]
    outages = {e["instance"]: e for e in bed.events(since, event="vm-outage")}
    assert sorted(outages) == ["vm1", "vm2"]  # the VMs of the rebooted node only
    boot = bed.events(since, event="boot", host="gnt1")[0]
    for event in restored:
        assert event["downtime"] > 0
        assert outages[event["instance"]]["time"] < boot["time"] < event["time"]
    bed.wait_event(since=boot["time"], event="booted", host="gnt1")
    started = {e["service"] for e in bed.events(boot["time"], event="service-start", host="gnt1")}
    assert {"archipelago", "ganeti", "snf-ganeti-eventd", "salt-minion"} <= started
    bed.wait_ping("gnt1")
    assert bed.running("gnt1", "archipelago")


def test_salt_system_reboot_brings_the_minion_back(bed):
    since = time.time()
    bed.salt("astakos1", "system.reboot", timeout=20)
    bed.wait_event(since=since, event="booted", host="astakos1")
    bed.wait_ping("astakos1")
    assert bed.running("astakos1", "gunicorn")


def test_dist_upgrade_by_hand_with_policy_rc_d_keeps_services_down(bed):
    """The guide's service-node steps, by hand, on cyclades1."""
    host = "cyclades1"
    bed.sh(host, "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d")
    bed.sh(host, "service gunicorn stop && service archipelago stop && service snf-dispatcher stop")
    bed.sh(host, "sed -i 's/wheezy/jessie/' /etc/apt/sources.list /etc/apt/sources.list.d/*.list && apt-get update -q")
    bed.sh(
        host,
        "DEBIAN_FRONTEND=noninteractive apt-get dist-upgrade -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
    )
    assert bed.version(host, "snf-common") == JESSIE
    assert bed.version(host, "python-gevent") == packages.GEVENT["jessie"]  # no backports source yet
    for service in ("gunicorn", "snf-dispatcher", "archipelago"):
        assert not bed.running(host, service), service
    # Locally edited conffiles were kept; the packaged versions wait beside them.
    assert "CACHE_BACKEND = 'memcached://127.0.0.1:11211/'" in bed.sh(host, "cat /etc/synnefo/20-snf-cyclades-app-api.conf").stdout
    assert bed.sh(host, "test -e /etc/synnefo/20-snf-cyclades-app-api.conf.dpkg-dist", check=False).returncode == 0
    assert "jessie" in bed.sh(host, "cat /etc/os-release").stdout
    bed.salt(host, "saltutil.refresh_grains")
    grains = bed.salt(host, "grains.item", "oscodename", "osmajorrelease")[host]
    assert grains == {"oscodename": "jessie", "osmajorrelease": 8}
    # gunicorn 19 refuses django mode, and apache 2.4 ignores site files without .conf.
    refused = bed.sh(host, "rm /usr/sbin/policy-rc.d && service gunicorn start", check=False)
    assert refused.returncode != 0 and "no django mode" in refused.stderr
    bed.sh(host, "service apache2 restart")
    assert "loaded" not in bed.sh(host, "apache2ctl -S").stdout


def test_formula_switches_gunicorn_to_wsgi_in_the_host(bed):
    host = "cyclades1"
    result = bed.state(host, "gunicorn_wsgi.configured", name="/etc/gunicorn.d/synnefo")
    assert result["result"] is True and "+ 'mode': 'wsgi'," in result["changes"]["diff"]
    bed.sh(host, "service gunicorn start")
    answer = bed.get(host, "http://127.0.0.1:8080/_testbed/")
    assert '"synnefo": "0.19-1~jessie"' in answer and '"gunicorn": "19.0"' in answer
    # The guide's webserver steps, by hand: apache 2.4 needs .conf names, and gunicorn 19
    # trusts X-Forwarded-Proto, not X-Forwarded-Protocol.
    bed.sh(
        host,
        "cd /etc/apache2 && mv sites-available/synnefo-ssl sites-available/synnefo-ssl.conf && "
        "rm sites-enabled/synnefo-ssl && ln -s ../sites-available/synnefo-ssl.conf sites-enabled/ && service apache2 restart",
    )
    assert '"url_scheme": "http"' in bed.get(host, "http://127.0.0.1:443/_testbed/")
    bed.sh(
        host, "sed -i 's/X-Forwarded-Protocol/X-Forwarded-Proto/' /etc/apache2/sites-available/synnefo-ssl.conf && service apache2 restart"
    )
    assert '"url_scheme": "https"' in bed.get(host, "http://127.0.0.1:443/_testbed/")


def test_without_policy_rc_d_services_start_on_upgrade(bed):
    """gnt3, evacuated first: on jessie snf-ganeti-eventd starts on install even though
    SNF_EVENTD_ENABLE=false, as its systemd unit does."""
    host = "gnt3"
    since = time.time()
    bed.sh("gnt1", "gnt-node migrate -f -n gnt2 gnt3")
    assert not bed.running(host, "snf-ganeti-eventd")
    bed.sh(host, "service archipelago stop")
    bed.sh(host, "sed -i 's/wheezy/jessie/' /etc/apt/sources.list /etc/apt/sources.list.d/*.list && apt-get update -q")
    bed.sh(
        host,
        "DEBIAN_FRONTEND=noninteractive apt-get dist-upgrade -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
    )
    assert bed.version(host, "snf-ganeti") == packages.GANETI["jessie"]
    assert bed.running(host, "snf-ganeti-eventd") and bed.running(host, "ganeti")
    assert not bed.running(host, "archipelago")  # not started on install, as upstream
    assert bed.events(since, event="service-start", host=host, service="snf-ganeti-eventd")
    assert not bed.events(since, event="vm-outage")  # evacuated: no VM went down


def test_between_dist_upgrade_and_reboot_salt_service_states_depend_on_the_salt(bed):
    """jessie's dist-upgrade installed systemd while PID 1 is still sysvinit. Today's Salt
    takes the host for a systemd host in offline mode, and its service states succeed doing
    nothing; Salt 2019.2 (a wheezy cloud's) keeps its sysvinit service module until the reboot
    and acts. The formula must rely on neither (the policy-rc.d guard, or the init scripts)."""
    host = "gnt3"
    assert bed.version(host, "systemd-sysv") == packages.SYSTEMD
    assert "Can't operate" in bed.sh(host, "systemctl status ganeti", check=False).stderr
    result = bed.state(host, "service.dead", name="snf-ganeti-eventd")
    if bed.salt_stack() == "current":
        assert result["result"] is True and "OFFLINE" in result["comment"]
        assert bed.running(host, "snf-ganeti-eventd")  # still running
    else:
        assert result["result"] is True and result["changes"] == {"snf-ganeti-eventd": False}, result  # now stopped
        assert not bed.running(host, "snf-ganeti-eventd")


def test_after_the_reboot_the_host_runs_systemd_and_salt_manages_services(bed):
    host = "gnt3"
    since = time.time()
    bed.sh(host, "reboot", check=False)  # systemd-sysv's reboot: systemctl falling back to /run/initctl
    boot = bed.wait_event(since=since, event="boot", host=host)[0]
    assert boot["init"] == "systemd"
    bed.wait_event(since=since, event="booted", host=host)
    bed.wait_ping(host)
    bed.salt(host, "saltutil.refresh_grains")
    assert bed.salt(host, "grains.item", "init")[host] == {"init": "systemd"}
    for service in ("ganeti", "archipelago", "snf-ganeti-eventd"):  # started at boot, as units
        assert bed.sh(host, f"systemctl is-active {service}.service").stdout == "active\n", service
    result = bed.state(host, "service.dead", name="snf-ganeti-eventd")
    assert result["result"] is True and result["changes"] == {"snf-ganeti-eventd": False}  # now stopped
    assert not bed.running(host, "snf-ganeti-eventd")
    assert bed.state(host, "service.running", name="snf-ganeti-eventd")["result"] is True
    assert bed.running(host, "snf-ganeti-eventd")


def test_dist_upgrade_of_a_node_with_primaries_takes_its_vms_down(bed):
    """Why the guide evacuates first: gnt2 now holds vm3-vm6."""
    since = time.time()
    bed.sh("gnt2", "sed -i 's/wheezy/jessie/' /etc/apt/sources.list /etc/apt/sources.list.d/*.list && apt-get update -q")
    bed.sh(
        "gnt2",
        "DEBIAN_FRONTEND=noninteractive apt-get dist-upgrade -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
    )
    assert sorted(e["instance"] for e in bed.events(since, event="vm-outage")) == ["vm3", "vm4", "vm5", "vm6"]


def test_formula_dist_upgraded_dry_run_changes_nothing_then_upgrades(bed):
    """apt_jessie's states through Salt on pithos1: the dry run predicts, the real run
    upgrades, and the salt-minion running the job is neither upgraded nor restarted."""
    host = "pithos1"
    fingerprint = "dpkg-query -W | md5sum; cat /var/lib/apt/lists/*Packages | md5sum; ls /var/cache/apt/archives | md5sum"
    before = bed.sh(host, fingerprint).stdout
    assert bed.state(host, "apt_jessie.sources_switched", name="/etc/apt")["result"] is True
    sources_after_switch = bed.sh(host, "cat /etc/apt/sources.list.d/grnet.list").stdout
    assert "jessie/" in sources_after_switch
    dry = bed.state(host, "apt_jessie.dist_upgraded", name="upgrade", test=True)
    assert dry["result"] is None
    assert dry["changes"]["snf-pithos-app"] == {"old": WHEEZY, "new": JESSIE, "size": dry["changes"]["snf-pithos-app"]["size"]}
    assert dry["changes"]["snf-pithos-app"]["size"] > 0
    assert "salt-minion" not in dry["changes"]
    assert bed.sh(host, fingerprint).stdout == before
    minion = bed.sh(host, "cat /var/run/salt-minion.pid").stdout
    # The guide stops the services first: the guard also forbids the old packages' stops.
    bed.sh(host, "service gunicorn stop && service archipelago stop")
    assert bed.state(host, "apt_jessie.policy_rc_d_installed", name="/usr/sbin/policy-rc.d")["result"] is True
    real = bed.state(host, "apt_jessie.dist_upgraded", name="upgrade")
    assert real["result"] is True, real["comment"]
    assert real["changes"]["snf-pithos-app"] == {"old": WHEEZY, "new": JESSIE}
    assert set(real["changes"]) == set(dry["changes"])
    assert bed.version(host, "salt-minion") == packages.SALT_MINION["wheezy"]
    assert bed.sh(host, "cat /var/run/salt-minion.pid").stdout == minion
    assert "hold" not in bed.sh(host, "dpkg --get-selections salt-minion").stdout
    assert not bed.running(host, "gunicorn")  # kept down by the guard
    assert bed.state(host, "apt_jessie.policy_rc_d_removed", name="/usr/sbin/policy-rc.d")["result"] is True
    again = bed.state(host, "apt_jessie.dist_upgraded", name="upgrade")
    assert again["result"] is True and again["changes"] == {}


def test_formula_dist_upgraded_reports_a_failed_upgrade_and_refuses_to_go_on(bed):
    host = "astakos1"
    assert bed.cli("fault", "add", "fail-upgrade", host, "snf-astakos-app").returncode == 0
    bed.state(host, "apt_jessie.sources_switched", name="/etc/apt")
    bed.state(host, "apt_jessie.policy_rc_d_installed", name="/usr/sbin/policy-rc.d")
    failed = bed.state(host, "apt_jessie.dist_upgraded", name="upgrade")
    assert failed["result"] is False
    assert "snf-astakos-app: configuration failed (injected fault)" in failed["comment"]
    refused = bed.state(host, "apt_jessie.dist_upgraded", name="upgrade")
    assert refused["result"] is False and "dpkg reports unfinished work" in refused["comment"]
    assert "snf-astakos-app" in refused["comment"]
    bed.cli("fault", "clear", "fail-upgrade", host, "snf-astakos-app")
    bed.sh(host, "dpkg --configure -a")
    assert bed.version(host, "snf-astakos-app") == JESSIE


def test_backports_pin_takes_exactly_gevent_and_greenlet(bed):
    host = "astakos1"
    pinned = bed.state(
        host, "apt_jessie.backports_pinned", name="/etc/apt", packages={"python-gevent": "1.1.1", "python-greenlet": "0.4.10"}
    )
    assert pinned["result"] is True, pinned["comment"]
    assert "file:/srv/testbed-apt/debian jessie-backports main" in bed.sh(host, "cat /etc/apt/sources.list.d/jessie-backports.list").stdout
    result = bed.state(host, "apt_jessie.dist_upgraded", name="upgrade")
    assert result["result"] is True, result["comment"]
    assert bed.version(host, "python-gevent") == packages.GEVENT["jessie-backports"]
    assert bed.version(host, "python-greenlet") == packages.GREENLET["jessie-backports"]
    assert bed.version(host, "python-django") == packages.DJANGO["jessie"]  # not the backport
    bed.state(host, "apt_jessie.policy_rc_d_removed", name="/usr/sbin/policy-rc.d")


def test_synnefo_programs_migrate_and_repair_the_ip_history(bed):
    """cyclades1 runs 0.19 since the upgrade by hand: its migration builds the IP history
    (attributing vm1's address to its current owner), and the formula repairs it."""
    since = time.time()
    first = bed.sh("cyclades1", "snf-manage migrate").stdout
    assert "Applying db.0003_auto_ip_ownership...Created" in first
    assert "No migrations to apply." in bed.sh("cyclades1", "snf-manage migrate").stdout
    # Every run is recorded, with whether it applied anything.
    assert [(e["service"], e["applied"]) for e in bed.events(since, event="db-migrate")] == [("cyclades", True), ("cyclades", False)]
    previous = "0000000f-0000-4000-8000-00000000000f"
    current = bed.sh(
        "cyclades1",
        "python3 -c \"import sqlite3; print(sqlite3.connect('/var/lib/synnefo-testbed/cyclades.sqlite3')"
        ".execute('SELECT userid FROM db_virtualmachine WHERE id = 1').fetchone()[0])\"",
    ).stdout.strip()
    bed.sh("cyclades1", f"printf '1|{previous}|{current}|2016-03-01 10:00:00\\n' > /root/owner-changes.log")
    plan = bed.state("cyclades1", "ip_history.fixed", name="/root/owner-changes.log")
    assert plan["result"] is True and "2 rows to create, 1 to update" in plan["comment"]
    fixed = bed.state("cyclades1", "ip_history.fixed", name="/root/owner-changes.log", apply=True)
    assert fixed["result"] is True and len(fixed["changes"]["create"]) == 2
    again = bed.state("cyclades1", "ip_history.fixed", name="/root/owner-changes.log", apply=True)
    assert again["changes"] == {} and "already fixed" in again["comment"]


def test_component_register_is_interactive_with_upstreams_prompts(bed):
    base = "https://cyclades1.example.org/cyclades"
    result = bed.sh("astakos1", f"printf 'y\\n{base}\\n{base}/ui\\ny\\n' | snf-component-register cyclades")
    assert "Re-register (y/n)? " in result.stdout and "Register cyclades with the given URLs (y/n)? " in result.stdout
    listing = bed.sh("astakos1", "snf-manage component-list -o name,base_url,ui_url --output-format=csv --no-headers").stdout
    assert listing == f"cyclades,{base},{base}/ui\n"
