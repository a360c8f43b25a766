"""Budget vs actual and the full-year outlook: known values on the hand-checkable finance store
(tests/lib/fixtures_finance.py), and the demo company's over-budget region."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from lib.access.scope import Scope, User
from lib.core.errors import InvalidArgument
from lib.finance import budget, overview
from lib.finance.budget import Level, Materiality, Rank
from lib.semantic import query
from tests.lib.fixtures_finance import HUADONG, XIBU

D = dt.date
FEB = D(2025, 2, 1)
EAST_USER = User("east", "dept_head", Scope(org_unit_ids=frozenset({2, 4})))


def runner(engine, user=None):
    return lambda spec: query.run(engine, spec, user)


def _rows(df: pd.DataFrame, *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for _, r in df.iterrows()}


# -- variance: worked by hand from the fixture's GL and approved/locked budget lines ------------------
# YTD Jan–Feb 2025 (versions 1 approved + 4 locked; draft 2 and forecast 3 excluded):
#   华东 revenue: actual 240, budget 250  -> −10 (−4%), unfavourable
#   华东 cogs:    actual 130, budget   0  -> +130, no %, unfavourable (cost above budget)
#   华东 opex:    actual 30+20+40 = 90, budget 40+20+40 = 100 -> −10 (−10%), favourable
#   西部 opex:    actual 25+10 = 35, budget 20+10 = 30 -> +5 (+16.7%), unfavourable

def test_variance_ytd_and_favourability_by_direction(fin):
    rep = budget.variance(runner(fin), FEB, ("region",))
    ytd = _rows(rep.ytd_rows, "region", "account_type")
    rev, cogs, opex_e, opex_w = (ytd[HUADONG, "revenue"], ytd[HUADONG, "cogs"], ytd[HUADONG, "opex"],
                                 ytd[XIBU, "opex"])
    assert (rev.actual, rev.budget, rev.variance) == pytest.approx((240, 250, -10))
    assert rev.variance_pct == pytest.approx(-0.04) and rev.execution == pytest.approx(0.96)
    assert rev.impact == pytest.approx(-10) and not rev.favourable              # revenue below budget: bad
    assert (cogs.actual, cogs.budget, cogs.impact) == pytest.approx((130, 0, -130))
    assert pd.isna(cogs.variance_pct) and pd.isna(cogs.execution)              # no budget: no ratio
    assert (opex_e.variance, opex_e.variance_pct, opex_e.impact) == pytest.approx((-10, -0.10, 10))
    assert opex_e.favourable and opex_e.execution == pytest.approx(0.9)        # cost below budget: good
    assert (opex_w.variance, opex_w.variance_pct, opex_w.impact) == pytest.approx((5, 5 / 30, -5))
    assert not opex_w.favourable
    # full-year budget: every 2025 month of the version(s)
    assert (rev.fy_budget, opex_e.fy_budget, opex_w.fy_budget) == pytest.approx((250, 100, 30))
    # impacts add up to the change in operating profit: (240 − 130 − 125) − (250 − 0 − 130) = −135
    assert rep.impact(ytd=True) == pytest.approx(-135)


def test_variance_month_only_counts_the_month(fin):
    rep = budget.variance(runner(fin), FEB, ("region",))
    m = _rows(rep.month_rows, "region", "account_type")
    assert (m[HUADONG, "opex"].actual, m[HUADONG, "opex"].budget) == pytest.approx((40, 40))
    assert (m[XIBU, "opex"].actual, m[XIBU, "opex"].budget) == pytest.approx((10, 10))   # locked v4
    assert (m[HUADONG, "revenue"].actual, m[HUADONG, "revenue"].variance) == pytest.approx((0, 0))
    assert not m[HUADONG, "revenue"].material and not m[HUADONG, "revenue"].favourable  # on budget
    totals = rep.totals.set_index(["period", "account_type"])
    assert totals.loc[("ytd", "opex"), ["actual", "budget"]].tolist() == pytest.approx([125, 130])
    assert totals.loc[("month", "opex"), ["actual", "budget"]].tolist() == pytest.approx([50, 50])


def test_variance_against_one_chosen_version(fin):
    rep = budget.variance(runner(fin), FEB, ("region",), version="2025预算调整")  # locked v4 only
    ytd = _rows(rep.ytd_rows, "region", "account_type")
    assert ytd[XIBU, "opex"].budget == pytest.approx(10)
    assert ytd[HUADONG, "opex"].budget == pytest.approx(0)
    assert ytd[HUADONG, "revenue"].budget == pytest.approx(0)


@pytest.mark.parametrize("mat, material", [
    (Materiality(0, 0), {(HUADONG, "revenue"), (HUADONG, "cogs"), (HUADONG, "opex"), (XIBU, "opex")}),
    (Materiality(8, 0.12), {(HUADONG, "cogs")}),         # revenue 4% and opex 10% too small; 西部 ¥5 too small
    (Materiality(5, 0.10), {(HUADONG, "cogs"), (HUADONG, "opex"), (XIBU, "opex")}),  # both thresholds reached
    (Materiality(200, 0), set()),
])
def test_materiality_needs_amount_and_percent(fin, mat, material):
    rep = budget.variance(runner(fin), FEB, ("region",), materiality=mat)
    got = {(r.region, r.account_type) for r in rep.ytd_rows.itertuples() if r.material}
    assert got == material


def test_top_unfavourable_by_amount_and_by_percent(fin):
    ytd = budget.variance(runner(fin), FEB, ("region",)).ytd_rows
    by_amount = budget.top_unfavourable(ytd, 5, Rank.AMOUNT)
    assert list(zip(by_amount.region, by_amount.account_type)) == [(HUADONG, "cogs"), (HUADONG, "revenue"),
                                                                   (XIBU, "opex")]
    by_pct = budget.top_unfavourable(ytd, 5, Rank.PERCENT)            # 16.7%, 4%, then the unbudgeted line
    assert list(zip(by_pct.region, by_pct.account_type)) == [(XIBU, "opex"), (HUADONG, "revenue"),
                                                             (HUADONG, "cogs")]
    only = budget.top_unfavourable(budget.compare(ytd[["region", "account_type", "actual", "budget"]],
                                                  Materiality(8, 0.12)), 5)
    assert list(only.account_type) == ["cogs"]


def test_drill_company_region_department_account(fin):
    run = runner(fin)
    company = budget.variance(run, FEB, *budget.drill(Level.COMPANY)).ytd_rows
    assert _rows(company, "account_type")["opex",].actual == pytest.approx(125)
    by, flt = budget.drill(Level.DEPARTMENT, region=HUADONG)
    dept = budget.variance(run, FEB, by, flt).ytd_rows
    assert set(dept["department"]) == {"上海营业部"}
    by, flt = budget.drill(Level.ACCOUNT, region=HUADONG, department="上海营业部")
    acct = _rows(budget.variance(run, FEB, by, flt).ytd_rows, "account")
    assert (acct["销售人员薪酬",].actual, acct["销售人员薪酬",].budget) == pytest.approx((70, 80))
    assert (acct["办公费",].actual, acct["办公费",].budget) == pytest.approx((20, 20))
    assert acct["主营业务收入",].account_type == "revenue"
    by, flt = budget.drill(Level.ACCOUNT, region=HUADONG, department="上海营业部", detail="expense_type")
    et = _rows(budget.variance(run, FEB, by, flt).ytd_rows, "expense_type")
    assert (et["销售费用",].actual, et["管理费用",].budget) == pytest.approx((70, 20))
    with pytest.raises(InvalidArgument):
        budget.drill(Level.ACCOUNT, detail="product")


def test_variance_respects_the_readers_scope(fin):
    rep = budget.variance(runner(fin, EAST_USER), FEB, ("region",))
    assert set(rep.ytd_rows["region"]) == {HUADONG}
    assert rep.impact(ytd=True) == pytest.approx(-10 - 130 + 10)


def test_account_type_filter(fin):
    rep = budget.variance(runner(fin), FEB, ("region",), account_types=("opex",))
    assert set(rep.ytd_rows["account_type"]) == {"opex"}
    with pytest.raises(InvalidArgument):
        budget.variance(runner(fin), FEB, account_types=("expenses",))


# -- full-year outlook ----------------------------------------------------------------------------------

def ones(history: dict[str, pd.Series], horizon: int) -> dict[str, pd.Series]:
    """Forecast 1 元 a month for every series: the outlook's arithmetic is then checkable by hand."""
    ones.seen = history
    return {k: pd.Series([1.0] * horizon) for k in history}


