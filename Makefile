# The two commands of the README, and the pieces they are made of.
#   make run     the chat on http://127.0.0.1:8000 (runserver: in-memory layer, SQLite)
#   make test    the whole test suite (starts its own redis-server, Daphne, runworkers)
# Both create .venv with Python 3.11 and install whatever is missing first.

PYTHON ?= python3
VENV ?= .venv
ADDR ?= 127.0.0.1:8000
PYTEST_ARGS ?=
# Debian packages the test suite starts as real processes.
TEST_SYSTEM_PACKAGES = redis-server

BIN = $(VENV)/bin

.PHONY: run test bench system-deps clean

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py runserver $(ADDR)

# The unit tests expect development defaults, whatever the shell exports;
# integration tests give each process they start its own environment.
test: $(VENV)/.installed-dev system-deps
	env -u REDIS_URL -u DJANGO_DEBUG -u DJANGO_SECRET_KEY -u DJANGO_ALLOWED_HOSTS \
	    -u DJANGO_HTTPS -u DJANGO_HSTS_SECONDS -u DATABASE_URL -u DJANGO_STATIC_ROOT \
	    -u CHAT_CATCHUP_LIMIT -u CHANNEL_LAYER_EXPIRY -u CHANNEL_LAYER_CAPACITY \
	    -u CHANNEL_LAYER_REPLY_CAPACITY \
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
# exactly what to install.
system-deps:
	@missing=""; \
	for package in $(TEST_SYSTEM_PACKAGES); do \
	    dpkg -s $$package >/dev/null 2>&1 || command -v $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo "Installing:$$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	    else \
	        echo "The tests need:$$missing. Install them (Debian: sudo apt-get install$$missing) and run again."; \
	        exit 1; \
	    fi; \
	fi

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
