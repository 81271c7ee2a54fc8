# The two commands of the README, and the pieces they are made of.
#   make run     the chat on http://127.0.0.1:8000 (runserver: in-memory layer, SQLite)
#   make test    the whole test suite (starts its own redis-server, Daphne, runworkers)
# Both create .venv with Python 3.11 and install whatever is missing first.

PYTHON ?= python3
VENV ?= .venv
ADDR ?= 127.0.0.1:8000
PYTEST_ARGS ?=
# Debian packages the test suite starts as real processes (package:program).
TEST_SYSTEM_PACKAGES = redis-server:redis-server postgresql:initdb nginx:nginx openssl:openssl chromium:chromium
# Prefixes of the variables the service and deploy/ read: the unit tests
# expect development defaults, whatever the shell exports; integration tests
# give each process they start its own environment.
SERVICE_VARIABLE_PATTERN = ^(DJANGO|DATABASE|REDIS|CHANNEL_LAYER|CHAT|DAPHNE|WORKER|NGINX)_[A-Z_]*=

BIN = $(VENV)/bin

.PHONY: run test bench system-deps clean

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

bench: $(VENV)/.installed-dev system-deps
	$(BIN)/python bench/msgpack_codec.py

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	    echo "This stack needs Python 3.11; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." \
	         "Run with PYTHON=/path/to/python3.11."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
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
