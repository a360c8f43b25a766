"""Alert rule kinds: each fires on a constructed case and not on its near miss.

Figures come from the hand-checkable ``fin`` store (tests/lib/fixtures_finance.py):
revenue Jan 2025 华东 240, 西部 160; Jan 2024 华东 100, 西部 100; Feb 2025 华东 200, 西部 100.
Opex 2025 华东 30+20+40+15+5 = 110, 西部 25+10 = 35; opex budget 2025 华东 40+20+40 = 100, 西部 20+10 = 30.
Overdue AR ratio at 2025-02-28: 华东 200 / 350, 西部 0 / 200. DSO Feb 2025 (all) 49 days.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lib.core.errors import InvalidArgument
from lib.performance.alerts import rules as ar
from lib.semantic import query
from lib.semantic.spec import FilterSpec, TimeRange

D = dt.date
OPEX = (FilterSpec("account_type", "in", ("opex",)),)


def _rule(kind: str, metric: str, value: float, **kw) -> ar.Rule:
    return ar.Rule.from_dict({"name": f"t-{kind}", "kind": kind, "metric": metric, "value": value, **kw})


def _members(rule: ar.Rule, engine, as_of: dt.date) -> list:
    return sorted(str(b.member) for b in ar.evaluate(rule, lambda s: query.run(engine, s), as_of))


@pytest.mark.parametrize("rule, as_of, expect", [
    # threshold: revenue last complete month (Jan 2025)
    (_rule("threshold", "revenue", 200, dimension="region"), D(2025, 2, 1), ["华东大区"]),
    (_rule("threshold", "revenue", 240, dimension="region"), D(2025, 2, 1), []),                 # equal is no breach
    (_rule("threshold", "revenue", 170, dimension="region", op="below"), D(2025, 2, 1), ["西部大区"]),
    (_rule("threshold", "revenue", 160, dimension="region", op="below"), D(2025, 2, 1), []),
    # change vs last year: 华东 +140%, 西部 +60%
    (_rule("change", "revenue", 139, dimension="region"), D(2025, 2, 1), ["华东大区"]),
    (_rule("change", "revenue", 141, dimension="region"), D(2025, 2, 1), []),
    # change vs previous month (Feb vs Jan 2025): 华东 −16.7%, 西部 −37.5%
    (_rule("change", "revenue", 30, dimension="region", op="below", compare="previous"), D(2025, 3, 1), ["西部大区"]),
    (_rule("change", "revenue", 38, dimension="region", op="below", compare="previous"), D(2025, 3, 1), []),
    (_rule("change", "revenue", 30, dimension="region", op="both", compare="previous"), D(2025, 3, 1), ["西部大区"]),
    # budget execution for 2025 as a whole (elapsed share 100%): 华东 110/100, 西部 35/30
    (_rule("budget_execution", "actual", 12, dimension="region", filters=[OPEX[0].to_dict()]), D(2026, 1, 1),
     ["西部大区"]),
    (_rule("budget_execution", "actual", 17, dimension="region", filters=[OPEX[0].to_dict()]), D(2026, 1, 1), []),
    (_rule("budget_execution", "actual", 8, dimension="region", filters=[OPEX[0].to_dict()]), D(2026, 1, 1),
     ["华东大区", "西部大区"]),
    # balances: overdue AR ratio at 2025-02-28 (华东 0.571), DSO of February (49 days)
    (_rule("balance", "overdue_ar_ratio", 0.5, dimension="region"), D(2025, 3, 1), ["华东大区"]),
    (_rule("balance", "overdue_ar_ratio", 0.6, dimension="region"), D(2025, 3, 1), []),
    (_rule("balance", "dso", 48), D(2025, 3, 1), ["None"]),
    (_rule("balance", "dso", 50), D(2025, 3, 1), []),
], ids=lambda x: x.name + f"-{x.value}" if isinstance(x, ar.Rule) else str(x))
def test_each_kind_fires_and_its_near_miss_does_not(fin, rule, as_of, expect):
    assert _members(rule, fin, as_of) == expect


def test_budget_execution_breach_carries_the_figures(fin):
    rule = _rule("budget_execution", "actual", 12, dimension="region", filters=[OPEX[0].to_dict()])
    (b,) = ar.evaluate(rule, lambda s: query.run(fin, s), D(2026, 1, 1))
    assert (b.value, b.reference, b.detail["actual"], b.detail["budget"]) == pytest.approx((35 / 30, 1.0, 35.0, 30.0))
    assert b.key == "西部大区|"


def _fake_run(frames: dict[str, pd.DataFrame]):
    """A runner answering by metric with constructed frames (for the anomaly kind without a store); it
    honours the time range, and a descending sort with a limit (the last day with data)."""
    def run(spec):
        df = frames[spec.metrics[0]]
        if spec.limit:
            tr = spec.time_range
            days = df[(df["day"] >= pd.Timestamp(tr.start)) & (df["day"] <= pd.Timestamp(tr.end))]
            return days.sort_values("day", ascending=False).head(spec.limit)
        return df
    return run


@pytest.mark.parametrize("factor, expect", [(0.05, ["2026-10-12"]), (0.8, [])])
def test_anomaly_kind_on_a_constructed_series(factor, expect):
    days = pd.date_range("2024-01-01", "2026-11-23", freq="D")
    noise = np.random.default_rng(3).uniform(0.93, 1.07, len(days))      # ±7% day-to-day
    values = 100.0 * np.where(days.day_of_week >= 5, 0.5, 1.0) * noise
    frame = pd.DataFrame({"day": days, "orders": values})
    frame.loc[frame["day"] == "2026-10-12", "orders"] *= factor
    rule = _rule("anomaly", "orders", 6, grain="day", lookback=60, op="below")
    breaches = ar.evaluate(rule, _fake_run({"orders": frame}), D(2026, 11, 24))
    assert [b.period for b in breaches] == expect
    assert all(b.distinct_period and b.key == f"*|{b.period}" for b in breaches)


def test_anomaly_lookback_bounds_what_is_judged():
    days = pd.date_range("2024-01-01", "2026-11-23", freq="D")
    frame = pd.DataFrame({"day": days, "orders": 100.0})
    frame.loc[frame["day"] == "2026-09-01", "orders"] = 1.0
    rule = _rule("anomaly", "orders", 6, grain="day", lookback=30, op="below")
    assert ar.evaluate(rule, _fake_run({"orders": frame}), D(2026, 11, 24)) == []
    assert len(ar.anomalies_since(rule, _fake_run({"orders": frame}), D(2026, 11, 24), D(2026, 1, 1))) == 1


@pytest.mark.parametrize("window, as_of, start, end", [
    ("day", D(2026, 11, 24), D(2026, 11, 23), D(2026, 11, 23)),
    ("month_to_date", D(2026, 11, 24), D(2026, 11, 1), D(2026, 11, 23)),
    ("last_month", D(2026, 11, 24), D(2026, 10, 1), D(2026, 10, 31)),
    ("last_month", D(2026, 11, 1), D(2026, 10, 1), D(2026, 10, 31)),     # Oct 31 is the last day: October is complete
    ("last_3_months", D(2026, 11, 24), D(2026, 8, 1), D(2026, 10, 31)),
    ("year_to_date", D(2026, 1, 1), D(2025, 1, 1), D(2025, 12, 31)),
])
def test_window_ranges(window, as_of, start, end):
    assert ar.window_range(ar.Window(window), as_of) == TimeRange(start, end)


@pytest.mark.parametrize("window, compare, start, end", [
    ("last_month", "previous", D(2026, 9, 1), D(2026, 9, 30)),
    ("last_month", "last_year", D(2025, 10, 1), D(2025, 10, 31)),
    ("last_3_months", "previous", D(2026, 5, 1), D(2026, 7, 31)),
    ("day", "previous", D(2026, 11, 22), D(2026, 11, 22)),
])
def test_comparison_ranges(window, compare, start, end):
    tr = ar.window_range(ar.Window(window), D(2026, 11, 24))
    assert ar.shifted(tr, ar.Window(window), ar.Compare(compare)) == TimeRange(start, end)


@pytest.mark.parametrize("raw, needle", [
    ({"kind": "treshold", "metric": "revenue", "value": 1}, "treshold"),
    ({"kind": "threshold", "metric": "revenue"}, "value"),
    ({"kind": "threshold", "metric": "revenue", "value": 1, "window": "fortnight"}, "fortnight"),
])
def test_bad_rules_say_what_is_wrong(raw, needle):
    with pytest.raises(InvalidArgument, match=needle):
        ar.Rule.from_dict({"name": "x", **raw})


@pytest.mark.parametrize("raw, needle", [
    ({"kind": "threshold", "metric": "gros_margin", "value": 1}, "gros_margin"),
    ({"kind": "balance", "metric": "revenue", "value": 1}, "sums over time"),
    ({"kind": "threshold", "metric": "revenue", "value": 1, "op": "both"}, "above"),
    ({"kind": "anomaly", "metric": "revenue", "value": 5, "grain": "week"}, "grain"),
    ({"kind": "threshold", "metric": "revenue", "value": 1, "dimension": "regio"}, "regio"),
])
def test_validation_against_the_catalogue(raw, needle):
    with pytest.raises(InvalidArgument, match=needle):
        ar.validate(ar.Rule.from_dict({"name": "x", **raw}), query.default_model())


def test_rule_round_trips_through_plain_data():
    rule = _rule("budget_execution", "actual", 15, dimension="region", filters=[OPEX[0].to_dict()], severity="high")
    assert ar.Rule.from_dict(rule.to_dict()) == rule


# ---- days without data are not read as zeros (finding 4) --------------------------------------------

def _orders_until(last: str) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", last, freq="D")
    noise = np.random.default_rng(5).uniform(0.93, 1.07, len(days))
    return pd.DataFrame({"day": days, "orders": 100.0 * np.where(days.day_of_week >= 5, 0.5, 1.0) * noise})


def test_anomaly_history_ends_at_the_last_day_with_data():
    """Data loaded up to the 15th, evaluated on the 24th: the eight days after are unknown, not a collapse."""
    rule = _rule("anomaly", "orders", 6, grain="day", lookback=60, op="below")
    ev = ar.judge(rule, _fake_run({"orders": _orders_until("2026-11-15")}), D(2026, 11, 24))
    assert ev.breaches == () and ev.data_end == D(2026, 11, 15)
    assert "*|2026-11-15" in ev.judged and "*|2026-11-16" not in ev.judged     # not judged: its alert stays
    assert ar.judge(rule, _fake_run({"orders": _orders_until("2026-11-23")}), D(2026, 11, 24)).breaches == ()


def test_rows_without_data_are_not_judged():
    frame = pd.DataFrame({"region": ["华东大区", "西部大区"], "revenue": [10.0, None]})
    rule = _rule("threshold", "revenue", 50, dimension="region", op="below")
    ev = ar.judge(rule, lambda spec: frame, D(2026, 11, 24))
    assert [b.member for b in ev.breaches] == ["华东大区"] and ev.judged == frozenset({"华东大区|"})
    empty = ar.judge(rule, lambda spec: frame.iloc[:0], D(2026, 11, 24))
    assert empty.breaches == () and empty.judged == frozenset()
    # a metric that sums: a row absent from a window with data is 0 there; 0 is not above 5 (judged, resolved) …
    above = _rule("threshold", "revenue", 5, dimension="region")
    assert ar.judge(above, lambda spec: frame, D(2026, 11, 24), additive=True).judges("华南大区|")
    assert not ar.judge(above, lambda spec: frame, D(2026, 11, 24)).judges("华南大区|")          # a ratio: unknown
    assert not ar.judge(above, lambda spec: frame.iloc[:0], D(2026, 11, 24), additive=True).judges("华南大区|")
    # … but 0 is below 50: that row's alert is not resolved by its absence
    assert not ar.judge(rule, lambda spec: frame, D(2026, 11, 24), additive=True).judges("华南大区|")


# ---- budget execution against the phased budget to the last closed month (finding 5) ------------------

def _gl_and_budget(actual_feb: float):
    """A budget front-loaded in January (100, then 10 a month: 210 a year); actuals posted at month end,
    January 100 and February ``actual_feb``; evaluated mid-March (February is the last closed month)."""
    postings = pd.DataFrame({"day": pd.to_datetime(["2026-01-31", "2026-02-28"]), "actual": [100.0, actual_feb]})
    months = pd.date_range("2026-01-01", periods=12, freq="MS")
    plan = pd.DataFrame({"month": months, "budget": [100.0] + [10.0] * 11})

    def run(spec):
        if spec.metrics == ("budget",):
            return plan
        if spec.limit:
            return postings.sort_values("day", ascending=False).head(1)
        tr = spec.time_range
        inside = postings[(postings["day"] >= pd.Timestamp(tr.start)) & (postings["day"] <= pd.Timestamp(tr.end))]
        return pd.DataFrame({"actual": [inside["actual"].sum()]})
    return run


@pytest.mark.parametrize("actual_feb, fires", [
    (10.0, False),   # exactly as phased: 110 of 110. Against the calendar (110/210 with 20% of the year gone) it fired
    (26.0, False),   # 126 of 110 = 114.5%: the near miss of a 15% tolerance
    (27.0, True),    # 127 of 110 = 115.5%
])
def test_budget_execution_follows_the_phased_budget(actual_feb, fires):
    rule = _rule("budget_execution", "actual", 15)
    breaches = ar.evaluate(rule, _gl_and_budget(actual_feb), D(2026, 3, 15))
    assert bool(breaches) is fires
    if fires:
        (b,) = breaches
        assert b.period == "2026-01-01~2026-02-28" and b.detail["budget"] == 110.0
        assert b.reference == pytest.approx(110 / 210)


@pytest.mark.parametrize("end, as_of, closed", [
    (D(2026, 10, 31), D(2026, 11, 24), D(2026, 10, 31)),   # booked at close
    (D(2026, 11, 23), D(2026, 11, 24), D(2026, 10, 31)),   # November still running
    (D(2026, 11, 20), D(2026, 12, 3), D(2026, 11, 30)),    # November over, nothing later posted
    (D(2026, 1, 10), D(2026, 1, 12), D(2025, 12, 31)),     # the new year not closed yet: last year
])
def test_closed_through(end, as_of, closed):
    assert ar.closed_through(end, as_of) == closed
