"""What-if scenarios: driver arithmetic worked by hand, bases read through lib.semantic.query, saving as a version."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from lib.access.scope import User
from lib.core.errors import Forbidden, InvalidArgument
from lib.finance import scenario as sc
from lib.semantic import query
from lib.semantic.spec import TimeRange
from tests.lib import fixtures_finance as ff

JAN = dt.date(2025, 1, 1)
# A hand base, one month:  华东/饮料 revenue 1000, COGS 600 | 西部/零食 revenue 500, COGS 200
#                          opex 华东 销售费用 200 | 西部 管理费用 100
# Base: revenue 1500, COGS 800, GP 700 (46.67%), opex 300, OP 400 (26.67%).
HAND = sc.Base(sc.BaseKind.ACTUAL, "hand", sc._frame([pd.DataFrame([
    dict(period=JAN, region="华东", category="饮料", line="revenue", amount=1000.0),
    dict(period=JAN, region="华东", category="饮料", line="cogs", amount=600.0),
    dict(period=JAN, region="西部", category="零食", line="revenue", amount=500.0),
    dict(period=JAN, region="西部", category="零食", line="cogs", amount=200.0),
    dict(period=JAN, region="华东", line="opex", expense_type="销售费用", account="销售人员薪酬", amount=200.0),
    dict(period=JAN, region="西部", line="opex", expense_type="管理费用", account="办公费", amount=100.0)])]), ())


def figures(p: sc.PnL) -> tuple:
    return tuple(round(x, 6) for x in (p.revenue, p.cogs, p.gross_profit, p.opex, p.operating_profit))


@pytest.mark.parametrize("drivers, expected", [
    (sc.Drivers(), (1500, 800, 700, 300, 400)),
    # price +3%, volume −5%: revenue 1500 × 1.03 × 0.95 = 1467.75; COGS 800 × 0.95 = 760 (unit cost unchanged);
    # GP 707.75; opex 300; OP 407.75.
    (sc.Drivers(price_pct=0.03, volume_pct=-0.05), (1467.75, 760, 707.75, 300, 407.75)),
    # unit cost +10%, 销售费用 +20%: COGS 880, GP 620; opex 200 × 1.2 + 100 = 340; OP 280.
    (sc.Drivers(unit_cost_pct=0.10, opex_pct=(("销售费用", 0.20),)), (1500, 880, 620, 340, 280)),
    # all expense types −10% ("*"): opex 270, OP 430.
    (sc.Drivers(opex_pct=(("*", -0.10),)), (1500, 800, 700, 270, 430)),
    # volume +10% everywhere, 西部 price −10%: 华东 1100 / 660; 西部 500 × 0.9 × 1.1 = 495 / 220.
    # revenue 1595, COGS 880, GP 715, OP 415.
    (sc.Drivers(volume_pct=0.10, by="region", overrides=(sc.Override("西部", price_pct=-0.10),)),
     (1595, 880, 715, 300, 415)),
    # 西部 opex +50% replaces the by-type driver there: opex 200 + 150 = 350.
    (sc.Drivers(by="region", overrides=(sc.Override("西部", opex_pct=0.5),)), (1500, 800, 700, 350, 350)),
    # 饮料 unit cost +20%: COGS 720 + 200 = 920.
    (sc.Drivers(by="category", overrides=(sc.Override("饮料", unit_cost_pct=0.2),)), (1500, 920, 580, 300, 280)),
])
def test_driver_arithmetic(drivers, expected):
    assert figures(sc.pnl(sc.apply(HAND, drivers))) == expected


def test_margins_and_the_comparison_table():
    c = sc.compare(HAND, {"涨价": sc.Drivers(price_pct=0.03, volume_pct=-0.05)})
    assert c.base.gross_margin == pytest.approx(700 / 1500)
    assert c.scenarios[0].gross_margin == pytest.approx(707.75 / 1467.75)
    assert c.scenarios[0].operating_margin == pytest.approx(407.75 / 1467.75)
    df = sc.comparison_frame(c, "en").set_index("Line")
    assert df.loc["Revenue (CNY)", "涨价 change"] == -32.25
    assert df.loc["Gross margin (%; change in pp)", "Base"] == 46.7
    assert df.loc["Gross margin (%; change in pp)", "涨价 change"] == round((707.75 / 1467.75 - 700 / 1500) * 100, 1)
    assert df.loc["  · 销售费用", "涨价"] == 200
    with pytest.raises(InvalidArgument):
        sc.compare(HAND, {str(i): sc.Drivers() for i in range(4)})


@pytest.mark.parametrize("bad", [dict(price_pct=float("nan")), dict(volume_pct=-1.5), dict(by="customer"),
                                 dict(overrides=(sc.Override("x", price_pct=0.1),))])
def test_bad_drivers_are_refused_with_a_message(bad):
    with pytest.raises(InvalidArgument):
        sc.Drivers(**bad)


def test_drivers_round_trip_as_json():
    d = sc.Drivers(0.03, -0.05, 0.01, (("销售费用", 0.2),), "region", (sc.Override("西部", price_pct=-0.1),))
    assert sc.Drivers.from_json(d.to_json()) == d


def run(engine):
    return lambda spec: query.run(engine, spec)


def test_budget_base_on_the_store(fin):
    # '2025年度预算' (approved): revenue 250 (Jan, org 4); opex 40 + 20 + 20 (Jan) + 40 (Feb) = 120; no COGS.
    # price +3%, volume −5%: revenue 250 × 1.03 × 0.95 = 244.625; OP 124.625.
    base = sc.load_budget_base(run(fin), "2025年度预算")
    assert figures(sc.pnl(base.lines)) == (250, 0, 250, 120, 130)
    assert base.expense_types() == ["管理费用", "销售费用"] and not base.has_category
    assert figures(sc.pnl(sc.apply(base, sc.Drivers(0.03, -0.05)))) == (244.625, 0, 244.625, 120, 124.625)
    with pytest.raises(InvalidArgument):
        sc.apply(base, sc.Drivers(by="category", overrides=(sc.Override("饮料", price_pct=0.1),)))


def test_actual_base_on_the_store(fin):
    # Jan 2025: revenue 400, COGS 230 (sales lines), opex 55 + 20 = 75 (GL) → OP 95, as the profit waterfall.
    base = sc.load_actual_base(run(fin), TimeRange(JAN, dt.date(2025, 1, 31)))
    assert figures(sc.pnl(base.lines)) == (400, 230, 170, 75, 95)
    assert base.values("category") == ["零食", "饮料"]


FINANCE = User("finance_user", "finance")


@pytest.fixture
def fin_rw(empty_engine):
    """The hand-written store of the test's own, for writes."""
    return ff.build(empty_engine)


