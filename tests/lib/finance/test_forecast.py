"""Forecasts: hand-checked baselines and scores, backtests that never see the future, model choice on
series of known structure, fallbacks with notes, series read through the query layer, saved runs."""
from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from lib.access.scope import Scope, User
from lib.core import store
from lib.core.errors import Forbidden, InvalidArgument
from lib.finance import forecast as fc
from lib.finance import forecast_models as fm
from lib.semantic import query
from tests.lib import fixtures_finance as ff

MS = "MS"


def monthly(values, start="2022-01-01") -> pd.Series:
    return pd.Series(np.asarray(values, float), index=pd.date_range(start, periods=len(values), freq=MS))


def seasonal(n: int, trend: float = 0.0, noise: float = 3.0, seed: int = 0) -> np.ndarray:
    """A monthly pattern (amplitude 40 around 200), optional linear trend, Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 200 + trend * t + 40 * np.sin(2 * np.pi * t / 12) + 15 * np.cos(4 * np.pi * t / 12) + rng.normal(0, noise, n)


# ---- hand-checked pieces ----------------------------------------------------------------------------

def test_seasonal_naive_repeats_the_last_season_with_the_textbook_interval():
    train = np.array([10.0, 20, 30, 40, 12, 22, 32, 42])
    p = fm.BASELINE.predict(train, 6, season=4)
    assert p.value.tolist() == [12, 22, 32, 42, 12, 22]
    # seasonal differences are all 2, so σ = 2; σ_h = σ·√(⌊(h−1)/4⌋ + 1): 2 for h 1–4, 2√2 for h 5–6
    sd = np.array([2, 2, 2, 2, 2 * math.sqrt(2), 2 * math.sqrt(2)])
    assert np.allclose(p.hi80 - p.value, 1.2815515655 * sd) and np.allclose(p.value - p.lo95, 1.9599639845 * sd)


@pytest.mark.parametrize("actual, pred, expected", [
    ([100, 100], [90, 110], 2 * 10 / 190 * 100 / 2 + 2 * 10 / 210 * 100 / 2),
    ([0, 50], [0, 50], 0.0),
    ([100, 0], [0, 0], 100.0),
])
def test_smape_by_hand(actual, pred, expected):
    assert fm.smape(np.array(actual, float), np.array(pred, float)) == pytest.approx(expected)


def test_mase_is_scaled_by_the_training_seasonal_naive_error():
    train = np.array([1.0, 2, 3, 2, 4, 5])     # season 3: |2−1|, |4−2|, |5−3| → MAE 5/3
    assert fm.mase_scale(train, 3) == pytest.approx(5 / 3)
    assert fm.mase(np.array([10.0, 12]), np.array([11.0, 9]), 5 / 3) == pytest.approx(2 / (5 / 3))


@pytest.mark.parametrize("n, h, count, min_train, expected", [
    (46, 12, 3, 24, (12, [26, 30, 34])),
    (46, 3, 3, 24, (3, [41, 42, 43])),
    (30, 12, 3, 24, (6, [24])),
    (60, 36, 3, 24, (24, [28, 36])),             # horizon capped at two seasons; an origin before 24 is dropped
    (20, 12, 3, 24, (0, [])),
])
def test_origins_leave_exactly_the_backtest_horizon_after_the_last_one(n, h, count, min_train, expected):
    assert fm.origins(n, h, count, min_train, 12) == expected


# ---- backtests never see the future ----------------------------------------------------------------

class Spy(fm.Candidate):
    """Records every training window it is fitted on; forecasts the last value."""

    id = "spy"

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def min_needed(self, season: int) -> int:
        return 6

    def predict(self, train, h, season, intervals=True):
        self.seen.append(train.copy())
        return fm.Prediction.normal(np.full(h, train[-1]), np.ones(h))


def test_each_backtest_fit_sees_only_the_months_before_its_origin():
    y = monthly(np.arange(1.0, 41.0))            # value = month number, so a window shows what it saw
    spy = Spy()
    f = fc.forecast_series(y, 6, origins=3, candidates=[spy])
    hb, starts = fm.origins(40, 6, 3, 6, 12)
    assert [len(s) for s in spy.seen] == [*starts, 40]          # three windows, then the refit on everything
    for o, seen in zip(starts, spy.seen):
        assert seen.tolist() == list(np.arange(1.0, o + 1))     # exactly y[:o]: nothing at or after the origin
    assert f.backtest_origins == 3 and f.backtest_horizon == 6 and f.model == "spy"


def test_a_poisoned_future_does_not_leak_into_the_backtest_score():
    # Flat at 1 for two years, then 100: a backtest that peeked past its origin (for the forecast or
    # the MASE scale) would score the naive forecast far better than the honest 99.
    y = np.r_[np.ones(24), np.full(12, 100.0)]
    score = fm.backtest(y, fm.NAIVE, 12, [24], 12)
    assert score.mase == pytest.approx(99.0)     # |100 − 1| / scale 1 (the training's mean level: it has no variation)
    assert score.smape == pytest.approx(200 * 99 / 101)


# ---- model choice on series of known structure -------------------------------------------------------

def _beats_baseline(values: np.ndarray, candidates, hold: int = 12) -> fc.Forecast:
    train, future = monthly(values[:-hold]), values[-hold:]
    f = fc.forecast_series(train, hold, origins=2, candidates=candidates)
    acc = f.accuracy.set_index("model")
    assert f.model != "seasonal_naive"
    assert acc.loc[f.model, "mase"] < acc.loc["seasonal_naive", "mase"]
    snaive = fm.BASELINE.predict(train.to_numpy(), hold, 12).value
    assert np.abs(f.forecast["value"].to_numpy() - future).mean() < np.abs(snaive - future).mean()
    return f


def test_pure_seasonal_series_the_chosen_model_beats_seasonal_naive():
    # Seasonal naive carries each month's noise into next year; a smoothed seasonal model averages it
    # out. Five years of training: with three, the estimated seasonal states are about as noisy.
    _beats_baseline(seasonal(72, noise=6.0, seed=3), [fm.BASELINE, fm.ETS_ADD_DAMPED])


def test_trend_and_season_the_default_combination_beats_seasonal_naive():
    f = _beats_baseline(seasonal(60, trend=3.0, seed=1), None)   # 48 months of training: two backtest origins
    assert f.model == "combination" and f.intervals_from == "backtest" and f.backtest_origins == 2
    assert f.accuracy["model"].tolist() == ["combination", "ets_mul_damped", "log_sarima(0,1,1)(0,1,1)", "theta",
                                            "seasonal_naive"]
    assert f.accuracy["chosen"].tolist() == [True, False, False, False, False] and f.note_en is None
    assert 0 <= f.coverage80 <= f.coverage95 <= 1
    out = f.forecast
    assert list(out.columns) == ["value", "lo80", "hi80", "lo95", "hi95"]
    assert (out["lo95"] <= out["lo80"]).all() and (out["lo80"] <= out["value"]).all()
    assert (out["value"] <= out["hi80"]).all() and (out["hi80"] <= out["hi95"]).all()
    assert out.index[0] == pd.Timestamp("2026-01-01") and (out.index.day == 1).all() and len(out) == 12
    gain = f.baseline_gain()
    assert gain > 0 and f.versus_baseline("zh") == f"过去2个预测窗口中，平均误差比“去年同月”低 {gain * 100:.0f} %"


# ---- the combination on series of known structure ---------------------------------------------------

def _members_mean(y: np.ndarray, h: int) -> np.ndarray:
    """The combination's forecast worked out independently: each default member fitted alone, then averaged."""
    members = (fm.ETS_MUL_DAMPED, fm.LOG_AIRLINE, fm.THETA, fm.BASELINE)
    return np.mean([m.predict(y, h, 12, intervals=False).value for m in members], axis=0)


