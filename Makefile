# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
DEMO_ROWS ?= 500000
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

.PHONY: run test demo info bench clean-store

# A stamp per requirements file: pip runs again only when a pin changes.
$(VENV)/.req-run: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.req-dev: requirements-dev.txt $(VENV)/.req-run
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.req-run
	$(PY) -m lib.cli init --demo-if-empty --rows $(DEMO_ROWS)
	$(PY) app.py --server.port $(PORT) --server.headless true

test: $(VENV)/.req-dev $(CHROMIUM)
	$(PY) -m pytest -q

# Browser tests use Debian's chromium (Playwright's own browser download needs the internet).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "The browser tests need Chromium at $(CHROMIUM): install it, or set CHROMIUM=path"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

demo: $(VENV)/.req-run
	$(PY) -m lib.cli demo --rows $(DEMO_ROWS) --replace

info: $(VENV)/.req-run
	$(PY) -m lib.cli info

bench: $(VENV)/.req-dev
	$(PY) bench/bench_demo.py
