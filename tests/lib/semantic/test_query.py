"""The compiler: table-driven shape tests (spec → SQL shape and bound values), errors that help,
and the demo store against independent pandas computations on both engines."""
from __future__ import annotations

import datetime as dt

import duckdb_engine
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from lib.access.scope import Scope, User
from lib.core.errors import Forbidden
from lib.semantic import model as semantic
from lib.semantic import query
from lib.semantic.spec import Comparison, FilterSpec, InvalidSpec, QuerySpec, Sort, TimeRange

Y2025 = TimeRange(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
DIALECTS = {"duckdb": duckdb_engine.Dialect(), "postgresql": postgresql.dialect()}


def sql(spec: QuerySpec, dialect: str = "postgresql", user=None) -> tuple[str, dict]:
    compiled = query.compile(spec, user).compile(dialect=DIALECTS[dialect])
    return str(compiled), compiled.params


@pytest.mark.parametrize("spec, must, must_not", [
    # one dataset: one aggregate CTE, no spine; the facts grouped by their keys before the dimension join
    (QuerySpec(("revenue",), ("region",), time_range=Y2025),
     ["sum(f.net_revenue) AS p0", "GROUP BY f.org_unit_id) AS b LEFT OUTER JOIN org_flat AS org", "sum(b.p0)",
      "BETWEEN"], ["spine", "UNION"]),
    # no dimension table needed: one step
    (QuerySpec(("revenue",), ("channel",), time_range=Y2025), ["sum(b.net_revenue)", "FROM sales_line AS b"], [" AS p0"]),
    # two datasets: aggregated separately, joined on the keys through a spine
    (QuerySpec(("revenue", "opex"), ("region", "month"), time_range=Y2025),
     ["UNION", "spine.d_region = u0.d_region", "journal_line AS f", "sales_line AS f", "date_trunc('month'"],
     ["IS NOT DISTINCT FROM"]),
    # ratio: divided after aggregation, as double precision, NULL on zero
    (QuerySpec(("gross_margin",), ("year",), time_range=Y2025),
     ["AS DOUBLE PRECISION) / CAST(nullif(CAST(u0.m_revenue AS DOUBLE PRECISION)", "sum(b.cost_amount)"], ["avg(", "NUMERIC"]),
    # a metric's own filter goes inside its aggregate, not into the WHERE shared with others
    (QuerySpec(("opex", "actual"), ("account",), time_range=Y2025),
     ["sum(CASE WHEN (a.type IN (__[POSTCOMPILE_type_1])) THEN b.p0 END)"], []),
    # distinct counts stay distinct
    (QuerySpec(("orders",), (), time_range=Y2025), ["count(DISTINCT b.order_no)"], []),
    # YoY: the same CTE shape for last year, its month buckets moved a year forward once each after grouping
    (QuerySpec(("revenue",), ("month",), time_range=Y2025, comparison=Comparison.YOY),
     ["CAST(g.__t + INTERVAL '12 months' AS DATE) AS __t"], ["order_date + INTERVAL"]),
    # ... but a year back at day grain moves every row (29 and 28 February of a leap year are one day a year on)
    (QuerySpec(("revenue",), ("day",), time_range=Y2025, comparison=Comparison.YOY),
     ["b.order_date + INTERVAL '12 months'"], ["g.__t + INTERVAL"]),
    # a metric's own filter on a dimension table also narrows the facts before they are grouped
    (QuerySpec(("opex",), ("expense_type",), time_range=Y2025),
     ["f.account_code IN (SELECT account.code", "WHERE account.type IN"], []),
    # balances: taken at period dates from a VALUES list, never summed over months
    (QuerySpec(("ar_balance",), ("quarter",), time_range=Y2025),
     ["VALUES", "p_role", "CASE WHEN (u0_at.p_role = %(p_role_"], []),
    # cumulative: a window within the year, the range filtered after the window
    (QuerySpec(("revenue_ytd",), ("month",), time_range=TimeRange(dt.date(2025, 3, 1), dt.date(2025, 5, 31))),
     ["OVER (PARTITION BY", "date_trunc('year'"], []),
])
def test_compile_shapes(spec, must, must_not):
    for dialect in DIALECTS:
        text, _ = sql(spec, dialect)
        if dialect == "postgresql":
            for fragment in must:
                assert fragment in text, f"{fragment!r} missing from:\n{text}"
        for fragment in must_not:
            assert fragment not in text


def test_time_buckets_in_each_engines_words():
    spec = QuerySpec(("revenue",), ("month",), time_range=Y2025)
    assert "date_trunc('month', CAST(b.order_date AS TIMESTAMP))" in sql(spec, "postgresql")[0]  # no timestamptz
    assert "date_trunc('month', b.order_date)" in sql(spec, "duckdb")[0]   # a DATE truncated as it is


def test_values_are_bound_never_inlined():
    spec = QuerySpec(("revenue",), ("category",), filters=(FilterSpec("customer", "in", ("x'); DROP TABLE sales_line; --",)),),
                     time_range=Y2025)
    text, params = sql(spec)
    assert "DROP TABLE" not in text
    assert ["x'); DROP TABLE sales_line; --"] in params.values()
    assert dt.date(2025, 1, 1) in params.values() and dt.date(2025, 12, 31) in params.values()


def test_scope_is_applied_in_every_dataset():
    user = User("dept", "dept_head", Scope(org_unit_ids=frozenset({7, 5})))
    text, params = sql(QuerySpec(("revenue", "opex", "ar_balance"), ("region",), time_range=Y2025), user=user)
    assert text.count("b.org_unit_id IN") == 3
    assert [5, 7] in params.values()


def test_denied_metrics_are_refused_even_inside_others():
    user = User("sales", "viewer", denied_metrics=frozenset({"cogs"}))
    query.compile(QuerySpec(("revenue",)), user)
    for mid in ("cogs", "gross_margin", "operating_profit"):
        with pytest.raises(Forbidden, match=mid):
            query.compile(QuerySpec((mid,)), user)


@pytest.mark.parametrize("spec, message", [
    (QuerySpec(("gros_margin",)), "Did you mean: gross_margin"),
    (QuerySpec(("revenue",), ("regoin",)), "Did you mean: region"),
    (QuerySpec(("opex",), ("category",)), "can't be broken down or filtered by category"),
    (QuerySpec(("revenue",), ("month", "year")), "one time grain"),
    (QuerySpec(("ar_balance",), ("region",)), "need a time range"),
    (QuerySpec(("revenue_ytd",), (), time_range=Y2025), "use a time grain of day, month, quarter"),
    (QuerySpec(("revenue",), sort=(Sort("margin"),)), "Can't sort by 'margin'"),
    (QuerySpec(()), "at least one metric"),
])
def test_questions_that_cannot_be_answered_say_why(spec, message):
    with pytest.raises((InvalidSpec, semantic.UnknownName)) as err:
        query.compile(spec)
    assert message in str(err.value)


def test_describe_in_both_languages():
    spec = QuerySpec(("revenue", "gross_margin"), ("region", "month"), (FilterSpec("category", "in", ("饮料",)),),
                     Y2025, Comparison.YOY)
    assert query.describe(spec, "zh") == "营业收入、毛利率 · 按 区域、月 · 2025-01-01 至 2025-12-31 · 品类 属于 饮料 · 对比去年同期"
    assert query.describe(spec, "en") == ("Net revenue, Gross margin · by Region, month · 2025-01-01 to 2025-12-31 · "
                                          "Category ∈ 饮料 · vs same period last year")


def test_spec_json_round_trip_keeps_everything():
    spec = QuerySpec(("revenue",), ("region", "month"), (FilterSpec("channel", "not_in", ("电商",)),), Y2025,
                     Comparison.MOM, (Sort("revenue", True),), 5)
    assert QuerySpec.from_json(spec.to_json()) == spec
    with pytest.raises(InvalidSpec):
        QuerySpec.from_json('{"dimensions": []}')


# ---- the demo store, both engines, against pandas over the raw tables -----------------------

def test_multi_dataset_query_equals_separate_computations(demo_engine, demo_tables):
    tr = TimeRange(dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    got = query.run(demo_engine, QuerySpec(("revenue", "opex", "budget"), ("region", "month"), time_range=tr))
    t = demo_tables
    flat = pd.read_sql(sa.text("SELECT org_unit_id, l1_name FROM org_flat"), demo_engine)
    region = dict(zip(flat["org_unit_id"], flat["l1_name"]))
    s = t["sales_line"][(t["sales_line"]["order_date"] >= "2025-01-01") & (t["sales_line"]["order_date"] <= "2025-06-30")]
    rev = s.groupby([s["org_unit_id"].map(region), s["order_date"].dt.to_period("M")])["net_revenue"].sum()
    gl = t["journal_line"].merge(t["account"], left_on="account_code", right_on="code")
    gl = gl[(gl["type"] == "opex") & (gl["posting_date"] >= "2025-01-01") & (gl["posting_date"] <= "2025-06-30")]
    opex = gl.groupby([gl["org_unit_id"].map(region), gl["posting_date"].dt.to_period("M")])["amount"].sum()
    b = t["budget_line"].merge(t["budget_version"], left_on="version_id", right_on="id")
    b = b[b["status"].isin(["approved", "locked"]) & (b["period"] >= "2025-01-01") & (b["period"] <= "2025-06-30")]
    bud = b.groupby([b["org_unit_id"].map(region), b["period"].dt.to_period("M")])["amount"].sum()
    got = got.set_index([got["region"], got["month"].dt.to_period("M")])
    for name, expected in (("revenue", rev), ("opex", opex), ("budget", bud)):
        expected = expected.rename("x").rename_axis(["region", "month"]).to_frame()
        joined = got[name].dropna().to_frame().join(expected, how="outer")
        assert (joined[name] - joined["x"]).abs().max() < 0.01, name
    assert len(got) == len(set(rev.index) | set(opex.index) | set(bud.index))


def test_same_numbers_on_both_engines_for_a_broad_question(demo_engine):
    # Stored per engine, compared across engines by the session's other parametrisation below.
    spec = QuerySpec(("revenue", "gross_margin", "opex_ratio", "dso", "inventory_days", "collection_rate"),
                     ("region", "quarter"), time_range=Y2025)
    df = query.run(demo_engine, spec)
    _RESULTS[demo_engine.dialect.name] = df.sort_values(["quarter", "region"]).reset_index(drop=True)
    if len(_RESULTS) == 2:
        pd.testing.assert_frame_equal(_RESULTS["duckdb"], _RESULTS["postgresql"], check_exact=False, rtol=1e-9)
    sales_regions = df[df["region"] != "总部"]  # head office has expenses but no sales: its ratios are NULL
    assert sales_regions["dso"].between(10, 400).all() and sales_regions["gross_margin"].between(0.2, 0.5).all()
    assert df.loc[df["region"] == "总部", "gross_margin"].isna().all()


_RESULTS: dict[str, pd.DataFrame] = {}
