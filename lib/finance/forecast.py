"""Monthly forecasts (预测): the combination of ``lib.finance.forecast_models``, backtests, intervals, saved runs.

``forecast_series`` forecasts a regular history (two seasons or more, no gaps or zero months) with
``fm.COMBINATION``, the mean of damped ETS, seasonal ARIMA on the log, Theta and seasonal naive. The combination
and each member are scored on several rolling origins (each fit sees only the months before its origin), and
its 80% and 95% intervals come from its own backtest errors. Short or irregular history, or an explicit list of
``candidates``, takes the other road: every candidate is scored the same way, the lowest MASE is kept (ties go
to the simpler, earlier candidate, the seasonal naive baseline first) and refitted on the whole history, with
a note saying why. Series are read through ``lib.semantic.query`` (``monthly_series``); saved runs live in
app_forecast_run / app_forecast_line.
"""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core import clock, db, i18n
from lib.core.errors import Forbidden, InvalidArgument
from lib.core.tables.finance import forecast_line, forecast_run
from lib.finance import forecast_models as fm
from lib.semantic import model as semantic
from lib.semantic import query
from lib.semantic.model import SemanticModel
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange

MAX_HORIZON = 36
NULL_LABEL = "—"  # the series of rows without a value of the dimension (e.g. postings at region level)


@dataclass(frozen=True)
class Forecast:
    """One series' forecast: the chosen model, its forecast with intervals, and every candidate's backtest."""

    series: str                 # the dimension value, '' for the total
    model: str                  # chosen model id, e.g. "ets_add_damped"
    history: pd.Series          # monthly, index = first-of-month Timestamps
    forecast: pd.DataFrame      # index = first-of-month Timestamps; columns value, lo80, hi80, lo95, hi95
    accuracy: pd.DataFrame      # one row per candidate: model, mase, smape, chosen (bool)
    note_en: str | None
    note_zh: str | None
    backtest_horizon: int = 0   # months ahead each backtest window scored (0: too short to backtest)
    backtest_origins: int = 0
    coverage80: float = math.nan  # how often backtest actuals fell inside the 80% / 95% bounds (leave one origin out)
    coverage95: float = math.nan
    intervals_from: str = "model"  # "backtest": bounds from the backtest errors; "model": the model's own distribution

    def note(self, lang: str) -> str | None:
        return self.note_zh if lang == "zh" else self.note_en

    def baseline_gain(self) -> float:
        """How much lower the chosen model's backtest MASE is than seasonal naive's (0.34 = 34 % lower; negative
        when higher); NaN when either is unscored."""
        acc = self.accuracy.set_index("model")["mase"]
        ours, base = float(acc.get(self.model, math.nan)), float(acc.get(fm.BASELINE.id, math.nan))
        return 1 - ours / base if base > 0 and math.isfinite(ours) else math.nan

    def versus_baseline(self, lang: str) -> str:
        """The backtest against seasonal naive in a finance user's words, e.g. "过去3个预测窗口中，平均误差比“去年同月”低 34 %"."""
        gain = self.baseline_gain()
        if not math.isfinite(gain):
            return i18n.t("forecast.vs.none", lang)
        key = "forecast.vs.lower" if gain > 0.005 else "forecast.vs.higher" if gain < -0.005 else "forecast.vs.same"
        return i18n.t(key, lang, n=self.backtest_origins, pct=f"{abs(gain) * 100:.0f}")

    def total(self) -> float:
        """The forecast summed over the horizon (the metric is additive over months)."""
        return float(self.forecast["value"].sum())


# ---- one series -------------------------------------------------------------------------------

def _month_index(index) -> pd.DatetimeIndex:
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp(how="start")
    return pd.DatetimeIndex(pd.to_datetime(index)).to_period("M").to_timestamp(how="start")


