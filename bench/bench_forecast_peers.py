"""statsforecast's AutoETS, AutoARIMA and AutoTheta on the forecast benchmark's hold-outs, as JSON on stdout.

statsforecast 2.1 needs pandas < 3, so this runs in its own venv (``make bench-peers-venv``,
requirements-bench-peers.txt); ``bench/bench_forecast.py`` starts it and joins its figures into one report.
It imports nothing of ``lib``: each series is ``bench/public_series.py``'s values, its last season held out.

    .venv-bench-peers/bin/python bench/bench_forecast_peers.py > peers.json

Output: {"version": ..., "rows": [{"series", "model", "point": [...], "lo80", "hi80", "lo95", "hi95", "secs"}]}.
"""
from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

import public_series


def main() -> None:
    import statsforecast
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta
    warnings.simplefilter("ignore")
    rows = []
    for s in public_series.load():
        train = s.values[:-s.hold]
        df = pd.DataFrame({"unique_id": s.name, "ds": np.arange(len(train)), "y": train})
        for model in (AutoETS(season_length=s.season), AutoARIMA(season_length=s.season),
                      AutoTheta(season_length=s.season)):
            name = type(model).__name__
            t0 = time.perf_counter()
            try:
                out = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=df, h=s.hold, level=[80, 95])
            except Exception as exc:  # noqa: BLE001 - a peer that fails a series is reported as failed
                rows.append({"series": s.name, "model": name, "error": f"{type(exc).__name__}: {exc}"})
                continue
            col = [c for c in out.columns if c not in ("unique_id", "ds") and "-" not in c][0]
            rows.append({"series": s.name, "model": name, "secs": time.perf_counter() - t0,
                         "point": out[col].tolist(), "lo80": out[f"{col}-lo-80"].tolist(),
                         "hi80": out[f"{col}-hi-80"].tolist(), "lo95": out[f"{col}-lo-95"].tolist(),
                         "hi95": out[f"{col}-hi-95"].tolist()})
    json.dump({"version": statsforecast.__version__, "rows": rows}, sys.stdout)


if __name__ == "__main__":
    main()
