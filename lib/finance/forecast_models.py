"""Forecast candidates (seasonal naive, ETS, SARIMAX) and the rolling-origin backtest that scores them.

Every candidate fits on the values it is given and nothing else: ``predict(train, h, season)`` sees
only ``train``. The backtest hands each origin the history *before* it, so no window can see the
months it is scored on. Values are scaled by the training mean before ETS/SARIMAX fits (numerical
stability at yuan amounts in the millions) and scaled back; multiplicative models are unaffected.

Prediction intervals (80% and 95%):
- ETS: statsmodels' own (``ETSModel.get_prediction``: closed form for additive models, simulation
  for multiplicative ones);
- SARIMAX: the state-space forecast variance (``get_forecast().conf_int``);
- seasonal naive: the standard formula σ_h = σ·√(k+1), k = ⌊(h−1)/m⌋, σ the standard deviation of the
  in-sample seasonal differences y_t − y_{t−m} (Hyndman & Athanasopoulos, FPP3 §5.5), normal quantiles;
- naive: σ·√h with σ from the first differences; mean: σ·√(1 + 1/n).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

Z80 = 1.2815515655446004   # standard normal quantile at 0.90
Z95 = 1.959963984540054    # at 0.975


@dataclass(frozen=True)
class Prediction:
    """Point forecast and interval bounds, one value per step ahead."""

    value: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray

    @staticmethod
    def normal(value: np.ndarray, sd: np.ndarray) -> Prediction:
        value, sd = np.asarray(value, float), np.asarray(sd, float)
        return Prediction(value, value - Z80 * sd, value + Z80 * sd, value - Z95 * sd, value + Z95 * sd)

    @staticmethod
    def point(value: np.ndarray) -> Prediction:
        return Prediction(value, value, value, value, value)

    def scaled(self, k: float) -> Prediction:
        return Prediction(self.value * k, self.lo80 * k, self.hi80 * k, self.lo95 * k, self.hi95 * k)

    def finite(self) -> bool:
        return all(np.all(np.isfinite(a)) for a in (self.value, self.lo80, self.hi80, self.lo95, self.hi95))


@functools.lru_cache(maxsize=1)
def _openblas_setters() -> tuple:
    """``openblas_set_num_threads_local`` of the OpenBLAS builds bundled in the numpy and scipy wheels
    (statsmodels' Kalman filter calls scipy's BLAS); empty where there is none (other BLAS, other layout)."""
    out = []
    for pkg in ("numpy", "scipy"):
        try:
            root = Path(importlib.import_module(pkg).__file__).resolve().parent.parent / f"{pkg}.libs"
        except (ImportError, TypeError):
            continue
        for path in sorted(root.glob("*openblas*.so*")):
            try:  # the library is already loaded by the package: this returns the same handle
                fn = ctypes.CDLL(str(path)).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            out.append(fn)
    return tuple(out)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run BLAS single-threaded in this thread only: the fits multiply tiny matrices, and OpenBLAS
    threads spinning for them made fits seven times slower on a busy 2-core machine (measured:
    17 s vs 2.3 s for one set of candidate fits at load 9). Other threads (sessions) keep their setting."""
    setters = _openblas_setters()
    previous = [fn(1) for fn in setters]
    try:
        yield
    finally:
        for fn, n in zip(setters, previous):
            fn(n)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence statsmodels' convergence and start-parameter warnings for one fit (never globally)."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"statsmodels\.")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"statsmodels\.")
        with np.errstate(all="ignore"):
            yield


def _scale(y: np.ndarray) -> float:
    k = float(np.mean(np.abs(y)))
    return k if k > 0 and math.isfinite(k) else 1.0


class Candidate:
    """A forecasting method: an id, the shortest history it needs, and a fit-then-forecast call."""

    id: str = ""

    def min_needed(self, season: int) -> int:
        """The shortest training history (months) this candidate fits on."""
        return 1

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        """Fit on ``train`` and forecast ``h`` steps; without ``intervals`` the bounds equal the point
        forecast (backtests score points only, and skip the cost of simulated intervals)."""
        raise NotImplementedError  # pragma: no cover - interface


