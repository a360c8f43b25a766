"""Explore: evaluate() known values on the hand-checkable finance store, shelves ⇄ spec, links, presets, drill.

Figures worked out from tests/lib/fixtures_finance.py:
  revenue all time: 华东大区 740 (cogs 420), 西部大区 680 (cogs 405), total 1420.
  revenue 2025 by product: 绿茶 300 (cogs 170), 饼干 250 (cogs 145), 矿泉水 150 (cogs 80).
  revenue by month: 2024-01 200, 2024-02 200, 2025-01 400 (cogs 230), 2025-02 300, 2025-03 0.
  GL actual 2025-01: 30+20+25+240+130 = 445; budget (approved v1 + locked v4) 2025-01: 40+20+20+250 = 330;
  2025-02: actual 40+10 = 50, budget 40+10 = 50.
"""
from __future__ import annotations

import datetime as dt

import pytest

from lib.explore import evaluate as explore
from lib.explore.evaluate import Options, Preset, Shelves
from lib.semantic import query
from lib.semantic.spec import Calc, ChartSpec, Field, FilterSpec, InvalidSpec, Mark, QuerySpec, Sort, TimeRange

D = dt.date
MODEL = query.default_model()
Y2025 = TimeRange(D(2025, 1, 1), D(2025, 12, 31))


@pytest.fixture(scope="module")
def run(fin):
    return lambda spec: query.run(fin, spec, model=MODEL)


def chart(metrics, dims, calcs=None, top_n=None, tr=None, filters=(), sort=()):
    calcs = calcs or {}
    rows = tuple(Field(m, calcs.get(m)) for m in metrics)
    return ChartSpec(QuerySpec(tuple(metrics), tuple(dims), tuple(filters), tr, sort=tuple(sort)),
                     columns=tuple(Field(d) for d in dims), rows=rows, top_n=top_n)


def by(df, key):
    return {r[key]: r for r in df.to_dict("records")}


# ---- evaluate: top N and 其他 ----------------------------------------------------------------

def test_top_1_product_with_the_rest_as_other_divides_the_ratio_after_aggregation(run):
    df = explore.evaluate(chart(("revenue", "gross_margin"), ("product",), top_n=1, tr=Y2025), run, MODEL)
    rows = by(df, "product")
    assert list(df["product"]) == ["绿茶", "其他"]
    assert rows["绿茶"]["revenue"] == pytest.approx(300)
    assert rows["绿茶"]["gross_margin"] == pytest.approx(130 / 300)
    assert rows["其他"]["revenue"] == pytest.approx(400)           # 饼干 250 + 矿泉水 150
    assert rows["其他"]["gross_margin"] == pytest.approx(175 / 400)  # not (105/250 + 70/150) / 2 = 0.4433


def test_other_of_a_ratio_of_summable_parts_comes_from_the_one_query(run):
    """毛利率's 其他 is divided after summing 毛利 and 营业收入 of the rest, read in the same query; a ratio over a
    distinct count (客单价 = revenue ÷ orders) can't be summed, so its 其他 is still queried."""
    asked = []
    spy = lambda spec: asked.append(spec) or run(spec)  # noqa: E731
    c = chart(("revenue", "gross_margin"), ("month", "product"), top_n=1, tr=TimeRange(D(2025, 1, 1), D(2025, 2, 28)))
    df = explore.evaluate(c, spy, MODEL)
    assert len(asked) == 1 and list(df.columns) == ["month", "product", "revenue", "gross_margin"]
    got = {(r["month"].strftime("%Y-%m"), r["product"]): (r["revenue"], r["gross_margin"]) for r in df.to_dict("records")}
    queried = run(QuerySpec(("revenue", "gross_margin"), ("month",), (FilterSpec("product", "not_in", ("绿茶",)),),
                            TimeRange(D(2025, 1, 1), D(2025, 2, 28))))
    for r in queried.to_dict("records"):  # the same figures the query layer gives for the rest
        rev, gm = got[(r["month"].strftime("%Y-%m"), "其他")]
        assert rev == pytest.approx(r["revenue"]) and gm == pytest.approx(r["gross_margin"])
    asked.clear()
    explore.evaluate(chart(("revenue", "aov"), ("product",), top_n=1, tr=Y2025), spy, MODEL)
    assert len(asked) == 2 and any(f.op == "not_in" for f in asked[1].filters)


