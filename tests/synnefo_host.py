"""A host's root as the test bed's Synnefo programs read it (run on the machine): the installed
Synnefo version and the applications whose packages are installed."""

import sys


def host_root(root, version="0.19-1~jessie", packages=("snf-cyclades-app",)):
    (root / "usr/share/synnefo-testbed").mkdir(parents=True)
    (root / "usr/share/synnefo-testbed/version").write_text(version + "\n")
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    for package in packages:
        (root / f"var/lib/dpkg/info/{package}.list").write_text("/.\n")
    return root


def program(path, repo_root, root, shared, host, name):
    """An executable at ``path`` that runs the test bed's ``name`` (snf-manage,
    snf-service-export) for ``host`` over the ``shared`` databases and the host ``root``."""
    call = {
        "snf-manage": f"programs.snf_manage(sys.argv[1:], shared='{shared}', host='{host}')",
        "snf-service-export": "programs.snf_service_export(sys.argv[1:])",
    }[name]
    path.write_text(
        f"#!/bin/sh\nSNF_TESTBED_ROOT={root} PYTHONPATH={repo_root} exec {sys.executable} -c "
        f'"import sys; from testbed.synnefo import programs; sys.exit({call})" "$@"\n'
    )
    path.chmod(0o755)
    return path