def as_monthly(history: pd.Series) -> pd.Series:
    """A float series on every month from the first to the last (months missing from the index are NaN)."""
    if not isinstance(history, pd.Series):
        raise InvalidArgument("History must be a pandas Series indexed by month.", "历史数据须为按月索引的序列。")
    s = pd.Series(pd.to_numeric(history, errors="coerce").to_numpy(float), index=_month_index(history.index))
    s = s.groupby(level=0).sum(min_count=1).sort_index()
    if s.empty:
        return s
    return s.reindex(pd.date_range(s.index[0], s.index[-1], freq="MS"))


def _texts(key: str, **kw) -> tuple[str, str]:
    return i18n.t(key, "en", **kw), i18n.t(key, "zh", **kw)


def _accuracy(rows: list[tuple[str, float, float]], chosen: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["model", "mase", "smape"]).astype({"mase": float, "smape": float})
    df["chosen"] = df["model"] == chosen
    return df


def _frame(pred: fm.Prediction, start: pd.Timestamp, nonneg: bool) -> pd.DataFrame:
    idx = pd.date_range(start, periods=len(pred.value), freq="MS")
    df = pd.DataFrame({"value": pred.value, "lo80": pred.lo80, "hi80": pred.hi80,
                       "lo95": pred.lo95, "hi95": pred.hi95}, index=idx)
    return df.clip(lower=0.0) if nonneg else df  # a history that never went below zero won't be forecast below it