def test_top_2_other_is_the_third_and_english_label(run):
    df = explore.evaluate(chart(("revenue",), ("product",), top_n=2, tr=Y2025), run, MODEL, lang="en")
    assert dict(zip(df["product"], df["revenue"])) == {"绿茶": 300, "饼干": 250, "Other": 150}


def test_top_1_by_a_ratio_is_ranked_by_the_query_and_other_is_queried(run):
    # gross margin 2025: 矿泉水 70/150 = 0.467, 绿茶 130/300 = 0.433, 饼干 105/250 = 0.42
    c = chart(("revenue", "gross_margin"), ("product",), top_n=1, tr=Y2025, sort=(Sort("gross_margin", True),))
    rows = by(explore.evaluate(c, run, MODEL), "product")
    assert list(rows) == ["矿泉水", "其他"]
    assert rows["其他"]["revenue"] == pytest.approx(550)
    assert rows["其他"]["gross_margin"] == pytest.approx(235 / 550)


def test_top_n_falls_back_to_a_ranking_query_over_the_row_cap(fin, monkeypatch):
    from lib.core.config import Limits
    small = lambda spec: query.run(fin, spec, model=MODEL, limits=Limits(row_cap=2))  # noqa: E731
    df = explore.evaluate(chart(("revenue",), ("product",), top_n=1, tr=Y2025), small, MODEL)
    assert dict(zip(df["product"], df["revenue"])) == {"绿茶": 300, "其他": 400}


def test_top_n_larger_than_the_members_has_no_other(run):
    df = explore.evaluate(chart(("revenue",), ("region",), top_n=5), run, MODEL)
    assert sorted(df["region"]) == ["华东大区", "西部大区"]


def test_top_n_with_a_time_grain_puts_other_in_every_month(run):
    c = chart(("revenue",), ("month", "product"), top_n=1, tr=TimeRange(D(2025, 1, 1), D(2025, 2, 28)))
    df = explore.evaluate(c, run, MODEL)
    got = {(r["month"].strftime("%Y-%m"), r["product"]): r["revenue"] for r in df.to_dict("records")}
    # Jan: 绿茶 100, 饼干 90+160, 矿泉水 50 ; Feb: 绿茶 200, 矿泉水 100
    assert got == {("2025-01", "绿茶"): 100, ("2025-02", "绿茶"): 200, ("2025-01", "其他"): 300,
                   ("2025-02", "其他"): 100}


# ---- evaluate: quick calcs ------------------------------------------------------------------

def test_pct_total_by_region(run):
    df = explore.evaluate(chart(("revenue",), ("region",), {"revenue": Calc.PCT_TOTAL}), run, MODEL)
    rows = by(df, "region")
    assert rows["华东大区"]["revenue__pct_total"] == pytest.approx(740 / 1420)
    assert rows["西部大区"]["revenue__pct_total"] == pytest.approx(680 / 1420)
    assert list(df.columns) == ["region", "revenue", "revenue__pct_total"]


def test_running_total_by_month(run):
    c = chart(("revenue",), ("month",), {"revenue": Calc.RUNNING_TOTAL}, tr=TimeRange(D(2025, 1, 1), D(2025, 3, 31)))
    df = explore.evaluate(c, run, MODEL)
    assert list(df["revenue__running_total"]) == [400, 700, 700]


def test_rank_by_product(run):
    c = chart(("revenue",), ("product",), {"revenue": Calc.RANK}, tr=Y2025)
    df = explore.evaluate(c, run, MODEL)
    assert {r["product"]: r["revenue__rank"] for r in df.to_dict("records")} == {"绿茶": 1, "饼干": 2, "矿泉水": 3}


