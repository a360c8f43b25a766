"""Pieces of the scorecard page: tables of a ranking and of how each KPI scored, with links to the numbers."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.core import fmt, i18n
from lib.performance.scorecards.defs import Period, Template
from lib.performance.scorecards.evaluate import UNSCORED, describe_rule, describe_target, explore_url, metric_link
from pages import _shared as sh


def t(key: str, **kw: object) -> str:
    """UI text in this run's language (AppTest may call a format_func outside the run)."""
    return i18n.t(key, sh.lang(), **kw)


def value(v, form: str) -> str:
    """A KPI figure as its format says (currency, fen, percent, days, number); — when missing or hidden."""
    if v is None or pd.isna(v):
        return "—"
    if form == "fen":  # bonus amounts: exact to the fen, so the parts visibly add up to the pool
        return f"¥{float(v):,.2f}"
    if form == "currency":
        return fmt.money(float(v), sh.lang())
    if form == "percent":
        return fmt.percent(float(v))
    if form == "days":
        return f"{float(v):,.1f} {'天' if sh.lang() == 'zh' else 'days'}"
    return f"{float(v):,.2f}"


def _note(note) -> str:
    if note is None or pd.isna(note):
        return ""
    if note in UNSCORED:
        return t(f"sc.note.{note}")
    return t("sc.note.manual", who=note)


def unscored_warning(missing: dict[str, list[str]], template: Template) -> None:
    """Before publishing: the units with KPIs left out of their totals (``scorecard.unscored``), if any."""
    if not missing:
        return
    labels = {k.id: k.label(sh.lang()) for k in template.kpis}
    o, c = ("（", "）") if sh.lang() == "zh" else (" (", ")")
    st.warning(t("sc.unscored.warn", units="; ".join(f"{u}{o}{', '.join(labels.get(k, k) for k in ks)}{c}"
                                                     for u, ks in missing.items())))


def ranking_table(totals: pd.DataFrame, key: str, bonus: bool = True) -> None:
    """Rank, unit, weighted total (and base and bonus) of every unit."""
    data = {t("sc.col.rank"): totals["rank"].astype(int), t("sc.col.unit"): totals["unit"],
            t("sc.col.total"): totals["total"].astype(float).round(1)}
    if bonus:
        data[t("sc.col.base")] = [value(b, "number") for b in totals["base"]]
        data[t("sc.col.bonus")] = [value(b, "fen") for b in totals["bonus"]]
    st.dataframe(pd.DataFrame(data), hide_index=True, key=key)


def lines_table(lines: pd.DataFrame, template: Template, period: Period, key: str,
                units: tuple[str, ...] = (), hidden: frozenset[str] = frozenset()) -> None:
    """How every point of one unit was earned: actual, target, rule, score, weight and points (from
    ``scorecard.with_points``: they add up to the total), and where the figure comes from (the Explore
    chart compares ``units``). A ``hidden`` KPI (its metric denied to the reader) shows its name and weight only."""
    lang = sh.lang()
    kpis = {k.id: k for k in template.kpis}
    rows = []
    for x in lines.itertuples():
        k = kpis[x.kpi_id]
        if x.kpi_id in hidden:
            rows.append({t("sc.col.kpi"): k.label(lang), t("sc.col.source"): "—", t("sc.col.rule"): "—",
                         t("sc.col.weight"): float(x.weight), t("sc.col.note"): t("sc.note.hidden"),
                         "metric_link": None, "explore_link": None})
            continue
        score = None if pd.isna(x.score) else float(x.score)
        rows.append({
            t("sc.col.kpi"): k.label(lang), t("sc.col.actual"): value(x.actual, k.format),
            t("sc.col.target"): value(x.target, k.format), t("sc.col.source"): describe_target(k, lang),
            t("sc.col.threshold"): value(x.threshold, k.format), t("sc.col.stretch"): value(x.stretch, k.format),
            t("sc.col.rule"): describe_rule(k, lang), t("sc.col.score"): None if score is None else round(score, 1),
            t("sc.col.weight"): float(x.weight),
            t("sc.col.points"): None if pd.isna(x.points) else round(float(x.points), 2),
            t("sc.col.note"): _note(x.note),
            "metric_link": metric_link(k.metric), "explore_link": explore_url(template, k, period, units)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=key, column_config={
        "metric_link": st.column_config.LinkColumn(t("sc.col.metric_link"), display_text=t("sc.link.metric")),
        "explore_link": st.column_config.LinkColumn(t("sc.col.explore_link"), display_text=t("sc.link.explore"))})


def template_table(template: Template) -> None:
    """The KPIs of a template: metric, weight, direction, target source and rule."""
    lang = sh.lang()
    st.dataframe(pd.DataFrame([{
        t("sc.col.kpi"): k.label(lang), "metric": k.metric or t("sc.manual.kpi"), t("sc.col.weight"): k.weight,
        t("sc.col.source"): describe_target(k, lang), t("sc.col.rule"): describe_rule(k, lang),
        "link": metric_link(k.metric)} for k in template.kpis]), hide_index=True,
        key=f"sc_template_table_{template.id}",
        column_config={"link": st.column_config.LinkColumn(t("sc.col.metric_link"), display_text=t("sc.link.metric"))})
    mode = t(f"sc.template.ranking.{template.ranking.value}")
    st.caption(t("sc.template.ranking", mode=mode) + " · " +
               t("sc.template.bonus", pool=value(template.bonus.pool, "currency"),
                 method=t(f"sc.method.{template.bonus.method.value}")))
