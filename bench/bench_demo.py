"""Benchmark of the demo generator: build time, lines/s and peak memory per size and engine.
(The read path against hand-written SQL is bench/bench_query.py.) Prints figures; asserts nothing.

    python bench/bench_demo.py                       # 1M and 10M lines on DuckDB
    python bench/bench_demo.py --rows 1m --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time, datetime as dt
from lib.core import store
from lib.demo import build as demo
url, rows = sys.argv[1], int(sys.argv[2])
engine = store.get_engine(url)
t = time.perf_counter()
result = demo.build(engine, rows=rows, as_of=dt.date(2026, 11, 24))
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": result.rows}))
"""


def build_case(url: str, rows: int) -> dict:
    """One build in a fresh process, so peak memory is this build's alone."""
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(rows)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", nargs="*", default=["1m", "10m"])
    p.add_argument("--pg", help="PostgreSQL admin URL: also bench there, in a throw-away database")
    args = p.parse_args()
    from bench._stores import bench_store
    from lib.cli.main import _rows
    targets = [("duckdb", None)] + ([("postgresql", args.pg)] if args.pg else [])
    print(f"{'engine':<11}{'rows':>12}{'build s':>10}{'lines/s':>12}{'peak MB':>10}")
    for name, admin in targets:
        for spec in args.rows:
            rows = _rows(spec)
            with bench_store(admin) as url:
                r = build_case(url, rows)
                print(f"{name:<11}{rows:>12,}{r['seconds']:>10.1f}{rows / r['seconds']:>12,.0f}"
                      f"{r['peak_mb']:>10,.0f}", flush=True)


if __name__ == "__main__":
    main()
