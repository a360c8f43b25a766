"""Altair charts in the house style: ChartSpecs rendered with finance formats, the app theme and zh/en labels.

``render`` draws every mark except table, pivot and KPI (those are ``table``/``pivot``/``kpi``, in
``lib.explore.chart_tables`` and re-exported here). Clickable charts carry a point selection named
``SELECTION`` ("pick") on the chart's first non-time dimension (else its time field); time buckets
are drawn as their labels (``lib.semantic.periods.bucket_label``: "2025-03", "2025-Q2"), so a selection on a
time field returns that label.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import altair as alt
import pandas as pd

from lib.core.errors import ResultTooLarge
from lib.core.i18n import t
from lib.explore.chart_format import (
    BAR,
    FONTS,
    LINE,
    NEGATIVE,
    OTHER_COLOR,
    PALETTE,
    FieldInfo,
    Kind,
    MoneyUnit,
    Theme,
    Unit,
    dim_text,
    info,
    kind_of,
    money_unit,
    text,
    theme,
    theme_config,
    vega_label_expr,
)
from lib.explore.chart_tables import (
    KpiTile,
    delta_color,
    kpi,
    pivot,
    pivot_values,
    style_negatives,
    table,
    total_grains,
    total_specs,
)
from lib.semantic.model import Direction
from lib.semantic.spec import ChartSpec, Field, InvalidSpec, Mark, MoneyScale, NegativeStyle

__all__ = ["BAR", "CLICKABLE", "FONTS", "LINE", "NEGATIVE", "OTHER_COLOR", "PALETTE", "SELECTION", "KpiTile", "Theme",
           "delta_color", "kpi", "pivot", "pivot_values", "render", "revenue_margin_trend", "selection_field",
           "style_negatives", "suggest_mark", "table", "theme", "theme_config", "total_grains", "total_specs"]

SELECTION = "pick"
DRAWN = (Mark.BAR, Mark.BAR_STACKED, Mark.LINE, Mark.AREA, Mark.SCATTER, Mark.HEATMAP, Mark.PIE, Mark.DONUT)
CLICKABLE = tuple(m for m in DRAWN if m is not Mark.AREA)
MAX_POINTS = alt.data_transformers.options.get("max_rows", 5000)
"""Rows a chart draws at most: Altair's own limit (5,000), kept on purpose. A browser draws that many marks
smoothly; above it the chart would be unreadable and slow, so the reader is told to filter, take top N, use a
coarser grain or read it as a table (which shows up to the query's row cap)."""


# -- Show-Me ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _theme(big: bool) -> alt.Config:
    """The theme as an Altair Config, built once: validating it costs 0.2-0.4 s per chart.
    Shared between charts, so nothing may modify it in place (Altair's configure_* copy)."""
    return alt.Config.from_dict(theme_config(big))

def suggest_mark(chart: ChartSpec, model) -> Mark:
    """The mark the shelves call for (Show-Me): time → line, one dimension → bar, two → heatmap/grouped bar.

    Only Columns, Rows and Color decide; size, facet and tooltip fields never change the mark.
    """
    positional = [*chart.columns, *chart.rows]
    kinds = {id(f): kind_of(f.name, model) for f in [*positional, *([chart.color] if chart.color else [])]}
    metric_cols = any(kinds[id(f)] is Kind.METRIC for f in chart.columns)
    metric_rows = any(kinds[id(f)] is Kind.METRIC for f in chart.rows)
    cats = [f for f in positional if kinds[id(f)] is not Kind.METRIC]
    color_cat = chart.color is not None and kinds[id(chart.color)] is not Kind.METRIC
    all_cats = cats + ([chart.color] if color_cat else [])
    has_time = any(kinds[id(f)] is Kind.TIME for f in all_cats)
    has_dim = any(kinds[id(f)] is Kind.DIMENSION for f in all_cats)
    if not (metric_cols or metric_rows or (chart.color is not None and not color_cat)):
        return Mark.TABLE
    if not all_cats:
        return Mark.KPI
    if metric_cols and metric_rows:
        return Mark.SCATTER if has_dim else Mark.LINE
    if len(all_cats) > 2:
        return Mark.TABLE
    both_axes = any(f in chart.columns for f in cats) and any(f in chart.rows for f in cats)
    if len(all_cats) == 2 and both_axes:
        return Mark.HEATMAP
    return Mark.LINE if has_time else Mark.BAR


def selection_field(chart: ChartSpec, model) -> str | None:
    """The data column a click on the drawn chart selects (the "pick" selection), or None when it has none.

    Pages pass ``on_select`` only when this is not None; the selection's value is a dimension member,
    or a time bucket label such as "2025-03" for a time field.
    """
    mark = chart.mark if chart.mark is not Mark.AUTO else suggest_mark(chart, model)
    return _shelves(chart, model, "zh").pick if mark in CLICKABLE else None


# -- rendering --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Shelves:
    cats: tuple[FieldInfo, ...]         # dimensions and time on Columns/Rows, in shelf order
    metrics: tuple[FieldInfo, ...]      # metrics on Columns/Rows
    x_metrics: tuple[FieldInfo, ...]
    y_metrics: tuple[FieldInfo, ...]
    horizontal: bool                    # the value axis is X (a metric on Columns, a dimension on Rows)
    color: FieldInfo | None
    size: FieldInfo | None
    facet: FieldInfo | None
    tooltip: tuple[FieldInfo, ...]
    pick: str | None                    # the column the selection is on


def _shelves(chart: ChartSpec, model, lang: str) -> _Shelves:
    cols = [info(f, model, lang) for f in chart.columns]
    rows = [info(f, model, lang) for f in chart.rows]
    one = lambda f: info(f, model, lang) if f is not None else None  # noqa: E731
    color, size, facet = one(chart.color), one(chart.size), one(chart.facet)
    tips = tuple(info(f, model, lang) for f in chart.tooltip)
    xm = tuple(i for i in cols if i.kind is Kind.METRIC)
    ym = tuple(i for i in rows if i.kind is Kind.METRIC)
    cats = tuple(i for i in [*cols, *rows] if i.kind is not Kind.METRIC)
    metrics = (*xm, *ym)
    if not metrics:  # a metric on Color or Size only, or none on a shelf: the query's first metric
        extra = [i for i in (color, size) if i is not None and i.kind is Kind.METRIC]
        metrics = tuple(extra[:1]) or ((info(_first(chart), model, lang),) if chart.query.metrics else ())
    horizontal = bool(xm) and not ym and any(i.kind is not Kind.METRIC for i in rows)
    everything = [*cats, *[i for i in (color, facet) if i is not None], *tips]
    nontime = [i for i in everything if i.kind is Kind.DIMENSION]
    timed = [i for i in everything if i.kind is Kind.TIME]
    pick = (nontime or timed or [None])[0]
    return _Shelves(cats, metrics, xm, ym, horizontal, color, size, facet, tips, pick.column if pick else None)


def _first(chart: ChartSpec) -> Field:
    return Field(chart.query.metrics[0])


def _frame(chart: ChartSpec, data: pd.DataFrame, infos: list[FieldInfo], lang: str) -> pd.DataFrame:
    """The chart's data: dimension members as text, metrics as floats plus a ``<col>__text`` for tooltips."""
    out = pd.DataFrame(index=range(len(data)))
    for fi in {i.column: i for i in infos}.values():
        if fi.column not in data.columns:
            raise InvalidSpec(f"The data has no column '{fi.column}' (columns: {', '.join(map(str, data.columns))}).",
                              f"数据中没有“{fi.column}”列。")
        col = data[fi.column].reset_index(drop=True)
        if fi.kind is Kind.METRIC:
            out[fi.column] = pd.to_numeric(col, errors="coerce").astype(float)
            out[f"{fi.column}__text"] = [text(v, fi, lang, chart.negative, _fixed(chart, lang)) for v in out[fi.column]]
        else:
            out[fi.column] = [dim_text(v, fi) for v in col]
    return out


def _fixed(chart: ChartSpec, lang: str) -> MoneyUnit | None:
    return None if chart.scale is MoneyScale.AUTO else money_unit((), chart.scale, lang)


def _axis(fi: FieldInfo, values: pd.Series, chart: ChartSpec, lang: str, title: str | None = None, **kw) -> alt.Axis:
    unit = money_unit(values, chart.scale, lang) if fi.unit is Unit.CURRENCY else None
    return alt.Axis(title=title or fi.label, labelExpr=vega_label_expr(fi, lang, unit), **kw)


def _legend(fi: FieldInfo, values: pd.Series, chart: ChartSpec, lang: str) -> alt.Legend:
    unit = money_unit(values, chart.scale, lang) if fi.unit is Unit.CURRENCY else None
    return alt.Legend(title=fi.label, labelExpr=vega_label_expr(fi, lang, unit))


def _nominal(fi: FieldInfo, df: pd.DataFrame, lang: str) -> alt.Color:
    """A categorical colour in data order, with 其他/Other in grey."""
    domain = list(dict.fromkeys(df[fi.column].tolist()))
    other = t("charts.other", lang)
    colors = [OTHER_COLOR if v == other else PALETTE[i % len(PALETTE)] for i, v in enumerate(domain)]
    return alt.Color(f"{fi.column}:N", title=fi.label, sort=domain, scale=alt.Scale(domain=domain, range=colors),
                     legend=alt.Legend(title=fi.label))


def _tips(fields: list[FieldInfo | None]) -> list[alt.Tooltip]:
    out, seen = [], set()
    for fi in fields:
        if fi is None or fi.column in seen:
            continue
        seen.add(fi.column)
        name = f"{fi.column}__text" if fi.kind is Kind.METRIC else fi.column
        out.append(alt.Tooltip(f"{name}:N", title=fi.label))
    return out


def _split_units(metrics: tuple[FieldInfo, ...], lang: str) -> tuple[list[FieldInfo], list[FieldInfo]]:
    primary = [m for m in metrics if m.unit is metrics[0].unit]
    secondary = [m for m in metrics if m.unit is not metrics[0].unit]
    if len({m.unit for m in secondary}) > 1 or (secondary and len(primary) > 1):
        bad = secondary[-1].label
        raise InvalidSpec(t("charts.error.units", "en", metric=bad), t("charts.error.units", "zh", metric=bad))
    return primary, secondary


def _select(s: _Shelves):
    return alt.selection_point(name=SELECTION, fields=[s.pick]) if s.pick else None


def _series(s: _Shelves) -> FieldInfo | None:
    if s.color is not None and s.color.kind is not Kind.METRIC:
        return s.color
    return s.cats[1] if len(s.cats) > 1 else None


def _xy(chart: ChartSpec, s: _Shelves, df: pd.DataFrame, lang: str, lines: bool):
    """Bars, lines and areas: a category axis, one value axis (metrics of one unit) and maybe a second."""
    if not s.metrics:
        raise InvalidSpec(t("charts.error.no_metric", "en"), t("charts.error.no_metric", "zh"))
    cat = s.cats[0] if s.cats else None
    series = _series(s)
    primary, secondary = _split_units(s.metrics, lang)
    if len(primary) > 1 and series is not None:
        raise InvalidSpec(t("charts.error.series", "en", metric=primary[1].label),
                          t("charts.error.series", "zh", metric=primary[1].label))
    value = primary[0]
    if len(primary) > 1:   # several metrics of one unit: one series per metric (Measure Names)
        drop = {c for m in primary for c in (m.column, f"{m.column}__text")}
        keep = [c for c in df.columns if c not in drop]
        parts = [df[keep].assign(__measure=m.label, __value=df[m.column], __value__text=df[f"{m.column}__text"])
                 for m in primary]
        df = pd.concat(parts, ignore_index=True)
        series = FieldInfo(value.field, Kind.DIMENSION, "__measure", t("charts.measure", lang))
        value = FieldInfo(value.field, Kind.METRIC, "__value", " / ".join(m.label for m in primary),
                          value.unit, value.decimals, value.direction)
    horizontal = s.horizontal and not lines
    pick = None if chart.mark is Mark.AREA else _select(s)
    cat_enc = (alt.X if not horizontal else alt.Y)(
        f"{cat.column}:N" if cat else "__none:N", title=cat.label if cat else None, sort=None,
        axis=alt.Axis(labelAngle=-45 if cat and cat.kind is Kind.TIME and not horizontal else 0, labelLimit=220))
    stacked = chart.mark in (Mark.BAR_STACKED, Mark.AREA)
    val_enc = (alt.Y if not horizontal else alt.X)(
        f"{value.column}:Q", axis=_axis(value, df[value.column], chart, lang),
        stack="zero" if stacked else None, scale=alt.Scale(zero=not lines or stacked))
    enc = {"x" if not horizontal else "y": cat_enc, "y" if not horizontal else "x": val_enc,
           "tooltip": _tips([cat, series, value, *secondary, *s.tooltip])}
    if series is not None:
        enc["color"] = _nominal(series, df, lang)
        if chart.mark is Mark.BAR and not lines:
            enc["xOffset" if not horizontal else "yOffset"] = alt.XOffset(f"{series.column}:N", sort=None) \
                if not horizontal else alt.YOffset(f"{series.column}:N", sort=None)
    elif not lines:   # one series: negative bars red (when asked), the 其他/Other bar grey
        conds = []
        if chart.negative is NegativeStyle.RED and (df[value.column] < 0).any():
            conds.append({"test": f"datum['{value.column}'] < 0", "value": NEGATIVE})
        other = t("charts.other", lang)
        if cat is not None and (df[cat.column] == other).any():
            conds.append({"test": f"datum['{cat.column}'] === '{other}'", "value": OTHER_COLOR})
        if conds:
            enc["color"] = alt.ColorValue(value=theme().primary, condition=conds)
    if pick is not None:
        enc["opacity"] = alt.condition(pick, alt.value(1.0), alt.value(0.35))
    base = alt.Chart()
    if not lines:
        layers = [base.mark_bar().encode(**enc)]
    elif chart.mark is Mark.AREA:
        layers = [base.mark_area(opacity=0.8, line=True).encode(**enc)]
    else:
        line_enc = {k: v for k, v in enc.items() if k in ("x", "y", "color")}
        layers = [base.mark_line(strokeWidth=2.5).encode(**line_enc),
                  base.mark_point(filled=True, size=70).encode(**enc)]
    if pick is not None:
        layers[-1] = layers[-1].add_params(pick)
    if secondary:
        m = secondary[0]
        second = (alt.Y if not horizontal else alt.X)(
            f"{m.column}:Q", axis=_axis(m, df[m.column], chart, lang, orient="right" if not horizontal else "top",
                                        titleColor=LINE), scale=alt.Scale(zero=False))
        axes = {"x" if not horizontal else "y": cat_enc, "y" if not horizontal else "x": second}
        layers += [base.mark_line(color=LINE, strokeWidth=2.5).encode(**axes),
                   base.mark_point(color=LINE, filled=True, size=60).encode(**axes, tooltip=enc["tooltip"])]
    return layers, df, {"y" if not horizontal else "x": "independent"} if secondary else None


def _scatter(chart: ChartSpec, s: _Shelves, df: pd.DataFrame, lang: str):
    metrics = [*s.x_metrics[:1], *s.y_metrics[:1]] if s.x_metrics and s.y_metrics else list(s.metrics[:2])
    if len(metrics) < 2:
        raise InvalidSpec(t("charts.error.scatter", "en"), t("charts.error.scatter", "zh"))
    xm, ym = metrics
    pick = _select(s)
    enc = {"x": alt.X(f"{xm.column}:Q", axis=_axis(xm, df[xm.column], chart, lang), scale=alt.Scale(zero=False)),
           "y": alt.Y(f"{ym.column}:Q", axis=_axis(ym, df[ym.column], chart, lang), scale=alt.Scale(zero=False)),
           "tooltip": _tips([*s.cats, s.color, xm, ym, s.size, *s.tooltip])}
    if s.pick:
        enc["detail"] = alt.Detail(f"{s.pick}:N")
    if s.color is not None:
        enc["color"] = (_nominal(s.color, df, lang) if s.color.kind is not Kind.METRIC else
                        alt.Color(f"{s.color.column}:Q", legend=_legend(s.color, df[s.color.column], chart, lang)))
    if s.size is not None and s.size.kind is Kind.METRIC:
        enc["size"] = alt.Size(f"{s.size.column}:Q", legend=_legend(s.size, df[s.size.column], chart, lang))
    if pick is not None:
        enc["opacity"] = alt.condition(pick, alt.value(0.9), alt.value(0.25))
    layer = alt.Chart().mark_circle(size=90).encode(**enc)
    return [layer.add_params(pick) if pick is not None else layer], df, None


def _heatmap(chart: ChartSpec, s: _Shelves, df: pd.DataFrame, lang: str):
    value = s.color if s.color is not None and s.color.kind is Kind.METRIC else (s.metrics[0] if s.metrics else None)
    if len(s.cats) < 2 or value is None:
        raise InvalidSpec(t("charts.error.heatmap", "en"), t("charts.error.heatmap", "zh"))
    x, y = s.cats[0], s.cats[1]
    vals = df[value.column]
    diverging = value.unit in (Unit.CHANGE, Unit.PERCENT_POINTS) or bool((vals < 0).any())
    # Green is good: reversed for costs; a neutral metric diverges without judging (blue/orange).
    scheme = "blueorange" if value.direction is Direction.NEUTRAL else "redyellowgreen"
    scale = (alt.Scale(scheme=scheme, domainMid=0, reverse=value.direction is Direction.LOWER_IS_BETTER)
             if diverging else alt.Scale(scheme="blues"))
    pick = _select(s)
    enc = {"x": alt.X(f"{x.column}:N", title=x.label, sort=None,
                      axis=alt.Axis(labelAngle=-45 if x.kind is Kind.TIME else 0)),
           "y": alt.Y(f"{y.column}:N", title=y.label, sort=None),
           "color": alt.Color(f"{value.column}:Q", scale=scale, legend=_legend(value, vals, chart, lang)),
           "tooltip": _tips([x, y, value, *[m for m in s.metrics if m is not value], *s.tooltip])}
    if pick is not None:
        enc["opacity"] = alt.condition(pick, alt.value(1.0), alt.value(0.4))
    layer = alt.Chart().mark_rect().encode(**enc)
    return [layer.add_params(pick) if pick is not None else layer], df, None


def _pie(chart: ChartSpec, s: _Shelves, df: pd.DataFrame, lang: str, donut: bool, big: bool):
    cat = s.color if s.color is not None and s.color.kind is not Kind.METRIC else (s.cats[0] if s.cats else None)
    if cat is None or not s.metrics:
        raise InvalidSpec(t("charts.error.pie", "en"), t("charts.error.pie", "zh"))
    value = s.metrics[0]
    if (df[value.column] < 0).any():
        raise InvalidSpec(t("charts.error.pie_negative", "en", metric=value.label),
                          t("charts.error.pie_negative", "zh", metric=value.label))
    total = df[value.column].sum()
    share = FieldInfo(value.field, Kind.METRIC, "__share", t("charts.share", lang), Unit.PERCENT, 1)
    df = df.assign(__share=df[value.column] / total if total else float("nan"))
    df["__share__text"] = [text(v, share, lang) for v in df["__share"]]
    pick = _select(s)
    enc = {"theta": alt.Theta(f"{value.column}:Q", stack=True),
           "color": _nominal(cat, df, lang), "order": alt.Order("__order:Q"),
           "tooltip": _tips([cat, value, share, *s.tooltip])}
    df["__order"] = range(len(df))
    if pick is not None:
        enc["opacity"] = alt.condition(pick, alt.value(1.0), alt.value(0.4))
    radius = (140 if big else 110)
    layer = alt.Chart().mark_arc(innerRadius=radius * 0.55 if donut else 0, outerRadius=radius).encode(**enc)
    return [layer.add_params(pick) if pick is not None else layer], df, None


def render(chart: ChartSpec, data: pd.DataFrame, model, lang: str = "zh", *, big: bool = False) -> alt.TopLevelMixin:
    """Draw ``chart`` from the query result ``data`` (see the module docstring for the selection).

    Raises InvalidSpec when the shelves don't fit the mark (the message says what to move), or for
    table/pivot/KPI, which are drawn by :func:`table`, :func:`pivot` and :func:`kpi`.
    """
    mark = chart.mark if chart.mark is not Mark.AUTO else suggest_mark(chart, model)
    if mark not in DRAWN:
        raise InvalidSpec(t("charts.error.not_drawn", "en", mark=mark.value), t("charts.error.not_drawn", "zh", mark=mark.value))
    if chart.mark is not mark:
        chart = replace(chart, mark=mark)
    s = _shelves(chart, model, lang)
    used = [*s.cats, *s.metrics, *[i for i in (s.color, s.size, s.facet) if i is not None], *s.tooltip]
    df = _frame(chart, data, used, lang)
    if len(df) > MAX_POINTS:
        raise ResultTooLarge(t("charts.error.too_many", "en", n=f"{len(df):,}", most=f"{MAX_POINTS:,}"),
                             t("charts.error.too_many", "zh", n=f"{len(df):,}", most=f"{MAX_POINTS:,}"))
    if mark in (Mark.BAR, Mark.BAR_STACKED, Mark.LINE, Mark.AREA):
        layers, df, resolve = _xy(chart, s, df, lang, lines=mark in (Mark.LINE, Mark.AREA))
    elif mark is Mark.SCATTER:
        layers, df, resolve = _scatter(chart, s, df, lang)
    elif mark is Mark.HEATMAP:
        layers, df, resolve = _heatmap(chart, s, df, lang)
    else:
        layers, df, resolve = _pie(chart, s, df, lang, donut=mark is Mark.DONUT, big=big)
    out = alt.layer(*layers, data=df) if len(layers) > 1 else layers[0].properties(data=df)
    if resolve:
        out = out.resolve_scale(**resolve)
    width, height = (960, 520) if big else (640, 340)
    if s.facet is not None:
        width, height = width // 3, height // 2
    if s.horizontal and mark in (Mark.BAR, Mark.BAR_STACKED) and s.cats:
        out = out.properties(width=width, height=alt.Step(30 if big else 22))
    elif mark in (Mark.PIE, Mark.DONUT):
        out = out.properties(width=height, height=height)
    else:
        out = out.properties(width=width, height=height)
    if s.facet is not None:
        out = out.facet(facet=alt.Facet(f"{s.facet.column}:N", title=s.facet.label, sort=None), columns=3)
        if resolve:   # a dual axis inside a facet must be independent per panel too (Vega-Lite can't share it)
            out = out.resolve_scale(**resolve)
    if chart.title:
        out = out.properties(title=chart.title)
    out.config = _theme(big)
    return out


def revenue_margin_trend(trend: pd.DataFrame, lang: str = "zh") -> alt.TopLevelMixin:
    """Monthly revenue as bars (万元) with gross margin % as a line on its own axis."""
    # Months as ordinal labels: one bar per closed month, no axis tick past the last one.
    df = trend.assign(revenue_wan=trend["revenue"] / 1e4, label=trend["month"].dt.strftime("%Y-%m"))
    month = t("chart.month", lang)
    rev = t("chart.revenue_wan", lang)
    gm = t("chart.gross_margin", lang)
    x = alt.X("label:O", title=month, sort=None, axis=alt.Axis(labelAngle=-45))
    bars = alt.Chart(df).mark_bar(color=BAR, opacity=0.85).encode(
        x=x,
        y=alt.Y("revenue_wan:Q", title=rev, axis=alt.Axis(format=",.0f")),
        tooltip=[alt.Tooltip("label:O", title=month), alt.Tooltip("revenue_wan:Q", title=rev, format=",.1f"),
                 *([alt.Tooltip("gross_margin:Q", title=gm, format=".1%")] if "gross_margin" in trend else [])],
    )
    if "gross_margin" not in df.columns:  # a reader denied margins sees revenue only
        return bars.properties(height=320)
    line = alt.Chart(df).mark_line(color=LINE, point=alt.OverlayMarkDef(color=LINE), strokeWidth=2).encode(
        x=x,
        y=alt.Y("gross_margin:Q", title=gm, axis=alt.Axis(format=".0%", titleColor=LINE),
                scale=alt.Scale(zero=False)),
    )
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=320)
