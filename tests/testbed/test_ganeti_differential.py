"""
The Ganeti stand-in against real Ganeti (Debian 12's 3.0, the ``fake`` hypervisor, three nodes
in their own namespaces: ``testbed.realganeti``): the same command sequences, every ``gnt-*``
call the formula makes and the failures Ganeti 2.10's rules give, run on both from the same
cluster; exit codes, the lines the formula and operators read (list rows, ``- INFO:`` lines,
``Modified node`` changes, failure texts) and verify's findings must agree, once ids, times,
the domain and memory figures are set aside.

The cluster: gnt1 the master, gnt2 the other master candidate, gnt3 a regular node (a pool of
two); ext1 (running) and off1 (stopped) on shared storage on gnt1, af1 (shared storage,
``be/always_failover``) on gnt2, file1 (``file``: disks on its node only) on gnt3.
"""

import contextlib
import io
import re

import pytest

from testbed import ganeti, realganeti

NODES = ("gnt1", "gnt2", "gnt3")
INSTANCES = {
    "ext1": ("gnt1", "sharedfile", "running", False),
    "off1": ("gnt1", "sharedfile", "stopped", False),
    "af1": ("gnt2", "sharedfile", "running", True),
    "file1": ("gnt3", "file", "running", False),
}
NODE_FIELDS = "name,mtotal,mfree,pinst_list,sinst_list,drained,offline,master_candidate,role"
INSTANCE_FIELDS = "name,pnode,snodes,be/maxmem,be/minmem,status,disk_template,be/always_failover"
# (the node it runs on, the command): every call of _modules/ganeti_rolling.py and of the
# orchestration, and the refusals of Ganeti's rules the formula meets.
SEQUENCE = [
    ("gnt1", "gnt-cluster getmaster"),
    ("gnt1", f"gnt-node list --no-headers --separator='|' -o {NODE_FIELDS}"),
    ("gnt1", f"gnt-instance list --no-headers --separator='|' -o {INSTANCE_FIELDS}"),
    ("gnt1", "gnt-instance list --no-headers --separator='|' -o name,pnode,status"),
    ("gnt1", "gnt-node add-tags gnt2 synnefo-upgrade:stage:draining synnefo-upgrade:vm:af1"),
    ("gnt1", "gnt-node list-tags gnt2"),
    ("gnt1", "gnt-node remove-tags gnt2 synnefo-upgrade:nope"),
    ("gnt1", "gnt-node add-tags gnt2 'bad tag'"),
    ("gnt2", "gnt-node add-tags gnt2 synnefo-upgrade:x"),
    ("gnt1", "gnt-node remove-tags gnt2 synnefo-upgrade:stage:draining synnefo-upgrade:vm:af1"),
    ("gnt1", "gnt-node list-tags gnt2"),
    ("gnt1", "gnt-node modify --drained=yes gnt2"),
    ("gnt1", "gnt-node modify --drained=yes --auto-promote gnt2"),
    ("gnt1", "gnt-node list --no-headers --separator='|' -o name,role,drained,master_candidate,pinst_list"),
    ("gnt1", "gnt-instance migrate -f -n gnt2 ext1"),
    ("gnt1", "gnt-instance migrate -f -n gnt3 off1"),
    ("gnt1", "gnt-instance failover -f -n gnt3 off1"),
    ("gnt1", "gnt-instance migrate -f -n gnt1 file1"),
    ("gnt1", "gnt-instance failover -f -n gnt1 file1"),
    ("gnt1", "gnt-instance migrate -f -n gnt3 af1"),
    ("gnt1", "gnt-instance migrate -f -n gnt3 ext1"),
    ("gnt1", "gnt-instance migrate -f -n gnt3 ext1"),
    ("gnt1", "gnt-instance migrate -f -n gnt9 ext1"),
    ("gnt1", "gnt-instance migrate -f -n gnt1 nosuch"),
    ("gnt1", "gnt-instance migrate -f --cleanup ext1"),
    ("gnt1", "gnt-instance list --no-headers --separator='|' -o name,pnode,status"),
    ("gnt1", "gnt-instance shutdown ext1"),
    ("gnt1", "gnt-instance list --no-headers --separator='|' -o name,pnode,status,oper_ram"),
    ("gnt1", "gnt-instance startup ext1"),
    ("gnt1", "gnt-instance migrate -f --allow-failover -n gnt1 off1"),
    ("gnt1", "gnt-instance migrate -f -n gnt1 ext1"),
    ("gnt1", "gnt-instance list --no-headers --separator='|' -o name,pnode,status"),
    ("gnt1", "gnt-node modify --drained=no gnt2"),
    ("gnt1", "gnt-node modify --master-candidate=yes gnt2"),
    ("gnt1", "gnt-node modify --master-candidate=no gnt3"),
    ("gnt1", "gnt-node modify --drained=yes gnt1"),
    ("gnt1", "gnt-node list --no-headers --separator='|' -o name,role,drained,master_candidate"),
    ("gnt1", "gnt-cluster verify --error-codes -I ENODESETUP"),
    ("gnt1", "gnt-cluster verify-disks"),
    ("gnt2", "gnt-cluster verify-disks"),
    ("gnt1", "gnt-cluster master-failover"),
    ("gnt2", "gnt-cluster master-failover"),
    ("gnt3", "gnt-cluster getmaster"),
    ("gnt1", "gnt-node modify --drained=yes gnt3"),
    ("gnt1", "gnt-cluster master-failover"),
    ("gnt2", "gnt-cluster getmaster"),
]