def test_yoy_on_an_amount_and_a_ratio_and_mom_together(run):
    c = ChartSpec(QuerySpec(("revenue", "gross_margin"), ("month",), time_range=TimeRange(D(2025, 1, 1), D(2025, 2, 28))),
                  columns=(Field("month"),),
                  rows=(Field("revenue", Calc.YOY), Field("gross_margin", Calc.YOY)), tooltip=(Field("revenue", Calc.MOM),))
    df = explore.evaluate(c, run, MODEL)
    assert list(df["revenue__yoy"]) == pytest.approx([400 / 200 - 1, 300 / 200 - 1])
    # percent metrics change in points: Jan 2025 170/400 = 0.425 vs Jan 2024 90/200 = 0.45
    assert df["gross_margin__yoy"].iloc[0] == pytest.approx(0.425 - 0.45)
    assert df["revenue__mom"].iloc[1] == pytest.approx(300 / 400 - 1)
    assert list(df.columns) == ["month", "revenue", "gross_margin", "revenue__yoy", "gross_margin__yoy", "revenue__mom"]


def test_vs_budget_for_actual(run):
    c = chart(("actual",), ("month",), {"actual": Calc.VS_BUDGET}, tr=TimeRange(D(2025, 1, 1), D(2025, 2, 28)))
    df = explore.evaluate(c, run, MODEL)
    assert list(df["actual"]) == [445, 50]
    assert list(df["actual__vs_budget"]) == [445 - 330, 0]
    assert "budget" not in df.columns


@pytest.mark.parametrize("metric,calc", [("revenue", Calc.VS_BUDGET), ("gross_margin", Calc.PCT_TOTAL),
                                         ("gross_margin", Calc.RUNNING_TOTAL), ("customers", Calc.PCT_TOTAL)])
def test_calcs_that_would_be_wrong_are_refused_in_words(run, metric, calc):
    with pytest.raises(InvalidSpec) as e:
        explore.evaluate(chart((metric,), ("region",), {metric: calc}), run, MODEL)
    assert metric in e.value.message("en")


def test_metric_range_filters_the_aggregated_rows(run):
    both = FilterSpec("channel", "in", ("线下", "线上"))
    c = chart(("revenue",), ("region",), filters=(FilterSpec("revenue", "gte", (700,)), both))
    df = explore.evaluate(c, run, MODEL)
    assert list(df["region"]) == ["华东大区"]
    assert explore.has_metric_ranges(c, MODEL)
    plain = explore.without_metric_ranges(c, MODEL)  # for code that compiles the query as it is
    assert plain.query.filters == (both,)
    query.compile(plain.query, None, MODEL)


# ---- shelves ⇄ spec ------------------------------------------------------------------------

def test_shelves_to_the_component_and_back():
    metrics = list(MODEL.metrics)
    s = Shelves(columns=("region",), rows=("revenue", "gross_margin"), color=("month",), tooltip=("orders",))
    value = explore.to_value(s)
    assert value["rows"] == ["revenue", "gross_margin"] and value["color"] == [explore.TIME_ITEM]
    assert explore.from_value(value, MODEL, metrics, grain="month") == s
    assert explore.from_value(value, MODEL, metrics, grain="quarter").color == ("quarter",)


def test_a_value_from_the_component_is_read_defensively():
    value = {"columns": ["region", "not a field", "region"], "rows": ["revenue", "cogs"],
             "color": ["channel", "category"], "facet": [explore.TIME_ITEM], "nonsense": ["region"], "size": "revenue"}
    s = explore.from_value(value, MODEL, ["revenue"], grain="quarter")  # cogs is not the user's to see
    assert s == Shelves(columns=("region",), rows=("revenue",), color=("channel",), facet=("quarter",))
    assert explore.from_value(None, MODEL, ["revenue"]) == Shelves()
    assert explore.from_value(["region"], MODEL, ["revenue"]) == Shelves()


