"""Benchmark of file imports: a 1-million-line sales CSV (GBK, Chinese headers) into an empty store with
--create-missing, on DuckDB and PostgreSQL: seconds, lines/s and peak memory. Prints figures; asserts nothing.

    python bench/bench_ingest.py                      # 1M lines on DuckDB
    python bench/bench_ingest.py --rows 1m --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time
from lib.ingest import stream as ingest_stream
from lib.core import store
from lib.ingest import batch as ingest
from lib.access.scope import User
url, path = sys.argv[1], sys.argv[2]
engine = store.get_engine(url)
store.init_schema(engine)
t = time.perf_counter()
r = ingest_stream.import_file(engine, User("bench", "admin"), path, "sales_line", create_missing=True)
seconds = time.perf_counter() - t
assert r.ok, r.problems.head().to_string()
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": r.rows, "created": r.created}))
"""


def run_case(url: str, path: Path) -> dict:
    """One import in a fresh process, so peak memory is this import's alone."""
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(path)], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="1m")
    p.add_argument("--pg", help="PostgreSQL admin URL: also bench there, in a throw-away database")
    args = p.parse_args()
    from bench._stores import bench_store
    from lib.cli.main import _rows
    from tests.lib.ingest_files import big_sales_csv
    rows = _rows(args.rows)
    targets = [("duckdb", None)] + ([("postgresql", args.pg)] if args.pg else [])
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = big_sales_csv(Path(tmp) / "sales_gbk.csv", rows, customers=20_000, products=2_000, units=30)
        size = path.stat().st_size / 1e6
        print(f"generated {rows:,} lines, {size:,.0f} MB (GBK) in {time.perf_counter() - t:.1f} s")
        print(f"{'engine':<11}{'rows':>12}{'import s':>10}{'lines/s':>12}{'MB/s':>8}{'peak MB':>10}")
        for name, admin in targets:
            with bench_store(admin) as url:
                r = run_case(url, path)
                print(f"{name:<11}{r['rows']:>12,}{r['seconds']:>10.1f}{r['rows'] / r['seconds']:>12,.0f}"
                      f"{size / r['seconds']:>8.1f}{r['peak_mb']:>10,.0f}", flush=True)


if __name__ == "__main__":
    main()
