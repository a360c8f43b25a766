# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
DEMO_ROWS ?= 500000
TEST_WORKERS ?= 2
# worksteal: a worker that runs out takes half of the other's queue, so the run doesn't end on one busy worker
# (--dist load handed out fixed chunks: 12:16 against 13:06 for the same suite on this machine).
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
FAKETIME ?= /usr/bin/faketime
# The warehouse tests start a Spark Thrift Server from pyspark's jars: they need a Java 17 runtime.
JAVA ?= /usr/bin/java
# The machine's clock moved to days where periods roll over: a 1 January, a quarter's last day, a leap day and
# a day in the middle of next year (see test-dates).
AWKWARD_DAYS ?= 2027-01-01 2027-03-31 2028-02-29 2027-06-15
# The part of the suite that reads the clock: the library's periods, as-of dates, queues, schedules and sessions,
# and the pages whose windows roll over (cockpit, budget, forecast, outbox). Every page on each awkward day with
# lib.core.clock pinned there is tests/pages/test_any_date.py, in `make test`. Kept to about a minute a day, so
# .ci/run stays within its 15 minutes.
DATE_TESTS ?= tests/test_layering.py tests/lib/semantic/test_asof.py tests/lib/core/test_clock.py \
  tests/lib/finance/test_overview.py tests/lib/finance/test_cockpit.py tests/lib/finance/test_budget.py \
  tests/lib/finance/test_forecast.py tests/lib/performance/test_alerts.py tests/lib/performance/test_alert_rules.py \
  tests/lib/performance/test_scorecard.py tests/lib/explore/test_dashboards.py tests/lib/performance/test_notify.py \
  tests/lib/performance/test_ingest_hooks.py tests/pages/test_cockpit_page.py tests/pages/test_forecast_view.py \
  tests/pages/test_outbox_view.py "tests/pages/test_budget_page.py::test_opens_for_every_role_in_both_languages" \
  "tests/lib/access/test_auth.py::test_wrong_password_lockout_and_disabled_account" \
  "tests/lib/access/test_auth.py::test_logout_reset_disable_lock_and_role_changes_void_earlier_sessions" \
  "tests/lib/access/test_auth.py::test_a_log_in_cookie_is_signed_expires_and_names_its_user" \
  tests/lib/ask/test_questions.py "tests/lib/ask/test_answer.py::test_cli_json_is_one_object_with_the_reading_and_the_rows" \
  "tests/lib/explain/test_explain.py::test_cli_json_is_one_object_as_specified" \
  "tests/lib/explain/test_explain.py::test_a_month_not_over_is_compared_like_for_like"
# Chinese text in PNG/SVG/PDF exports needs a CJK font on the machine (vl-convert uses system fonts).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

.PHONY: run test lint test-dates demo info bench bench-peers-venv clean-store cjk-font

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

test: $(VENV)/.req-dev $(CHROMIUM) $(JAVA) cjk-font lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# The rules in pyproject.toml: ruff's checks, and import-linter's contracts between lib's packages.
lint: $(VENV)/.req-dev
	$(VENV)/bin/ruff check --quiet app.py lib pages tests bench
	$(VENV)/bin/lint-imports --no-cache --no-logo

# The date-sensitive part of the suite again, on DuckDB, with the whole process's wall clock moved to each
# awkward day by libfaketime. The tests pin lib.core.clock to the demo's day, so their results must not change:
# a failure here is code that reads the wall clock around lib.core.clock (or a test that depends on the day).
test-dates: $(VENV)/.req-dev $(FAKETIME) cjk-font
	@for day in $(AWKWARD_DAYS); do \
	  echo "== the suite's date-sensitive part with the machine's clock at $$day"; \
	  WORKBENCH_TEST_PG_URL= $(FAKETIME) "$$day 09:30:00" $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal -p no:cacheprovider \
	    $(DATE_TESTS) || exit 1; \
	done

$(FAKETIME):
	@command -v apt-get >/dev/null || { echo "test-dates needs libfaketime at $(FAKETIME): install Debian's faketime"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null

$(JAVA):
	@command -v apt-get >/dev/null || { echo "The warehouse tests need Java 17 at $(JAVA): install it, or set JAVA=path"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null

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

# statsforecast (the forecast benchmark's peers) needs pandas < 3: a venv of its own, used only by bench_forecast.py.
PEERS_VENV := .venv-bench-peers
bench-peers-venv: $(PEERS_VENV)/.req
$(PEERS_VENV)/.req: requirements-bench-peers.txt
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-bench-peers.txt
	touch $@
