# The two commands of the README, and the pieces they are made of.
#   make run     the chat on http://127.0.0.1:8000 (runserver: in-memory layer, SQLite)
#   make test    the whole test suite (starts its own redis-server, Daphne, runworkers)
# Both install whatever is missing into the venv of the chosen Python first.
#
# Which Python: PYTHON=/path/to/python3.X (3.11, 3.12 or 3.13), or else
# python3.11 if it runs, else the first of 3.13, 3.12, 3.11 found as
# python3.X on PATH, in pyenv ($PYENV_ROOT/versions) or in uv's Pythons.
# The default Python's venv is .venv; another Python's is .venv-3.X, so they
# coexist. `make which-python [WANT=3.13]` prints the one chosen.

SUPPORTED = 3.11 3.12 3.13
PREFERRED = 3.11
SEARCH_ORDER = 3.13 3.12 3.11
ADDR ?= 127.0.0.1:8000
PYTEST_ARGS ?=
# Debian packages the test suite starts as real processes (package:program).
TEST_SYSTEM_PACKAGES = redis-server:redis-server postgresql:initdb nginx:nginx openssl:openssl chromium:chromium
# Prefixes of the variables the service and deploy/ read: the unit tests
# expect development defaults, whatever the shell exports; integration tests
# give each process they start its own environment.
SERVICE_VARIABLE_PATTERN = ^(DJANGO|DATABASE|REDIS|CHANNEL_LAYER|CHAT|DAPHNE|WORKER|NGINX)_[A-Z_]*=

# find VERSION...: prints the interpreter of the first of those versions that
# runs: python3.X on PATH, then pyenv's, then uv's; nothing if none.
FIND = find() { \
    for version in "$$@"; do \
        for candidate in "python$$version" \
                $$(ls -rd "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/$$version.*/bin/python$$version 2>/dev/null) \
                $$(ls -rd "$${UV_PYTHON_INSTALL_DIR:-$$HOME/.local/share/uv/python}"/cpython-$$version.*/bin/python$$version 2>/dev/null); do \
            found=$$("$$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2], sys.executable)' 2>/dev/null) \
                && [ "$${found%% *}" = "$$version" ] && { echo "$$found" | cut -d' ' -f2-; return 0; }; \
        done; \
    done; return 1; }

# Computed once, when first used.
DEFAULT_PYTHON = $(eval DEFAULT_PYTHON := $(shell $(FIND); find $(PREFERRED) || find $(SEARCH_ORDER)))$(DEFAULT_PYTHON)
ifdef WANT
PYTHON := $(shell $(FIND); find $(WANT))
endif
PYTHON ?= $(DEFAULT_PYTHON)
VERSION_OF = $(if $(1),$(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null))
PYTHON_VERSION = $(eval PYTHON_VERSION := $(call VERSION_OF,$(PYTHON)))$(PYTHON_VERSION)
DEFAULT_VERSION = $(eval DEFAULT_VERSION := $(call VERSION_OF,$(DEFAULT_PYTHON)))$(DEFAULT_VERSION)
VENV ?= $(if $(filter $(DEFAULT_VERSION),$(PYTHON_VERSION)),.venv,.venv-$(PYTHON_VERSION))
BIN = $(VENV)/bin

.PHONY: run test upstream-tests venv bench system-deps which-python check-python clean

# Development: DEBUG on (the service defaults to off), unless the shell says otherwise.
run: export DJANGO_DEBUG ?= 1
run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	@case "$(ADDR)" in \
	    127.*|localhost:*|\[::1\]:*) ;; \
	    *:*) [ -n "$$DJANGO_ALLOWED_HOSTS" ] || echo "Listening on $(ADDR): requests for host names other than localhost," \
	            "127.0.0.1 and [::1] get 400 Bad Request until you list them, e.g." \
	            "DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1,myhost.lan make run ADDR=$(ADDR)";; \
	esac
	$(BIN)/python manage.py runserver $(ADDR)

test: $(VENV)/.installed-dev system-deps
	env $$(env | grep -E -o '$(SERVICE_VARIABLE_PATTERN)' | sed 's/^/-u /; s/=$$//') \
	    $(BIN)/python -m pytest $(PYTEST_ARGS)

# The pinned libraries' own test suites, against this environment.
upstream-tests: $(VENV)/.installed-dev system-deps
	$(BIN)/python tests/upstream/run.py

# The venv with the test requirements, nothing run.
venv: $(VENV)/.installed-dev

# The side-by-side benchmark (bench/README.md): BENCH_ARGS=--quick for the
# under-5-minutes run; without it the full sizes of docs/performance.md.
BENCH_ARGS ?=
bench: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m bench run $(BENCH_ARGS)

which-python: check-python
	@echo $(PYTHON)

check-python:
	@[ -n "$(PYTHON)" ] || { echo "No supported Python found: looked for $(if $(WANT),python$(WANT),python$(PREFERRED)," \
	    "then python$(subst $() $(),$(comma) python,$(SEARCH_ORDER))) on PATH, in $${PYENV_ROOT:-$$HOME/.pyenv}/versions" \
	    "and in uv's Pythons. Install one (README.md, The stack) or run with PYTHON=/path/to/python3.X."; exit 1; }
	@case " $(SUPPORTED) " in *" $(PYTHON_VERSION) "*) ;; *) \
	    echo "This stack runs on Python $(SUPPORTED); '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." \
	         "Run with PYTHON=/path/to/python3.X."; exit 1;; esac
	@if [ -x $(BIN)/python ]; then \
	    have=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	    [ "$$have" = "$(PYTHON_VERSION)" ] || { echo "$(VENV) is Python $$have, not $(PYTHON_VERSION) ($(PYTHON))." \
	        "Name its Python (PYTHON=...), or another venv (VENV=...)."; exit 1; }; \
	fi

comma = ,

$(VENV)/bin/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | check-python $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | check-python $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

# Installs missing Debian packages when running as root; otherwise says
# exactly what to install. The tests start their own servers on free ports,
# so the packages' own services are not started at install (policy-rc.d).
system-deps:
	@missing=""; \
	for entry in $(TEST_SYSTEM_PACKAGES); do \
	    package=$${entry%%:*}; program=$${entry#*:}; \
	    dpkg -s $$package >/dev/null 2>&1 || command -v $$program >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo "Installing:$$missing"; \
	        policy=/usr/sbin/policy-rc.d; own_policy=""; \
	        if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy && chmod +x $$policy && own_policy=1; fi; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	        status=$$?; [ -z "$$own_policy" ] || rm -f $$policy; [ $$status = 0 ] || exit $$status; \
	    else \
	        echo "The tests need:$$missing. Install them (Debian: sudo apt-get install$$missing) and run again."; \
	        exit 1; \
	    fi; \
	fi

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
