"""Statistical anomalies: a robust z-score on a de-seasonalised series (pure functions, no store).

How a value is judged, for a daily or monthly series (``detect``):

1. ``log1p`` of the values (all ≥ 0), so a doubling weighs the same in a small and a big unit.
2. Daily series only: the weekday profile (median by weekday) is subtracted.
3. Local level: the median of the ``window`` values before, and of the ``window`` values after; the
   residual is the smaller (in size) of the two differences. A single odd day or month differs from
   both sides; the first or last day of a multi-day pattern (Spring Festival's dip, a promotion week)
   matches one side, so seasonal blocks that move every year need no calendar.
4. Fixed-date seasonality (Double 11, 618, 12.12; a marketing month that peaks every June): the
   median residual on the same date (day) or month in earlier years is subtracted.
5. z = (residual − median) / (1.4826 × MAD), by weekday for daily series (weekends are noisier).

>>> s = pd.Series([10.0] * 30, index=pd.date_range("2025-01-01", periods=30, freq="MS"))
>>> s.iloc[20] = 40.0
>>> flagged(detect(s, "month", threshold=4)).index.strftime("%Y-%m").tolist()
['2026-09']
"""
from __future__ import annotations

import enum

import numpy as np
import pandas as pd

MAD_TO_SD = 1.4826
# A perfectly flat history has MAD 0; this floor (in log units, ~1%) keeps z finite and ignores noise below it.
MIN_SCALE = 0.01


class Direction(enum.StrEnum):
    ABOVE = "above"
    BELOW = "below"
    BOTH = "both"


def _one_side(x: pd.Series, window: int, reverse: bool) -> pd.Series:
    s = x[::-1] if reverse else x
    med = s.shift(1).rolling(window, min_periods=1).median()
    return med[::-1] if reverse else med


def _local_residual(x: pd.Series, window: int) -> pd.Series:
    left = x - _one_side(x, window, reverse=False)
    right = x - _one_side(x, window, reverse=True)
    pick_left = right.isna() | (left.abs() <= right.abs())
    return left.where(pick_left, right)


def _same_date_key(index: pd.DatetimeIndex, grain: str) -> pd.Index:
    return index.strftime("%m-%d") if grain == "day" else index.strftime("%m")


def _minus_prior_years(resid: pd.Series, grain: str) -> pd.Series:
    """Subtract the median residual of the same date (or month) in earlier years, where there is one."""
    # One value per key and year, in time order: an expanding median shifted by one is "earlier years only".
    key = pd.Series(_same_date_key(resid.index, grain), index=range(len(resid)))
    r = pd.Series(resid.to_numpy(), index=key.index)
    prior = r.groupby(key).expanding().median().reset_index(level=0, drop=True).sort_index()
    prior = prior.groupby(key).shift(1)
    return pd.Series((r - prior.fillna(0.0)).to_numpy(), index=resid.index)


def detect(series: pd.Series, grain: str, *, window: int = 3, threshold: float = 4.0,
           direction: Direction | str = Direction.BOTH) -> pd.DataFrame:
    """Score every period of ``series`` (a DatetimeIndex of day or month starts, no gaps needed).

    Returns a frame indexed like the series with ``value``, ``expected`` (the de-seasonalised level
    turned back into the value's units), ``z`` and ``flagged`` (|z| ≥ threshold in ``direction``).
    """
    if grain not in ("day", "month"):
        raise ValueError(f"grain must be 'day' or 'month', got {grain!r}")
    direction = Direction(direction)
    freq = "D" if grain == "day" else "MS"
    s = series.astype(float).sort_index()
    s = s.asfreq(freq, fill_value=0.0) if len(s) else s
    x = np.log1p(s.clip(lower=0.0))
    if grain == "day":
        x = x - x.groupby(x.index.day_of_week).transform("median") + x.median()
    resid = _minus_prior_years(_local_residual(x, window), grain)
    groups = resid.index.day_of_week if grain == "day" else np.zeros(len(resid), dtype=int)
    centre = resid.groupby(groups).transform("median")
    scale = (resid - centre).abs().groupby(groups).transform("median") * MAD_TO_SD
    z = (resid - centre) / scale.clip(lower=MIN_SCALE)
    expected = np.expm1(np.log1p(s.clip(lower=0.0)) - (resid - centre)).clip(lower=0.0)
    if direction is Direction.ABOVE:
        hit = z >= threshold
    elif direction is Direction.BELOW:
        hit = z <= -threshold
    else:
        hit = z.abs() >= threshold
    return pd.DataFrame({"value": s, "expected": expected, "z": z, "flagged": hit.fillna(False)})


def flagged(scores: pd.DataFrame) -> pd.DataFrame:
    """The flagged rows of :func:`detect`."""
    return scores[scores["flagged"]]
