"""Explore on a 10-million-line demo store (DuckDB): from a changed shelf to a finished chart spec
(lib.explore.evaluate through lib.semantic.query + lib.explore.charts.render to a Vega-Lite dict, no browser, no cache)
for five typical explorations, against the same questions hand-written in SQL and run on DuckDB directly; and the
statements evaluate sends, run the same way as the hand SQL (what the engine spends on our SQL, without the Python).

    python bench/bench_explore.py [--rows 10m] [--repeat 7]

The store is built once, in a child process, into bench/out/explore_<rows>.duckdb and reused.
Prints medians, the ratio and this process's peak RSS; asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.cli.main import _rows
from lib.core import store
from lib.explore import charts
from lib.explore import evaluate as explore
from lib.semantic import query
from lib.semantic.spec import Calc, ChartSpec, Field, Mark, QuerySpec, TimeRange

OUT = ROOT / "bench" / "out"
AS_OF = dt.date(2026, 11, 24)
YTD = TimeRange(dt.date(2026, 1, 1), dt.date(2026, 11, 23))
L12M = TimeRange(dt.date(2025, 12, 1), dt.date(2026, 11, 30))


def _chart(metrics, dims, tr, mark=Mark.AUTO, calcs=None, top_n=None) -> ChartSpec:
    calcs = calcs or {}
    return ChartSpec(QuerySpec(tuple(metrics), tuple(dims), time_range=tr), mark=mark,
                     columns=tuple(Field(d) for d in dims[:1]), rows=tuple(Field(m, calcs.get(m)) for m in metrics),
                     color=Field(dims[1]) if len(dims) > 1 else None, top_n=top_n)


CASES = [
    ("revenue by region, YTD", _chart(["revenue"], ["region"], YTD), """
        SELECT o.l1_name AS region, sum(s.net_revenue) AS revenue
        FROM sales_line s JOIN org_flat o ON o.org_unit_id = s.org_unit_id
        WHERE s.order_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-23' GROUP BY 1 ORDER BY 1"""),
    ("revenue + gross margin by month, 12 months", _chart(["revenue", "gross_margin"], ["month"], L12M), """
        SELECT CAST(date_trunc('month', order_date) AS DATE) AS month, sum(net_revenue) AS revenue,
               (sum(net_revenue) - sum(cost_amount)) / nullif(sum(net_revenue), 0) AS gross_margin
        FROM sales_line WHERE order_date BETWEEN DATE '2025-12-01' AND DATE '2026-11-30' GROUP BY 1 ORDER BY 1"""),
    ("top 10 products + 其他, revenue + margin", _chart(["revenue", "gross_margin"], ["product"], YTD, Mark.BAR,
                                                      top_n=10), """
        WITH p AS (SELECT p.name, sum(s.net_revenue) AS rev, sum(s.cost_amount) AS cogs
                   FROM sales_line s JOIN product p ON p.id = s.product_id
                   WHERE s.order_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-23' GROUP BY 1),
             r AS (SELECT *, row_number() OVER (ORDER BY rev DESC) AS rn FROM p)
        SELECT CASE WHEN rn <= 10 THEN name ELSE '其他' END AS product, sum(rev) AS revenue,
               (sum(rev) - sum(cogs)) / nullif(sum(rev), 0) AS gross_margin
        FROM r GROUP BY 1"""),
    ("revenue YoY by quarter x channel", _chart(["revenue"], ["quarter", "channel"], YTD, Mark.BAR,
                                               {"revenue": Calc.YOY}), """
        WITH cur AS (SELECT CAST(date_trunc('quarter', order_date) AS DATE) AS q, channel, sum(net_revenue) AS rev
                     FROM sales_line WHERE order_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-23' GROUP BY 1, 2),
             prev AS (SELECT CAST(date_trunc('quarter', order_date) + INTERVAL 12 MONTH AS DATE) AS q, channel,
                             sum(net_revenue) AS rev
                      FROM sales_line WHERE order_date BETWEEN DATE '2025-01-01' AND DATE '2025-11-23' GROUP BY 1, 2)
        SELECT cur.q, cur.channel, cur.rev, cur.rev / nullif(prev.rev, 0) - 1 AS yoy
        FROM cur LEFT JOIN prev ON prev.q = cur.q AND prev.channel = cur.channel ORDER BY 1, 2"""),
    ("opex by expense type, % of total", _chart(["opex"], ["expense_type"], L12M, Mark.BAR,
                                                {"opex": Calc.PCT_TOTAL}), """
        SELECT coalesce(ap.name, a.name) AS expense_type, sum(j.amount) AS opex,
               sum(j.amount) / sum(sum(j.amount)) OVER () AS share
        FROM journal_line j JOIN account a ON a.code = j.account_code LEFT JOIN account ap ON ap.code = a.parent_code
        WHERE a.type = 'opex' AND j.posting_date BETWEEN DATE '2025-12-01' AND DATE '2026-11-30' GROUP BY 1"""),
]