def test_outlook_is_ytd_plus_forecast_against_full_year_budget(fin):
    o = budget.outlook(runner(fin), FEB, ones, by="region")
    rows = _rows(o.rows, "region", "account_type")
    # 10 months left, 1 元 each
    assert rows[HUADONG, "revenue"][["ytd_actual", "forecast", "outlook", "budget"]].tolist() == pytest.approx(
        [240, 10, 250, 250])
    assert rows[HUADONG, "revenue"].variance == pytest.approx(0)
    assert rows[HUADONG, "cogs"][["outlook", "budget", "impact"]].tolist() == pytest.approx([140, 0, -140])
    assert rows[HUADONG, "opex"][["ytd_actual", "outlook", "budget"]].tolist() == pytest.approx([90, 100, 100])
    w = rows[XIBU, "opex"]
    assert (w.outlook, w.budget, w.variance, w.variance_pct, w.impact) == pytest.approx((45, 30, 15, 0.5, -15))
    assert not w.favourable
    totals = o.totals.set_index("account_type")
    assert totals.loc["opex", ["outlook", "budget"]].tolist() == pytest.approx([145, 130])
    # the forecaster saw history up to the last complete month only (March and April postings are later)
    hist = ones.seen
    assert all(s.index.max() == pd.Timestamp(FEB) for s in hist.values())
    assert float(hist[f"{HUADONG}\u001fopex"].sum()) == pytest.approx(10 + 50 + 40)  # Jan 2024 + Jan + Feb 2025
    path = o.monthly[o.monthly["account_type"] == "opex"].set_index("month")
    assert path.loc[pd.Timestamp(FEB), "actual"] == pytest.approx(50)
    assert path.loc[pd.Timestamp(2025, 12, 1), "forecast"] == pytest.approx(2)    # two series, 1 each


