"""The same figures from a Spark cluster: the 10-million-line demo on the embedded DuckDB store, and published to a
standalone Spark cluster (a master and 2 workers on loopback, the Thrift Server submitted to it), read through
the same compiler. Times the cockpit (every tile, the outlook) and the five Explore cases of bench_explore, on
each, and checks that the figures agree.

    python bench/bench_warehouse.py [--rows 10m] [--repeat 3] [--workers 2] [--cores 1]

On one 2-core machine Spark is slower than DuckDB — it plans, schedules tasks on executors and shuffles for
every question; the point is that the same numbers come back from a cluster. Prints medians and the ratio;
asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np

from bench.bench_explore import CASES, ensure_store
from lib.cli import spark_local
from lib.cli.main import _rows
from lib.core import store, warehouse
from lib.explore import evaluate as explore
from lib.finance import cockpit
from lib.ingest import publish
from lib.semantic import query


def timed(fn, repeat: int) -> tuple[float, object]:
    out = fn()   # warm: caches, and Spark's code generation for the plan's shape
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def figures(c: cockpit.Cockpit) -> list[float]:
    return [v for t in c.tiles for v in (t.value, t.target, *t.spark)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="10m")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cores", type=int, default=1, help="cores per worker")
    args = p.parse_args()
    url = ensure_store(_rows(args.rows))
    duck = store.get_engine(url, with_warehouse=False)
    model = query.default_model()
    with tempfile.TemporaryDirectory(prefix="wbspark-bench-") as d:
        t = time.perf_counter()
        sp = spark_local.start(Path(d), workers=args.workers, cores=args.cores, memory="2g")
        print(f"Spark: master + {args.workers} workers x {args.cores} core(s) + Thrift Server up in "
              f"{time.perf_counter() - t:.0f} s ({sp.url})", flush=True)
        with sp:
            wh = warehouse.connect(sp.url)
            t = time.perf_counter()
            done = publish.publish(duck, wh, model, sp.data_dir)
            print(f"published {sum(x.rows for x in done):,} rows in {len(done)} tables in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
            on_spark = store.get_engine(url, with_warehouse=False)
            warehouse.attach(on_spark, wh)
            print(f"\n{'question':<44}{'DuckDB ms':>10}{'Spark ms':>10}{'Spark/DuckDB':>13}  same figures")
            ratios = []
            cases = [("cockpit (all tiles + outlook)",
                      lambda e: cockpit.build(lambda s: query.run(e, s, model=model)), figures)]
            cases += [(name, lambda e, c=chart: explore.evaluate(c, lambda s: query.run(e, s, model=model), model),
                       lambda r: r.select_dtypes("number").to_numpy(float).ravel().tolist())
                      for name, chart, _sql in CASES]
            for name, fn, values in cases:
                d_s, d_out = timed(lambda f=fn: f(duck), args.repeat)
                s_s, s_out = timed(lambda f=fn: f(on_spark), args.repeat)
                a, b = np.array(values(d_out), float), np.array(values(s_out), float)
                same = a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-6, equal_nan=True)
                ratios.append(s_s / d_s)
                print(f"{name:<44}{d_s * 1e3:>10.0f}{s_s * 1e3:>10.0f}{s_s / d_s:>13.1f}  {'yes' if same else 'NO'}",
                      flush=True)
            print(f"median Spark/DuckDB: {statistics.median(ratios):.1f}")
            warehouse.detach(on_spark)
            on_spark.dispose()
            wh.dispose()
    duck.dispose()


if __name__ == "__main__":
    main()