def test_the_combination_is_the_mean_of_its_four_members():
    y = seasonal(60, trend=1.0, seed=5)
    f = fc.forecast_series(monthly(y), 12, origins=1)
    assert np.allclose(f.forecast["value"].to_numpy(), _members_mean(y, 12), rtol=1e-9)


def test_a_pure_seasonal_pattern_is_repeated():
    # No noise, no trend: every member reproduces last year's months, so the combination must too.
    pattern = 200 + 40 * np.sin(2 * np.pi * np.arange(12) / 12) + 15 * np.cos(4 * np.pi * np.arange(12) / 12)
    f = fc.forecast_series(monthly(np.tile(pattern, 5)), 12, origins=1)
    assert np.allclose(f.forecast["value"].to_numpy(), pattern, rtol=0.01)
    assert f.accuracy.set_index("model").loc["combination", "mase"] < 0.05


def test_a_pure_trend_is_continued_and_beats_last_year():
    # 100 + 5·t: seasonal naive lags a whole year of growth (60 a month). ETS, ARIMA and Theta continue the line, so
    # the combination rises month by month and is far closer than last year's months; its seasonal naive member
    # costs it about a quarter of that lag (the price of never being far worse than seasonal naive).
    t = np.arange(72)
    line = 100 + 5.0 * t
    f = fc.forecast_series(monthly(line[:60]), 12, origins=1)
    value = f.forecast["value"].to_numpy()
    assert (np.diff(value) > 0).all()
    snaive_error = np.abs(line[48:60] - line[60:]).mean()
    assert snaive_error == pytest.approx(60.0)
    assert np.abs(value - line[60:]).mean() < 0.5 * snaive_error
    assert np.abs(value - (line[60:] - 60 / 4)).mean() < 10      # three members near the line, one a year behind


