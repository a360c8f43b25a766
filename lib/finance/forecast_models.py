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
    """Seasonal ARIMA through ``SARIMAX``: fitted on the differenced series (fast), then filtered in levels.

    ``log``: fitted on the logarithm (a multiplicative season and trend become additive) and forecast back
    as ``exp`` of the log forecast, the median of the forecast distribution; only for strictly positive
    history (otherwise on the values). The variance is concentrated out of the likelihood: the same
    maximum, one parameter fewer for the optimiser (half the time).
    """

    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int]
    trend: str | None = None
    log: bool = False

    @property
    def id(self) -> str:  # type: ignore[override]
        p, d, q = self.order
        sp, sd, sq = self.seasonal_order
        return ("log_" if self.log else "") + f"sarima({p},{d},{q})({sp},{sd},{sq})" + ("+drift" if self.trend else "")

    def min_needed(self, season: int) -> int:
        return 2 * season

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        from statsmodels.tsa.statespace.sarimax import SARIMAX
        log = self.log and bool(np.all(train > 0))
        k = 1.0 if log else _scale(train)
        y = np.log(train) if log else train / k
        kw = dict(order=self.order, seasonal_order=(*self.seasonal_order, season), trend=self.trend,
                  concentrate_scale=True)
        with quiet():
            params = SARIMAX(y, simple_differencing=True, **kw).fit(disp=False).params
            res = SARIMAX(y, **kw).filter(params)
            if not intervals:
                value = np.asarray(res.forecast(h), float)
                return Prediction.point(np.exp(value) if log else value * k)
            fc = res.get_forecast(h)
            c80, c95 = np.asarray(fc.conf_int(alpha=0.2)), np.asarray(fc.conf_int(alpha=0.05))
        out = Prediction(np.asarray(fc.predicted_mean, float), c80[:, 0], c80[:, 1], c95[:, 0], c95[:, 1])
        if log:
            return Prediction(*(np.exp(a) for a in (out.value, out.lo80, out.hi80, out.lo95, out.hi95)))
        return out.scaled(k)


@dataclass(frozen=True)
class Theta(Candidate):
    """The Theta method (Assimakopoulos & Nikolopoulos 2000, winner of M3's monthly series) through
    ``statsmodels.tsa.forecasting.theta.ThetaModel``: the series is deseasonalised when statsmodels' test finds a
    season (multiplicatively when strictly positive), forecast as SES plus half the linear trend, reseasonalised."""

    id: str = "theta"

    def min_needed(self, season: int) -> int:
        return 2 * season

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        from statsmodels.tsa.forecasting.theta import ThetaModel
        k = _scale(train)
        y = pd.Series(train / k, index=pd.RangeIndex(len(train)))
        method = "multiplicative" if np.all(train > 0) else "additive"
        with quiet():
            res = ThetaModel(y, period=season, deseasonalize=season > 1, method=method).fit()
            value = np.asarray(res.forecast(h), float)
            if not intervals:
                return Prediction.point(value * k)
            b80, b95 = np.asarray(res.prediction_intervals(h, alpha=0.2)), np.asarray(res.prediction_intervals(h, alpha=0.05))
        return Prediction(value, b80[:, 0], b80[:, 1], b95[:, 0], b95[:, 1]).scaled(k)


@dataclass(frozen=True)
class Combination(Candidate):
    """The equal-weight mean of its members' forecasts: damped multiplicative ETS, seasonal ARIMA on the log,
    Theta and seasonal naive (for history with a zero or negative month, additive ETS and ARIMA on the values).

    Why a combination (the M3 and M4 competitions: averaging a few robust methods beats choosing one), and why these
    four: measured on the 45 real series of ``bench/bench_forecast.py``, choosing among them was beaten by averaging
    them on the backtest windows; adding seasonal naive cost little on average and halved how often the forecast
    was far worse than seasonal naive. A member that can't fit a window is left out of that window's mean;
    seasonal naive always fits, so there is always a forecast. With ``intervals`` the bounds are the members'
    own bounds averaged (used only when there is no backtest to build them from; see ``lib.finance.forecast``).
    """

    id: str = "combination"
    fixed: tuple[Candidate, ...] = ()   # members to use instead of the default four (tests: fewer, faster fits)

    def members(self, train: np.ndarray) -> tuple[Candidate, ...]:
        if self.fixed:
            return self.fixed
        if np.all(train > 0):
            return (ETS_MUL_DAMPED, LOG_AIRLINE, THETA, BASELINE)
        return (ETS_ADD_DAMPED, AIRLINE, THETA, BASELINE)

    def min_needed(self, season: int) -> int:
        return 2 * season

    def member_forecasts(self, train: np.ndarray, h: int, season: int,
                         intervals: bool = False) -> dict[str, Prediction | None]:
        """Each member's forecast (None where it failed to fit or gave a non-finite value), by member id."""
        out: dict[str, Prediction | None] = {}
        for m in self.members(train):
            try:
                p = m.predict(train, h, season, intervals=intervals)
            except Exception:  # noqa: BLE001 - a member that can't fit is left out of the mean
                p = None
            out[m.id] = p if p is not None and p.finite() else None
        return out

    @staticmethod
    def mean(preds: dict[str, Prediction | None]) -> Prediction:
        ok = [p for p in preds.values() if p is not None]
        if not ok:
            raise ValueError("no member of the combination could fit")
        return Prediction(*(np.mean([getattr(p, f) for p in ok], axis=0) for f in ("value", "lo80", "hi80", "lo95", "hi95")))

    def predict(self, train: np.ndarray, h: int, season: int, intervals: bool = True) -> Prediction:
        return self.mean(self.member_forecasts(train, h, season, intervals))


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
AIRLINE = SARIMAS[0]                                  # Box & Jenkins' "airline" model
LOG_AIRLINE = Sarima((0, 1, 1), (0, 1, 1), log=True)
THETA = Theta()
COMBINATION = Combination()


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


