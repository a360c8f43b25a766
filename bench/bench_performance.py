"""Performance management on a large demo store (DuckDB): the cockpit's figures, one evaluation of every
alert rule, and scorecard evaluations, each as the pages and the CLI call them (through lib.semantic.query, no
cache), with the number of queries each one asks.

    python bench/bench_performance.py [--rows 10m] [--repeat 5]

The store is the one bench_explore.py builds (bench/out/explore_<rows>.duckdb), built once and reused.
``alerts.run_all`` writes alert rows: after the first run every later one is a re-evaluation that
de-duplicates, which is what cron and the import hook do. Prints medians; asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_explore import ensure_store, median_s

from lib.access import auth
from lib.cli.main import _rows
from lib.core import store
from lib.finance import cockpit
from lib.performance.alerts import center as alerts
from lib.performance.scorecards import center as scorecard
from lib.semantic import query

AS_OF = dt.date(2026, 11, 24)


def counted(engine, user, model):
    """A runner through lib.semantic.query that counts the questions it is asked."""
    calls = [0]

    def run(spec):
        calls[0] += 1
        return query.run(engine, spec, user=user, model=model)
    return run, calls


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="10m")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    url = ensure_store(_rows(args.rows))
    engine = store.get_engine(url)
    model = query.default_model()
    finance = auth.load_user(engine, "demo_finance")
    east = auth.load_user(engine, "demo_east")
    print(f"store: {args.rows} sales lines (DuckDB), as of {AS_OF}")
    print(f"{'what':<52}{'median s':>10}{'queries':>9}")

    for name, user in (("cockpit, finance (company)", finance), ("cockpit, dept head (华东大区)", east)):
        run, calls = counted(engine, user, model)
        secs = median_s(lambda: cockpit.build(run, lambda m: user.may_see_metric(m, model)), args.repeat)  # noqa: B023  (called within this iteration)
        print(f"{name:<52}{secs:>10.3f}{calls[0] // (args.repeat + 1):>9}")

    n_rules = len(alerts.rules(engine, enabled_only=True))
    secs = median_s(lambda: alerts.run_all(engine, as_of=AS_OF, by="bench"), args.repeat)
    print(f"{f'alerts.run_all ({n_rules} rules, re-evaluation)':<52}{secs:>10.3f}{'':>9}")

    for t in scorecard.templates(engine):
        period = "2026-Q3"
        secs = median_s(lambda: scorecard.run_evaluation(engine, finance, t.id, period), args.repeat)  # noqa: B023  (called within this iteration)
        units = len(scorecard.template_units(engine, t))
        print(f"{f'scorecard {t.id} {period} ({units} units, {len(t.kpis)} KPIs)':<52}{secs:>10.3f}{'':>9}")
    engine.dispose()


if __name__ == "__main__":
    main()