def test_the_field_pane_sorts_kinds_and_groups_and_carries_the_definitions():
    metrics = [m for m in MODEL.metrics if m != "cogs"]
    zh, en = explore.pane(MODEL, "zh", metrics), explore.pane(MODEL, "en", metrics)
    assert [f["id"] for f in zh] == [f["id"] for f in en]
    kinds = [f["kind"] for f in zh]
    assert kinds[0] == "time" and set(kinds[1:kinds.index("metric")]) == {"dimension"}
    assert set(kinds[kinds.index("metric"):]) == {"metric"}  # dimensions above, metrics below
    ids = [f["id"] for f in zh]
    assert "cogs" not in ids and set(metrics) <= set(ids) and set(MODEL.dimensions) <= set(ids)
    for part in ("dimension", "metric"):  # a group's fields stand together
        groups = [f["group"] for f in zh if f["kind"] == part]
        assert groups == sorted(groups, key=groups.index)
    rev = next(f for f in zh if f["id"] == "revenue")
    assert rev["label"] == "营业收入" and rev["label_en"] == "Net revenue"
    assert rev["help"] == MODEL.metric("revenue").description and rev["group_label"] == "销售"
    region = next(f for f in en if f["id"] == "region")
    assert region["group_label"] == "Organisation" and region["help"].startswith("Region → ")


def test_build_chart_and_back():
    s = Shelves(columns=("month",), rows=("revenue",), color=("region",), filters=("category",))
    o = Options(mark=Mark.LINE, time_range=Y2025, sort=(Sort("revenue", True),), top_n=3,
                calcs={"revenue": Calc.YOY}, filters=(FilterSpec("category", "in", ("饮料",)),))
    c = explore.build_chart(s, o, MODEL)
    assert c.query.metrics == ("revenue",) and c.query.dimensions == ("month", "region")
    assert c.rows == (Field("revenue", Calc.YOY),) and c.color == Field("region")
    assert explore.shelves_of(c) == s
    assert explore.options_of(c) == o
    assert explore.with_grain(c, "quarter").query.dimensions == ("quarter", "region")


# ---- the link ------------------------------------------------------------------------------

def test_url_round_trip():
    c = ChartSpec(QuerySpec(("revenue", "gross_margin"), ("month", "region"),
                            (FilterSpec("category", "in", ("饮料", "零食")),), Y2025, sort=(Sort("revenue", True),)),
                  mark=Mark.BAR_STACKED, columns=(Field("month"),),
                  rows=(Field("revenue", Calc.PCT_TOTAL), Field("gross_margin")), color=Field("region"), top_n=5)
    params = explore.to_query_params(c)
    assert params["r"] == "revenue:pct_total,gross_margin" and params["tr"] == "2025-01-01~2025-12-31"
    assert all(isinstance(v, str) for v in params.values())
    assert explore.from_query_params(params, MODEL) == c


@pytest.mark.parametrize("params", [
    {"r": "no_such_metric"}, {"c": "region"}, {"r": "revenue", "tr": "2025-13-01~x"}, {"r": "revenue", "fl": "{"},
    {"r": "revenue", "fl": '[["region","drop table",["x"]]]'}, {"r": "revenue", "top": "-1"},
    {"r": "revenue", "mk": "nope"}, {"r": "revenue:bogus", "so": "nope"}, {"r": ["revenue", 3]}, {"r": "x" * 10_000},
    {"r": "revenue", "c": "month,year"}, {"r": "revenue", "tr": "2025-12-31~2025-01-01"},
])
def test_tampered_links_give_a_chart_and_say_what_was_ignored(params):
    parsed = explore.parse_query_params(params, MODEL)
    assert isinstance(parsed.chart, ChartSpec)
    assert parsed.problems
    assert parsed.chart.query.metrics in ((), ("revenue",))


def test_an_empty_link_is_the_default_chart():
    assert explore.from_query_params({}, MODEL) == explore.default_chart(MODEL)


# ---- presets, drill, selection --------------------------------------------------------------

