"""Margin analysis: PVM bridge worked by hand, its sum identity for any input, waterfall, tables and leakage."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.finance import margin as mg
from lib.finance import margin_charts as mc
from lib.semantic import query
from lib.semantic.spec import TimeRange

E = mg.Effect
D = dt.date


def frame(rows: dict[str, tuple[float, float, float]], item: str = "product") -> pd.DataFrame:
    """{item: (quantity, revenue, cogs)} as a query result frame."""
    return pd.DataFrame([{item: k, "volume": q, "revenue": r, "cogs": c} for k, (q, r, c) in rows.items()])


# Textbook example, worked on paper.
#   period 0: A q100 rev1000 cogs 600 (p10 c6 m4, GP 400) | B q100 rev2000 cogs1000 (p20 c10 m10, GP 1000)
#             D q 50 rev 500 cogs 400 (GP 100; not sold in period 1: discontinued)           GP0 = 1500
#   period 1: A q150 rev1650 cogs 975 (p11 c6.5 m4.5, GP 675) | B q90 rev1710 cogs900 (p19 c10 m9, GP 810)
#             N q 20 rev 600 cogs 300 (GP 300; new)                                           GP1 = 1785
# Items in both: A, B. Q0 = 200, Q1 = 240; s0 = (.5, .5), s1 = (.625, .375); m̄0 = .5·4 + .5·10 = 7.
#   volume = (240 − 200) × 7                           =  280   (A 40·.5·4 = 80, B 40·.5·10 = 200)
#   mix    = 240 × ((.625−.5)·4 + (.375−.5)·10)         = −180   (A 240·.125·(4−7) = −90, B 240·(−.125)·(10−7) = −90)
#   price  = 150·(11−10) + 90·(19−20)                   =   60   (A 150, B −90)
#   cost   = −(150·(6.5−6) + 90·(10−10))                =  −75   (A −75)
#   new    = +300 (N), discontinued = −100 (D)
#   280 − 180 + 60 − 75 + 300 − 100 = 285 = 1785 − 1500.
# Revenue bridge (p for m, no cost): Rev0 3500, Rev1 3960; p̄0 = .5·10 + .5·20 = 15
#   volume = 40 × 15 = 600; mix = 240 × (.125·10 − .125·20) = −300; price = 60; new = 600; discontinued = −500
#   600 − 300 + 60 + 600 − 500 = 460 = 3960 − 3500.
P0 = frame({"A": (100, 1000, 600), "B": (100, 2000, 1000), "D": (50, 500, 400)})
P1 = frame({"A": (150, 1650, 975), "B": (90, 1710, 900), "N": (20, 600, 300)})


def values(bridge: mg.Bridge) -> dict[str, float]:
    return {b.effect.value: round(b.value, 9) for b in bridge.bars}


def test_textbook_gross_profit_bridge():
    b = mg.pvm_bridge(P0, P1, "product")
    assert (b.base, b.current) == (1500, 1785)
    assert values(b) == {"volume": 280, "mix": -180, "price": 60, "cost": -75, "new": 300, "discontinued": -100,
                         "no_volume": 0}
    assert [(c.item, round(c.value, 9)) for c in b.bar(E.VOLUME).items] == [("B", 200), ("A", 80)]
    assert [(c.item, round(c.value, 9)) for c in b.bar(E.MIX).items] == [("A", -90), ("B", -90)]
    assert [(c.item, c.value) for c in b.bar(E.PRICE).items] == [("A", 150), ("B", -90)]
    assert [(c.item, c.value) for c in b.bar(E.COST).items] == [("A", -75)]
    assert [(c.item, c.value) for c in b.bar(E.NEW).items] == [("N", 300)]
    assert [(c.item, c.value) for c in b.bar(E.DISCONTINUED).items] == [("D", -100)]
    assert mc.bridge_check(b, "en") == "Check: base 1,500.00 + bars +285.00 = current 1,785.00"


def test_textbook_revenue_bridge_has_no_cost_bar():
    b = mg.pvm_bridge(P0, P1, "product", mg.BridgeKind.REVENUE)
    assert (b.base, b.current) == (3500, 3960)
    assert values(b) == {"volume": 600, "mix": -300, "price": 60, "new": 600, "discontinued": -500, "no_volume": 0}


def test_amounts_without_volume_are_their_own_bar():
    # Z: a rebate of −50 revenue booked with no quantity in period 0, a cost correction of 20 in period 1
    # (GP0 −50, GP1 −20): the four effects don't move, no_volume = −20 − (−50) = +30, total 285 + 30.
    z0 = pd.concat([P0, frame({"Z": (0, -50, 0)})])
    z1 = pd.concat([P1, frame({"Z": (0, 0, 20)})])
    b = mg.pvm_bridge(z0, z1, "product")
    assert values(b) == {"volume": 280, "mix": -180, "price": 60, "cost": -75, "new": 300, "discontinued": -100,
                         "no_volume": 30}
    assert b.change == 315


amount = st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 2))
quantity = st.one_of(st.just(0.0), st.floats(-50, 1e5).map(lambda x: round(x, 3)))
period = st.dictionaries(st.sampled_from("ABCDEFG"), st.tuples(quantity, amount, amount), max_size=7)


def _check_identity(b: mg.Bridge, p0: pd.DataFrame, p1: pd.DataFrame) -> None:
    scale = sum(abs(c.value) for bar in b.bars for c in bar.items)
    scale += sum(abs(v) for df in (p0, p1) for v in (*df.get("revenue", []), *df.get("cogs", [])))
    assert abs(math.fsum(x.value for x in b.bars) - b.change) <= 1e-9 * max(scale, 1.0)
    for bar in b.bars:  # each bar is exactly the sum of its contributors
        assert bar.value == math.fsum(c.value for c in bar.items)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(period, period)
def test_bars_sum_to_the_change_for_any_input(r0, r1):
    p0, p1 = frame(r0), frame(r1)
    for kind in mg.BridgeKind:
        b = mg.pvm_bridge(p0 if len(p0) else pd.DataFrame(columns=["product", "volume", "revenue", "cogs"]),
                          p1 if len(p1) else pd.DataFrame(columns=["product", "volume", "revenue", "cogs"]),
                          "product", kind)
        _check_identity(b, p0, p1)
        # the mix bar is the glossary's Q1 × Σ (s1 − s0) × m0 over the items sold in both periods
        d = b.detail[b.detail["status"] == "both"]
        q0, q1 = d["volume0"].sum(), d["volume1"].sum()
        if len(d):
            glossary = q1 * ((d["volume1"] / q1 - d["volume0"] / q0) * d["unit0"]).sum()
            tol = 1e-6 * max(1.0, d["amount0"].abs().sum())
            assert b.bar(E.MIX).value == pytest.approx(glossary, rel=1e-6, abs=tol)


def test_non_finite_input_is_refused():
    with pytest.raises(mg.WorkbenchError):
        mg.pvm_bridge(frame({"A": (1, float("inf"), 0)}), P1, "product")


# ---- on the hand-written store (tests/lib/fixtures_finance.py) --------------------------------------
JAN24, JAN25 = TimeRange(D(2024, 1, 1), D(2024, 1, 31)), TimeRange(D(2025, 1, 1), D(2025, 1, 31))


def runner(engine):
    return lambda spec: query.run(engine, spec)


def test_bridge_on_the_store(fin):
    # Jan 2024: 绿茶 q10 rev100 cogs60 (m4) | 饼干 q5 rev100 cogs50 (m10)                       GP0 = 90
    # Jan 2025: 绿茶 q10 rev100 cogs60 | 饼干 q25 rev250 cogs140 (p10 c5.6) | 矿泉水 q2 GP20 (new) GP1 = 170
    # Q0 15, Q1 35, m̄0 = 90/15 = 6: volume 20·6 = 120; mix = 35·Σ(s1−s0)m0 = (10−70/3)·4 + (25−35/3)·10 = 80;
    # price 25·(10−20) = −250; cost −25·(5.6−10) = +110; new +20. 120 + 80 − 250 + 110 + 20 = 80.
    frames = mg.load_pvm(runner(fin), "product", JAN25, JAN24)
    b = mg.pvm_bridge(frames.base, frames.current, "product")
    assert (round(b.base, 6), round(b.current, 6)) == (90, 170)
    assert {k: round(v, 6) for k, v in values(b).items()} == {
        "volume": 120, "mix": 80, "price": -250, "cost": 110, "new": 20, "discontinued": 0, "no_volume": 0}


def test_a_month_with_only_a_free_sample(fin):
    # Feb 2025: 绿茶 GP 90, 矿泉水 GP 50. Mar 2025: one free 饼干 (q1, rev 0, cost 5): GP −5.
    # Nothing sold in both months: new −5, discontinued −90 − 50; total −145.
    frames = mg.load_pvm(runner(fin), "product", TimeRange(D(2025, 3, 1), D(2025, 3, 31)),
                         TimeRange(D(2025, 2, 1), D(2025, 2, 28)))
    b = mg.pvm_bridge(frames.base, frames.current, "product")
    assert values(b) == {"volume": 0, "mix": 0, "price": 0, "cost": 0, "new": -5, "discontinued": -140,
                         "no_volume": 0}


@pytest.mark.parametrize("period, expected", [
    # Jan 2025: gross sales 100+100+50+200 = 450, discounts 10+40 = 50, revenue 400, cogs 230, GP 170;
    # 销售费用 30+25 = 55, 管理费用 20 (revenue and COGS postings are not opex); OP 170 − 75 = 95.
    (JAN25, [("gross_sales", 450), ("discount", 50), ("revenue", 400), ("cogs", 230), ("gross_profit", 170),
             ("销售费用", 55), ("管理费用", 20), ("operating_profit", 95)]),
    # Q1 2025: + Feb (gs 300, rev 300, cogs 160) + Mar (gs 10, disc 10, rev 0, cogs 5): gs 760, disc 60, rev 700,
    # cogs 395, GP 305; 销售费用 30+25+40 = 95, 管理费用 20+10+15 = 45; OP 305 − 140 = 165.
    (TimeRange(D(2025, 1, 1), D(2025, 3, 31)),
     [("gross_sales", 760), ("discount", 60), ("revenue", 700), ("cogs", 395), ("gross_profit", 305),
      ("销售费用", 95), ("管理费用", 45), ("operating_profit", 165)]),
])
def test_profit_waterfall_known_values(fin, period, expected):
    wf = mg.load_profit_waterfall(runner(fin), period)
    assert [(s.label or s.key, round(s.value, 6)) for s in wf.steps] == expected
    assert [s.kind.value for s in wf.steps][:5] == ["total", "decrease", "total", "decrease", "total"]


def test_waterfall_shows_a_gap_between_gross_sales_less_discounts_and_revenue():
    sales = pd.DataFrame({"gross_sales": [100.0], "discount": [10.0], "revenue": [85.0], "cogs": [50.0]})
    wf = mg.profit_waterfall(sales, pd.DataFrame({"expense_type": [], "opex": []}))
    assert [(s.key, s.value, s.kind.value) for s in wf.steps] == [
        ("gross_sales", 100, "total"), ("discount", 10, "decrease"), ("other", 5, "decrease"),
        ("revenue", 85, "total"), ("cogs", 50, "decrease"), ("gross_profit", 35, "total"),
        ("operating_profit", 35, "total")]
    assert not wf.has_opex


def test_margin_by_category_vs_last_year(fin):
    # Jan 2025: 饮料 rev 150 cogs 90 (GP 60, 40%), 零食 rev 250 cogs 140 (GP 110, 44%); total 400/230 → 42.5%.
    # Jan 2024: 饮料 100/60 (GP 40, 40%), 零食 100/50 (GP 50, 50%); total 200/110 → 45%.
    t = mg.load_margin(runner(fin), "category", JAN25, mg.Compare.YOY)
    rows = t.rows.set_index("item")
    assert rows.loc["零食", ["gross_profit", "gross_profit_cmp", "gross_profit_change"]].tolist() == [110, 50, 60]
    assert rows.loc["零食", "margin_change_pp"] == pytest.approx(0.44 - 0.50)
    assert rows.loc["饮料", "margin_change_pp"] == pytest.approx(0.0)
    assert (t.total.revenue, t.total.gross_profit, t.total.gross_profit_cmp) == (400, 170, 90)
    assert t.total.margin_change_pp == pytest.approx(0.425 - 0.45)
    assert list(t.rows["item"]) == ["零食", "饮料"]  # largest gross profit first


def test_margin_vs_budget_by_region(fin):
    # Budget '2025年度预算' Jan 2025: revenue 250 on 华东 (org 4), no COGS budget. 华东 actual: rev 240, cogs 130.
    t = mg.load_margin(runner(fin), "region", JAN25, mg.Compare.BUDGET, budget_version="2025年度预算")
    east = t.rows.set_index("item").loc["华东大区"]
    figures = (east["revenue"], east["gross_profit"], east["revenue_cmp"], east["gross_profit_cmp"])
    assert figures == (240, 110, 250, 250)
    with pytest.raises(mg.InvalidArgument):
        mg.margin_specs("product", JAN25, mg.Compare.BUDGET)


@pytest.mark.parametrize("tr, compare, expected", [
    (TimeRange(D(2025, 3, 1), D(2025, 3, 31)), mg.Compare.PREVIOUS, (D(2025, 2, 1), D(2025, 2, 28))),
    (TimeRange(D(2025, 1, 1), D(2025, 10, 31)), mg.Compare.YOY, (D(2024, 1, 1), D(2024, 10, 31))),
    (TimeRange(D(2025, 1, 1), D(2025, 10, 31)), mg.Compare.PREVIOUS, (D(2024, 3, 1), D(2024, 12, 31))),
    (TimeRange(D(2025, 3, 10), D(2025, 3, 19)), mg.Compare.PREVIOUS, (D(2025, 2, 28), D(2025, 3, 9))),
])
def test_comparison_ranges(tr, compare, expected):
    got = mg.comparison_range(tr, compare)
    assert (got.start, got.end) == expected


# ---- the demo company: the dairy margin squeeze must show -------------------------------------------
YTD26 = TimeRange(D(2026, 1, 1), D(2026, 10, 31))


def test_the_dairy_squeeze_shows_in_leakage_and_bridge(demo_engine):
    run = runner(demo_engine)
    base = mg.comparison_range(YTD26, mg.Compare.YOY)
    leak = mg.load_leakage(run, "category", YTD26, base)
    worst = leak.falling.iloc[0]
    assert worst["item"] == "乳制品"
    assert worst["margin_change_pp"] < -0.05            # more than 5 points down on last year
    assert worst["impact"] == pytest.approx(worst["margin_change_pp"] * worst["revenue"])
    assert leak.quadrant.set_index("item").loc["乳制品", "gross_margin"] < leak.margin
    frames = mg.load_pvm(run, "category", YTD26, base)
    bridge = mg.pvm_bridge(frames.base, frames.current, "category")
    assert bridge.bar(E.COST).top(1)[0].item == "乳制品"   # the largest cost increase
    products = mg.load_leakage(run, "product", YTD26, base)
    assert len(products.falling) and len(products.quadrant) > 100


def test_operating_profit_matches_the_metric(fin):
    wf = mg.load_profit_waterfall(runner(fin), JAN25)
    from lib.semantic.spec import QuerySpec
    metric = query.run(fin, QuerySpec(("operating_profit",), (), (), JAN25))["operating_profit"].iloc[0]
    assert wf.operating_profit == pytest.approx(float(metric))


def test_a_pilot_store_with_sales_only(empty_engine):
    # A pilot team imports only sales: the waterfall stops at gross profit and says so; no budget to compare.
    import sqlalchemy as sa

    from lib.core import schema
    from tests.lib import fixtures_finance as ff
    ff.build(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(sa.delete(schema.journal_line))
        conn.execute(sa.delete(schema.budget_line))
    wf = mg.load_profit_waterfall(runner(empty_engine), JAN25)
    assert not wf.has_opex and wf.operating_profit == wf.gross_profit == 170
    assert mg.budget_versions(runner(empty_engine), JAN25) == []
