"""Known values of every declared metric on the hand-written store of ``fixtures_finance``.

Every expected number is worked out on paper from the rows listed in that module's docstring;
the comment next to it shows the arithmetic. Nothing here is recomputed from the same rows.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from lib.access.scope import Scope, User
from lib.core import store
from lib.core.errors import Forbidden
from lib.semantic import model as semantic
from lib.semantic import query
from lib.semantic.spec import Comparison, FilterSpec, QuerySpec, TimeRange
from tests.lib import fixtures_finance as ff

D = dt.date
JAN = (D(2025, 1, 1), D(2025, 1, 31))
FEB = (D(2025, 2, 1), D(2025, 2, 28))
MAR = (D(2025, 3, 1), D(2025, 3, 31))
JAN_FEB = (D(2025, 1, 1), D(2025, 2, 28))
Q1 = (D(2025, 1, 1), D(2025, 3, 31))
HD, XB = ff.HUADONG, ff.XIBU


def run(engine, metrics, period, dims=(), filters=(), comparison=None, user=None) -> pd.DataFrame:
    spec = QuerySpec(metrics=tuple(metrics), dimensions=tuple(dims), time_range=TimeRange(*period),
                     filters=tuple(filters), comparison=comparison)
    return query.run(engine, spec, user=user)


def F(dim, *values):
    return FilterSpec(dim, "in", tuple(values))


# (metric, period, dims, filters, expected): the metric column in time order, or by dimension value
# (a dict) where a dimension other than time is asked for (string order differs between engines).
K = pytest.param
KNOWN = [
    # -- sales -------------------------------------------------------------------------------
    K("revenue", JAN, (), (), [400.0], id="revenue"),                    # 100 + 90 + 50 + 160
    K("revenue", FEB, (), (), [300.0], id="revenue-feb"),                # 200 + 100
    K("gross_sales", JAN, (), (), [450.0], id="gross_sales"),            # 10×10 + 5×20 + 2×25 + 20×10
    K("discount", JAN, (), (), [50.0], id="discount"),                   # 10 + 40
    K("discount_rate", JAN, (), (), [50 / 450], id="discount_rate"),     # 50 / 450 = 11.1 %
    K("cogs", JAN, (), (), [230.0], id="cogs"),                          # 60 + 40 + 30 + 100
    K("volume", JAN, (), (), [37.0], id="volume"),                       # 10 + 5 + 2 + 20
    K("asp", JAN, (), (), [400 / 37], id="asp"),                         # 400 / 37
    K("orders", JAN, (), (), [3], id="orders"),                          # S4 (two lines), S5, S6
    K("orders", Q1, ("quarter",), (), [6], id="orders-q1"),              # S4..S9
    K("aov", JAN, (), (), [400 / 3], id="aov"),                          # 400 / 3 orders
    K("customers", JAN, (), (), [3], id="customers"),                    # c1, c3, c2
    K("customers", Q1, ("quarter",), (), [3], id="customers-q1"),        # distinct over Q1: 3, not 3 + 2 + 1
    K("revenue_yoy", JAN, (), (), [1.0], id="revenue_yoy"),              # (400 − 200) / 200
    K("revenue_yoy", FEB, (), (), [0.5], id="revenue_yoy-feb"),          # (300 − 200) / 200
    K("revenue_mom", JAN, (), (), [0.25], id="revenue_mom"),             # (400 − Dec 2024 320) / 320
    # (400 − 320)/320, (300 − 400)/400, (0 − 300)/300
    K("revenue_mom", Q1, ("month",), (), [0.25, -0.25, -1.0], id="revenue_mom-by-month"),
    K("revenue_ytd", (D(2025, 2, 1), D(2025, 3, 31)), ("month",), (), [700.0, 700.0],
      id="revenue_ytd"),                                                 # Jan 400 + Feb 300; Mar adds 0
    K("revenue_ytd", Q1, ("month",), (F("region", XB),), [160.0, 260.0, 260.0],
      id="revenue_ytd-west"),                                            # 160; +100; +0
    # -- profit ------------------------------------------------------------------------------
    K("gross_profit", JAN, (), (), [170.0], id="gross_profit"),          # 400 − 230
    K("gross_margin", JAN, (), (), [0.425], id="gross_margin"),          # 170 / 400
    K("gross_margin_yoy_pp", JAN, (), (), [-0.025], id="gross_margin_yoy_pp"),    # 170/400 − 90/200 = 0.425 − 0.45
    K("gross_margin_yoy_pp", FEB, (), (), [140 / 300 - 0.4], id="gross_margin_yoy_pp-feb"),  # 140/300 − 80/200
    K("operating_profit", JAN, (), (), [95.0], id="operating_profit"),   # 170 − 75
    K("operating_margin", JAN, (), (), [0.2375], id="operating_margin"),  # 95 / 400
    # -- expenses ----------------------------------------------------------------------------
    K("opex", JAN, (), (), [75.0], id="opex"),                           # 30 + 20 + 25; not 6001 240 nor 6401 130
    K("opex", JAN, ("expense_type",), (), {"管理费用": 20.0, "销售费用": 55.0},
      id="opex-by-expense-type"),                                        # 管理费用 20; 销售费用 30 + 25
    K("opex_ratio", JAN, (), (), [0.1875], id="opex_ratio"),             # 75 / 400
    # -- receivables -------------------------------------------------------------------------
    K("ar_balance", JAN, (), (), [500.0], id="ar_balance-jan"),          # at 01-31: I2 200 + I3 300 (I1, I5 paid)
    K("ar_balance", FEB, (), (), [550.0], id="ar_balance"),              # at 02-28: I2 200 + I3 (300 − 100) + I4 150
    K("ar_balance", FEB, ("region",), (), {HD: 350.0, XB: 200.0}, id="ar_balance-by-region"),  # 华东 200 + 150; 西部 200
    K("ar_balance_avg", FEB, (), (), [525.0], id="ar_balance_avg"),      # (500 at 01-31 + 550 at 02-28) / 2
    K("ar_balance_avg", JAN, (), (), [290.0], id="ar_balance_avg-jan"),  # (80 at 12-31 + 500) / 2
    K("overdue_ar", FEB, (), (), [200.0], id="overdue_ar"),              # I2, due 02-09, unpaid at 02-28
    K("overdue_ar", MAR, (), (), [350.0], id="overdue_ar-mar"),          # I3 200 (due 03-21) + I4 150 (due 03-12)
    K("overdue_ar_ratio", FEB, (), (), [200 / 550], id="overdue_ar_ratio"),  # 200 / 550
    K("ar_days_in_period", FEB, (), (), [28], id="ar_days_in_period"),
    K("dso", FEB, (), (), [49.0], id="dso"),                             # 28 × 525 / 300
    K("dso", JAN, (), (), [22.475], id="dso-jan"),                       # 31 × 290 / 400
    K("invoiced", JAN, (), (), [600.0], id="invoiced"),                  # I1 100 + I2 200 + I3 300
    K("invoiced", FEB, (), (), [150.0], id="invoiced-feb"),              # I4
    K("collected", JAN, (), (), [180.0], id="collected"),                # by paid date: I5 80 + I1 100
    K("collected", MAR, (), (), [200.0], id="collected-mar"),            # I2, paid late on 03-10
    K("due_invoices", FEB, (), (), [300.0], id="due_invoices"),          # by due date: I1 100 + I2 200
    K("collection_rate", FEB, (), (), [100 / 300], id="collection_rate"),  # I3 part 100 / due 300
    K("collection_rate", JAN, (), (), [2.25], id="collection_rate-jan"),  # 180 / I5 80: can exceed 100 %
    # -- inventory ---------------------------------------------------------------------------
    K("inventory_value", FEB, (), (), [1200.0], id="inventory_value"),   # 02-28 snapshot: 900 + 300
    K("inventory_value", MAR, (), (), [1200.0], id="inventory_value-mar"),  # no 03-31 snapshot: latest is 02-28
    K("inventory_value", FEB, ("category",), (), {"零食": 300.0, "饮料": 900.0},
      id="inventory_value-by-category"),
    K("inventory_value_avg", FEB, (), (), [1300.0], id="inventory_value_avg"),  # (1400 + 1200) / 2
    K("inventory_days_in_period", FEB, (), (), [28], id="inventory_days_in_period"),
    K("inventory_days", FEB, (), (), [227.5], id="inventory_days"),      # 28 × 1300 / 160
    K("inventory_days", JAN, (), (), [31 * 1450 / 230], id="inventory_days-jan"),  # 31 × (1500 + 1400)/2 / 230
    # -- budget ------------------------------------------------------------------------------
    K("budget", JAN, (), (), [330.0], id="budget"),  # v1 40 + 20 + 20 + 250; not draft v2 999, forecast v3 500
    K("budget", FEB, (), (), [50.0], id="budget-feb"),                   # v1 40 + locked v4 10
    K("actual", JAN, (), (), [445.0], id="actual"),                      # 30 + 20 + 25 + 240 + 130
    K("budget_execution", JAN, (), (), [445 / 330], id="budget_execution"),  # 445 / 330
    K("budget_execution", JAN_FEB, ("account",), (F("account", "销售人员薪酬"),), [0.95],
      id="budget_execution-account"),                                    # (30 + 25 + 40) / (40 + 20 + 40)
    K("budget_variance", JAN, (), (), [115.0], id="budget_variance"),    # 445 − 330
    K("budget_variance", JAN, ("account",), (F("account", "主营业务收入"),), [-10.0],
      id="budget_variance-revenue"),                                     # 240 − 250
]


@pytest.mark.parametrize(("metric", "period", "dims", "filters", "expected"), KNOWN)
def test_known_value(fin, metric, period, dims, filters, expected):
    df = run(fin, [metric], period, dims, filters)
    if isinstance(expected, dict):
        # A metric's own filter (opex: account_type = opex) sits inside the aggregate, so other
        # groups of its dataset come back empty (NULL): those rows are not part of the answer.
        df = df[df[metric].notna()]
        got = dict(zip(df[dims[0]], (float(v) for v in df[metric]), strict=True))
    else:
        got = [float(v) for v in df[metric]]
    assert got == pytest.approx(expected)


def test_every_declared_metric_has_a_known_value():
    covered = {p.values[0] for p in KNOWN}
    assert covered == set(semantic.load().metrics)
    assert len(covered) == 38


# -- 2. several datasets in one query: no fan-out ------------------------------------------------

def test_revenue_opex_budget_by_region_and_month_do_not_fan_out(fin):
    df = run(fin, ["revenue", "opex", "budget"], JAN_FEB, ("month", "region"))
    got = {(r.month.date(), r.region): (r.revenue, r.opex, r.budget) for r in df.itertuples()}
    assert got == {
        # 华东 Jan has 3 sales lines and 2 opex GL lines (plus 2 revenue/COGS postings)
        (D(2025, 1, 1), HD): pytest.approx((240.0, 50.0, 310.0)),  # 100+90+50; 30+20; 40+20+250
        (D(2025, 1, 1), XB): pytest.approx((160.0, 25.0, 20.0)),
        (D(2025, 2, 1), HD): pytest.approx((200.0, 40.0, 40.0)),
        (D(2025, 2, 1), XB): pytest.approx((100.0, 10.0, 10.0)),   # budget from the locked version 4
    }
    for metric in ("revenue", "opex", "budget"):
        alone = run(fin, [metric], JAN_FEB, ("month", "region"))
        merged = df.merge(alone, on=["month", "region"], suffixes=("", "_alone"))
        assert len(merged) == len(alone) == 4
        assert merged[metric].tolist() == pytest.approx(merged[f"{metric}_alone"].tolist())


# -- 3. ratios divide after aggregation -----------------------------------------------------------

def test_ratio_at_year_grain_is_not_the_mean_of_monthly_ratios(fin):
    months = run(fin, ["gross_margin"], JAN_FEB, ("month",))
    assert months["gross_margin"].tolist() == pytest.approx([0.425, 140 / 300])  # 170/400, 140/300
    year = run(fin, ["gross_margin"], JAN_FEB, ("year",))
    assert year["gross_margin"].tolist() == pytest.approx([310 / 700])           # (170 + 140) / (400 + 300)
    assert year["gross_margin"].iloc[0] != pytest.approx(months["gross_margin"].mean())  # 0.44583…
    q1 = run(fin, ["asp"], Q1, ("quarter",))
    assert q1["asp"].tolist() == pytest.approx([700 / 62])                       # 700 / (37 + 24 + 1)


# -- 4. YoY applies the query's filters to last year too -----------------------------------------

def test_yoy_with_a_filter_filters_last_year_too(fin):
    drinks = (F("category", "饮料"),)
    df = run(fin, ["revenue_yoy", "revenue"], JAN_FEB, ("month",), drinks)
    assert df["revenue"].tolist() == pytest.approx([150.0, 300.0])   # Jan 100 + 50; Feb 200 + 100
    assert df["revenue_yoy"].tolist() == pytest.approx([0.5, 0.5])   # (150 − 100)/100; (300 − 200)/200
    cmp = run(fin, ["revenue"], JAN, (), drinks, comparison=Comparison.YOY)
    assert cmp["revenue__cmp"].tolist() == pytest.approx([100.0])    # Jan 2024 drinks: S1 only, not S2 (零食)
    assert cmp["revenue__chg"].tolist() == pytest.approx([0.5])


def test_yoy_comparison_of_a_percentage_is_a_difference(fin):
    df = run(fin, ["gross_margin", "revenue"], JAN, ("month",), comparison=Comparison.YOY)
    assert df["gross_margin__cmp"].tolist() == pytest.approx([0.45])    # 90 / 200
    assert df["gross_margin__chg"].tolist() == pytest.approx([-0.025])  # 0.425 − 0.45, in points
    assert df["revenue__cmp"].tolist() == pytest.approx([200.0])
    assert df["revenue__chg"].tolist() == pytest.approx([1.0])          # (400 − 200) / 200


# -- 5. balances are never summed over time -------------------------------------------------------

@pytest.mark.parametrize("grain", ["quarter", "year"])
def test_balances_at_a_coarse_grain_are_the_closing_balance(fin, grain):
    df = run(fin, ["ar_balance", "overdue_ar", "ar_balance_avg", "ar_days_in_period", "dso", "inventory_value"],
             Q1, (grain,))
    assert len(df) == 1
    row = df.iloc[0]
    assert row["ar_balance"] == pytest.approx(350.0)       # at 03-31: I3 200 + I4 150; not 500 + 550 + 350
    assert row["overdue_ar"] == pytest.approx(350.0)       # both past due at 03-31
    assert row["ar_balance_avg"] == pytest.approx(215.0)   # (80 at 2024-12-31 + 350) / 2
    assert row["ar_days_in_period"] == 90                  # 31 + 28 + 31
    assert row["dso"] == pytest.approx(90 * 215 / 700)     # 27.64…
    assert row["inventory_value"] == pytest.approx(1200.0)  # latest snapshot 02-28; not 1400 + 1200 + 1200


def test_balances_by_month_are_month_end_balances(fin):
    df = run(fin, ["ar_balance", "ar_balance_avg", "inventory_value_avg"], Q1, ("month",))
    assert df["ar_balance"].tolist() == pytest.approx([500.0, 550.0, 350.0])
    assert df["ar_balance_avg"].tolist() == pytest.approx([290.0, 525.0, 450.0])  # (80+500)/2, (500+550)/2, (550+350)/2
    assert df["inventory_value_avg"].tolist() == pytest.approx([1450.0, 1300.0, 1200.0])


# -- 6. division by zero is empty, not an error ---------------------------------------------------

def test_division_by_zero_gives_null(fin):
    df = run(fin, ["gross_margin", "operating_profit", "opex", "revenue_yoy"], (D(2025, 1, 1), D(2025, 4, 30)),
             ("month",))
    assert [m.date() for m in df["month"]] == [D(2025, 1, 1), D(2025, 2, 1), D(2025, 3, 1), D(2025, 4, 1)]
    assert df["opex"].tolist() == pytest.approx([75.0, 50.0, 15.0, 5.0])
    assert df["gross_margin"].iloc[0] == pytest.approx(0.425)
    assert pd.isna(df["gross_margin"].iloc[2])   # March: revenue 0 (free sample), cogs 5: −5 / 0
    assert pd.isna(df["gross_margin"].iloc[3])   # April: opex only, no sales at all
    assert df["operating_profit"].iloc[2] == pytest.approx(-20.0)  # (0 − 5) − 15
    assert pd.isna(df["revenue_yoy"].iloc[2])    # no sales in March 2024


# -- 7. row scope and denied metrics --------------------------------------------------------------

EAST_USER = User("east", scope=Scope(org_unit_ids=frozenset({2, 4})))


def test_scoped_user_sees_only_their_region(fin):
    by_region = run(fin, ["revenue", "opex", "ar_balance"], JAN_FEB, ("region",), user=EAST_USER)
    assert by_region["region"].tolist() == [HD]
    assert by_region["revenue"].tolist() == pytest.approx([440.0])   # Jan 240 + Feb 200
    total = run(fin, ["revenue", "opex", "ar_balance", "inventory_value", "budget"], JAN_FEB, user=EAST_USER)
    row = total.iloc[0]
    assert row["revenue"] == pytest.approx(440.0)          # not the company's 700
    assert row["opex"] == pytest.approx(90.0)              # 30 + 20 + 40
    assert row["ar_balance"] == pytest.approx(350.0)       # I2 200 + I4 150
    assert row["inventory_value"] == pytest.approx(900.0)  # p1 at org 4
    assert row["budget"] == pytest.approx(350.0)           # 40 + 20 + 250 + 40


def test_scoped_user_filtering_another_region_gets_nothing(fin):
    west = (F("region", XB),)
    df = run(fin, ["revenue"], JAN_FEB, ("region",), west, user=EAST_USER)
    assert df.empty
    total = run(fin, ["revenue", "ar_balance"], JAN_FEB, (), west, user=EAST_USER)
    assert all(pd.isna(v) or v == 0 for v in total.iloc[0])


def test_a_metric_built_on_a_denied_metric_is_forbidden(fin):
    user = User("no_cost", denied_metrics=frozenset({"cogs"}))
    with pytest.raises(Forbidden):
        run(fin, ["gross_margin"], JAN, user=user)
    assert run(fin, ["revenue"], JAN, user=user)["revenue"].tolist() == pytest.approx([400.0])


# -- library bugs: comparison periods that end at a month end -------------------------------------

def test_mom_of_february_compares_with_the_whole_of_january(fin):
    df = run(fin, ["revenue_mom"], FEB)
    assert df["revenue_mom"].tolist() == pytest.approx([-0.25])  # (300 − 400) / 400; S6 160 is on Jan 30


def test_mom_comparison_of_february_compares_with_the_whole_of_january(fin):
    df = run(fin, ["revenue", "dso"], FEB, ("month",), comparison=Comparison.MOM)
    assert df["revenue__cmp"].tolist() == pytest.approx([400.0])   # all of January
    assert df["dso__cmp"].tolist() == pytest.approx([22.475])      # January's DSO: 31 × 290 / 400


def test_yoy_of_february_includes_the_leap_day(empty_engine):
    ff.build(empty_engine)
    with empty_engine.begin() as conn:
        store.bulk_load(conn, ff.schema.sales_line, ff.sales_table([
            ("S11", 1, D(2024, 2, 29), 4, 1, 1, "线下", 10.0, 10.0, 0.0, 100.0, 60.0)]))
    df = run(empty_engine, ["revenue_yoy"], FEB, ("month",))
    assert df["revenue_yoy"].tolist() == pytest.approx([0.0])   # (300 − (200 + 100)) / 300


def test_yoy_by_day_puts_the_leap_day_on_the_28th(empty_engine):
    ff.build(empty_engine)
    with empty_engine.begin() as conn:
        store.bulk_load(conn, ff.schema.sales_line, ff.sales_table([
            ("S11", 1, D(2024, 2, 29), 4, 1, 1, "线下", 10.0, 10.0, 0.0, 100.0, 60.0),
            ("S12", 1, D(2024, 2, 28), 4, 1, 1, "线下", 1.0, 30.0, 0.0, 30.0, 20.0)]))
    df = run(empty_engine, ["revenue"], FEB, ("day",), comparison=Comparison.YOY)
    assert df["day"].is_unique                                   # 28 and 29 Feb 2024 are one day a year on
    last = df.set_index("day")["revenue__cmp"]
    assert last[pd.Timestamp(2025, 2, 28)] == pytest.approx(130.0)  # 30 (28 Feb) + 100 (29 Feb)