@pytest.mark.parametrize("preset,start,end", [
    (Preset.THIS_MONTH, D(2026, 11, 1), D(2026, 11, 30)), (Preset.THIS_QUARTER, D(2026, 10, 1), D(2026, 12, 31)),
    (Preset.YTD, D(2026, 1, 1), D(2026, 11, 24)), (Preset.LAST_12M, D(2025, 12, 1), D(2026, 11, 30)),
    (Preset.LAST_YEAR_SAME, D(2025, 1, 1), D(2025, 11, 24)),
])
def test_presets(preset, start, end):
    assert explore.preset_range(preset, D(2026, 11, 24)) == TimeRange(start, end)
    assert explore.preset_range(Preset.ALL, D(2026, 11, 24)) is None


def test_last_date_of_the_data(run):
    assert explore.last_date(run) == D(2025, 3, 15)


def test_drill_down_and_back_up_with_the_breadcrumb():
    c = chart(("opex",), ("account_type",))
    c1 = explore.drill_down(c, "account_type", "opex", MODEL)
    assert c1.query.dimensions == ("expense_type",) and c1.columns == (Field("expense_type"),)
    c2 = explore.drill_down(c1, "expense_type", "销售费用", MODEL)
    assert c2.query.dimensions == ("account",)
    assert explore.drill_path(c2, MODEL) == (explore.Step("account_type", "opex"), explore.Step("expense_type", "销售费用"))
    back = explore.drill_up(c2, 1, MODEL)
    assert back == c1
    assert explore.drill_up(c2, 0, MODEL) == c
    with pytest.raises(InvalidSpec):
        explore.drill_down(c, "channel", "线上", MODEL)


def test_drill_down_region_to_department_on_data(run):
    c = explore.drill_down(chart(("revenue",), ("region",)), "region", "华东大区", MODEL)
    df = explore.evaluate(c, run, MODEL)
    assert dict(zip(df["department"], df["revenue"])) == {"上海营业部": 740}


def test_a_click_selection_becomes_a_filter_and_other_is_ignored():
    c = chart(("revenue",), ("month", "region"))
    sel = {"selection": {"pick": [{"region": "华东大区"}, {"region": "其他"}]}}
    got = explore.apply_selection(c, sel, MODEL, other=("其他",))
    assert got.query.filters == (FilterSpec("region", "in", ("华东大区",)),)
    month = explore.apply_selection(c, {"selection": {"pick": [{"month": "2025-02-01T00:00:00"}]}}, MODEL)
    assert month.query.time_range == TimeRange(D(2025, 2, 1), D(2025, 2, 28))
    quarter = explore.apply_selection(c, {"selection": {"pick": [{"quarter": "2025-Q2"}]}}, MODEL)
    assert quarter.query.time_range == TimeRange(D(2025, 4, 1), D(2025, 6, 30))
    empty = explore.apply_selection(c, {"selection": {"pick": [{"region": "—"}]}}, MODEL)
    assert empty.query.filters == (FilterSpec("region", "in", (None,)),)
    assert explore.from_query_params(explore.to_query_params(empty), MODEL) == empty
    assert explore.apply_selection(c, {"selection": {}}, MODEL) == c
    assert explore.apply_selection(c, None, MODEL) == c
    assert explore.remove_filter(got, "region") == c


def test_pivot_totals_come_from_the_query_layer(run):
    c = chart(("revenue", "gross_margin"), ("region",), filters=(FilterSpec("revenue", "gte", (0,)),))
    totals = explore.pivot_totals(ChartSpec(c.query, mark=Mark.PIVOT, rows=(Field("region"),),
                                            columns=(Field("revenue"), Field("gross_margin"))), run, MODEL)
    grand = totals[()]
    assert grand["revenue"].iloc[0] == pytest.approx(1420)
    assert grand["gross_margin"].iloc[0] == pytest.approx((1420 - 825) / 1420)  # not (320/740 + 275/680) / 2


def test_caption_names_top_n_calcs_and_ranges():
    c = chart(("revenue",), ("region",), {"revenue": Calc.PCT_TOTAL}, top_n=3,
              filters=(FilterSpec("revenue", "gte", (100,)),))
    text = explore.caption(c, MODEL, "zh")
    assert text.startswith("营业收入 · 按 区域") and "前 3 项" in text and "占总计百分比" in text and "gte 100" in text
