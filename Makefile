# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
DEMO_ROWS ?= 500000
TEST_WORKERS ?= 2
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
# Chinese text in PNG/SVG/PDF exports needs a CJK font on the machine (vl-convert uses system fonts).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

.PHONY: run test demo info bench clean-store cjk-font

# A stamp per requirements file: pip runs again only when a pin changes.
$(VENV)/.req-run: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.req-dev: requirements-dev.txt $(VENV)/.req-run
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(VENV)/.req-bench: requirements-bench.txt $(VENV)/.req-dev
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

run: $(VENV)/.req-run cjk-font
	$(PY) -m lib.cli init --demo-if-empty --rows $(DEMO_ROWS)
	$(PY) app.py --server.port $(PORT) --server.headless true

test: $(VENV)/.req-dev $(CHROMIUM) cjk-font
	$(PY) -m pytest -q -n $(TEST_WORKERS)

# Browser tests use Debian's chromium (Playwright's own browser download needs the internet).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "The browser tests need Chromium at $(CHROMIUM): install it, or set CHROMIUM=path"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# Without apt (or root) the app still runs; exports then draw Chinese as boxes, and we say so.
cjk-font:
	@test -f $(CJK_FONT) || fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing fonts-noto-cjk for Chinese text in exports"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; \
	  else echo "Note: no CJK font found; PNG/PDF exports will draw Chinese as boxes. Install fonts-noto-cjk."; fi; }

demo: $(VENV)/.req-run
	$(PY) -m lib.cli demo --rows $(DEMO_ROWS) --replace

info: $(VENV)/.req-run
	$(PY) -m lib.cli info

bench: $(VENV)/.req-bench
	$(PY) bench/bench_demo.py
