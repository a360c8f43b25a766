"""Pieces of the management cockpit (经营驾驶舱), shared by the Overview page and the admin's preview:
the KPI tiles, the latest month's headline row, open alerts, the scorecard ranking and the outlook."""
import datetime as dt

import pandas as pd
import streamlit as st

from lib.access import admin_view as av
from lib.core import fmt
from lib.explore import link as explore_link
from lib.finance import cockpit
from lib.finance.cockpit import Kind, Status
from lib.finance.overview import Overview
from lib.performance.alerts import center as alerts
from lib.performance.scorecards import center as scorecard
from lib.semantic.spec import ChartSpec, Field, Mark, QuerySpec
from pages import _shared as sh
from pages import _why_parts as why_parts

COLORS = {Status.GOOD: "green", Status.WATCH: "orange", Status.BAD: "red", Status.NONE: "gray"}
PAGES = {"margin": "pages/margin.py", "budget": "pages/budget.py", "explore": "pages/explore.py"}


def _value(v: float | None, kind: Kind) -> str:
    if v is None:
        return "—"
    if kind is Kind.MONEY:
        return fmt.money(v, sh.lang())
    if kind is Kind.PERCENT:
        return fmt.percent(v)
    return sh.t("cockpit.days", n=f"{v:,.1f}")


def _gap(tile: cockpit.Tile) -> str | None:
    if tile.gap is None:
        return None
    gap = fmt.change_pp(tile.gap, sh.lang()) if tile.definition.kind is Kind.PERCENT else fmt.change_pct(tile.gap)
    return sh.t("cockpit.vs", gap=gap, basis=sh.t(f"cockpit.basis.{tile.definition.basis.value}"))


def _help(tile: cockpit.Tile) -> str:
    d = tile.definition
    tol = fmt.change_pp(d.tolerance, sh.lang()) if d.kind is Kind.PERCENT else fmt.percent(d.tolerance, 0)
    rule = sh.t("cockpit.rule.higher" if d.higher_is_better else "cockpit.rule.lower", tol=tol.lstrip("+"))
    return sh.t("cockpit.target", basis=sh.t(f"cockpit.basis.{d.basis.value}"),
                target=_value(tile.target, d.kind), rule=rule)


def _link(tile: cockpit.Tile) -> None:
    d = tile.definition
    params = None
    if d.page == "explore":  # the KPI by month and region: where a high DSO or slow stock sits
        spec = QuerySpec((d.metric,), ("month",), d.filters, tile.spec.time_range)
        params = explore_link.to_query_params(ChartSpec(spec, Mark.LINE, columns=(Field("month"),),
                                                        rows=(Field(d.metric),)))
    st.page_link(PAGES[d.page], label=sh.t("cockpit.go"), icon=":material/arrow_forward:", query_params=params)


WHY = {"revenue": ("revenue", "budget"), "gross_margin": ("gross_margin", "budget"),
       "operating_profit": ("operating_profit", "budget"), "opex_execution": ("opex", "budget"),
       "dso": ("dso", "yoy"), "inventory_days": ("inventory_days", "yoy")}
"""What a tile's 为什么？ explains: the metric behind its gap, against the tile's own target (execution over
100 % is opex against its budget)."""


def tiles(data: cockpit.Cockpit, why: bool = False) -> None:
    """The KPI tiles, three to a row: value, gap to target, status and a 12-month sparkline; with ``why``,
    a 为什么？ button on each that opens the explanation of its gap (``_why_parts.section("cockpit")``)."""
    per_row = 3
    for start in range(0, len(data.tiles), per_row):
        for col, tile in zip(st.columns(per_row), data.tiles[start:start + per_row]):
            d = tile.definition
            with col.container(border=True):
                st.metric(sh.t(f"cockpit.tile.{d.key}"), _value(tile.value, d.kind), delta=_gap(tile),
                          delta_color="normal" if d.higher_is_better else "inverse", help=_help(tile),
                          chart_data=[v for v in tile.spark if v is not None] or None, chart_type="line")
                a, b = st.columns([1, 1])
                with a:
                    st.badge(sh.t(f"cockpit.status.{tile.status.value}"), color=COLORS[tile.status])
                with b:
                    _link(tile)
                if why and tile.value is not None:
                    metric, vs = WHY[d.key]
                    why_parts.button("cockpit", metric, dt.date(data.month.year, 1, 1), data.month, vs,
                                     key=d.key)


def month_row(data: Overview) -> None:
    """The latest complete month's P&L headlines with MoM and YoY (the former Overview row)."""
    lang = sh.lang()
    for col, kpi in zip(st.columns(len(data.kpis)), data.kpis):
        k = av.kpi_text(kpi, lang)
        col.metric(sh.t(f"kpi.{kpi.key}"), k.value, delta=f"{k.yoy} {sh.t('overview.yoy')}" if k.yoy else None,
                   delta_color="normal" if kpi.higher_is_better else "inverse", help=sh.t(f"kpi.{kpi.key}.help"))
        if k.mom:
            col.caption(f"{sh.t('overview.mom')} :{k.mom_color}[{k.mom}]")


def open_alerts(limit: int = 5) -> None:
    """The most severe open alerts in the reader's data, linked to the alert center."""
    st.subheader(sh.t("cockpit.alerts"))
    frame = alerts.open_alerts(sh.engine(), sh.current_user(), lang=sh.lang(), model=sh.model())
    if frame.empty:
        st.success(sh.t("cockpit.alerts.none"))
        return
    top = frame.head(limit)
    st.dataframe(pd.DataFrame({
        sh.t("cockpit.col.severity"): [sh.t(f"al.severity.{v}") for v in top["severity"]],
        sh.t("cockpit.col.unit"): top["unit"],
        sh.t("cockpit.col.message"): top["message"],
        sh.t("cockpit.col.since"): pd.to_datetime(top["first_seen"]).dt.strftime("%Y-%m-%d"),
    }), hide_index=True, key="cockpit_alerts")
    st.page_link("pages/alerts.py", label=sh.t("cockpit.alerts.more", n=len(frame)),
                 icon=":material/notifications_active:")


def ranking(limit: int = 10) -> None:
    """The latest scorecard ranking the reader may see (others anonymised where the template says so)."""
    st.subheader(sh.t("cockpit.ranking"))
    r = scorecard.latest_ranking(sh.engine(), sh.current_user(), sh.lang())
    if r is None:
        st.info(sh.t("cockpit.ranking.none"))
        return
    status = sh.t("cockpit.ranking.published" if r.status == "published" else "cockpit.ranking.draft")
    st.caption(sh.t("cockpit.ranking.caption", template=sh.plain(r.template), period=r.period, status=status))
    if r.frame.empty:
        st.info(sh.t("cockpit.ranking.empty", template=sh.plain(r.template), period=r.period))
    else:
        own, n = r.own(), len(r.frame)
        if r.scoped and own.empty:
            st.caption(sh.t("cockpit.ranking.not_yours", template=sh.plain(r.template)))
        elif r.scoped:
            places = (sh.t("cockpit.ranking.place", unit=sh.plain(u), rank=int(k), n=n)
                      for u, k in zip(own["unit"], own["rank"]))
            st.caption(sh.t("cockpit.ranking.yours", units="；".join(places) if sh.lang() == "zh" else "; ".join(places)))
        top = r.shown(limit)
        st.dataframe(pd.DataFrame({
            sh.t("cockpit.col.rank"): top["rank"].astype(int),
            sh.t("cockpit.col.unit"): [f"▶ {u}" if own_ else u for u, own_ in zip(top["unit"], top["is_own"])],
            sh.t("cockpit.col.total"): top["total"].round(1),
        }), hide_index=True, key="cockpit_ranking")
    st.page_link("pages/scorecard.py", label=sh.t("cockpit.ranking.go"), icon=":material/military_tech:")


def outlook(data: cockpit.Cockpit) -> None:
    """The full-year outlook against budget: revenue, COGS, opex and operating profit."""
    st.subheader(sh.t("cockpit.outlook"))
    if data.outlook is None:
        st.info(sh.t("cockpit.outlook.none"))
        return
    s = cockpit.outlook_summary(data.outlook)
    lang = sh.lang()
    money = lambda col: [fmt.money(v, lang) for v in s[col]]  # noqa: E731
    st.dataframe(pd.DataFrame({
        sh.t("cockpit.col.type"): [sh.t(f"cockpit.line.{a}") for a in s["account_type"]],
        **{sh.t(f"cockpit.col.{c}"): money(c) for c in ("ytd_actual", "forecast", "outlook", "budget", "variance")},
        sh.t("cockpit.col.execution"): [fmt.percent(v) for v in s["execution"]],
    }), hide_index=True, key="cockpit_outlook")
    st.caption(sh.t("cockpit.outlook.caption", end=f"{data.month:%Y-%m}"))
    st.page_link("pages/budget.py", label=sh.t("cockpit.outlook.go"), icon=":material/request_quote:")

