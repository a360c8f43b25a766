"""Scorecard arithmetic by hand: linear, capped, banded and lower-is-better scores, weighted totals,
ranks, bonus splits that add up to the pool exactly, periods and template validation."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from lib.core.errors import InvalidArgument
from lib.performance.scorecards import scoring
from lib.performance.scorecards.defs import Template, load_file, parse_period, parse_template, periods_before, to_dict
from lib.performance.scorecards.evaluate import allocated, totals, unscored, with_points
from lib.performance.scorecards.scoring import Basis, BonusMethod, Direction, Rule, RuleKind

H, L = Direction.HIGHER, Direction.LOWER


@pytest.mark.parametrize("actual, expected", [
    (70, 0.0),      # below the threshold
    (80, 0.0),      # at the threshold
    (90, 50.0),     # halfway threshold → target
    (100, 100.0),   # at target
    (105, 110.0),   # halfway target → stretch: 100 + 20 × 0.5
    (110, 120.0),   # at stretch: the cap
    (150, 120.0),   # beyond stretch: capped
])
def test_linear_higher_is_better(actual, expected):
    assert scoring.linear_score(actual, 80, 100, 110, cap=120) == pytest.approx(expected)


@pytest.mark.parametrize("actual, expected", [
    (135, 0.0), (150, 0.0),          # DSO at or above the threshold: 0
    (112.5, 50.0),                   # halfway 135 → 90
    (90, 100.0),                     # target
    (76.5, 110.0),                   # halfway 90 → 63 towards the cap of 120
    (63, 120.0), (20, 120.0),        # at and beyond the stretch: capped
])
def test_linear_lower_is_better(actual, expected):
    assert scoring.linear_score(actual, 135, 90, 63, cap=120, direction=L) == pytest.approx(expected)


def test_linear_refuses_points_out_of_order():
    with pytest.raises(InvalidArgument, match="order"):
        scoring.linear_score(1, 100, 90, 110)
    with pytest.raises(InvalidArgument):
        scoring.linear_score(1, 80, 90, 110, direction=L)


BANDS = ((60, 40), (75, 70), (85, 100), (95, 120))


@pytest.mark.parametrize("x, direction, expected", [
    (59.9, H, 0), (60, H, 40), (84.9, H, 70), (85, H, 100), (99, H, 120),
    (50, L, 40), (60, L, 40), (60.1, L, 70), (95, L, 120), (95.1, L, 0),
])
def test_bands(x, direction, expected):
    assert scoring.band_score(x, BANDS, direction) == expected


@pytest.mark.parametrize("rule, actual, target, direction, expected", [
    (Rule(threshold=0.9, stretch=1.1, cap=120), 95, 100, H, 50.0),              # relative: T=90, S=110
    (Rule(threshold=0.9, stretch=1.1, cap=120), 500, 100, H, 120.0),            # capped
    (Rule(threshold=0.30, stretch=0.40, relative=False), 0.375, 0.35, H, 110.0),  # absolute points
    (Rule(threshold=1.15, stretch=0.9, cap=110), 57.5, 50, L, 0.0),             # opex 15 % over budget
    (Rule(threshold=1.15, stretch=0.9, cap=110), 47.5, 50, L, 105.0),           # 5 % under budget
    (Rule(kind=RuleKind.BANDS, bands=((0.8, 60), (1.0, 100)), basis=Basis.RATIO), 90, 100, H, 60.0),
    (Rule(), None, 100, H, None),                                               # no actual
    (Rule(), 5, 0, H, None),                                                    # zero target: no scale
    (Rule(kind=RuleKind.BANDS, bands=BANDS), 86, None, H, 100.0),               # value bands need no target
])
def test_score(rule, actual, target, direction, expected):
    got = scoring.score(rule, actual, target, direction)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize("scores, weights, total, points", [
    ([120, 50, 100], [30, 20, 50], 96.0, [36.0, 10.0, 50.0]),
    ([100, 50, None], [50, 30, 20], 81.25, [62.5, 18.75, None]),   # unscored: left out, re-weighted over 80
    ([100, None], [1, 3], 100.0, [100.0, None]),
    ([None, None], [1, 3], None, [None, None]),                    # nothing scored: no total
    ([None, 80], [1, 0], None, [None, None]),                      # only a zero-weight KPI scored
    ([float("nan"), 60], [1, 1], 60.0, [None, 60.0]),              # NaN (pandas) is unscored too
])
def test_weighted_total_leaves_unscored_kpis_out(scores, weights, total, points):
    got = scoring.weighted_total(scores, weights)
    assert got == (None if total is None else pytest.approx(total))
    pts = scoring.points(scores, weights)
    assert pts == [None if p is None else pytest.approx(p) for p in points]
    if total is not None:
        assert sum(p for p in pts if p is not None) == pytest.approx(total)


def test_weighted_total_refuses_bad_weights():
    with pytest.raises(InvalidArgument):
        scoring.weighted_total([1, 2], [0, 0])
    with pytest.raises(InvalidArgument):
        scoring.weighted_total([1, 2], [1, -1])


def test_ranks_share_ties():
    assert scoring.ranks({"a": 50.0, "b": 70.0, "c": 70.0, "d": 10.0}) == {"a": 3, "b": 1, "c": 1, "d": 4}
    assert scoring.ranks({"a": None, "b": 70.0, "c": float("nan"), "d": 10.0}) == {"a": 3, "b": 1, "c": 3, "d": 2}


@pytest.mark.parametrize("pool, weights", [
    ("100", {"a": 1, "b": 1, "c": 1}),
    ("600000", {"r10": 97.74 * 1.2, "r20": 62.8, "r30": 59.9 * 1.1, "r40": 48.19}),
    ("0.05", {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1}),   # fewer fen than units
    ("12345.67", {i: (i * 7919) % 101 + 0.3 for i in range(37)}),
])
def test_allocation_adds_up_to_the_pool_exactly(pool, weights):
    split = scoring.allocate(pool, weights)
    assert sum(split.values()) == Decimal(pool)
    assert all(v == v.quantize(Decimal("0.01")) and v >= 0 for v in split.values())
    exact = {k: Decimal(pool) * Decimal(w) / Decimal(sum(weights.values())) for k, w in weights.items()}
    assert all(abs(split[k] - exact[k]) < Decimal("0.01") for k in weights)  # each within a fen of its exact share


def test_allocation_by_hand():
    assert scoring.allocate("100", {"a": 1, "b": 1, "c": 1}) == {
        "a": Decimal("33.34"), "b": Decimal("33.33"), "c": Decimal("33.33")}
    assert scoring.allocate("10", {"a": 3, "b": 1, "c": 0}) == {
        "a": Decimal("7.50"), "b": Decimal("2.50"), "c": Decimal("0.00")}
    with pytest.raises(InvalidArgument):
        scoring.allocate("10.001", {"a": 1})
    with pytest.raises(InvalidArgument):
        scoring.allocate("10", {"a": 0, "b": 0})


def test_bonus_weights_proportional_and_bands():
    totals, bases = {"a": 112.0, "b": 85.0, "c": 40.0, "d": None}, {"a": 1.0, "b": 2.0, "c": 1.0, "d": 3.0}
    assert scoring.bonus_weights(totals, bases, BonusMethod.PROPORTIONAL) == {"a": 112.0, "b": 170.0, "c": 40.0,
                                                                              "d": 0.0}
    bands = ((60, 0.5), (80, 1.0), (100, 1.2), (110, 1.5))
    assert scoring.bonus_weights(totals, bases, BonusMethod.BANDS, bands) == {"a": 1.5, "b": 2.0, "c": 0.0, "d": 0.0}
    assert scoring.bonus_weights({"a": 50.0}, {}, BonusMethod.PROPORTIONAL) == {"a": 50.0}   # no bases: all 1


def test_a_missing_bonus_base_is_named_not_taken_as_one():
    with pytest.raises(InvalidArgument, match=r"\['c'\]"):
        scoring.bonus_weights({"a": 1.0, "c": 2.0}, {"a": 1.2}, BonusMethod.PROPORTIONAL)
    t = _tpl(bonus={"pool": 100, "bases": {"A1": 1.5}})
    with pytest.raises(InvalidArgument, match=r"\['B2', 'C3'\]") as err:
        totals(_lines(), t)
    assert "B2" in err.value.message("zh") and "基数" in err.value.message("zh")


@pytest.mark.parametrize("text, label, start, end", [
    ("2026-07", "2026-07", dt.date(2026, 7, 1), dt.date(2026, 7, 31)),
    ("2024-2", "2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
    ("2025-q3", "2025-Q3", dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
    ("2026-YTD10", "2026-YTD10", dt.date(2026, 1, 1), dt.date(2026, 10, 31)),
    ("2026", "2026", dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
])
def test_periods(text, label, start, end):
    p = parse_period(text)
    assert (p.label, p.start, p.end) == (label, start, end)


def test_period_last_year_and_errors():
    assert parse_period("2024-02").last_year().end == dt.date(2023, 2, 28)
    for bad in ("2026-13", "2026-Q5", "26-07", "2026-YTD0", "", "0000-01", "0001", "1899-Q1"):
        with pytest.raises(InvalidArgument, match="2026-Q3"):
            parse_period(bad)
    assert periods_before(dt.date(2026, 11, 24))[:6] == ["2026-Q3", "2026-Q2", "2026-Q1", "2025-Q4", "2026-YTD10",
                                                         "2026-10"]


def test_templates_file_round_trips_and_validation_names_the_field():
    ts = load_file()
    assert [t.unit_kind for t in ts] == ["region", "store", "cost_center"]
    assert all(parse_template(to_dict(t)) == t for t in ts)
    bad = to_dict(ts[0])
    bad["kpis"][0]["rule"]["kind"] = "curvy"
    with pytest.raises(InvalidArgument, match="curvy.*linear"):
        parse_template(bad)
    manual_from_budget = to_dict(ts[0])
    manual_from_budget["kpis"][-1]["target"] = {"source": "budget", "account_type": "revenue"}
    with pytest.raises(InvalidArgument, match="fixed"):
        parse_template(manual_from_budget)
    assert ts[0].with_weights({"dso": 0}).kpis[3].weight == 0
    with pytest.raises(InvalidArgument, match="nope"):
        ts[0].with_weights({"nope": 1})


def test_transparency_links_and_rule_texts():
    import urllib.parse

    from lib.explore import link as explore_link
    from lib.performance.scorecards.evaluate import describe_rule, describe_target, explore_url, metric_link
    from lib.semantic import query
    region = load_file()[0]
    kpis = {k.id: k for k in region.kpis}
    assert metric_link("dso") == "metrics?metric=dso" and metric_link(None) is None
    url = explore_url(region, kpis["revenue_vs_budget"], parse_period("2026-Q3"), ("华东大区",))
    parsed = explore_link.parse_query_params(dict(urllib.parse.parse_qsl(url.split("?", 1)[1])), query.default_model())
    q = parsed.chart.query
    assert parsed.problems == () and q.metrics == ("revenue",) and q.dimensions == ("region",)
    assert (q.time_range.start, q.time_range.end) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert q.filters[0].values == ("华东大区",)
    assert explore_url(region, kpis["customer_satisfaction"], parse_period("2026-Q3")) is None
    assert describe_rule(kpis["dso"], "en") == ("linear (lower is better): threshold 150% × Target = 0, target = 100, "
                                                "stretch 70% × Target = 120 (cap)")
    assert describe_rule(kpis["customer_satisfaction"], "zh") == (
        "分档（越高越好，按实际值）：≥60 → 40; ≥75 → 70; ≥85 → 100; ≥95 → 120；档外 0 分")
    assert describe_target(kpis["gross_margin"], "en") == "same period last year +0.0%"
    assert describe_target(kpis["revenue_vs_budget"], "zh") == "预算（已批准版本，收入）"


# ---- hand-made lines of two units, three KPIs (weights 50/30/20) ------------------------------------

def _tpl(**extra) -> Template:
    kpis = [{"id": i, "metric": "revenue", "weight": w, "target": {"source": "fixed", "value": 100}}
            for i, w in (("k1", 50), ("k2", 30), ("k3", 20))]
    return parse_template({"id": "hand", "unit_kind": "region", "kpis": kpis, **extra})


def _lines() -> pd.DataFrame:
    rows = [(1, "A1", "甲", "A", "k1", 100.0), (1, "A1", "甲", "A", "k2", 50.0), (1, "A1", "甲", "A", "k3", None),
            (2, "B2", "乙", "B", "k1", 90.0), (2, "B2", "乙", "B", "k2", 90.0), (2, "B2", "乙", "B", "k3", 90.0),
            (3, "C3", "丙", None, "k1", None), (3, "C3", "丙", None, "k2", None), (3, "C3", "丙", None, "k3", None)]
    df = pd.DataFrame(rows, columns=["org_unit_id", "code", "unit", "unit_en", "kpi_id", "score"])
    df["weight"] = df["kpi_id"].map({"k1": 50.0, "k2": 30.0, "k3": 20.0})
    df["note"] = [None if s is not None else "no_actual" for s in df["score"]]
    return df


def test_unscored_kpis_are_left_out_and_totals_renormalised_by_hand():
    tot = totals(_lines(), _tpl(bonus={"pool": 1000}), method="proportional").set_index("code")
    assert tot.loc["A1", "total"] == pytest.approx((50 * 100 + 30 * 50) / 80)        # 81.25, not 65
    assert tot.loc["B2", "total"] == pytest.approx(90.0)
    assert pd.isna(tot.loc["C3", "total"])                                            # nothing scored
    assert tot["rank"].to_dict() == {"B2": 1, "A1": 2, "C3": 3}
    assert tot.loc["C3", "bonus"] == Decimal("0.00")
    # 1000 × 81.25 / 171.25 = 474.4525…, 1000 × 90 / 171.25 = 525.5474…: the spare fen to the larger remainder
    assert (tot.loc["A1", "bonus"], tot.loc["B2", "bonus"]) == (Decimal("474.45"), Decimal("525.55"))
    assert allocated(tot.reset_index()) == Decimal("1000.00")
    assert unscored(_lines(), "en") == {"A": ["k3"], "丙": ["k1", "k2", "k3"]}


def test_points_use_the_weights_given_and_add_up_to_the_total():
    what_if = {"k1": 10.0, "k2": 70.0}
    pts = with_points(_lines(), what_if)
    tot = totals(_lines(), _tpl(), what_if).set_index("org_unit_id")["total"]
    assert list(pts.loc[pts["org_unit_id"] == 1, "weight"]) == [10.0, 70.0, 20.0]
    assert pts.loc[0, "points"] == pytest.approx(100 * 10 / 80)
    for uid in (1, 2):
        assert pts.loc[pts["org_unit_id"] == uid, "points"].sum() == pytest.approx(tot[uid])
    assert pts.loc[pts["score"].isna(), "points"].isna().all()


@pytest.mark.parametrize("kpi, where", [
    ({"rule": {"threshold": 1.2, "stretch": 1.1}}, "higher"),                                  # relative, T > 1
    ({"rule": {"threshold": 0.0, "stretch": 1.1}}, "threshold > 0"),                           # 0 × target
    ({"direction": "lower_is_better", "rule": {"threshold": 0.9, "stretch": 1.1}}, "lower"),   # mirrored wrong
    ({"rule": {"threshold": 110, "stretch": 120, "relative": False}}, "target 100"),          # fixed target outside
    ({"target": {"source": "last_year"}, "rule": {"threshold": 5, "stretch": 1, "relative": False}}, "stretch 1"),
    ({"rule": {"threshold": 0.9, "stretch": 1.1, "cap": 90}}, "cap"),
    ({"rule": {"threshold": "abc"}}, "abc"),
])
def test_rule_points_out_of_order_are_refused_when_saved(kpi, where):
    d = {"id": "k1", "metric": "revenue", "weight": 1, "target": {"source": "fixed", "value": 100}} | kpi
    with pytest.raises(InvalidArgument) as err:
        parse_template({"id": "tpl", "unit_kind": "region", "kpis": [d]})
    assert "tpl/k1" in str(err.value) and "tpl/k1" in err.value.message("zh")
    assert where.split()[0] in str(err.value) or where == "higher" and "higher_is_better" in str(err.value) \
        or where == "lower" and "lower_is_better" in str(err.value)


@pytest.mark.parametrize("kpi", [
    {"rule": {"threshold": 0.9, "stretch": 1.1}},
    {"direction": "lower_is_better", "rule": {"threshold": 1.15, "stretch": 0.9, "cap": 110}},
    {"rule": {"threshold": 80, "stretch": 120, "relative": False}},
    {"target": {"source": "last_year"}, "rule": {"threshold": 1, "stretch": 5, "relative": False}},
    {"rule": {"kind": "bands", "bands": [[120, 100], [80, 50]]}},        # bands: any order
])
def test_rule_points_in_order_are_accepted(kpi):
    d = {"id": "k1", "metric": "revenue", "weight": 1, "target": {"source": "fixed", "value": 100}} | kpi
    assert parse_template({"id": "tpl", "unit_kind": "region", "kpis": [d]}).kpis[0].id == "k1"


def test_a_budget_target_needs_an_account_type():
    d = {"id": "opex_x", "metric": "opex", "weight": 1, "target": {"source": "budget"}}
    with pytest.raises(InvalidArgument, match="tpl/opex_x.*account_type") as err:
        parse_template({"id": "tpl", "unit_kind": "region", "kpis": [d]})
    assert "预算" in err.value.message("zh")


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "inf", "1e20", "", None])
def test_a_pool_that_is_not_an_amount_is_refused_in_words(text):
    with pytest.raises(InvalidArgument, match="Bonus pool") as err:
        scoring.parse_pool(text)
    assert "奖金池" in err.value.message("zh")


def test_pools_that_are_amounts():
    assert [scoring.parse_pool(x) for x in ("600,000", 1000.01, "0", Decimal("12.345"))] == [
        Decimal("600000.00"), Decimal("1000.01"), Decimal("0.00"), Decimal("12.34")]
