# ketnoi — two commands for a fresh Debian/Ubuntu machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?=
# Debian packages the test suite drives as real peers
TEST_DEBS := postgresql redis-server chromium sip-tester baresip-core kannel kannel-extras espeak-ng sox ffmpeg janus janus-tools
# Test folders that never touch the database: run once (SQLite pass), not again on PostgreSQL
DB_FREE := --ignore=tests/telephony/sip --ignore=tests/telephony/media --ignore=tests/telephony/test_sdp.py
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && echo sudo)

.PHONY: install install-test system-test-deps run demo test test-sqlite test-postgresql test-browser lint bench fuzz-sip clean

install: $(VENV)/.installed  ## virtualenv + locked runtime dependencies

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "ketnoi needs Python 3.11")'
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-test.lock
	@touch $@

system-test-deps:  ## Debian packages the tests drive as real peers (PostgreSQL, Redis, Chromium, SIPp, baresip, Kannel, Janus, ...)
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

run: install  ## migrate, create the first admin, serve on http://127.0.0.1:8000 (DEMO=1 loads demo data)
	$(BIN)/ketnoi serve $(if $(DEMO),--demo,)

demo: install
	$(BIN)/ketnoi demo

# Browser tests run in their own pytest process: Playwright's sync API keeps an event loop
# running that would clash with the asyncio tests of the other modules.
test: install-test system-test-deps  ## the whole suite on SQLite, then on PostgreSQL, plus browser tests
	$(BIN)/python -m pytest -m "not browser"
	$(BIN)/python -m pytest -m browser
	KETNOI_TEST_DATABASE=postgresql $(BIN)/python -m pytest -m "not browser" $(DB_FREE)

test-sqlite: install-test
	$(BIN)/python -m pytest -m "not browser"

test-postgresql: install-test system-test-deps
	KETNOI_TEST_DATABASE=postgresql $(BIN)/python -m pytest -m "not browser" $(DB_FREE)

test-browser: install-test system-test-deps
	$(BIN)/python -m pytest -m browser

lint: install-test
	$(BIN)/ruff check src tests

bench: install-test
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

FUZZ_INPUTS ?= 1000000
fuzz-sip: install-test  ## fuzz the SIP parser/stack (and SDP parser) with FUZZ_INPUTS hypothesis-driven inputs
	$(BIN)/python fuzz/sip_fuzz.py --inputs $(FUZZ_INPUTS)

clean:
	rm -rf $(VENV) build dist *.egg-info
