"""Regression tests for the findings of the compiler review, on the hand-written store
(tests/lib/fixtures_finance.py) and the demo store, on both engines."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from lib.access.scope import Scope, User
from lib.core import store
from lib.core.errors import Forbidden
from lib.core.schema import inventory_snapshot
from lib.semantic import model as semantic
from lib.semantic import query
from lib.semantic.spec import Comparison, FilterSpec, InvalidSpec, QuerySpec, Sort, TimeRange
from tests.lib import fixtures_finance as ff

D = dt.date
Q1_2025 = TimeRange(D(2025, 1, 1), D(2025, 3, 31))


def run(engine, *metrics, dims=(), tr=Q1_2025, **kw) -> pd.DataFrame:
    return query.run(engine, QuerySpec(tuple(metrics), tuple(dims), time_range=tr, **kw))


def test_ytd_carries_through_months_without_sales_and_by_region(fin):
    # 华东 (org 4): Jan 2025 100 + 90 + 50 = 240, Feb +200 = 440, March no sales: still 440.
    df = run(fin, "revenue_ytd", dims=("month", "region"))
    east = df[df["region"] == "华东大区"].set_index("month")["revenue_ytd"]
    assert east.tolist() == pytest.approx([240, 440, 440])
    # April alone: the year so far is Jan 400 + Feb 300 + Mar 0 = 700, with or without other metrics.
    april = TimeRange(D(2025, 4, 1), D(2025, 4, 30))
    assert run(fin, "revenue_ytd", dims=("month",), tr=april)["revenue_ytd"].tolist() == pytest.approx([700])
    assert run(fin, "revenue_ytd", "opex", dims=("month",), tr=april)["revenue_ytd"].tolist() == pytest.approx([700])


def test_ytd_against_last_year_lines_up_year_by_year(fin):
    # 2024: Jan 200, Feb 200, no March → YTD 200, 400, 400.
    df = run(fin, "revenue_ytd", dims=("month",), comparison=Comparison.YOY)
    assert df["revenue_ytd__cmp"].tolist() == pytest.approx([200, 400, 400])
    assert df["revenue_ytd"].tolist() == pytest.approx([400, 700, 700])


@pytest.mark.parametrize("dims, comparison, message", [
    (("week",), None, "use a time grain of day, month, quarter"),      # weeks straddle years
    (("month",), Comparison.MOM, "whole years earlier"),
    (("quarter",), Comparison.PREVIOUS, "whole years earlier"),
])
def test_running_totals_refuse_what_they_cannot_answer(fin, dims, comparison, message):
    with pytest.raises(InvalidSpec, match=message.replace("whole years", "whole years?")):
        run(fin, "revenue_ytd", dims=dims, comparison=comparison)


def test_previous_period_of_whole_months_is_the_months_before(fin):
    feb = TimeRange(D(2025, 2, 1), D(2025, 2, 28))
    df = run(fin, "revenue", tr=feb, comparison=Comparison.PREVIOUS)
    assert (df["revenue"].iloc[0], df["revenue__cmp"].iloc[0]) == pytest.approx((300, 400))  # January, all 31 days
    df = run(fin, "revenue", tr=Q1_2025, comparison=Comparison.PREVIOUS)
    assert df["revenue__cmp"].iloc[0] == pytest.approx(320)  # Q4 2024: the December sale


@pytest.mark.parametrize("metrics, dims, comparison", [
    (("revenue",), ("quarter",), Comparison.MOM),   # a month back from a quarter straddles quarters
    (("revenue_mom",), ("quarter",), None),
    (("revenue",), ("day",), Comparison.MOM),       # days of different months don't line up
    (("revenue",), ("year",), Comparison.PREVIOUS),  # fine: whole years
])
def test_offsets_must_move_whole_buckets(fin, metrics, dims, comparison):
    spec = QuerySpec(metrics, dims, time_range=Q1_2025, comparison=comparison)
    if dims == ("year",):
        query.compile(spec)
        return
    with pytest.raises(InvalidSpec, match="not a whole number of"):
        query.compile(spec)


def test_not_in_keeps_rows_without_a_value(demo_engine, demo_tables):
    # Region-level postings have no department: "not 华东经销部" must keep them.
    tr = TimeRange(D(2026, 1, 1), D(2026, 3, 31))
    got = run(demo_engine, "opex", tr=tr, filters=(FilterSpec("region", "in", ("华东大区",)),
                                                   FilterSpec("department", "not_in", ("华东经销部",))))["opex"].iloc[0]
    org = demo_tables["org_unit"].set_index("code")
    r10 = org.at["R10", "id"]
    units = demo_tables["org_unit"]
    east = set(units.loc[units["parent_id"] == r10, "id"]) | {r10}
    gl = demo_tables["journal_line"].merge(demo_tables["account"], left_on="account_code", right_on="code")
    gl = gl[(gl["type"] == "opex") & gl["posting_date"].between("2026-01-01", "2026-03-31")]
    expected = gl[gl["org_unit_id"].isin(east - {org.at["D11", "id"]})]["amount"].sum()
    assert got == pytest.approx(expected, abs=0.01)
    # and NULL can be asked for explicitly
    region_level = run(demo_engine, "opex", tr=tr, filters=(FilterSpec("region", "in", ("华东大区",)),
                                                            FilterSpec("department", "in", (None,))))["opex"].iloc[0]
    assert region_level == pytest.approx(gl[gl["org_unit_id"] == org.at["R10", "id"]]["amount"].sum(), abs=0.01)


@pytest.mark.parametrize("metric", ["opex", "invoiced", "ar_balance", "budget", "actual"])
def test_a_category_scope_refuses_datasets_without_categories(fin, metric):
    user = User("cat", scope=Scope(categories=frozenset({"饮料"})))
    with pytest.raises(Forbidden, match="categor"):
        query.run(fin, QuerySpec((metric,), time_range=Q1_2025), user=user)
    assert query.run(fin, QuerySpec(("revenue",), time_range=Q1_2025), user=user)["revenue"].iloc[0] == pytest.approx(
        100 + 50 + 200 + 100)  # the 饮料 lines of Q1 2025


def test_another_units_later_stock_count_does_not_hide_yours(empty_engine):
    ff.build(empty_engine)
    with empty_engine.begin() as conn:  # only 西部 (org 5) counted stock at the end of March
        store.bulk_load(conn, inventory_snapshot, pa.table({
            "period_end": [D(2025, 3, 31)], "product_id": [3], "org_unit_id": [5], "quantity": [1.0], "value": [50.0]}))
    east = User("east", scope=Scope(org_unit_ids=frozenset({2, 4})))
    march = TimeRange(D(2025, 3, 1), D(2025, 3, 31))
    df = query.run(empty_engine, QuerySpec(("inventory_value",), time_range=march), user=east)
    assert df["inventory_value"].iloc[0] == pytest.approx(900)  # 华东's latest count: 28 February


def test_monthly_budgets_need_whole_months(fin):
    with pytest.raises(InvalidSpec, match="kept by month"):
        run(fin, "budget_execution", tr=TimeRange(D(2025, 1, 15), D(2025, 2, 14)))
    with pytest.raises(InvalidSpec, match="kept by month"):
        run(fin, "budget", dims=("day",))
    assert run(fin, "budget", tr=TimeRange(D(2025, 1, 1), D(2025, 2, 28)))["budget"].iloc[0] == pytest.approx(
        40 + 20 + 20 + 250 + 40 + 10)


@pytest.mark.parametrize("raw", [
    {"metrics": ["revenue"], "filters": [{"dimension": "region", "op": "in", "values": [{"a": 1}]}]},
    {"metrics": ["revenue"], "filters": [{"dimension": "region", "op": "in", "values": [True]}]},
    {"metrics": [["revenue"]]},
    {"metrics": ["revenue"], "dimensions": [3]},
    {"metrics": ["revenue", "revenue"]},
    {"metrics": ["revenue"], "limit": 10 ** 30},
    {"metrics": ["revenue"], "limit": True},
    {"metrics": ["revenue"], "sort": [{"field": "revenue", "descending": "false"}]},
    {"metrics": ["revenue"], "time_range": {"start": "0001-01-01", "end": "0001-12-31"}},
    [],
])
def test_malformed_specs_are_clear_errors_not_tracebacks(fin, raw):
    with pytest.raises((InvalidSpec, semantic.UnknownName)):
        spec = QuerySpec.from_dict(raw)
        query.run(fin, spec)


def test_numeric_filter_values_are_compared_as_text(fin):
    df = run(fin, "revenue", filters=(FilterSpec("customer", "in", (1, 2.5)),))
    assert df["revenue"].isna().all() or (df["revenue"] == 0).all()


@pytest.mark.parametrize("definition, message", [
    ({"type": "cumulative", "metric": "gross_margin", "period": "year"}, "adds up over time"),
    ({"type": "cumulative", "metric": "ar_balance", "period": "year"}, "adds up over time"),
    ({"type": "cumulative", "metric": "customers", "period": "year"}, "adds up over time"),
    ({"type": "simple", "dataset": "sales", "expr": "count(distinct order_no, product_id)"}, "exactly one argument"),
    ({"type": "simple", "dataset": "sales", "expr": "max(quantity, list_price)"}, "exactly one argument"),
    ({"type": "simple", "dataset": "sales", "expr": "sum('abc')"}, "use numbers"),
    ({"type": "derived", "expr": "revenue * 'abc'"}, "use numbers"),
    ({"type": "simple", "dataset": "invoices", "expr": "sum(amount)", "time_column": "invoice_no"}, "date column"),
    ({"type": "derived", "expr": "revenue - r", "inputs": {"r": {"metric": "revenue", "offset": "100000 years"}}},
     "1 to 100"),
])
def test_definitions_that_would_break_every_query_are_refused_at_save(definition, message):
    model = query.default_model()
    issues: list = []
    raw = {"id": "probe", "label_zh": "试", "label_en": "Probe", "description": "x", "owner": "财务部", **definition}
    m = semantic.metric_from_dict(raw, "sales", "(edit)", issues)
    assert m is not None, issues
    with pytest.raises(semantic.SemanticError) as err:
        model.with_metric(m)
    assert message in str(err.value)


@pytest.mark.parametrize("mid", ["region", "month", "revenue__cmp", "m_revenue"])
def test_metric_ids_cannot_collide_with_columns_of_the_result(mid):
    issues: list = []
    raw = {"id": mid, "label_zh": "试", "label_en": "Probe", "description": "x", "owner": "财务部",
           "type": "simple", "dataset": "sales", "expr": "sum(quantity)"}
    m = semantic.metric_from_dict(raw, "sales", "(edit)", issues)
    if m is None:
        assert "id must be" in str(issues)
        return
    with pytest.raises(semantic.SemanticError, match="id of a dimension or time grain"):
        query.default_model().with_metric(m)


def test_sorting_descending_really_is_a_boolean(fin):
    df = run(fin, "revenue", dims=("month",), sort=(Sort("revenue", True),))
    assert df["revenue"].tolist() == sorted(df["revenue"].tolist(), reverse=True)