BUILD = r"""
import sys, datetime as dt
from lib.core import store
from lib.demo import build as demo
engine = store.get_engine(sys.argv[1])
demo.build(engine, rows=int(sys.argv[2]), as_of=dt.date(2026, 11, 24))
engine.dispose()
"""


def ensure_store(rows: int) -> str:
    """bench/out/explore_<rows>.duckdb, built once in a child process (its memory is not this process's)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"explore_{rows}.duckdb"
    if not path.exists():
        t = time.perf_counter()
        tmp = path.with_suffix(".building.duckdb")
        tmp.unlink(missing_ok=True)
        subprocess.run([sys.executable, "-c", BUILD, f"duckdb:///{tmp}", str(rows)], cwd=ROOT, check=True)
        tmp.rename(path)
        print(f"built {rows:,} lines into {path.relative_to(ROOT)} in {time.perf_counter() - t:.1f} s", flush=True)
    return f"duckdb:///{path}"


def median_s(fn, repeat: int) -> float:
    fn()  # warm: first-use imports and the OS file cache
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def shelf_to_spec(engine, chart: ChartSpec, model) -> dict:
    """What the page does after a shelf changes, minus Streamlit: evaluate, pick the mark, build Vega-Lite."""
    data = explore.evaluate(chart, lambda spec: query.run(engine, spec, model=model), model, "zh")
    mark = chart.mark if chart.mark is not Mark.AUTO else charts.suggest_mark(chart, model)
    return charts.render(replace(chart, mark=mark), data, model, "zh").to_dict(validate=False)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="10m")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    url = ensure_store(_rows(args.rows))
    engine = store.get_engine(url)
    model = query.default_model()

    def hand(sql: str, params=None):
        conn = engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(sql, params) if params else cur.execute(sql)
            return cur.fetchall()
        finally:
            conn.close()

    def ours_sql(chart: ChartSpec) -> list[tuple[str, list]]:
        """The statements evaluate sends for a chart, compiled with their bound values, to run as the hand SQL
        runs: this separates the SQL's own time on the engine from the Python around it."""
        specs = []
        explore.evaluate(chart, lambda s: (specs.append(s), query.run(engine, s, model=model))[1], model)
        out = []
        for s in specs:
            c = query.compile(s, None, model).compile(engine, compile_kwargs={"render_postcompile": True})
            p = c.construct_params()
            out.append((str(c), [p[k] for k in c.positiontup or ()]))
        return out
    print(f"{'exploration':<44}{'total ms':>9}{'evaluate':>9}{'render':>8}{'our SQL':>8}{'hand SQL':>9}"
          f"{'total/hand':>11}{'eval/hand':>10}{'SQL/hand':>9}{'rows':>5}")
    totals, evals, hands, sqls = [], [], [], []
    for name, chart, sql in CASES:
        ex_s = median_s(lambda: shelf_to_spec(engine, chart, model), args.repeat)  # noqa: B023  (called within this iteration)
        q_s = median_s(lambda: explore.evaluate(chart, lambda s: query.run(engine, s, model=model), model), args.repeat)  # noqa: B023  (called within this iteration)
        stmts = ours_sql(chart)
        sql_s = median_s(lambda: [hand(t, p) for t, p in stmts], args.repeat)  # noqa: B023  (called within this iteration)
        raw_s = median_s(lambda: hand(sql), args.repeat)  # noqa: B023  (called within this iteration)
        n = len(hand(sql))
        totals.append(ex_s)
        evals.append(q_s)
        hands.append(raw_s)
        sqls.append(sql_s)
        print(f"{name:<44}{ex_s * 1e3:>9.0f}{q_s * 1e3:>9.0f}{(ex_s - q_s) * 1e3:>8.0f}{sql_s * 1e3:>8.0f}"
              f"{raw_s * 1e3:>9.0f}{ex_s / raw_s:>11.2f}{q_s / raw_s:>10.2f}{sql_s / raw_s:>9.2f}{n:>5}", flush=True)
    med, med_eval, med_hand = statistics.median(totals), statistics.median(evals), statistics.median(hands)
    print(f"{'median of the five':<44}{med * 1e3:>9.0f}{med_eval * 1e3:>9.0f}{'':>8}{med_hand * 1e3:>9.0f}"
          f"{med / med_hand:>11.2f}{med_eval / med_hand:>10.2f}")
    ratios = sorted(e / h for e, h in zip(evals, hands))
    print(f"per-case evaluate/hand ratios: {', '.join(f'{r:.2f}' for r in ratios)}; their median "
          f"{statistics.median(ratios):.2f}, the largest {ratios[-1]:.2f}")
    sql_ratios = sorted(q / h for q, h in zip(sqls, hands))
    print(f"per-case our-SQL/hand ratios (the statements alone, bound values, no DataFrame): "
          f"{', '.join(f'{r:.2f}' for r in sql_ratios)}; their median {statistics.median(sql_ratios):.2f}; "
          f"the Python around them (evaluate − our SQL) {statistics.median(e - q for e, q in zip(evals, sqls)) * 1e3:.1f} ms "
          "median per exploration, the same at any store size")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    engine.dispose()


if __name__ == "__main__":
    main()