class SeasonalNaive(Candidate):
    """Each month repeats the same month of the last season: the baseline every model must beat."""

    id = "seasonal_naive"

    def min_needed(self, season: int) -> int:
        return season + 1

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        n = len(train)
        if n < season:
            raise ValueError(f"seasonal naive needs {season} months, got {n}")
        steps = np.arange(h)
        value = train[n - season + steps % season]
        diffs = train[season:] - train[:-season]
        sigma = float(np.sqrt(np.mean(diffs ** 2))) if len(diffs) else 0.0
        return Prediction.normal(value, sigma * np.sqrt(steps // season + 1))


class Naive(Candidate):
    """Every month equals the last one."""

    id = "naive"

    def min_needed(self, season: int) -> int:
        return 1

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        diffs = np.diff(train)
        sigma = float(np.sqrt(np.mean(diffs ** 2))) if len(diffs) else 0.0
        return Prediction.normal(np.full(h, train[-1], float), sigma * np.sqrt(np.arange(1, h + 1)))


class Mean(Candidate):
    """Every month equals the average month (for short, erratic series)."""

    id = "mean"

    def min_needed(self, season: int) -> int:
        return 2

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        n = len(train)
        sd = float(np.std(train, ddof=1)) if n > 1 else 0.0
        return Prediction.normal(np.full(h, np.mean(train)), np.full(h, sd * math.sqrt(1 + 1 / n)))


@dataclass(frozen=True)
class Ets(Candidate):
    """ETS / Holt-Winters through ``statsmodels.tsa.exponential_smoothing.ets.ETSModel``."""

    id: str
    error: str = "add"
    trend: str | None = "add"
    damped: bool = False
    seasonal: str | None = "add"

    def min_needed(self, season: int) -> int:
        return 2 * season if self.seasonal else 6

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
        k = _scale(train)
        # A RangeIndex Series: statsmodels 0.15's get_prediction breaks on a plain ndarray.
        y = pd.Series(train / k, index=pd.RangeIndex(len(train)))
        with quiet():
            model = ETSModel(y, error=self.error, trend=self.trend, damped_trend=self.damped,
                             seasonal=self.seasonal, seasonal_periods=season if self.seasonal else None)
            # Looser stopping than scipy's default: half the time, no loss of accuracy on test series.
            res = model.fit(disp=False, maxiter=200, factr=1e11, pgtol=1e-4)
            if not intervals:
                return Prediction.point(np.asarray(res.forecast(h), float) * k)
            pred = res.get_prediction(start=len(y), end=len(y) + h - 1)
            f80, f95 = pred.summary_frame(alpha=0.2), pred.summary_frame(alpha=0.05)
        out = Prediction(f80["mean"].to_numpy(float), f80["pi_lower"].to_numpy(float), f80["pi_upper"].to_numpy(float),
                         f95["pi_lower"].to_numpy(float), f95["pi_upper"].to_numpy(float))
        return out.scaled(k)


@dataclass(frozen=True)
class Sarima(Candidate):
    """Seasonal ARIMA through ``SARIMAX``: fitted on the differenced series (fast), then filtered in levels."""

    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int]
    trend: str | None = None

    @property
    def id(self) -> str:  # type: ignore[override]
        p, d, q = self.order
        sp, sd, sq = self.seasonal_order
        return f"sarima({p},{d},{q})({sp},{sd},{sq})" + ("+drift" if self.trend else "")

    def min_needed(self, season: int) -> int:
        return 2 * season

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        from statsmodels.tsa.statespace.sarimax import SARIMAX
        k = _scale(train)
        y = train / k
        kw = dict(order=self.order, seasonal_order=(*self.seasonal_order, season), trend=self.trend)
        with quiet():
            params = SARIMAX(y, simple_differencing=True, **kw).fit(disp=False).params
            res = SARIMAX(y, **kw).filter(params)
            if not intervals:
                return Prediction.point(np.asarray(res.forecast(h), float) * k)
            fc = res.get_forecast(h)
            c80, c95 = np.asarray(fc.conf_int(alpha=0.2)), np.asarray(fc.conf_int(alpha=0.05))
        out = Prediction(np.asarray(fc.predicted_mean, float), c80[:, 0], c80[:, 1], c95[:, 0], c95[:, 1])
        return out.scaled(k)


BASELINE = SeasonalNaive()
NAIVE = Naive()
MEAN = Mean()
SES = Ets("ses", trend=None, seasonal=None)
HOLT_DAMPED = Ets("holt_damped", trend="add", damped=True, seasonal=None)
ETS_ADD = Ets("ets_add")
ETS_ADD_DAMPED = Ets("ets_add_damped", damped=True)
ETS_MUL = Ets("ets_mul", error="mul", seasonal="mul")
ETS_MUL_DAMPED = Ets("ets_mul_damped", error="mul", damped=True, seasonal="mul")
SARIMAS = (Sarima((0, 1, 1), (0, 1, 1)), Sarima((1, 1, 0), (0, 1, 1)), Sarima((1, 0, 0), (0, 1, 1), trend="c"))


def full_candidates(positive: bool) -> list[Candidate]:
    """The full set for a regular history of two seasons or more; multiplicative only when strictly positive."""
    out: list[Candidate] = [BASELINE, ETS_ADD, ETS_ADD_DAMPED]
    if positive:
        out += [ETS_MUL, ETS_MUL_DAMPED]
    return out + list(SARIMAS)


def simple_candidates(n: int, season: int) -> list[Candidate]:
    """The fallback set for short or irregular history."""
    out: list[Candidate] = [c for c in (BASELINE, NAIVE, MEAN, SES, HOLT_DAMPED) if n >= c.min_needed(season)]
    return out or [NAIVE]


# ---- scores ------------------------------------------------------------------------------------

def mase_scale(train: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal naive forecast on ``train``.

    Falls back to the lag-1 naive MAE when the training is a season or less, or perfectly periodic
    (seasonal MAE zero), then to the mean absolute value, then 1, so a score is always defined.

    >>> round(mase_scale(np.array([1.0, 2, 3, 2, 4, 5]), 3), 4), mase_scale(np.array([1.0, 3, 1, 3]), 2)
    (1.6667, 2.0)
    """
    for lag in (season, 1):
        if len(train) > lag:
            s = float(np.mean(np.abs(train[lag:] - train[:-lag])))
            if s > 0:
                return s
    s = float(np.mean(np.abs(train))) if len(train) else 0.0
    return s if s > 0 else 1.0


def mase(actual: np.ndarray, pred: np.ndarray, scale: float) -> float:
    """Mean absolute error of ``pred`` divided by ``scale`` (see ``mase_scale``)."""
    return float(np.mean(np.abs(actual - pred)) / scale)


def smape(actual: np.ndarray, pred: np.ndarray) -> float:
    """Symmetric MAPE in percent, 0–200; a month where both are zero counts as no error.

    >>> round(smape(np.array([100.0, 0.0]), np.array([50.0, 0.0])), 4)
    33.3333
    """
    denom = np.abs(actual) + np.abs(pred)
    terms = np.where(denom > 0, 200 * np.abs(actual - pred) / np.where(denom > 0, denom, 1), 0.0)
    return float(np.mean(terms))


def origins(n: int, horizon: int, count: int, min_train: int, season: int) -> tuple[int, list[int]]:
    """(backtest horizon, training lengths): the horizon capped at two seasons and by the data; up to
    ``count`` origins spaced ``max(1, h // count)`` months apart, the last one leaving exactly h months.

    >>> origins(46, 12, 3, 24, 12)
    (12, [26, 30, 34])
    >>> origins(30, 12, 3, 24, 12)
    (6, [24])
    >>> origins(10, 12, 3, 24, 12)
    (0, [])
    """
    hb = max(0, min(horizon, 2 * season, n - min_train))
    if hb == 0:
        return 0, []
    step = max(1, hb // max(1, count))
    out = [n - hb - i * step for i in range(max(1, count))]
    return hb, sorted(o for o in out if o >= min_train)


@dataclass(frozen=True)
class Score:
    """A candidate's backtest: mean MASE and sMAPE over the origins (NaN when it failed to fit)."""

    model: str
    mase: float
    smape: float
    error: str | None = None


def backtest(y: np.ndarray, cand: Candidate, horizon: int, starts: Sequence[int], season: int) -> Score:
    """Fit ``cand`` on ``y[:o]`` for each origin ``o`` and score its forecast of ``y[o:o + horizon]``.

    The model, the MASE scale and everything else at an origin see only ``y[:o]``.
    """
    m_scores, s_scores = [], []
    for o in starts:
        train, test = y[:o].copy(), y[o:o + horizon]
        try:
            pred = cand.predict(train, len(test), season, intervals=False).value
        except Exception as exc:  # noqa: BLE001 - a model that can't fit this window is scored as failed
            return Score(cand.id, float("nan"), float("nan"), f"{type(exc).__name__}: {exc}")
        if len(pred) != len(test) or not np.all(np.isfinite(pred)):
            return Score(cand.id, float("nan"), float("nan"), "non-finite forecast")
        m_scores.append(mase(test, pred, mase_scale(train, season)))
        s_scores.append(smape(test, pred))
    if not m_scores:
        return Score(cand.id, float("nan"), float("nan"), "no backtest window")
    return Score(cand.id, float(np.mean(m_scores)), float(np.mean(s_scores)))