def test_a_level_shift_is_followed():
    # A seasonal business at 100 for three years, then at 150 (a new store) for two: the forecast is at the new
    # level, not the average of the old and new ones.
    season = 1 + 0.05 * np.sin(2 * np.pi * np.arange(60) / 12)
    y = np.r_[np.full(36, 100.0), np.full(24, 150.0)] * season
    f = fc.forecast_series(monthly(y), 12, origins=1)
    value = f.forecast["value"].to_numpy()
    assert value.mean() == pytest.approx(150.0, rel=0.05)
    assert np.allclose(value, 150.0 * season[:12], rtol=0.08)


def test_fits_keep_statsmodels_warnings_to_themselves():
    before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # any warning escaping a fit fails the test
        fc.forecast_series(monthly(np.r_[np.full(30, 5.0), [5.0, 900.0, 5.0]]), 3, origins=1,
                           candidates=[fm.BASELINE, fm.ETS_MUL_DAMPED, fm.SARIMAS[1]])
    assert warnings.filters == before


# ---- short and irregular history ----------------------------------------------------------------------

def test_short_history_falls_back_with_a_note_in_both_languages():
    f = fc.forecast_series(monthly(seasonal(18)), 6)
    assert f.model in {"seasonal_naive", "naive", "mean", "ses", "holt_damped"}
    assert "18 months" in f.note_en and "18 个月" in f.note_zh and "24" in f.note_en
    assert "seasonal_naive" in set(f.accuracy["model"]) and len(f.forecast) == 6


def test_gaps_and_zero_months_are_irregular_and_say_so():
    s = monthly(seasonal(36)).drop(pd.Timestamp("2023-03-01"))   # a month missing from the index
    s.iloc[10] = 0.0
    f = fc.forecast_series(s, 3)
    assert "interpolation" in f.note_en and "插补" in f.note_zh
    assert "zero" in f.note_en and "为零" in f.note_zh
    assert len(f.history) == 36 and f.model in {"seasonal_naive", "naive", "mean", "ses", "holt_damped"}


