# Two entry points: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# Debian tools the tests and the test bed call: dpkg-deb/dpkg-scanpackages build the APT
# repository, unshare/nsenter build the private roots, ip builds their networks.
DEB_TOOLS = dpkg-scanpackages:dpkg-dev unshare:util-linux nsenter:util-linux ip:iproute2 \
            start-stop-daemon:dpkg apt-get:apt

.PHONY: test demo demo-down deps venv bench clean

test: deps venv
	$(PY) -m pytest tests

bench: deps venv
	$(PY) bench/ip_history_validate.py
	$(PY) bench/testbed_up_down.py

demo: deps venv
	$(PY) -m testbed.demo

demo-down: venv
	$(PY) -m testbed down

deps:
	@missing=""; for pair in $(DEB_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
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
