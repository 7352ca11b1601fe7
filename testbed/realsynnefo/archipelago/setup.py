# The test bed's Archipelago: an installed distribution named ``archipelago`` (Synnefo's
# snf-pithos-backend requires it by that name, and pkg_resources checks the requirement when
# snf-manage loads the apps' entry points), importable, with no storage behind it.
# See testbed/UPSTREAM.md ("Archipelago") for what it stands in for.
from setuptools import setup

setup(
    name="archipelago",
    version="0.4.5",
    description="Archipelago's Python names for Synnefo (test bed stand-in: no I/O)",
    packages=["archipelago"],
)