def test_leading_zero_months_are_left_out_and_very_short_series_are_unscored():
    f = fc.forecast_series(monthly([0, 0, 0, 5, 7, 6]), 2)
    assert "2022-04" in f.note_en and "2022-04" in f.note_zh
    assert (f.backtest_origins, f.backtest_horizon) == (1, 1)     # 3 months: one window of one month
    assert f.forecast.index[0] == pd.Timestamp("2022-07-01")
    g = fc.forecast_series(monthly([3.0, 4.0]), 2)
    assert g.model == "naive" and g.forecast["value"].tolist() == [4.0, 4.0] and "backtest" in g.note_en


def test_an_all_zero_series_forecasts_zero():
    f = fc.forecast_series(monthly([0.0] * 30), 4)
    assert f.forecast["value"].tolist() == [0.0] * 4 and f.note_en


def test_non_negative_history_is_never_forecast_below_zero():
    f = fc.forecast_series(monthly([1.0, 0.2, 3.0, 0.1, 2.5, 0.1, 4.0]), 3, candidates=[fm.NAIVE])
    assert (f.forecast.to_numpy() >= 0).all()


@pytest.mark.parametrize("horizon", [0, 37, 2.5, True])
def test_bad_horizons_are_refused(horizon):
    with pytest.raises(InvalidArgument, match="horizon"):
        fc.forecast_series(monthly([1.0] * 30), horizon)


def test_forecast_many_reports_progress():
    calls = []
    out = fc.forecast_many({"a": monthly([1.0, 2, 3]), "b": monthly([2.0, 2, 2])}, 2, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 2), (2, 2)] and set(out) == {"a", "b"} and out["a"].series == "a"


# ---- which metrics, and series from the store ---------------------------------------------------------

def test_additive_metrics_come_from_the_semantic_model():
    ok = set(fc.additive_metrics(query.default_model()))
    assert {"revenue", "cogs", "volume", "opex", "gross_profit", "operating_profit", "discount"} <= ok
    assert not ok & {"gross_margin", "asp", "ar_balance", "inventory_value", "customers", "orders",
                     "budget", "budget_variance", "revenue_yoy", "revenue_ytd", "dso"}
    viewer = User("v", "viewer", denied_metrics=frozenset({"cogs"}))
    assert "cogs" not in fc.additive_metrics(query.default_model(), viewer)
    with pytest.raises(InvalidArgument, match="gross_margin"):
        fc.check_metric(query.default_model(), "gross_margin")


def test_monthly_series_by_hand_on_the_finance_fixture(fin):
    def run(spec):
        return query.run(fin, spec)
    total = fc.monthly_series(run, "revenue", None, dt.date(2025, 3, 15))        # March 2025 is not complete
    assert list(total) == [""]
    s = total[""]
    assert s.index[0] == pd.Timestamp("2024-01-01") and s.index[-1] == pd.Timestamp("2025-02-01")
    assert s.loc["2024-01-01"] == 200 and s.loc["2024-02-01"] == 200 and s.loc["2024-07-01"] == 0
    assert s.loc["2024-12-01"] == 320 and s.loc["2025-01-01"] == 400 and s.loc["2025-02-01"] == 300
    opex = fc.monthly_series(run, "opex", "region", dt.date(2025, 4, 30))        # April is complete on its last day
    assert set(opex) == {ff.HUADONG, ff.XIBU}
    hd, xb = opex[ff.HUADONG], opex[ff.XIBU]
    assert (hd.index == xb.index).all() and hd.index[0] == pd.Timestamp("2024-01-01") and len(hd) == 16
    assert hd[hd != 0].to_dict() == {pd.Timestamp("2024-01-01"): 10, pd.Timestamp("2025-01-01"): 50,
                                     pd.Timestamp("2025-02-01"): 40, pd.Timestamp("2025-03-01"): 15,
                                     pd.Timestamp("2025-04-01"): 5}
    assert xb[xb != 0].to_dict() == {pd.Timestamp("2025-01-01"): 25, pd.Timestamp("2025-02-01"): 10}
    assert fc.monthly_series(run, "revenue", None, dt.date(2025, 3, 15), start=dt.date(2024, 12, 5))[""].tolist() \
        == [320, 400, 300]