def _check_args(horizon: int, season: int, origins: int) -> None:
    for name, v, lo, hi in (("horizon", horizon, 1, MAX_HORIZON), ("season", season, 1, 52), ("origins", origins, 1, 12)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise InvalidArgument(f"{name} must be a whole number from {lo} to {hi}, got {v!r}.",
                                  f"{name} 须为 {lo} 到 {hi} 的整数，收到 {v!r}。")


def forecast_series(history: pd.Series, horizon: int, *, season: int = 12, origins: int = 3,
                    candidates: Sequence[fm.Candidate] | None = None, series: str = "") -> Forecast:
    """Forecast ``horizon`` months after ``history``: with the combination, or (short or irregular history, or
    ``candidates`` given) with the candidate that backtests best.

    ``candidates`` replaces the combination (tests use it for fewer fits or a spy); those needing
    more history than there is are left out.
    """
    _check_args(horizon, season, origins)
    with fm.one_blas_thread():
        return _forecast_series(history, horizon, season, origins, candidates, series)


def _forecast_series(history: pd.Series, horizon: int, season: int, origins: int,
                     candidates: Sequence[fm.Candidate] | None, series: str) -> Forecast:
    hist = as_monthly(history)
    en: list[str] = []
    zh: list[str] = []

    def note(key: str, **kw) -> None:
        e, z = _texts(key, **kw)
        en.append(e)
        zh.append(z)

    active = hist[hist.fillna(0) != 0]
    if active.empty:  # nothing but zeros (or nothing): a flat zero forecast says so plainly
        start = (hist.index[-1] + pd.DateOffset(months=1)) if len(hist) else pd.Timestamp(clock.today().replace(day=1))
        note("forecast.note.no_data")
        zero = fm.Prediction.normal(np.zeros(horizon), np.zeros(horizon))
        return Forecast(series, fm.NAIVE.id, hist.fillna(0.0), _frame(zero, start, True),
                        _accuracy([(fm.BASELINE.id, math.nan, math.nan), (fm.NAIVE.id, math.nan, math.nan)], fm.NAIVE.id),
                        " ".join(en), " ".join(zh))
    y_s = hist.loc[active.index[0]:]
    if active.index[0] != hist.index[0]:
        note("forecast.note.late_start", month=f"{active.index[0]:%Y-%m}")
    gaps = int(y_s.isna().sum())
    y_s = y_s.interpolate(limit_direction="both")
    y = y_s.to_numpy(float)
    n = len(y)
    zeros = int((y == 0).sum())
    simple = False
    if n < 2 * season:
        note("forecast.note.short", n=n, need=2 * season)
        simple = True
    if gaps:
        note("forecast.note.gaps", n=gaps)
        simple = True
    if zeros:
        note("forecast.note.zeros", n=zeros)
        simple = True

    if candidates is None and not simple:
        return _combined(hist, y, horizon, season, origins, series, en, zh, note)
    if candidates is not None:
        cands = [c for c in candidates if n >= c.min_needed(season)] or fm.simple_candidates(n, season)
    elif simple:
        cands = fm.simple_candidates(n, season)
    else:
        cands = fm.full_candidates(positive=bool(np.all(y > 0)))
    min_train = max(c.min_needed(season) for c in cands)
    hb, starts = fm.origins(n, horizon, origins, min_train, season)
    if starts:
        scores = [fm.backtest(y, c, hb, starts, season) for c in cands]
    else:
        note("forecast.note.no_backtest", n=n)
        scores = [fm.Score(c.id, math.nan, math.nan, "too short") for c in cands]
    rows = [(s.model, s.mase, s.smape) for s in scores]
    if not any(r[0] == fm.BASELINE.id for r in rows):
        rows.insert(0, (fm.BASELINE.id, math.nan, math.nan))  # the baseline always has a row, even unscored

    # Best backtest first; unscored candidates keep their order after the scored ones.
    order = sorted(range(len(cands)), key=lambda i: (scores[i].error is not None, scores[i].mase
                                                    if scores[i].error is None else 0.0, i))
    pred, chosen = None, None
    for rank, i in enumerate(order):
        try:
            p = cands[i].predict(y, horizon, season)
        except Exception:  # noqa: BLE001 - fits on the full history can fail where windows didn't
            continue
        if p.finite():
            pred, chosen = p, cands[i]
            if rank:
                note("forecast.note.refit_failed", model=cands[order[0]].id, used=chosen.id)
            break
    if pred is None:  # every candidate failed: the naive forecast always works
        chosen = fm.NAIVE
        pred = fm.NAIVE.predict(y, horizon, season)
        note("forecast.note.refit_failed", model=cands[order[0]].id, used=chosen.id)
    if simple:
        note("forecast.note.simple", used=chosen.id)
    frame = _frame(pred, hist.index[-1] + pd.DateOffset(months=1), bool(np.nanmin(hist.to_numpy(float)) >= 0))
    return Forecast(series, chosen.id, hist, frame, _accuracy(rows, chosen.id),
                    " ".join(en) or None, " ".join(zh) or None, hb, len(starts))


def _combined(hist: pd.Series, y: np.ndarray, horizon: int, season: int, origins: int, series: str,
              en: list[str], zh: list[str], note: Callable[..., None]) -> Forecast:
    """The default for regular history: the combination (``fm.COMBINATION``), scored with its members on the
    backtest origins, its intervals from the combination's own backtest errors (their coverage on the benchmark is
    closer to the nominal level than the members' averaged bounds; see ``bench/bench_forecast.py``)."""
    combo = fm.COMBINATION
    n = len(y)
    hb, starts = fm.origins(n, horizon, origins, combo.min_needed(season), season)
    cover80 = cover95 = math.nan
    if starts:
        bt = fm.backtest_combination(y, combo, hb, starts, season)
        rows = [(sc.model, sc.mase, sc.smape) for sc in bt.scores]
        cover80, cover95 = fm.cross_coverage(bt.errors)
    else:
        note("forecast.note.no_backtest", n=n)
        bt = None
        rows = [(combo.id, math.nan, math.nan), (fm.BASELINE.id, math.nan, math.nan)]
    use_errors = bt is not None and bt.errors.size >= 2
    preds = combo.member_forecasts(y, horizon, season, intervals=not use_errors)
    failed = [mid for mid, p in preds.items() if p is None]
    if failed:
        note("forecast.note.member_failed", models=", ".join(failed))
    pred = combo.mean(preds)
    if use_errors:
        pred = fm.empirical_prediction(pred.value, bt.errors)
    frame = _frame(pred, hist.index[-1] + pd.DateOffset(months=1), bool(np.nanmin(hist.to_numpy(float)) >= 0))
    return Forecast(series, combo.id, hist, frame, _accuracy(rows, combo.id), " ".join(en) or None,
                    " ".join(zh) or None, hb, len(starts), cover80, cover95, "backtest" if use_errors else "model")


def forecast_many(series: dict[str, pd.Series], horizon: int,
                  progress: Callable[[int, int], None] | None = None, workers: int = 1, **kw) -> dict[str, Forecast]:
    """``forecast_series`` for each series, calling ``progress(done, total)`` after each one.

    ``workers`` > 1 forecasts in that many processes (fits are CPU-bound Python: threads would share one core);
    0 means one per CPU. Results come back in the order of ``series`` whatever order they finish in.
    """
    total = len(series)
    workers = (os.cpu_count() or 1) if workers == 0 else workers
    out: dict[str, Forecast] = {}
    if workers <= 1 or total < 2:
        for i, (key, hist) in enumerate(series.items(), start=1):
            out[key] = forecast_series(hist, horizon, series=key, **kw)
            if progress is not None:
                progress(i, total)
        return out
    # spawn, not fork: the caller may be a threaded server (Streamlit), and a forked thread-holding process can hang.
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, total), mp_context=ctx) as pool:
        futures = {pool.submit(forecast_series, hist, horizon, series=key, **kw): key for key, hist in series.items()}
        for i, fut in enumerate(concurrent.futures.as_completed(futures), start=1):
            out[futures[fut]] = fut.result()
            if progress is not None:
                progress(i, total)
    return {key: out[key] for key in series}


