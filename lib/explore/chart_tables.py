"""Charts drawn as text: the formatted data table, the pivot with totals and subtotals, and KPI tiles.

Totals of a pivot are never sums of ratios. The caller asks :func:`total_specs` which coarser
queries the pivot needs, runs them through ``lib.semantic.query.run`` (so the row scope applies) and passes
the results as ``totals``; without them, only additive metrics (sums and plain counts of flows) are
summed here and every other total shows "—".

    specs = chart_tables.total_specs(chart, model)
    totals = {grain: lib.semantic.query.run(engine, spec, user, model) for grain, spec in specs.items()}
    frame = chart_tables.pivot(chart, data, model, lang, totals=totals)
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from lib.core.i18n import t
from lib.explore.chart_format import FieldInfo, Kind, Unit, dim_text, info, kind_of, money_unit, text
from lib.semantic import model as semantic
from lib.semantic.spec import Calc, ChartSpec, Comparison, Field, InvalidSpec, MoneyScale, NegativeStyle, QuerySpec


@dataclass(frozen=True)
class KpiTile:
    """One headline figure as text; ``good`` says whether the change helps (None: neutral or unknown)."""

    label: str
    value_text: str
    change_text: str | None
    good: bool | None
    change_label: str = ""      # what the change is against: 同比 / 环比 / 较上期
    value: float | None = None


def _missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def table_fields(chart: ChartSpec, data: pd.DataFrame, model, lang: str) -> list[FieldInfo]:
    """The columns a table or export shows: every shelf field and query field in the data, dimensions first."""
    shelf = [*chart.fields(), *(Field(d) for d in chart.query.dimensions), *(Field(m) for m in chart.query.metrics)]
    infos = {i.column: i for i in (info(f, model, lang) for f in shelf) if i.column in data.columns}
    dims = [i for i in infos.values() if i.kind is not Kind.METRIC]
    return dims + [i for i in infos.values() if i.kind is Kind.METRIC]


def _column_text(values: pd.Series, fi: FieldInfo, chart: ChartSpec, lang: str) -> list[str]:
    if fi.kind is not Kind.METRIC:
        return [dim_text(v, fi) for v in values]
    unit = money_unit(values, chart.scale, lang) if fi.unit is Unit.CURRENCY else None
    return [text(v, fi, lang, chart.negative, unit) for v in values]


def table(chart: ChartSpec, data: pd.DataFrame, model, lang: str = "zh") -> pd.DataFrame:
    """The data as finance reads it: labelled headers, dimensions then metrics, numbers as text.

    Money takes one scale per column (the chart's, or 元/万/亿 by the column's largest value);
    negatives carry a minus (for :func:`style_negatives` to colour red) or brackets per ``chart.negative``.
    """
    fields = table_fields(chart, data, model, lang)
    return pd.DataFrame({fi.label: _column_text(data[fi.column].reset_index(drop=True), fi, chart, lang)
                         for fi in fields})


def style_negatives(frame: pd.DataFrame, negative: NegativeStyle = NegativeStyle.RED):
    """A pandas Styler colouring negative figures red (for ``st.dataframe``); brackets style stays black."""
    def red(v) -> str:
        s = str(v)
        neg = s.startswith("-") or (negative is NegativeStyle.RED and s.startswith("(¥"))
        return "color: #C62828" if neg and any(c in "123456789" for c in s) else ""
    return frame.style.map(red)


# -- pivot ------------------------------------------------------------------------------------

def _pivot_fields(chart: ChartSpec, model, lang: str):
    rows = [info(f, model, lang) for f in chart.rows if kind_of(f.name, model) is not Kind.METRIC]
    cols = [info(f, model, lang) for f in chart.columns if kind_of(f.name, model) is not Kind.METRIC]
    metrics = [info(f, model, lang) for f in chart.fields() if kind_of(f.name, model) is Kind.METRIC]
    metrics = list({m.column: m for m in metrics}.values()) or [info(Field(m), model, lang) for m in chart.query.metrics]
    if not rows and not cols:
        rows = [info(Field(d), model, lang) for d in chart.query.dimensions]
    if not (rows or cols) or not metrics:
        raise InvalidSpec(t("charts.error.pivot", "en"), t("charts.error.pivot", "zh"))
    return rows, cols, metrics


def total_grains(chart: ChartSpec, model) -> list[tuple[str, ...]]:
    """The coarser groupings a pivot's subtotals and totals need, e.g. ``[(), ("month",), ("region",)]``."""
    rows, cols, _ = _pivot_fields(chart, model, "zh")
    rc, cc = [f.column for f in rows], [f.column for f in cols]
    return [tuple(rc[:r] + cc[:c]) for r in range(len(rc) + 1) for c in range(len(cc) + 1)
            if (r, c) != (len(rc), len(cc))]


def total_specs(chart: ChartSpec, model) -> dict[tuple[str, ...], QuerySpec]:
    """The query for each grain of :func:`total_grains`: the chart's query with fewer dimensions.

    Sort, limit and comparison are dropped (a total is over every row the filters keep, so it
    includes the rows a top N folds into 其他/Other); filters and the time range are kept.
    """
    q = chart.query
    return {g: replace(q, dimensions=g, sort=(), limit=None, comparison=None) for g in total_grains(chart, model)}


def _summed(data: pd.DataFrame, grain: list[str], metrics: list[FieldInfo], model) -> pd.DataFrame:
    """Totals computed here: additive metrics summed, anything else left empty (needs ``totals``)."""
    def additive(m: FieldInfo) -> bool:
        if m.field.calc is Calc.PCT_TOTAL:
            return True
        return m.field.calc is None and semantic.additive(model, m.field.name)
    cols = [m.column for m in metrics]
    if grain:
        out = data.groupby(grain, sort=False, dropna=False)[cols].sum(min_count=1).reset_index()
    else:
        out = data[cols].sum(min_count=1).to_frame().T
    for m in metrics:
        if not additive(m):
            out[m.column] = float("nan")
    return out


def _as_labels(frame: pd.DataFrame, fields: list[FieldInfo]) -> pd.DataFrame:
    frame = frame.copy()
    for fi in fields:
        if fi.column in frame.columns:
            frame[fi.column] = [dim_text(v, fi) for v in frame[fi.column]]
    return frame


def pivot_values(chart: ChartSpec, data: pd.DataFrame, model, lang: str = "zh",
                 totals: Mapping[tuple[str, ...], pd.DataFrame] | None = None) -> pd.DataFrame:
    """The pivot as numbers: rows (row dims, with 小计/合计 rows) × columns (column dims × metric).

    ``totals`` maps a grain of :func:`total_grains` (any order of its dimension ids) to the query
    result at that grain; grains not given are summed here for additive metrics only.
    """
    rows, cols, metrics = _pivot_fields(chart, model, lang)
    rc, cc, mc = [f.column for f in rows], [f.column for f in cols], [m.column for m in metrics]
    dims = rows + cols
    detail = _as_labels(data, dims)
    if detail.duplicated(rc + cc).any():   # a dimension of the query is on neither shelf: can't re-aggregate here
        extra = ", ".join(c for c in data.columns if c not in rc + cc + mc) or "?"
        raise InvalidSpec(t("charts.error.pivot_dims", "en", dims=extra), t("charts.error.pivot_dims", "zh", dims=extra))
    given = {frozenset(k): _as_labels(v, dims) for k, v in (totals or {}).items()}
    total, sub = t("charts.total", lang), t("charts.subtotal", lang)
    pieces = []
    for r in range(len(rc) + 1):
        for c in range(len(cc) + 1):
            grain = rc[:r] + cc[:c]
            if (r, c) == (len(rc), len(cc)):
                frame = detail[grain + mc].copy()
            elif frozenset(grain) in given:
                frame = given[frozenset(grain)].reindex(columns=grain + mc).copy()
            else:
                frame = _summed(detail, grain, metrics, model)
            for k in range(r, len(rc)):
                frame[rc[k]] = (total if r == 0 else sub) if k == r else ""
            for k in range(c, len(cc)):
                frame[cc[k]] = total if k == c else ""
            pieces.append(frame[rc + cc + mc])
    long = pd.concat(pieces, ignore_index=True)
    keys = rc or ["__row"]
    if not rc:
        long["__row"] = total if cc else ""
    rank = {col: {v: i for i, v in enumerate(dict.fromkeys(detail[col].tolist()))} for col in rc + cc}

    def order(cols_: list[str], key: tuple) -> tuple:
        return tuple(rank.get(col, {}).get(v, math.inf if v in (total, sub) else -1) for col, v in zip(cols_, key))
    wide = long.set_index(keys + cc)[mc]
    if cc:
        wide = wide.unstack(cc)
        wide.columns = wide.columns.reorder_levels([*range(1, len(cc) + 1), 0])
        col_keys = sorted(dict.fromkeys(k[:-1] for k in wide.columns), key=lambda k: order(cc, k))
        wide = wide.reindex(columns=pd.MultiIndex.from_tuples([(*k, m) for k in col_keys for m in mc]))
    row_keys = sorted(wide.index.tolist(), key=lambda k: order(keys, k if isinstance(k, tuple) else (k,)))
    return wide.reindex(row_keys)


def pivot(chart: ChartSpec, data: pd.DataFrame, model, lang: str = "zh",
          totals: Mapping[tuple[str, ...], pd.DataFrame] | None = None) -> pd.DataFrame:
    """The pivot for display: row dimension columns, then one text column per column member × metric.

    Column headers join the column members and the metric label with " · " (the metric label is
    left out when there is one metric and column dimensions). See :func:`pivot_values` for ``totals``.
    """
    rows, cols, metrics = _pivot_fields(chart, model, lang)
    wide = pivot_values(chart, data, model, lang, totals)
    by_col = {m.column: m for m in metrics}
    units = {m.column: money_unit(data[m.column] if m.column in data else (), chart.scale, lang)
             for m in metrics if m.unit is Unit.CURRENCY}
    out = pd.DataFrame(index=range(len(wide)))
    if rows:
        idx = wide.index.to_frame(index=False)
        for i, fi in enumerate(rows):
            out[fi.label] = idx.iloc[:, i].tolist()
    for key in wide.columns:
        key = key if isinstance(key, tuple) else (key,)
        m = by_col[key[-1]]
        parts = [str(p) for p in key[:-1] if p != ""]
        if len(metrics) > 1 or not cols:
            parts.append(m.label)
        values = wide[key if len(key) > 1 else key[0]].tolist()
        out[" · ".join(parts)] = [text(v, m, lang, chart.negative, units.get(m.column)) for v in values]
    return out


# -- KPI tiles --------------------------------------------------------------------------------

def kpi(chart: ChartSpec, data: pd.DataFrame, model, lang: str = "zh") -> list[KpiTile]:
    """One tile per metric on the shelves (or of the query), from a one-row result.

    The change shown is the first found of ``<metric>__yoy``, ``__mom`` (quick calcs) or ``__chg``
    (the query's comparison); relative for money and counts, in percentage points for percentages.
    """
    if len(data) > 1:
        raise InvalidSpec(t("charts.error.kpi_rows", "en", n=len(data)), t("charts.error.kpi_rows", "zh", n=len(data)))
    fields = [f for f in chart.fields() if kind_of(f.name, model) is Kind.METRIC and f.calc is None]
    ids = list(dict.fromkeys(f.name for f in fields)) or list(chart.query.metrics)
    row = data.iloc[0] if len(data) else pd.Series(dtype=object)
    cmp = {Comparison.YOY: "yoy", Comparison.MOM: "mom", Comparison.PREVIOUS: "previous"}.get(chart.query.comparison)
    tiles = []
    for mid in ids:
        fi = info(Field(mid), model, lang)
        value = row.get(mid)
        value = None if _missing(value) else float(value)
        change, label = None, ""
        for col, word in ((f"{mid}__yoy", "yoy"), (f"{mid}__mom", "mom"), (f"{mid}__chg", cmp)):
            if col in row.index and not _missing(row[col]):
                change, label = float(row[col]), t(f"charts.vs.{word}", lang) if word else ""
                break
        pct = fi.unit in (Unit.PERCENT, Unit.PERCENT_POINTS)
        change_info = replace(fi, unit=Unit.PERCENT_POINTS if pct else Unit.CHANGE, decimals=1)
        unit = None if chart.scale is MoneyScale.AUTO else money_unit((), chart.scale, lang)
        good = None
        if change is not None and change != 0 and fi.direction is not semantic.Direction.NEUTRAL:
            good = (change > 0) == (fi.direction is semantic.Direction.HIGHER_IS_BETTER)
        tiles.append(KpiTile(fi.label, text(value, fi, lang, chart.negative, unit),
                             text(change, change_info, lang) if change is not None else None, good, label, value))
    return tiles


def delta_color(tile: KpiTile) -> str:
    """``st.metric``'s delta_color for a tile: green when the change is good, whatever its sign."""
    if tile.good is None or not tile.change_text:
        return "off"
    rising = not tile.change_text.startswith("-")
    return "normal" if rising == tile.good else "inverse"
