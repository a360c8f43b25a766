"""The anomaly detector: constructed series it must flag and near misses it must not; then the demo company's
injected anomalies (found) and its seasonal peaks (not flagged), on the read-only 20k demo."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lib.performance.alerts import admin as alert_admin
from lib.performance.alerts import anomaly
from lib.performance.alerts import rules as alert_rules
from lib.semantic import query
from tests.conftest import DEMO_AS_OF

D = dt.date


def _daily(n_days: int = 3 * 365, seed: int = 1) -> pd.Series:
    """Orders per day with a weekday profile and mild noise, from 2023-01-01."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2023-01-01", periods=n_days, freq="D")
    weekday = np.array([1.0, 1.0, 1.0, 1.0, 1.1, 0.5, 0.4])[idx.day_of_week]
    return pd.Series(200 * weekday * rng.uniform(0.93, 1.07, n_days), index=idx)


def _monthly(n: int = 36) -> pd.Series:
    idx = pd.date_range("2023-01-01", periods=n, freq="MS")
    season = np.where(idx.month.isin([6, 11]), 1.6, 1.0)           # a peak every June and November
    wiggle = 1 + 0.03 * np.sin(np.arange(n) * 1.7)
    return pd.Series(1000 * season * wiggle, index=idx)


def _flagged_days(s: pd.Series, **kw) -> list[str]:
    return anomaly.flagged(anomaly.detect(s, "day", **kw)).index.strftime("%Y-%m-%d").tolist()


@pytest.mark.parametrize("factor, expect", [
    (0.1, ["2025-10-14"]),   # a collapsed Tuesday: flagged
    (0.85, []),              # a 15% dip: within the noise
])
def test_a_single_day_collapse_fires_and_its_near_miss_does_not(factor, expect):
    s = _daily()
    s.loc["2025-10-14"] *= factor
    assert _flagged_days(s, threshold=6, direction="below") == expect


def test_weekends_and_a_moving_multi_day_holiday_are_not_anomalies():
    s = _daily()
    for start in ("2023-01-20", "2024-02-08", "2025-01-27"):          # a 10-day dip that moves every year
        s.loc[start:str((pd.Timestamp(start) + pd.Timedelta(days=9)).date())] *= 0.35
    assert _flagged_days(s, threshold=6, direction="both") == []


def test_a_fixed_date_peak_is_seasonal_once_a_year_of_history_shows_it():
    s = _daily()
    for year in (2023, 2024, 2025):
        s.loc[f"{year}-11-11"] *= 4.0
    flagged = _flagged_days(s, threshold=6, direction="above")
    assert flagged == ["2023-11-11"]   # the first one has no earlier year to learn from


def test_direction_limits_what_is_flagged():
    s = _daily()
    s.loc["2025-03-04"] *= 4.0
    assert _flagged_days(s, threshold=6, direction="below") == []
    assert _flagged_days(s, threshold=6, direction="above") == ["2025-03-04"]


@pytest.mark.parametrize("factor, expect", [(3.5, ["2025-09"]), (1.08, [])])
def test_a_monthly_spike_fires_but_recurring_peaks_do_not(factor, expect):
    s = _monthly()
    s.loc["2025-09-01"] *= factor
    scores = anomaly.detect(s, "month", threshold=5, direction="above")
    flagged = anomaly.flagged(scores)
    assert flagged[flagged.index >= "2024-01-01"].index.strftime("%Y-%m").tolist() == expect
    if expect:
        assert scores.loc["2025-09-01", "expected"] == pytest.approx(s.loc["2025-08-01"] * 1.0, rel=0.1)


def test_bad_grain_is_refused():
    with pytest.raises(ValueError, match="grain"):
        anomaly.detect(_monthly(), "week")


# ---- the demo company (read-only) ------------------------------------------------------------------

def _demo_rule(name: str) -> alert_rules.Rule:
    return next(r for r in alert_admin.load_rules_file() if r.name == name)


def test_demo_daily_rule_finds_the_collapsed_order_day_and_not_spring_festival_or_double_11(demo_engine):
    rule = _demo_rule("每日订单数异常下降")
    run = lambda spec: query.run(demo_engine, spec)  # noqa: E731
    tr = alert_rules.history_range(rule, DEMO_AS_OF)
    scores = alert_rules.anomaly_scores(rule, run, tr)[None]
    last_year = scores[scores.index >= "2025-11-24"]
    assert last_year.index[last_year["flagged"]].strftime("%Y-%m-%d").tolist() == ["2026-10-12"]
    for day in ("2026-02-15", "2026-02-17", "2026-02-20", "2025-11-11", "2026-11-11", "2026-06-18", "2025-12-12"):
        assert abs(scores.loc[day, "z"]) < rule.value, day
    # the rule as run_all sees it: the collapsed day, within the rule's 60-day lookback
    breaches = alert_rules.evaluate(rule, run, DEMO_AS_OF)
    assert [(b.member, b.period) for b in breaches] == [(None, "2026-10-12")]


def test_demo_monthly_rule_finds_the_marketing_expense_spike_only(demo_engine):
    rule = _demo_rule("部门月度费用异常")
    run = lambda spec: query.run(demo_engine, spec)  # noqa: E731
    found = alert_rules.anomalies_since(rule, run, DEMO_AS_OF, D(2025, 11, 1))
    assert [(b.member, b.period) for b in found] == [("市场部", "2026-09")]   # H04 660102 ×3.5; June/Nov peaks pass
