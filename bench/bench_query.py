"""The read path against the raw engine: a 3-metric × 2-dimension question (revenue, gross margin,
opex by region × month of a year) through lib.semantic.query vs the same question hand-written in SQL.

    python bench/bench_query.py [--rows 500k 10m] [--pg ADMIN_URL]

Prints medians and the ratio; asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench._stores import bench_store
from lib.cli.main import _rows
from lib.core import store
from lib.demo import build as demo
from lib.semantic import query
from lib.semantic.spec import QuerySpec, TimeRange

SPEC = QuerySpec(("revenue", "gross_margin", "opex"), ("region", "month"),
                 time_range=TimeRange(dt.date(2025, 1, 1), dt.date(2025, 12, 31)))
HAND = """
WITH s AS (
  SELECT o.l1_name AS region, CAST(date_trunc('month', l.order_date) AS DATE) AS m,
         sum(l.net_revenue) AS rev, sum(l.cost_amount) AS cogs
  FROM sales_line l JOIN org_flat o ON o.org_unit_id = l.org_unit_id
  WHERE l.order_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'
  GROUP BY 1, 2),
g AS (
  SELECT o.l1_name AS region, CAST(date_trunc('month', j.posting_date) AS DATE) AS m, sum(j.amount) AS opex
  FROM journal_line j JOIN account a ON a.code = j.account_code JOIN org_flat o ON o.org_unit_id = j.org_unit_id
  WHERE a.type = 'opex' AND j.posting_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'
  GROUP BY 1, 2)
SELECT coalesce(s.region, g.region) AS region, coalesce(s.m, g.m) AS month, s.rev,
       CAST(s.rev - s.cogs AS DOUBLE PRECISION) / nullif(CAST(s.rev AS DOUBLE PRECISION), 0) AS gross_margin, g.opex
FROM s FULL OUTER JOIN g ON s.region = g.region AND s.m = g.m
ORDER BY 2, 1
"""


def median_s(fn, repeat: int = 7) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(url: str) -> tuple[float, float, int]:
    engine = store.get_engine(url)
    lib_s = median_s(lambda: query.run(engine, SPEC))
    rows = len(query.run(engine, SPEC))

    def raw():
        conn = engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(HAND)
            cur.fetchall()
        finally:
            conn.close()
    raw_s = median_s(raw)
    engine.dispose()
    return lib_s, raw_s, rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", nargs="*", default=["500k", "10m"])
    p.add_argument("--pg")
    args = p.parse_args()
    print(f"{'engine':<11}{'lines':>12}{'rows out':>9}{'lib.semantic.query ms':>14}{'hand SQL ms':>13}{'ratio':>7}")
    for name, admin in [("duckdb", None)] + ([("postgresql", args.pg)] if args.pg else []):
        for spec in args.rows:
            n = _rows(spec)
            with bench_store(admin) as url:
                e = store.get_engine(url)
                demo.build(e, rows=n, as_of=dt.date(2026, 11, 24))
                e.dispose()
                lib_s, raw_s, rows = bench(url)
                print(f"{name:<11}{n:>12,}{rows:>9}{lib_s * 1e3:>14.1f}{raw_s * 1e3:>13.1f}{lib_s / raw_s:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
