"""How an alert reads: its figures in the metric's format, its sentence (zh/en) and the Explore chart behind it."""
from __future__ import annotations

import datetime as dt
import urllib.parse

import pandas as pd

from lib.core import fmt, i18n
from lib.explore import link as explore_link
from lib.performance.alerts import rules as ar
from lib.semantic.model import Format, SemanticModel
from lib.semantic.spec import ChartSpec, Field, FilterSpec, Mark, QuerySpec, TimeRange

# ---- formatting ---------------------------------------------------------------------------------------

def format_value(v: float | None, fmt_kind: Format, lang: str) -> str:
    """A figure in its metric's format: ¥ with 万/亿, %, days or a plain number."""
    if v is None or pd.isna(v):
        return "—"
    if fmt_kind is Format.CURRENCY:
        return fmt.money(v, lang)
    if fmt_kind in (Format.PERCENT,):
        return fmt.percent(v)
    if str(fmt_kind.value) == "days":
        return f"{v:,.1f}" + (" 天" if lang == "zh" else " days")
    if str(fmt_kind.value) == "percent_points":
        return fmt.change_pp(v, lang) or "—"
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.2f}"


def _value_label(dimension: str, value: object, lang: str) -> str:
    """A filter value as a reader says it: account types by their names (期间费用, not opex), others as stored."""
    if dimension == "account_type":
        key = f"budget.type.{value}"
        if key in i18n.MESSAGES:
            return i18n.t(key, lang)
    return str(value)


def message(rule: ar.Rule, b: ar.Breach, model: SemanticModel, lang: str) -> str:
    """One sentence saying what breached, by how much, against what."""
    m = model.metric(rule.metric)
    f = lambda v: format_value(v, m.format, lang)  # noqa: E731
    who = ar.subject(rule, b.member) or i18n.t("al.msg.all_rows", lang)
    shown = [_value_label(f_.dimension, v, lang) for f_ in rule.filters if f_.dimension not in ar.ORG_DIMENSIONS
             for v in f_.values]
    sep = "、" if lang == "zh" else ", "
    metric = m.label(lang) + ((f"（{sep.join(shown)}）" if lang == "zh" else f" ({sep.join(shown)})") if shown
                              else "")   # e.g. 实际数（期间费用）
    common = dict(who=who, metric=metric, period=b.period, value=f(b.value))
    kind = rule.kind
    if kind in (ar.Kind.THRESHOLD, ar.Kind.BALANCE):
        return i18n.t(f"al.msg.threshold_{rule.op.value}", lang, limit=f(rule.value), **common)
    if kind is ar.Kind.CHANGE:
        return i18n.t(f"al.msg.change_{rule.compare.value}", lang, base=f(b.reference), change=fmt.change_pct(b.measure),
                      **common)
    if kind is ar.Kind.BUDGET_EXECUTION:
        return i18n.t("al.msg.budget", lang, execution=fmt.percent(b.value),
                      actual=fmt.money(b.detail.get("actual"), lang), budget=fmt.money(b.detail.get("budget"), lang),
                      **common)
    return i18n.t("al.msg.anomaly", lang, expected=f(b.reference), z=f"{b.measure:+.1f}", **common)


def link(rule: ar.Rule, b: ar.Breach) -> str:
    """The Explore chart that shows the breach: the metric over time for the breaching row."""
    filters = rule.filters + ((FilterSpec(rule.dimension, "in", (b.member,)),) if rule.dimension and b.member else ())
    metrics: tuple[str, ...] = (rule.metric,)
    if rule.kind is ar.Kind.ANOMALY:
        grain = rule.grain
        pad = dt.timedelta(days=45) if grain == "day" else dt.timedelta(days=730)
        tr = TimeRange(b.time_range.start - pad, b.time_range.end + (dt.timedelta(days=14) if grain == "day" else
                                                                    dt.timedelta(days=0)))
    elif rule.kind is ar.Kind.BUDGET_EXECUTION:   # the year's actual against its budget, month by month
        grain, metrics = "month", (rule.metric, rule.budget_metric)
        tr = TimeRange(dt.date(b.time_range.end.year, 1, 1), dt.date(b.time_range.end.year, 12, 31))
    else:                                          # the last 13 months up to the period judged
        grain = "month"
        tr = TimeRange(dt.date(b.time_range.end.year - 1, b.time_range.end.month, 1), b.time_range.end)
    chart = ChartSpec(QuerySpec(metrics, (grain,), filters, tr), Mark.LINE, columns=(Field(grain),),
                      rows=tuple(Field(x) for x in metrics))
    return "explore?" + urllib.parse.urlencode(explore_link.to_query_params(chart))