@dataclass(frozen=True)
class CombinedBacktest:
    """The combination's backtest: its score and each member's, and the combination's errors (actual − forecast)
    at each origin (rows) and step ahead (columns)."""

    scores: list[Score]
    errors: np.ndarray


def backtest_combination(y: np.ndarray, combo: Combination, horizon: int, starts: Sequence[int],
                         season: int) -> CombinedBacktest:
    """Like ``backtest``, for the combination and each of its members from the same fits: at each origin ``o``
    every member is fitted on ``y[:o]`` once, and the combination is their mean."""
    ids: list[str] = [combo.id]
    m_scores: dict[str, list[float]] = {combo.id: []}
    s_scores: dict[str, list[float]] = {combo.id: []}
    errors = []
    for o in starts:
        train, test = y[:o].copy(), y[o:o + horizon]
        scale = mase_scale(train, season)
        preds = combo.member_forecasts(train, len(test), season)
        for mid, p in preds.items():
            if mid not in m_scores:
                ids.append(mid)
                m_scores[mid], s_scores[mid] = [], []
            if p is not None:
                m_scores[mid].append(mase(test, p.value, scale))
                s_scores[mid].append(smape(test, p.value))
        value = combo.mean(preds).value
        m_scores[combo.id].append(mase(test, value, scale))
        s_scores[combo.id].append(smape(test, value))
        errors.append(test - value)
    scores = []
    for mid in ids:
        if len(m_scores[mid]) == len(starts):
            scores.append(Score(mid, float(np.mean(m_scores[mid])), float(np.mean(s_scores[mid]))))
        else:
            scores.append(Score(mid, float("nan"), float("nan"), "failed to fit at some origin"))
    return CombinedBacktest(scores, np.asarray(errors, float).reshape(len(starts), horizon))


def empirical_sd(errors: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
    """(σ_j for j = 1..steps, degrees of freedom) from backtest errors: σ_j = σ·√j with σ² the mean of
    e²_{o,j} / j over every origin o and step j (errors grow like a random walk's), and n − 1 degrees of
    freedom for the Student t quantile (a variance estimated from a few dozen errors is itself uncertain).

    >>> sd, df = empirical_sd(np.array([[1.0, -2 ** 0.5], [-1.0, 2 ** 0.5]]), 4)
    >>> np.round(sd, 4).tolist(), df
    ([1.0, 1.4142, 1.7321, 2.0], 3)
    """
    j = np.arange(1, errors.shape[1] + 1)
    sigma = float(np.sqrt(np.mean(errors ** 2 / j)))
    return sigma * np.sqrt(np.arange(1, steps + 1)), int(errors.size - 1)


def t_quantiles(df: int) -> tuple[float, float]:
    """Student t quantiles at 0.90 and 0.975 (two-sided 80% and 95%)."""
    from scipy.stats import t
    return float(t.ppf(0.9, df)), float(t.ppf(0.975, df))


def empirical_prediction(value: np.ndarray, errors: np.ndarray) -> Prediction:
    """``value`` with 80% and 95% bounds from backtest errors (see ``empirical_sd``)."""
    sd, df = empirical_sd(errors, len(value))
    q80, q95 = t_quantiles(df)
    return Prediction(value, value - q80 * sd, value + q80 * sd, value - q95 * sd, value + q95 * sd)


def cross_coverage(errors: np.ndarray) -> tuple[float, float]:
    """How often a backtest error fell inside the 80% and 95% bounds built from the *other* origins' errors
    (leave one origin out): the coverage to expect of intervals built this way. NaN with fewer than two origins.

    >>> cross_coverage(np.array([[1.0, 1.0], [1.0, 1.0], [10.0, 10.0]]))
    (0.6666666666666666, 0.6666666666666666)
    """
    if errors.shape[0] < 2:
        return float("nan"), float("nan")
    inside80, inside95 = [], []
    for i in range(errors.shape[0]):
        rest = np.delete(errors, i, axis=0)
        sd, df = empirical_sd(rest, errors.shape[1])
        q80, q95 = t_quantiles(df)
        inside80 += list(np.abs(errors[i]) <= q80 * sd)
        inside95 += list(np.abs(errors[i]) <= q95 * sd)
    return float(np.mean(inside80)), float(np.mean(inside95))
