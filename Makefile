# Two entry points: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# Debian tools the tests and the test bed call: dpkg-deb/dpkg-scanpackages build the APT
# repository, unshare/nsenter build the private roots, ip builds their networks; patchelf and
# gcc build the Salt 2019.2 on Python 2.7 stack (Debian 11's Python, PyYAML and pycrypto);
# PostgreSQL 15 is real Synnefo's database server (testbed/realsynnefo/database.py).
DEB_TOOLS = dpkg-scanpackages:dpkg-dev unshare:util-linux nsenter:util-linux ip:iproute2 \
            start-stop-daemon:dpkg apt-get:apt patchelf:patchelf gcc:gcc debootstrap:debootstrap
# Code that Salt loads on the minions and the master: it must run on Python 2.7 and 3.5+.
SALT_LOADED = _modules _states _utils _runners _output

.PHONY: test lint demo demo-down deps venv salt-2019.2 real-ganeti real-synnefo python-range bench clean

test: deps venv salt-2019.2 real-ganeti real-synnefo python-range lint
	$(PY) -m pytest tests

# The linters, pinned in requirements.txt (the same as .pre-commit-config.yaml runs):
# ruff (ruff.toml), yamllint --strict (.yamllint), salt-lint (.salt-lint).
SLS_FILES = $(shell find synnefo_upgrade -name '*.sls' -o -name '*.jinja')
# The test bed's Python programs without a .py name (ruff finds them only when named).
PY_SCRIPTS = $(shell grep -l '^\#!.*python' testbed/standins/* testbed/synnefo/fix_ip_history)
lint: venv
	$(VENV)/bin/ruff check . $(PY_SCRIPTS)
	$(VENV)/bin/ruff format --check . $(PY_SCRIPTS)
	$(VENV)/bin/yamllint --strict . tests/kitchen/pillar/synnefo_upgrade.sls
	# salt-lint also lints its stdin when that is no terminal (saltlint/cli.py): give it none.
	$(VENV)/bin/salt-lint $(SLS_FILES) </dev/null

# Salt 2019.2.8 on Python 2.7 (a wheezy cloud's Salt), built once and cached.
salt-2019.2: deps venv
	$(PY) -m testbed build-salt

# Debian 12's real Ganeti 3.0 in a bookworm root (debootstrap), built once and cached: the
# stand-in is checked against it (tests/testbed/test_ganeti_differential.py).
real-ganeti: deps venv
	$(PY) -m testbed build-ganeti

# GRNET's Synnefo 0.18.1 and 0.19 (../shared/upstream, sha256-checked) in Python 2.7 virtualenvs
# on the Salt 2019.2 stack's Python, built once and cached: the test bed's `synnefo: real`.
real-synnefo: deps venv salt-2019.2
	$(PY) -m testbed build-synnefo

python-range: venv
	$(VENV)/bin/vermin --no-tips -t=2.7- -t=3.5- --violations $(SALT_LOADED)

bench: deps venv salt-2019.2
	$(PY) bench/ip_history_validate.py
	$(PY) bench/testbed_up_down.py
	$(PY) bench/ganeti_phase.py
	$(PY) bench/api_downtime.py
	$(PY) bench/plan.py
	$(PY) bench/clusters.py

# make demo [TOPOLOGY=FILE] [SUMMARY=FILE] [REPORT=FILE] [KEEP=1]
demo: deps venv salt-2019.2
	TOPOLOGY="$(TOPOLOGY)" SUMMARY="$(SUMMARY)" REPORT="$(REPORT)" KEEP="$(KEEP)" $(PY) -m testbed.demo

demo-down: venv
	$(PY) -m testbed down

deps:
	@missing=""; for pair in $(DEB_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	[ -x /usr/lib/postgresql/15/bin/postgres ] || missing="$$missing postgresql-15 postgresql-client-15"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache
