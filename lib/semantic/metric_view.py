"""What the metric center (指标中心) shows about a metric: search, readable formula, lineage, trend.

Pure helpers over the semantic model (no Streamlit), so the page stays thin and this is testable.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import altair as alt
import pandas as pd

from lib.core import fmt
from lib.core.i18n import t
from lib.semantic import model as semantic
from lib.semantic.metric_store import Version, changes
from lib.semantic.model import Metric, MetricType, SemanticModel
from lib.semantic.spec import QuerySpec, TimeRange

SUBJECTS = ("sales", "profit", "expenses", "receivables", "inventory", "budget")
TREND_MONTHS = 24
TREND_SERIES = 8
"""Most breakdown members drawn in the trend (the largest by total); the rest are left out."""

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|\S")
_OPERATORS = {"*": "×", "/": "÷", "-": "−"}


def search(metrics: Iterable[Metric], text: str = "", subject: str = "", owner: str = "",
           status: str = "") -> list[Metric]:
    """Metrics matching every given criterion; ``text`` matches id, labels or description (any case).
    Listed by subject (sales first, as people read a P&L), then in declaration order.

    >>> m = semantic.load().metrics
    >>> [x.id for x in search(m.values(), "毛利率")]
    ['gross_margin', 'gross_margin_yoy_pp']
    >>> [x.id for x in search(m.values(), "DSO")]
    ['dso']
    """
    needle = text.strip().casefold()
    out = []
    for m in metrics:
        hay = " ".join((m.id, m.label_zh, m.label_en, m.description)).casefold()
        if needle and needle not in hay:
            continue
        if (subject and m.subject != subject) or (owner and m.owner != owner) or (status and m.status.value != status):
            continue
        out.append(m)
    return sorted(out, key=lambda m: SUBJECTS.index(m.subject) if m.subject in SUBJECTS else len(SUBJECTS))


def name(model: SemanticModel, metric_id: str, lang: str) -> str:
    """'营业收入 (revenue)': a metric as people read it, with the id they type."""
    m = model.metrics.get(metric_id)
    return f"{m.label(lang)} ({metric_id})" if m else metric_id


def dataset_name(model: SemanticModel, dataset_id: str, lang: str) -> str:
    """'销售明细 (sales)'."""
    ds = model.datasets[dataset_id]
    return f"{ds.label_zh if lang == 'zh' else ds.label_en} ({dataset_id})"


@dataclass(frozen=True)
class Formula:
    """A metric's formula in words: one headline line and the details under it."""

    text: str
    details: tuple[str, ...] = ()


def _offset_words(offset: str | None, lang: str) -> str:
    parsed = semantic.parse_offset(offset)
    if parsed is None:
        return ""
    n, unit = parsed
    return t("metrics.offset", lang, n=n, unit=t(f"metrics.unit.{unit}", lang))


def _readable(expr: str, names: Mapping[str, str]) -> str:
    """Tokens of an expression with names replaced by labels and operators by their signs."""
    return " ".join(names.get(tok, _OPERATORS.get(tok, tok)) for tok in _TOKEN.findall(expr))


def formula(m: Metric, model: SemanticModel, lang: str) -> Formula:
    """The formula of ``m`` as people read it.

    >>> model = semantic.load()
    >>> formula(model.metric("gross_margin"), model, "en").text
    'Gross profit (gross_profit) ÷ Net revenue (revenue)'
    >>> formula(model.metric("revenue_yoy"), model, "zh").text
    '( 营业收入 (revenue) − 营业收入 (revenue)［1年前］ ) ÷ 营业收入 (revenue)［1年前］'
    """
    if m.type is MetricType.SIMPLE:
        ds = model.datasets[m.dataset]
        details = [t("metrics.formula.dataset", lang, dataset=dataset_name(model, ds.id, lang), table=ds.table)]
        details += [t("metrics.formula.filter", lang, filter=_filter_words(f)) for f in m.filters]
        if m.time_column or ds.time:
            details.append(t("metrics.formula.time", lang, column=m.time_column or ds.time))
        if m.time_agg:
            details.append(t(f"metrics.time_agg.{m.time_agg.value}", lang))
        return Formula(m.expr or "", tuple(details))
    if m.type is MetricType.RATIO:
        return Formula(f"{name(model, m.numerator, lang)} ÷ {name(model, m.denominator, lang)}",
                       (t("metrics.formula.ratio_note", lang),))
    if m.type is MetricType.DERIVED:
        names = {mid: name(model, mid, lang) for mid in model.metrics}
        names |= {k: name(model, v.metric, lang) + _offset_words(v.offset, lang) for k, v in m.inputs.items()}
        return Formula(_readable(m.expr or "", names))
    if m.type is MetricType.CUMULATIVE:
        return Formula(t(f"metrics.cumulative.{m.period}", lang, metric=name(model, m.metric, lang)))
    raise AssertionError(m.type)


def _filter_words(f: semantic.Filter) -> str:
    values = ", ".join(str(v) for v in f.values)
    return f"{f.dimension or f.column} {f.op} {values}"


@dataclass(frozen=True)
class Source:
    """A table a metric reads and the columns of it that matter."""

    dataset: str
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Lineage:
    """Where a metric comes from and what depends on it."""

    sources: tuple[Source, ...]
    uses: tuple[str, ...]      # metrics it is computed from directly
    leaves: tuple[str, ...]    # the simple metrics at the bottom of its tree
    used_by: tuple[str, ...]   # metrics that reference it directly


def lineage(model: SemanticModel, metric_id: str) -> Lineage:
    """Source tables and columns, the metrics used (directly and at the leaves) and the users of a metric.

    >>> lin = lineage(semantic.load(), "gross_margin")
    >>> lin.uses, lin.leaves, lin.sources[0].table, lin.sources[0].columns
    (('gross_profit', 'revenue'), ('revenue', 'cogs'), 'sales_line', ('net_revenue', 'order_date', 'cost_amount'))
    """
    m = model.metric(metric_id)
    leaves = model.leaf_metrics(metric_id)
    by_dataset: dict[str, list[str]] = {}
    for leaf in leaves:
        by_dataset.setdefault(leaf.dataset, []).extend(semantic.leaf_columns(leaf, model.datasets[leaf.dataset]))
    sources = tuple(Source(d, model.datasets[d].table, tuple(dict.fromkeys(c))) for d, c in by_dataset.items())
    return Lineage(sources, m.references(), tuple(x.id for x in leaves if x.id != metric_id), model.used_by(metric_id))


def trend_range(today: dt.date) -> TimeRange:
    """The 24 months ending with the last complete month before ``today``.

    >>> trend_range(dt.date(2026, 11, 24))
    TimeRange(start=datetime.date(2024, 11, 1), end=datetime.date(2026, 10, 31))
    """
    first = today.replace(day=1)
    start = (pd.Timestamp(first) - pd.DateOffset(months=TREND_MONTHS)).date()
    return TimeRange(start, first - dt.timedelta(days=1))


def trend_spec(metric_id: str, breakdown: str | None, today: dt.date) -> QuerySpec:
    """Monthly values of a metric over the trend range, optionally by one dimension."""
    dims = ("month", breakdown) if breakdown else ("month",)
    return QuerySpec(metrics=(metric_id,), dimensions=dims, time_range=trend_range(today))


def breakdowns(model: SemanticModel, metric_id: str) -> tuple[str, ...]:
    """Dimensions the trend can be split by (time grains are the x axis, not a split)."""
    return tuple(d for d in model.dimensions_of(metric_id) if d not in semantic.TIME_GRAINS)


_AXIS_FORMAT = {"currency": ",.0f", "percent": ".1%", "percent_points": ".1%", "days": ",.1f", "number": ",.0f"}


def trend_chart(df: pd.DataFrame, m: Metric, breakdown: str | None, lang: str, series_title: str = "") -> alt.Chart:
    """A line per breakdown member (the TREND_SERIES largest), or one line, over months."""
    data = df.rename(columns={m.id: "value"}).dropna(subset=["value"])
    if breakdown:
        totals = data.groupby(breakdown)["value"].apply(lambda s: s.abs().sum())
        keep = totals.nlargest(TREND_SERIES).index
        data = data[data[breakdown].isin(keep)]
    fmt = _AXIS_FORMAT[m.format.value]
    month = t("chart.month", lang)
    tooltip = [alt.Tooltip("month:T", title=month, format="%Y-%m"),
               alt.Tooltip("value:Q", title=m.label(lang), format=fmt)]
    enc = {"x": alt.X("month:T", title=month, axis=alt.Axis(format="%Y-%m")),
           "y": alt.Y("value:Q", title=m.label(lang), axis=alt.Axis(format=fmt))}
    if breakdown:
        enc["color"] = alt.Color(f"{breakdown}:N", title=series_title or breakdown)
        tooltip.insert(1, alt.Tooltip(f"{breakdown}:N", title=series_title or breakdown))
    return alt.Chart(data).mark_line(point=True).encode(**enc, tooltip=tooltip).properties(height=320)


def definition(base: Mapping, values: Mapping[str, object]) -> dict:
    """``base`` (a stored definition) with the edited ``values``; blank optional fields are dropped.

    >>> definition({"id": "x", "expr": "sum(a)", "time_agg": "closing"}, {"expr": " sum(b) ", "time_agg": ""})
    {'id': 'x', 'expr': 'sum(b)'}
    """
    out = dict(base)
    for key, value in values.items():
        value = value.strip() if isinstance(value, str) else value
        if value in ("", None):
            out.pop(key, None)
        else:
            out[key] = value
    return out


FORMULA_FIELDS = {MetricType.SIMPLE: ("expr",), MetricType.RATIO: ("numerator", "denominator"),
                  MetricType.DERIVED: ("expr",), MetricType.CUMULATIVE: ("metric", "period")}
"""The formula fields of each type that an edit may change (dataset, filters and inputs are kept)."""


@dataclass(frozen=True)
class HistoryRow:
    """One version of a metric as the history table shows it."""

    version: int
    action: str
    author: str
    time: str
    note: str
    fields: str  # the fields this version changed against the one before it


def history_rows(versions: list[Version]) -> list[HistoryRow]:
    """``metric_store.history`` (newest first) as rows, each with the fields it changed."""
    rows = []
    for i, v in enumerate(versions):
        older = versions[i + 1].definition if i + 1 < len(versions) else None
        rows.append(HistoryRow(v.version, v.action, v.author, f"{v.created_at:%Y-%m-%d %H:%M}" if v.created_at else "",
                               v.note or "", ", ".join(c[0] for c in changes(older, v.definition)) if older else ""))
    return rows


def formatted(df: pd.DataFrame, model: SemanticModel, lang: str) -> pd.DataFrame:
    """Query rows as finance reads them: every metric column (and its ``__cmp``/``__chg``) as text in the
    metric's format; other columns as they are."""
    out = df.copy()
    for col in df.columns:
        base, _, suffix = col.partition("__")
        if base not in model.metrics:
            continue
        m = model.metrics[base]
        if suffix == "chg":
            f = (lambda v: fmt.change_pp(v, lang)) if m.format.value.startswith("percent") else fmt.change_pct
        elif m.format is semantic.Format.CURRENCY:
            f = lambda v: fmt.money(v, lang)  # noqa: E731
        elif m.format is semantic.Format.PERCENT:
            f = lambda v, d=m.decimals: fmt.percent(v, d)  # noqa: E731
        elif m.format is semantic.Format.PERCENT_POINTS:
            f = lambda v: fmt.change_pp(v, lang)  # noqa: E731
        else:
            f = lambda v, d=m.decimals: "—" if pd.isna(v) else f"{v:,.{d}f}"  # noqa: E731
        out[col] = [f(v) or "—" for v in df[col]]
    return out