def test_demo_regions_add_up_to_the_total_and_stop_at_the_last_complete_month(demo_engine):
    def run(spec):
        return query.run(demo_engine, spec)
    by = fc.monthly_series(run, "revenue", "region", dt.date(2026, 11, 24))
    total = fc.monthly_series(run, "revenue", None, dt.date(2026, 11, 24))[""]
    assert total.index[-1] == pd.Timestamp("2026-10-01") and len(total) == 46
    assert np.allclose(sum(by.values()).to_numpy(), total.to_numpy())


# ---- saved runs --------------------------------------------------------------------------------------

def _fixed(series: str, value: float) -> fc.Forecast:
    idx = pd.date_range("2025-01-01", periods=2, freq=MS)
    frame = pd.DataFrame({"value": [value, value], "lo80": value - 10, "hi80": value + 10,
                          "lo95": value - 20, "hi95": value + 20}, index=idx)
    acc = pd.DataFrame({"model": ["seasonal_naive"], "mase": [1.0], "smape": [5.0], "chosen": [True]})
    return fc.Forecast(series, "seasonal_naive", monthly([value] * 3, "2024-10-01"), frame, acc, None, None)


def test_save_list_and_compare_with_actuals(empty_engine):
    store.init_schema(empty_engine)
    finance = User("fin_user", "finance")
    results = {"华东大区": _fixed("华东大区", 100.0), "": _fixed("", 300.0)}
    with pytest.raises(Forbidden):
        fc.save_run(empty_engine, User("v", "viewer"), "revenue", "region", dt.date(2024, 12, 1), results)
    run_id = fc.save_run(empty_engine, finance, "revenue", "region", dt.date(2024, 12, 15), results, "v1")
    saved = fc.runs(empty_engine)
    assert saved["id"].tolist() == [run_id] and saved.loc[0, "series"] == 2 and saved.loc[0, "horizon"] == 2
    assert saved.loc[0, "made_by"] == "fin_user" and str(saved.loc[0, "made_in"])[:10] == "2024-12-01"
    assert fc.runs(empty_engine, "cogs").empty
    actual = {"华东大区": monthly([105.0, 130.0], "2025-01-01"), "": monthly([300.0], "2025-01-01")}
    vs = fc.run_vs_actual(empty_engine, finance, run_id, actual)
    hd = vs[vs["series"] == "华东大区"].reset_index(drop=True)
    assert hd["actual"].tolist() == [105.0, 130.0] and hd["error"].tolist() == [5.0, 30.0]
    assert hd["pct_error"].tolist() == pytest.approx([5 / 105, 30 / 130])
    assert hd["in80"].tolist() == [True, False] and hd["in95"].tolist() == [True, False]
    total = vs[vs["series"] == ""].reset_index(drop=True)
    assert total["actual"].iloc[0] == 300.0 and pd.isna(total["actual"].iloc[1]) and pd.isna(total["in80"].iloc[1])
    summary = fc.run_summary(vs).set_index("series")
    assert summary.loc["华东大区", "months"] == 2 and summary.loc["华东大区", "mae"] == 17.5
    assert summary.loc["华东大区", "cover80"] == 0.5 and summary.loc["", "months"] == 1
    head = User("east_head", "dept_head", scope=Scope(org_unit_ids=frozenset({2})))
    with pytest.raises(Forbidden):                            # saved runs cover the whole company
        fc.run_vs_actual(empty_engine, head, run_id, actual)
    with pytest.raises(InvalidArgument, match="999"):
        fc.run_vs_actual(empty_engine, finance, 999, actual)
