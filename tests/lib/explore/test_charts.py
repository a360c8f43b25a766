"""ChartSpec → Altair: every mark checked on the Vega-Lite JSON; tables, pivots (ratio totals) and KPI tiles."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from lib.explore import chart_format, charts
from lib.semantic import query
from lib.semantic.spec import (
    Calc,
    ChartSpec,
    Comparison,
    Field,
    FilterSpec,
    InvalidSpec,
    Mark,
    MoneyScale,
    NegativeStyle,
    QuerySpec,
    Sort,
    TimeRange,
)
from tests.lib.fixtures_finance import HUADONG, XIBU

MODEL = query.default_model()
F = Field


def q(metrics=("revenue",), dims=("region",), **kw) -> QuerySpec:
    return QuerySpec(tuple(metrics), tuple(dims), **kw)


# Two regions and "other": revenue, a negative gross profit, gross margin and its YoY change.
BY_REGION = pd.DataFrame({
    "region": ["华东", "华北", "其他"],
    "revenue": [1_500_000.0, 200_000.0, 300_000.0],
    "gross_profit": [450_000.0, -20_000.0, 60_000.0],
    "gross_margin": [0.30, -0.10, 0.20],
    "revenue__yoy": [0.052, -0.10, None],
})
BY_MONTH = pd.DataFrame({
    "month": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-01", "2025-02-01"]),
    "region": ["华东", "华东", "华北", "华北"],
    "revenue": [100.0, 200.0, 300.0, 400.0],
    "gross_margin": [0.1, 0.2, 0.3, 0.4],
})


def views(d):
    """Every unit view (a dict with a mark) in a Vega-Lite spec."""
    if isinstance(d, dict):
        if "mark" in d:
            yield d
        for k, v in d.items():
            if k != "config":
                yield from views(v)
    elif isinstance(d, list):
        for v in d:
            yield from views(v)


def mark_type(v: dict) -> str:
    return v["mark"] if isinstance(v["mark"], str) else v["mark"]["type"]


def params(d) -> list[dict]:
    out = []
    if isinstance(d, dict):
        out += [p for p in d.get("params", []) if isinstance(p, dict)]
        for v in d.values():
            out += params(v)
    elif isinstance(d, list):
        for v in d:
            out += params(v)
    return out


def pick_fields(spec: dict) -> list[str] | None:
    found = [p["select"]["fields"] for p in params(spec) if p.get("name") == charts.SELECTION]
    return found[0] if found else None


# -- JSON round trip --------------------------------------------------------------------------

@pytest.mark.parametrize("mark", list(Mark))
def test_every_mark_round_trips(mark):
    spec = ChartSpec(q(("revenue", "gross_margin"), ("region", "month"),
                       filters=(FilterSpec("region", "in", ("华东",)),),
                       time_range=TimeRange(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), sort=(Sort("revenue", True),),
                       limit=10), mark, columns=(F("month"),), rows=(F("revenue"),), color=F("region"),
                     size=F("gross_margin"), facet=F("region"), tooltip=(F("gross_margin"),), top_n=5, title="标题",
                     note="备注", negative=NegativeStyle.BRACKETS, scale=MoneyScale.WAN)
    assert ChartSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("calc", list(Calc))
def test_every_calc_round_trips(calc):
    spec = ChartSpec(q(), Mark.BAR, columns=(F("region"),), rows=(F("revenue", calc),))
    back = ChartSpec.from_json(spec.to_json())
    assert back == spec and back.rows[0].calc is calc
    assert chart_format.column(back.rows[0]) == f"revenue__{calc.value}"


# -- Show-Me ----------------------------------------------------------------------------------

SUGGEST = [
    # columns, rows, color, expected
    (("region",), ("revenue",), None, Mark.BAR),
    (("revenue",), ("region",), None, Mark.BAR),                 # horizontal bar
    (("month",), ("revenue",), None, Mark.LINE),
    (("month",), ("revenue",), "region", Mark.LINE),
    (("region",), ("revenue",), "channel", Mark.BAR),            # grouped bar
    (("region", "channel"), ("revenue",), None, Mark.BAR),
    (("month",), ("region",), "revenue", Mark.HEATMAP),
    (("channel",), ("region", "revenue"), None, Mark.HEATMAP),
    ((), ("revenue",), None, Mark.KPI),
    (("revenue",), ("gross_margin",), None, Mark.KPI),           # two totals: tiles, not a one-point scatter
    (("revenue",), ("gross_margin",), "region", Mark.SCATTER),
    (("region",), (), None, Mark.TABLE),                         # no metric
    (("region", "channel", "category"), ("revenue",), None, Mark.TABLE),
]


@pytest.mark.parametrize("cols,rows,color,expected", SUGGEST)
def test_suggest_mark(cols, rows, color, expected):
    spec = ChartSpec(q(), columns=tuple(map(F, cols)), rows=tuple(map(F, rows)), color=F(color) if color else None,
                     tooltip=(F("customer"),), size=F("orders"))
    assert charts.suggest_mark(spec, MODEL) is expected


def test_auto_mark_renders_the_suggestion():
    spec = ChartSpec(q(), Mark.AUTO, columns=(F("region"),), rows=(F("revenue"),))
    assert {mark_type(v) for v in views(charts.render(spec, BY_REGION, MODEL).to_dict())} == {"bar"}


def test_a_chart_with_more_points_than_altair_draws_says_so_instead_of_failing():
    import altair as alt

    from lib.core.errors import ResultTooLarge
    assert charts.MAX_POINTS == alt.data_transformers.options.get("max_rows", 5000)   # below Altair's own limit
    days = pd.date_range("2025-01-01", periods=charts.MAX_POINTS + 1, freq="D")
    data = pd.DataFrame({"day": days, "revenue": 1.0})
    spec = ChartSpec(QuerySpec(("revenue",), ("day",)), Mark.LINE, columns=(F("day"),), rows=(F("revenue"),))
    with pytest.raises(ResultTooLarge, match="more than the 5,000 a chart shows") as err:
        charts.render(spec, data, MODEL, "en")
    assert "5,001" in err.value.message("zh")
    charts.render(spec, data.iloc[:charts.MAX_POINTS], MODEL, "en").to_dict()   # at the limit it draws


# -- render: one case per mark ----------------------------------------------------------------

def enc(spec: dict, mark: str) -> dict:
    return next(v["encoding"] for v in views(spec) if mark_type(v) == mark)


def test_bar_axis_money_and_selection():
    spec = ChartSpec(q(), Mark.BAR, columns=(F("region"),), rows=(F("revenue"),), title="营业收入")
    d = charts.render(spec, BY_REGION, MODEL).to_dict()
    e = enc(d, "bar")
    assert (e["x"]["field"], e["x"]["type"]) == ("region", "nominal")
    assert (e["y"]["field"], e["y"]["type"]) == ("revenue", "quantitative")
    assert e["y"]["axis"]["title"] == "营业收入"
    assert "10000" in e["y"]["axis"]["labelExpr"] and "'万'" in e["y"]["axis"]["labelExpr"]   # max 150万: 万 scale
    assert [t["title"] for t in e["tooltip"]] == ["区域", "营业收入"]
    assert d["title"] == "营业收入"
    assert pick_fields(d) == ["region"]
    assert d["data"]["values"] if "data" in d and "values" in d["data"] else d["datasets"]
    assert d["config"]["range"]["category"][0] == charts.theme().primary == "#1F4E79"


def test_bar_tooltip_text_is_formatted():
    spec = ChartSpec(q(), Mark.BAR, columns=(F("region"),), rows=(F("revenue"),))
    d = charts.render(spec, BY_REGION, MODEL).to_dict()
    rows = next(iter(d["datasets"].values()))
    assert rows[0]["revenue__text"] == "¥150.00万" and rows[0]["region"] == "华东"


def test_horizontal_bar_when_metric_on_columns():
    spec = ChartSpec(q(), Mark.BAR, columns=(F("revenue"),), rows=(F("region"),))
    e = enc(charts.render(spec, BY_REGION, MODEL).to_dict(), "bar")
    assert e["x"]["field"] == "revenue" and e["y"]["field"] == "region"


@pytest.mark.parametrize("style,red", [(NegativeStyle.RED, True), (NegativeStyle.BRACKETS, False)])
def test_negative_bars_red_only_in_red_style(style, red):
    spec = ChartSpec(q(("gross_profit",)), Mark.BAR, columns=(F("region"),), rows=(F("gross_profit"),), negative=style)
    e = enc(charts.render(spec, BY_REGION, MODEL).to_dict(), "bar")
    conditions = e["color"]["condition"]
    assert any(c["value"] == charts.NEGATIVE and "gross_profit" in c["test"] for c in conditions) is red
    assert any(c["value"] == charts.OTHER_COLOR and "其他" in c["test"] for c in conditions)   # the top-N rest
    rows = charts.table(spec, BY_REGION, MODEL, "zh")["毛利"].tolist()
    assert rows[1] == ("-¥2.00万" if red else "(¥2.00万)")


def test_grouped_and_stacked_bars():
    base = dict(columns=(F("month"),), rows=(F("revenue"),), color=F("region"))
    grouped = enc(charts.render(ChartSpec(q(dims=("month", "region")), Mark.BAR, **base), BY_MONTH, MODEL).to_dict(), "bar")
    stacked = enc(charts.render(ChartSpec(q(dims=("month", "region")), Mark.BAR_STACKED, **base), BY_MONTH,
                                MODEL).to_dict(), "bar")
    assert grouped["xOffset"]["field"] == "region" and grouped["y"]["stack"] is None
    assert "xOffset" not in stacked and stacked["y"]["stack"] == "zero"
    assert grouped["color"]["field"] == stacked["color"]["field"] == "region"
    assert grouped["x"]["axis"]["labelAngle"] == -45


def test_two_metrics_of_different_units_get_two_axes():
    spec = ChartSpec(q(("revenue", "gross_margin")), Mark.BAR, columns=(F("region"),),
                     rows=(F("revenue"), F("gross_margin")))
    d = charts.render(spec, BY_REGION, MODEL).to_dict()
    assert d["resolve"]["scale"]["y"] == "independent"
    line = enc(d, "line")
    assert line["y"]["field"] == "gross_margin" and "%" in line["y"]["axis"]["labelExpr"]


def test_two_metrics_of_one_unit_become_series():
    spec = ChartSpec(q(("revenue", "gross_profit")), Mark.BAR, columns=(F("region"),),
                     rows=(F("revenue"), F("gross_profit")))
    d = charts.render(spec, BY_REGION, MODEL).to_dict()
    e = enc(d, "bar")
    assert e["y"]["field"] == "__value" and e["color"]["field"] == "__measure"
    assert e["color"]["scale"]["domain"] == ["营业收入", "毛利"]


def test_line_with_time_axis_points_and_selection():
    spec = ChartSpec(q(dims=("month", "region")), Mark.LINE, columns=(F("month"),), rows=(F("revenue"),),
                     color=F("region"))
    d = charts.render(spec, BY_MONTH, MODEL, "en").to_dict()
    assert {mark_type(v) for v in views(d)} == {"line", "point"}
    e = enc(d, "point")
    assert (e["x"]["field"], e["x"]["title"]) == ("month", "Month")
    assert e["y"]["axis"]["title"] == "Net revenue"
    assert pick_fields(d) == ["region"]                 # the first non-time dimension
    rows = next(iter(d["datasets"].values()))
    assert rows[0]["month"] == "2025-01"                # time buckets drawn (and selected) as labels


@pytest.mark.parametrize("mark,field", [(Mark.BAR, "region"), (Mark.LINE, "region"), (Mark.AREA, None),
                                        (Mark.PIE, "region"), (Mark.TABLE, None)])
def test_selection_field_matches_the_drawn_chart(mark, field):
    spec = ChartSpec(q(dims=("month", "region")), mark, columns=(F("month"),), rows=(F("revenue"),), color=F("region"))
    assert charts.selection_field(spec, MODEL) == field
    if mark in charts.CLICKABLE:
        assert pick_fields(charts.render(spec, BY_MONTH, MODEL).to_dict()) == [field]


def test_line_over_time_only_selects_the_time_field():
    spec = ChartSpec(q(dims=("month",)), Mark.LINE, columns=(F("month"),), rows=(F("revenue"),))
    assert pick_fields(charts.render(spec, BY_MONTH.head(2), MODEL).to_dict()) == ["month"]


def test_area_is_stacked_and_not_clickable():
    spec = ChartSpec(q(dims=("month", "region")), Mark.AREA, columns=(F("month"),), rows=(F("revenue"),),
                     color=F("region"))
    d = charts.render(spec, BY_MONTH, MODEL).to_dict()
    assert enc(d, "area")["y"]["stack"] == "zero" and pick_fields(d) is None


def test_scatter():
    spec = ChartSpec(q(("revenue", "gross_margin")), Mark.SCATTER, columns=(F("revenue"),),
                     rows=(F("gross_margin"),), color=F("region"))
    d = charts.render(spec, BY_REGION, MODEL).to_dict()
    e = enc(d, "circle")
    assert (e["x"]["field"], e["y"]["field"], e["color"]["field"]) == ("revenue", "gross_margin", "region")
    assert "format(datum.value, '.1~%')" == e["y"]["axis"]["labelExpr"]
    assert pick_fields(d) == ["region"]


def test_heatmap_colours_by_metric():
    spec = ChartSpec(q(dims=("month", "region")), Mark.HEATMAP, columns=(F("month"),), rows=(F("region"),),
                     color=F("revenue"))
    d = charts.render(spec, BY_MONTH, MODEL).to_dict()
    e = enc(d, "rect")
    assert (e["x"]["field"], e["y"]["field"]) == ("month", "region")
    assert (e["color"]["field"], e["color"]["type"]) == ("revenue", "quantitative")
    assert e["color"]["scale"]["scheme"] == "blues"
    assert pick_fields(d) == ["region"]


def test_heatmap_of_a_change_is_diverging_and_reversed_for_costs():
    data = BY_MONTH.assign(opex__yoy=[0.1, -0.2, 0.0, 0.3])
    spec = ChartSpec(q(("opex",), ("month", "region")), Mark.HEATMAP, columns=(F("month"),), rows=(F("region"),),
                     color=F("opex", Calc.YOY))
    scale = enc(charts.render(spec, data, MODEL).to_dict(), "rect")["color"]["scale"]
    assert scale["domainMid"] == 0 and scale["reverse"] is True


@pytest.mark.parametrize("mark,inner", [(Mark.PIE, 0), (Mark.DONUT, 1)])
def test_pie_and_donut(mark, inner):
    data = BY_REGION.assign(gross_profit=BY_REGION["gross_profit"].abs())
    spec = ChartSpec(q(), mark, color=F("region"), rows=(F("revenue"),))
    d = charts.render(spec, data, MODEL).to_dict()
    v = next(views(d))
    assert mark_type(v) == "arc" and (v["mark"]["innerRadius"] > 0) == bool(inner)
    assert v["encoding"]["theta"]["field"] == "revenue" and v["encoding"]["color"]["field"] == "region"
    # 其他 is grey, the rest from the palette in data order
    assert v["encoding"]["color"]["scale"]["range"] == [charts.PALETTE[0], charts.PALETTE[1], charts.OTHER_COLOR]
    rows = next(iter(d["datasets"].values()))
    assert [r["__share__text"] for r in rows] == ["75.0%", "10.0%", "15.0%"]
    assert pick_fields(d) == ["region"]


def test_pie_refuses_negative_values():
    spec = ChartSpec(q(("gross_profit",)), Mark.PIE, color=F("region"), rows=(F("gross_profit"),))
    with pytest.raises(InvalidSpec, match="negative"):
        charts.render(spec, BY_REGION, MODEL)


def test_facet_and_presentation_size():
    spec = ChartSpec(q(dims=("month", "region")), Mark.BAR, columns=(F("month"),), rows=(F("revenue"),),
                     facet=F("region"))
    small = charts.render(spec, BY_MONTH, MODEL).to_dict()
    big = charts.render(spec, BY_MONTH, MODEL, big=True).to_dict()
    assert small["facet"]["field"] == "region" and small["columns"] == 3
    assert big["config"]["axis"]["labelFontSize"] > small["config"]["axis"]["labelFontSize"]
    assert big["spec"]["height"] > small["spec"]["height"]


def test_quick_calc_axis_and_label():
    spec = ChartSpec(q(), Mark.BAR, columns=(F("region"),), rows=(F("revenue", Calc.YOY),))
    e = enc(charts.render(spec, BY_REGION, MODEL).to_dict(), "bar")
    assert e["y"]["field"] == "revenue__yoy" and e["y"]["axis"]["title"] == "营业收入同比"
    assert e["y"]["axis"]["labelExpr"] == "format(datum.value, '+.1~%')"


@pytest.mark.parametrize("mark", [Mark.TABLE, Mark.PIVOT, Mark.KPI])
def test_text_marks_are_not_drawn(mark):
    with pytest.raises(InvalidSpec):
        charts.render(ChartSpec(q(), mark, columns=(F("region"),), rows=(F("revenue"),)), BY_REGION, MODEL)


def test_bad_shelves_say_what_to_move():
    with pytest.raises(InvalidSpec, match="Unknown field 'revnue'"):
        charts.render(ChartSpec(q(), Mark.BAR, columns=(F("region"),), rows=(F("revnue"),)), BY_REGION, MODEL)
    with pytest.raises(InvalidSpec, match="scatter needs two metrics"):
        charts.render(ChartSpec(q(), Mark.SCATTER, columns=(F("region"),), rows=(F("revenue"),)), BY_REGION, MODEL)


# -- formats ----------------------------------------------------------------------------------

FORMATS = [
    # field, value, lang, negative, scale, expected
    (F("revenue"), 123_456_789.0, "zh", NegativeStyle.RED, None, "¥1.23亿"),
    (F("revenue"), -12_345.6, "zh", NegativeStyle.RED, None, "-¥1.23万"),
    (F("revenue"), -12_345.6, "zh", NegativeStyle.BRACKETS, None, "(¥1.23万)"),
    (F("revenue"), 12_345_678.0, "en", NegativeStyle.RED, None, "¥12.35M"),
    (F("revenue"), 12_345.0, "zh", NegativeStyle.RED, MoneyScale.YI, "¥0.00亿"),
    (F("revenue"), -0.001, "zh", NegativeStyle.BRACKETS, MoneyScale.YUAN, "¥0.00"),   # rounds to zero: no sign
    (F("gross_margin"), 0.32449, "zh", NegativeStyle.RED, None, "32.4%"),
    (F("gross_margin"), -0.05, "zh", NegativeStyle.BRACKETS, None, "(5.0%)"),
    (F("gross_margin", Calc.YOY), 0.0123, "zh", NegativeStyle.RED, None, "+1.2个百分点"),
    (F("revenue", Calc.YOY), -0.1, "en", NegativeStyle.BRACKETS, None, "-10.0%"),     # changes keep their sign
    (F("revenue", Calc.PCT_TOTAL), 0.25, "zh", NegativeStyle.RED, None, "25.0%"),
    (F("revenue", Calc.RANK), 3.0, "zh", NegativeStyle.RED, None, "3"),
    (F("dso"), 45.25, "zh", NegativeStyle.RED, None, "45.2天"),
    (F("dso"), 45.25, "en", NegativeStyle.RED, None, "45.2 days"),
    (F("orders"), 12345.0, "zh", NegativeStyle.RED, None, "12,345"),
    (F("revenue"), None, "zh", NegativeStyle.RED, None, "—"),
]


@pytest.mark.parametrize("field,value,lang,negative,scale,expected", FORMATS)
def test_text_formats(field, value, lang, negative, scale, expected):
    fi = chart_format.info(field, MODEL, lang)
    unit = chart_format.money_unit((), scale, lang) if scale else None
    assert chart_format.text(value, fi, lang, negative, unit) == expected


def test_excel_formats():
    fi = lambda f: chart_format.info(f, MODEL, "zh")  # noqa: E731
    assert chart_format.excel_format(fi(F("revenue")), NegativeStyle.BRACKETS) == '"¥"#,##0.00;("¥"#,##0.00)'
    assert chart_format.excel_format(fi(F("gross_margin"))) == "0.0%;[Red]-0.0%"
    assert chart_format.excel_format(fi(F("revenue", Calc.YOY))) == "+0.0%;[Red]-0.0%;0.0%"
    assert chart_format.excel_value(0.012, fi(F("gross_margin", Calc.YOY))) == pytest.approx(1.2)


# -- table, pivot, KPI ------------------------------------------------------------------------

def test_table_headers_and_numbers_en():
    spec = ChartSpec(q(("revenue", "gross_margin")), Mark.TABLE, columns=(F("region"),),
                     rows=(F("revenue"), F("gross_margin"), F("revenue", Calc.YOY)))
    out = charts.table(spec, BY_REGION, MODEL, "en")
    assert list(out.columns) == ["Region", "Net revenue", "Gross margin", "Net revenue YoY"]
    assert out.iloc[0].tolist() == ["华东", "¥1.50M", "30.0%", "+5.2%"]
    assert out.iloc[2].tolist() == ["其他", "¥0.30M", "20.0%", "—"]


def test_style_negatives_marks_red_cells():
    spec = ChartSpec(q(("gross_profit",)), Mark.TABLE, columns=(F("region"),), rows=(F("gross_profit"),))
    styles = charts.style_negatives(charts.table(spec, BY_REGION, MODEL, "zh"))._compute().ctx
    assert styles[(1, 1)] == [("color", "#C62828")] and (0, 1) not in styles


PIVOT_SPEC = ChartSpec(q(("revenue", "gross_margin"), ("region", "month")), Mark.PIVOT, columns=(F("month"),),
                       rows=(F("region"), F("revenue"), F("gross_margin")))


def test_pivot_sums_additive_metrics_and_leaves_ratios_to_the_caller():
    v = charts.pivot_values(PIVOT_SPEC, BY_MONTH, MODEL)
    assert v.loc["合计", ("合计", "revenue")] == 1000.0
    assert v.loc["华东", ("合计", "revenue")] == 300.0 and v.loc["合计", ("2025-02", "revenue")] == 600.0
    assert math.isnan(v.loc["华东", ("合计", "gross_margin")])          # never 0.1 + 0.2
    assert list(v.index) == ["华东", "华北", "合计"]
    out = charts.pivot(PIVOT_SPEC, BY_MONTH, MODEL)
    assert list(out.columns)[:3] == ["区域", "2025-01 · 营业收入", "2025-01 · 毛利率"]
    assert out.iloc[2]["合计 · 毛利率"] == "—" and out.iloc[2]["合计 · 营业收入"] == "¥1,000.00"


def test_pivot_subtotals_over_two_row_dimensions():
    data = pd.DataFrame({"region": ["华东", "华东", "西部"], "channel": ["线上", "线下", "线上"],
                         "revenue": [10.0, 20.0, 5.0]})
    spec = ChartSpec(q(dims=("region", "channel")), Mark.PIVOT, rows=(F("region"), F("channel"), F("revenue")))
    assert charts.total_grains(spec, MODEL) == [(), ("region",)]
    v = charts.pivot_values(spec, data, MODEL)
    assert list(v.index) == [("华东", "线上"), ("华东", "线下"), ("华东", "小计"), ("西部", "线上"), ("西部", "小计"),
                             ("合计", "")]
    assert v["revenue"].tolist() == [10.0, 20.0, 30.0, 5.0, 5.0, 35.0]


def test_pivot_refuses_a_dimension_on_no_shelf():
    spec = ChartSpec(q(dims=("region", "month")), Mark.PIVOT, rows=(F("region"), F("revenue")))
    with pytest.raises(InvalidSpec, match="Rows or Columns"):
        charts.pivot(spec, BY_MONTH, MODEL)


def test_pivot_ratio_totals_from_the_query_layer(fin):
    """Gross margin totals re-aggregated by lib.semantic.query at the coarser grain, not summed (worked out in fixtures_finance)."""
    spec = ChartSpec(q(("revenue", "gross_margin"), ("region", "month"),
                       time_range=TimeRange(dt.date(2025, 1, 1), dt.date(2025, 2, 28))),
                     Mark.PIVOT, columns=(F("month"),), rows=(F("region"), F("revenue"), F("gross_margin")))
    data = query.run(fin, spec.query)
    specs = charts.total_specs(spec, MODEL)
    assert set(specs) == {(), ("month",), ("region",)}
    totals = {grain: query.run(fin, s) for grain, s in specs.items()}
    v = charts.pivot_values(spec, data, MODEL, totals=totals)
    gm = lambda r, c: v.loc[r, (c, "gross_margin")]  # noqa: E731
    assert gm(HUADONG, "2025-01") == pytest.approx(110 / 240)
    assert gm("合计", "2025-01") == pytest.approx(170 / 400)          # not 110/240 + 60/160
    assert gm(XIBU, "合计") == pytest.approx(110 / 260)
    assert gm("合计", "合计") == pytest.approx(310 / 700)
    assert v.loc["合计", ("合计", "revenue")] == pytest.approx(700)
    assert charts.pivot(spec, data, MODEL, totals=totals).iloc[2]["合计 · 毛利率"] == "44.3%"


def test_kpi_tiles_colour_by_direction():
    data = pd.DataFrame({"revenue": [123_456.0], "revenue__yoy": [-0.05], "opex": [50_000.0], "opex__chg": [-0.1],
                         "gross_margin": [0.3], "gross_margin__mom": [0.01], "orders": [12.0]})
    spec = ChartSpec(q(("revenue", "opex", "gross_margin", "orders"), (), comparison=Comparison.MOM), Mark.KPI)
    rev, opex, gm, orders = charts.kpi(spec, data, MODEL, "zh")
    assert (rev.label, rev.value_text, rev.change_text, rev.good, rev.change_label) == (
        "营业收入", "¥12.35万", "-5.0%", False, "同比")
    assert (opex.change_text, opex.good, opex.change_label) == ("-10.0%", True, "环比")   # costs down: good
    assert (gm.change_text, gm.good) == ("+1.0个百分点", True)
    assert (orders.value_text, orders.change_text, orders.good) == ("12", None, None)
    assert [charts.delta_color(x) for x in (rev, opex, gm, orders)] == ["normal", "inverse", "normal", "off"]


def test_kpi_refuses_several_rows():
    with pytest.raises(InvalidSpec, match="3 rows"):
        charts.kpi(ChartSpec(q(), Mark.KPI, rows=(F("revenue"),)), BY_REGION, MODEL)


def test_revenue_margin_trend_still_draws():
    trend = pd.DataFrame({"month": pd.to_datetime(["2025-01-01", "2025-02-01"]), "revenue": [1e5, 2e5],
                          "gross_margin": [0.3, 0.31]})
    assert {mark_type(v) for v in views(charts.revenue_margin_trend(trend).to_dict())} == {"bar", "line"}
