"""归因 on a big store: one explanation (every dimension) against the raw engine and a pandas peer.

Builds (once) a DuckDB demo of ``--rows`` sales lines (default 10,000,000: bench/out/explain_10000000.duckdb,
several minutes the first time), then times, for each case, the whole explanation (``lib.explain.explain``,
depth 1: every dimension, both periods), the same explanation with its drill path (depth 3), the raw engine
running the same group-bys as hand-written SQL, and pandas doing them on the sales lines held in memory.
Prints medians of ``--repeat`` runs. Nothing is asserted: the figures are for the closing note and README.

    .venv/bin/python bench/bench_explain.py [--rows N] [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from lib.core import store
from lib.demo import build as demo
from lib.explain.explain import Ask, explain
from lib.semantic import query

AS_OF = dt.date(2026, 11, 24)
CASES = [("gross_margin", "2026-01", "2026-10", "yoy"), ("opex", "2026-01", "2026-10", "budget"),
         ("operating_profit", "2026-01", "2026-10", "yoy"), ("dso", "2026-01", "2026-10", "yoy"),
         ("revenue", "2026-10", "2026-10", "previous")]
SALES_DIMS = {"region": "o.l1_name", "department": "o.l2_name", "category": "p.category", "product": "p.name",
              "brand": "p.brand", "segment": "cu.segment", "customer": "cu.name", "channel": "s.channel"}


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    path = ROOT / "bench" / "out" / f"explain_{args.rows}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    engine = store.get_engine(f"duckdb:///{path}")
    if fresh:
        t0 = time.perf_counter()
        demo.build(engine, rows=args.rows, as_of=AS_OF)
        print(f"built {args.rows:,} lines in {time.perf_counter() - t0:.0f} s")
    model = query.default_model()
    n = [0]

    def run(spec):
        n[0] += 1
        return query.run(engine, spec, None, model)
    with engine.connect() as conn:
        lines = conn.exec_driver_sql("select count(*) from sales_line").scalar()
    print(f"store: {path.name}, {lines:,} sales lines")
    print(f"{'case':<42}{'queries':>8}{'depth 1 ms':>12}{'depth 3 ms':>12}")
    for metric, a, b, vs in CASES:
        ask = Ask.months(metric, a, b, vs)
        explain(run, model, ask, today=AS_OF)       # warm the engine's caches once
        n[0] = 0
        explain(run, model, ask, today=AS_OF)
        queries = n[0]
        d1 = median_ms(lambda ask=ask: explain(run, model, ask, today=AS_OF), args.repeat)
        d3 = median_ms(lambda ask=ask: explain(run, model, ask, today=AS_OF, depth=3), max(1, args.repeat // 2))
        print(f"{metric + ' ' + a + '..' + b + ' vs ' + vs:<42}{queries:>8}{d1:>12.0f}{d3:>12.0f}")
    # The raw engine and pandas on the gross-margin case: revenue and cost of sales by each sales dimension,
    # for the two periods, the same work the explanation's queries do.
    joins = ("from sales_line s left join org_flat o on o.org_unit_id = s.org_unit_id "
             "left join product p on p.id = s.product_id left join customer cu on cu.id = s.customer_id")
    sql = [f"select {col} k, sum(net_revenue), sum(cost_amount) {joins} where s.order_date between ? and ? group by 1"
           for col in SALES_DIMS.values()]
    ranges = [(dt.date(2026, 1, 1), dt.date(2026, 10, 31)), (dt.date(2025, 1, 1), dt.date(2025, 10, 31))]

    def raw():
        with engine.connect() as conn:
            for s in sql:
                for r in ranges:
                    conn.exec_driver_sql(s, r).fetchall()
    try:
        raw_ms = median_ms(raw, args.repeat)
        print(f"raw DuckDB, the same {len(sql) * 2} group-bys by hand: {raw_ms:.0f} ms")
    except sa.exc.DBAPIError as exc:
        print(f"raw DuckDB comparison skipped (schema differs from this script's joins: {exc.orig})")
        raw_ms = None
    try:
        import pandas as pd
        with engine.connect() as conn:
            t0 = time.perf_counter()
            df = pd.read_sql_query(sa.text(f"select s.order_date, s.net_revenue, s.cost_amount, "
                                           f"{', '.join(f'{c} as {d}' for d, c in SALES_DIMS.items())} {joins}"), conn)
            load = time.perf_counter() - t0
        df["order_date"] = pd.to_datetime(df["order_date"])

        def peer():
            for lo, hi in ranges:
                part = df[(df["order_date"] >= pd.Timestamp(lo)) & (df["order_date"] <= pd.Timestamp(hi))]
                for d in SALES_DIMS:
                    part.groupby(d, observed=True)[["net_revenue", "cost_amount"]].sum()
        print(f"pandas peer, the same group-bys in memory: {median_ms(peer, args.repeat):.0f} ms "
              f"(after {load:.0f} s loading {len(df):,} lines)")
    except MemoryError:
        print("pandas peer skipped: the lines do not fit in memory")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