STAMP = re.compile(r"^\w{3} \w{3} [ \d]\d [\d:]{8} \d{4} ")
MEMORY = re.compile(r"\b\d+ MiB\b")


def normalise(text):
    """Without the domain, the time stamps and memory figures."""
    out = []
    for line in text.replace(f".{realganeti.DOMAIN}", "").splitlines():
        out.append(MEMORY.sub("N MiB", STAMP.sub("", line)))
    return out


def significant(command, code, out, err):
    """What must agree: for a failure its text; for a success the list rows (memory columns
    aside), the ``- INFO:`` lines, the ``Modified node`` lines and verify's findings."""
    if code != 0:
        return normalise(err)
    lines = normalise(out)
    if " list " in f" {command} " or command.endswith("getmaster") or "list-tags" in command:
        if "mtotal" in command:  # the fake hypervisor reports the machine's memory
            return [re.sub(r"^([^|]*)\|\d+\|\d+\|", r"\1|N|N|", line) for line in lines]
        return lines
    if command.startswith("gnt-cluster verify-disks"):
        return [re.sub(r"\d+", "N", line) if line.startswith(("Submitted jobs", "Waiting for job")) else line for line in lines]
    if command.startswith("gnt-cluster verify"):
        return [line for line in lines if re.match(r"^\s*- (ERROR|WARNING):", line) and "ENODESETUP" not in line]
    return [line.strip() for line in lines if "- INFO:" in line or line.startswith(("Modified node", " - "))]


@pytest.fixture(scope="module")
def real():
    realganeti.build()
    cluster = realganeti.Cluster(NODES).up(instances=INSTANCES)
    try:
        master = cluster.nodes["gnt1"]
        master.run("gnt-cluster modify --candidate-pool-size=2 && gnt-node modify --master-candidate=no gnt3.example.com >/dev/null")
        for name, (node, template, status, always_failover) in INSTANCES.items():
            params = "maxmem=1024,minmem=1024" + (",always_failover=true" if always_failover else "")
            master.run(
                f"gnt-instance add -t {template} --disk 0:size=1G -o noop -B {params} -n {node}.example.com "
                f"--no-ip-check --no-name-check {'--no-start ' if status == 'stopped' else ''}{name} >/dev/null",
                timeout=600,
            )
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    shared = str(tmp_path_factory.mktemp("standin"))
    ganeti.create(
        shared,
        list(NODES),
        "gnt1",
        dict((name, spec[0]) for name, spec in INSTANCES.items()),
        specs=dict(
            (name, {"disk_template": template, "status": status, "always_failover": always_failover})
            for name, (_, template, status, always_failover) in INSTANCES.items()
        ),
        candidate_pool_size=2,
    )
    for node in NODES:
        for service in ganeti.SERVICES:
            ganeti.service_changed(node, service, True, shared=shared)
    return shared


def run_standin(shared, node, command):
    import shlex

    words = shlex.split(command)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = ganeti.main(words[0], words[1:], host=node, shared=shared)
    return code, out.getvalue(), err.getvalue()


def test_the_standin_answers_every_command_of_the_formula_as_real_ganeti_does(real, standin):
    compared, differences = [], []
    for node, command in SEQUENCE:
        result = real.run(command, node=node, timeout=600)
        theirs = (result.returncode, significant(command, result.returncode, result.stdout, result.stderr))
        ours = run_standin(standin, node, command)
        ours = (ours[0], significant(command, *ours))
        compared.append(f"{node}# {command}")
        if theirs != ours:
            differences.append(f"{node}# {command}\n  real Ganeti: {theirs}\n  stand-in:    {ours}")
    print("compared:\n" + "\n".join(compared))
    assert not differences, "\n".join(differences)