def lines_frame(results: dict[str, Forecast]) -> pd.DataFrame:
    """Every forecast month of every series in one long frame: series, period, model, value and bounds."""
    parts = [f.forecast.rename_axis("period").reset_index().assign(series=key, model=f.model)
             for key, f in results.items()]
    cols = ["series", "period", "model", "value", "lo80", "hi80", "lo95", "hi95"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def accuracy_frame(results: dict[str, Forecast]) -> pd.DataFrame:
    """Every candidate's backtest of every series: series, model, mase, smape, chosen."""
    parts = [f.accuracy.assign(series=key) for key, f in results.items()]
    cols = ["series", "model", "mase", "smape", "chosen"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


# ---- series from the store ----------------------------------------------------------------------

def is_additive(model: SemanticModel, metric_id: str) -> bool:
    """Whether a metric can be forecast month by month: additive over time (``semantic.additive``:
    sums of flows, not ratios, balances or distinct counts) and an actual, not a plan (budget lines)."""
    model.metric(metric_id)
    return (semantic.additive(model, metric_id)
            and all(ds.period_grain is None for ds in model.datasets_of(metric_id)))


def additive_metrics(model: SemanticModel, user: User | None = None) -> list[str]:
    """Ids of the metrics that can be forecast at monthly grain (and that ``user`` may see), in declaration order."""
    return [mid for mid in model.metrics if is_additive(model, mid)
            and (user is None or user.may_see_metric(mid, model))]


def check_metric(model: SemanticModel, metric_id: str) -> None:
    """Raise unless ``metric_id`` is known and additive over time."""
    model.metric(metric_id)
    if not is_additive(model, metric_id):
        ok = ", ".join(additive_metrics(model))
        raise InvalidArgument(f"'{metric_id}' doesn't add up over months (a ratio, balance, budget or distinct count), "
                              f"so it can't be forecast. Metrics that can: {ok}.",
                              f"指标“{metric_id}”不能按月相加（比率、余额、预算或去重计数），无法预测。可预测的指标：{ok}。")


def last_complete_month(end: dt.date) -> dt.date:
    """First day of the last whole month on or before ``end``.

    >>> last_complete_month(dt.date(2026, 11, 24)), last_complete_month(dt.date(2026, 10, 31))
    (datetime.date(2026, 10, 1), datetime.date(2026, 10, 1))
    """
    if (end + dt.timedelta(days=1)).day == 1:
        return end.replace(day=1)
    return (pd.Timestamp(end.replace(day=1)) - pd.DateOffset(months=1)).date()


def monthly_series(run: Callable[[QuerySpec], pd.DataFrame], metric: str, by: str | tuple[str, ...] | None,
                   end: dt.date, *, start: dt.date | None = None, filters: Iterable[FilterSpec] = (),
                   model: SemanticModel | None = None) -> dict[str, pd.Series]:
    """Monthly values of ``metric`` per value of ``by`` ('' for the total when ``by`` is None), read with
    ``run`` (pages pass ``sh.run``), for the complete months up to ``end``; months without rows are 0.
    All series span the same months, from the first month with data (or ``start``). ``by`` may name several
    dimensions: a series per combination of their values, keyed by the values joined with "|"."""
    model = model or query.default_model()
    check_metric(model, metric)
    dims = (by,) if isinstance(by, str) else tuple(by or ())
    for d in dims:
        model.dimension(d)
    last = last_complete_month(end)
    first = start.replace(day=1) if start else dt.date(1900, 1, 1)
    if last < first:
        return {}
    month_end = (pd.Timestamp(last) + pd.offsets.MonthEnd(0)).date()
    spec = QuerySpec(metrics=(metric,), dimensions=("month", *dims), filters=tuple(filters),
                     time_range=TimeRange(first, month_end))
    df = run(spec)
    if df.empty:
        return {}
    months = pd.to_datetime(df["month"]).dt.to_period("M").dt.to_timestamp(how="start")
    lo = pd.Timestamp(start.replace(day=1)) if start else months.min()
    idx = pd.date_range(lo, pd.Timestamp(last), freq="MS")
    values = pd.to_numeric(df[metric], errors="coerce").astype(float)
    keys = pd.Series("", index=df.index)
    for i, d in enumerate(dims):
        part = df[d].map(lambda v: NULL_LABEL if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
        keys = part if i == 0 else keys + "|" + part
    frame = pd.DataFrame({"key": keys.to_numpy(), "month": months.to_numpy(), "v": values.to_numpy()})
    out: dict[str, pd.Series] = {}
    for key, part in frame.groupby("key", sort=True):
        s = part.groupby("month")["v"].sum(min_count=1).reindex(idx).fillna(0.0)
        s.index.name = "month"
        out[str(key)] = s.rename(str(key))
    return out


# ---- saved runs -------------------------------------------------------------------------------------

def save_run(engine: sa.Engine, user: User, metric: str, dimension: str | None, made_in: dt.date,
             results: dict[str, Forecast], data_version: str | None = None) -> int:
    """Save forecasts as one forecast run (a forecast version) in one transaction; returns its id.

    ``made_in`` is the last month of actuals the forecasts saw. Needs the ``edit_budgets`` right.
    """
    auth.require(user, "edit_budgets")
    if not results:
        raise InvalidArgument("There is no forecast to save.", "没有可保存的预测。")
    models = pd.Series([f.model for f in results.values()]).value_counts()
    note = ", ".join(f"{m}×{n}" for m, n in models.items())[:500]
    lines = [dict(series=str(key)[:200], period=ts.date(), model=f.model, value=float(r.value),
                  lo80=float(r.lo80), hi80=float(r.hi80), lo95=float(r.lo95), hi95=float(r.hi95))
             for key, f in results.items() for ts, r in f.forecast.iterrows()]
    with engine.begin() as conn:
        run_id = conn.execute(forecast_run.insert().values(
            made_at=clock.now(), made_in=made_in.replace(day=1), made_by=user.username,
            metric=metric, dimension=dimension, horizon=max(len(f.forecast) for f in results.values()),
            data_version=data_version, note=note).returning(forecast_run.c.id)).scalar_one()
        conn.execute(forecast_line.insert(), [{"run_id": run_id, **row} for row in lines])
    return int(run_id)


def runs(engine: sa.Engine, metric: str | None = None) -> pd.DataFrame:
    """Saved forecast runs, newest first, with their number of series."""
    n = sa.select(forecast_line.c.run_id, sa.func.count(sa.distinct(forecast_line.c.series)).label("series")) \
        .group_by(forecast_line.c.run_id).subquery()
    stmt = sa.select(forecast_run, sa.func.coalesce(n.c.series, 0).label("series")) \
        .select_from(forecast_run.outerjoin(n, n.c.run_id == forecast_run.c.id)).order_by(forecast_run.c.id.desc())
    if metric is not None:
        stmt = stmt.where(forecast_run.c.metric == metric)
    return db.run(engine, stmt)


def run_lines(engine: sa.Engine, run_id: int) -> pd.DataFrame:
    """The forecast lines of one saved run (series, period, model, value and bounds)."""
    with engine.connect() as conn:
        if conn.execute(sa.select(forecast_run.c.id).where(forecast_run.c.id == run_id)).first() is None:
            raise InvalidArgument(f"No saved forecast with id {run_id}.", f"没有编号为 {run_id} 的已保存预测。")
    df = db.run(engine, sa.select(forecast_line).where(forecast_line.c.run_id == run_id)
                .order_by(forecast_line.c.series, forecast_line.c.period))
    df["period"] = pd.to_datetime(df["period"])
    return df


def run_vs_actual(engine: sa.Engine, user: User, run_id: int, actual: dict[str, pd.Series]) -> pd.DataFrame:
    """"Forecast made in M vs actual": every saved line with the actual of its month where known.

    Columns: series, period, model, forecast, lo80, hi80, lo95, hi95, actual, error (actual − forecast),
    pct_error (error ÷ |actual|, NaN on zero), in80, in95 (actual inside the interval; NA if unknown).
    Saved runs were made over the whole company (a series may be a region, a channel or the total,
    covering rows outside any department's scope), so a user with a row scope is refused.
    """
    if user.scope is not None:
        raise Forbidden("Saved forecasts cover the whole company; your data scope is part of it. Ask finance.",
                        "已保存的预测覆盖全公司数据，超出您的数据范围；如需查看请联系财务。")
    lines = run_lines(engine, run_id)
    act = []
    for s, p in zip(lines["series"], lines["period"]):
        a = actual.get(s)
        act.append(float(a.get(p, np.nan)) if a is not None else np.nan)
    out = lines.drop(columns=["run_id"]).rename(columns={"value": "forecast"})
    out["actual"] = np.asarray(act, float)
    out["error"] = out["actual"] - out["forecast"]
    out["pct_error"] = out["error"] / out["actual"].abs().where(out["actual"] != 0)
    known = out["actual"].notna()
    for lvl in ("80", "95"):
        inside = (out["actual"] >= out[f"lo{lvl}"]) & (out["actual"] <= out[f"hi{lvl}"])
        out[f"in{lvl}"] = inside.astype("boolean").where(known, pd.NA)
    return out.reset_index(drop=True)


def run_summary(vs: pd.DataFrame) -> pd.DataFrame:
    """Per series of a ``run_vs_actual`` frame: months with an actual, MAE, MAPE, and how often the
    actual fell inside the 80% and 95% intervals."""
    known = vs[vs["actual"].notna()]
    rows = []
    for s, g in known.groupby("series", sort=True):
        rows.append((s, len(g), float(g["error"].abs().mean()), float(g["pct_error"].abs().mean()),
                     float(g["in80"].astype(float).mean()), float(g["in95"].astype(float).mean())))
    return pd.DataFrame(rows, columns=["series", "months", "mae", "mape", "cover80", "cover95"])
