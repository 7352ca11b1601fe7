"""A host's root as the test bed's Synnefo programs read it (run on the machine): the installed
Synnefo version and the applications whose packages are installed."""


def host_root(root, version="0.19-1~jessie", packages=("snf-cyclades-app",)):
    (root / "usr/share/synnefo-testbed").mkdir(parents=True)
    (root / "usr/share/synnefo-testbed/version").write_text(version + "\n")
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    for package in packages:
        (root / f"var/lib/dpkg/info/{package}.list").write_text("/.\n")
    return root