def test_save_a_scenario_as_a_version(fin_rw):
    from lib.finance import budget_versions
    base = sc.load_budget_base(run(fin_rw), "2025年度预算")
    drivers = sc.Drivers(0.03, -0.05, opex_pct=(("销售费用", 0.10),))
    vid = sc.save(fin_rw, FINANCE, "涨价3%销量降5%", base, drivers, 2025)
    v = budget_versions.version(fin_rw, vid)
    assert (v.kind.value, v.status.value, v.fiscal_year, v.based_on) == ("scenario", "draft", 2025, 1)
    lines = budget_versions.lines(fin_rw, vid).set_index(["period", "org_unit_id", "account_code"])["amount"]
    # revenue 244.625 rounds half up to 244.63; 销售费用 lines +10%; 管理费用 unchanged.
    assert lines.to_dict() == {(JAN, 4, "6001"): 244.63, (JAN, 4, "660101"): 44.0, (JAN, 4, "660201"): 20.0,
                               (JAN, 5, "660101"): 22.0, (dt.date(2025, 2, 1), 4, "660101"): 44.0}
    kept = sc.saved(fin_rw)
    assert kept["name"].tolist() == ["涨价3%销量降5%"] and kept["version_id"].tolist() == [vid]
    assert sc.Drivers.from_json(kept["drivers"].iloc[0]) == drivers
    with pytest.raises(InvalidArgument):  # the name is taken
        sc.save(fin_rw, FINANCE, "涨价3%销量降5%", base, drivers, 2025)


def test_actuals_move_to_the_fiscal_year_and_viewers_cannot_save(fin_rw):
    from lib.finance import budget_versions
    base = sc.load_actual_base(run(fin_rw), TimeRange(JAN, dt.date(2025, 1, 31)))
    lines = sc.version_lines(fin_rw, base, sc.Drivers(), 2026)
    jan26 = dt.date(2026, 1, 1)
    # revenue 400 on 6001 (org 4: 240, org 5: 160), COGS on 6401 (130, 100); opex on its own accounts.
    assert lines.set_index(["org_unit_id", "account_code"])["amount"].to_dict() == {
        (4, "6001"): 240, (4, "6401"): 130, (4, "660101"): 30, (4, "660201"): 20, (5, "6001"): 160,
        (5, "6401"): 100, (5, "660101"): 25}
    assert set(lines["period"]) == {jan26}
    before = len(budget_versions.versions(fin_rw))
    with pytest.raises(Forbidden):
        sc.save(fin_rw, User("v", "viewer"), "x", base, sc.Drivers(), 2026)
    assert len(budget_versions.versions(fin_rw)) == before



def test_an_ambiguous_account_name_is_refused_not_booked_to_the_first_code(fin_rw):
    """The budget base names accounts; two codes with one name can't be told apart, so nothing is saved."""
    import sqlalchemy as sa

    from lib.core.schema import account
    from lib.finance import budget_versions
    with fin_rw.begin() as conn:
        name = conn.execute(sa.select(account.c.name).where(account.c.code == "660101")).scalar_one()
        conn.execute(account.insert().values(code="660199", name=name, type="opex", parent_code="6602"))
    base = sc.load_budget_base(run(fin_rw), "2025年度预算")
    before = budget_versions.versions(fin_rw)
    with pytest.raises(InvalidArgument, match="660101, 660199"):
        sc.save(fin_rw, FINANCE, "歧义科目", base, sc.Drivers(0.03), 2025)
    assert len(budget_versions.versions(fin_rw)) == len(before) and sc.saved(fin_rw).empty