def test_outlook_for_the_company_and_seasonal_naive(fin):
    o = budget.outlook(runner(fin), FEB, budget.seasonal_naive, by=None, account_types=("opex",))
    row = o.rows.iloc[0]
    # opex history Jan 2024 … Feb 2025 (14 months): same month last year: Mar–Dec 2024 were 0
    assert (row.ytd_actual, row.forecast, row.budget) == pytest.approx((125, 0, 130))
    assert "region" not in o.rows.columns


def test_seasonal_naive_repeats_last_year():
    s = pd.Series(range(1, 15), index=pd.date_range("2024-01-01", periods=14, freq="MS"), dtype=float)
    fc = budget.seasonal_naive({"a": s}, 3)["a"]
    assert fc.tolist() == [3.0, 4.0, 5.0]                      # Mar, Apr, May 2024
    assert fc.index[0] == pd.Timestamp("2025-03-01")
    short = pd.Series([3.0, 6.0, 9.0, 12.0], index=pd.date_range("2025-01-01", periods=4, freq="MS"))
    assert budget.seasonal_naive({"b": short}, 2)["b"].tolist() == [9.0, 9.0]


def test_outlook_with_the_statsmodels_forecaster(fin):
    o = budget.outlook(runner(fin), FEB, budget.lib_forecaster(), by=None, account_types=("opex",))
    row = o.rows.iloc[0]
    assert row.ytd_actual == pytest.approx(125)
    assert row.outlook == pytest.approx(row.ytd_actual + row.forecast)
    assert row.forecast >= 0


# -- the demo company: 华北 runs its expenses 18% over budget this year ----------------------------------

def test_demo_north_is_the_top_unfavourable_expense_variance(demo_engine):
    run = runner(demo_engine)
    month = overview.latest_complete_month(run)
    rep = budget.variance(run, month, ("region",), account_types=("opex",), materiality=Materiality(1000, 0.05))
    top_month = budget.top_unfavourable(rep.month_rows, 3, Rank.AMOUNT)
    assert top_month.iloc[0]["region"] == "华北大区"
    top_ytd = budget.top_unfavourable(rep.ytd_rows, 3, Rank.PERCENT)
    assert top_ytd.iloc[0]["region"] == "华北大区"
    assert top_ytd.iloc[0]["variance_pct"] > 0.15 and top_ytd.iloc[0]["execution"] > 1.15
    # and every unit of the region is over its expense budget
    by, flt = budget.drill(Level.DEPARTMENT, region="华北大区")
    north = budget.variance(run, month, by, flt, account_types=("opex",)).ytd_rows
    assert len(north) >= 3 and (north["impact"] < 0).all()


def test_nothing_to_compare_gives_empty_frames(fin):
    rep = budget.variance(runner(fin), FEB, ("region",), account_types=("other",))   # no 'other' postings
    assert rep.ytd_rows.empty and rep.impact(ytd=True) == 0
    o = budget.outlook(runner(fin), FEB, ones, by="region", account_types=("other",))
    assert o.rows.empty and o.totals.empty and o.monthly.empty
