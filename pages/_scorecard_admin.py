"""Finance's side of the scorecard page: evaluate with a what-if on weights and pool, save or publish,
enter manual KPIs. Every write goes through lib.performance.scorecards.center, which checks the role again."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.core.errors import WorkbenchError
from lib.performance.scorecards import center as scorecard
from lib.performance.scorecards.defs import Template
from lib.performance.scorecards.scoring import BonusMethod
from pages import _scorecard_parts as parts
from pages import _shared as sh

t = parts.t
ss = st.session_state


def _what_if(tpl: Template) -> tuple[dict[str, float], float, str]:
    with st.expander(t("sc.whatif"), expanded=True):
        a, b = st.columns(2)
        pool = a.number_input(t("sc.pool"), min_value=0.0, value=float(tpl.bonus.pool), step=10000.0,
                              format="%.2f", key=f"sc_pool_{tpl.id}")
        methods = [m.value for m in BonusMethod]
        method = b.selectbox(t("sc.method"), methods, index=methods.index(tpl.bonus.method.value),
                             format_func=lambda m: t(f"sc.method.{m}"), key=f"sc_method_{tpl.id}")
        cols = st.columns(min(len(tpl.kpis), 6))
        weights = {k.id: cols[i % len(cols)].number_input(
            t("sc.weight", kpi=k.label(sh.lang())), min_value=0.0, value=float(k.weight), step=5.0,
            key=f"sc_w_{tpl.id}_{k.id}") for i, k in enumerate(tpl.kpis)}
    return weights, pool, method


def evaluate_tab(tpl: Template, period: str) -> None:
    """Evaluate on today's data, try weights and pool, then save as a draft or publish."""
    user = sh.current_user()
    if st.button(t("sc.evaluate"), key="sc_evaluate", type="primary"):
        try:
            ss["sc_eval"] = scorecard.run_evaluation(sh.engine(), user, tpl.id, period)
        except WorkbenchError as exc:
            sh.show_error(exc)
    ev = ss.get("sc_eval")
    if ev is None or ev.template.id != tpl.id or ev.period.label != period:
        return
    st.caption(t("sc.evaluated", template=tpl.name(sh.lang()), period=period, at=f"{ev.computed_at:%Y-%m-%d %H:%M}"))
    weights, pool, method = _what_if(tpl)
    try:
        tot = scorecard.totals(ev.lines, tpl, weights, round(pool, 2), BonusMethod(method))
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    if sh.lang() == "en":
        tot = tot.assign(unit=tot["unit_en"].fillna(tot["unit"]))
    parts.ranking_table(tot, key="sc_eval_ranking")
    st.caption(t("sc.bonus.sum", sum=parts.value(scorecard.allocated(tot), "fen"), pool=parts.value(pool, "fen")))
    units = list(tot["org_unit_id"])
    names = dict(zip(tot["org_unit_id"], tot["unit"]))
    uid = st.selectbox(t("sc.unit"), units, format_func=lambda u: names.get(u, str(u)), key="sc_eval_unit")
    lines = scorecard.with_points(ev.lines[ev.lines["org_unit_id"] == uid], weights)
    st.markdown(f"**{t('sc.detail', unit=names.get(uid, ''))}**")
    parts.lines_table(lines, tpl.with_weights(weights), ev.period, key="sc_eval_lines",
                      units=tuple(ev.lines["unit"].unique()))
    parts.unscored_warning(scorecard.unscored(ev.lines, sh.lang()), tpl)
    if scorecard.is_stale(sh.engine(), ev):
        st.warning(t("sc.stale"))
    reason = st.text_input(t("sc.reason"), key="sc_reason")
    a, b, c = st.columns(3)
    for col, publish, key in ((a, False, "sc_save_draft"), (b, True, "sc_save_publish")):
        if col.button(t(key.replace("sc_", "sc.")), key=key, type="primary" if publish else "secondary"):
            try:
                rid = scorecard.save_run(sh.engine(), user, ev, weights=weights, pool=round(pool, 2), method=method,
                                         publish=publish, reason=reason)
                st.success(t("sc.saved", run=rid, status=t("sc.status.published" if publish else "sc.status.draft")))
            except WorkbenchError as exc:
                sh.show_error(exc)
    if c.button(t("sc.save_weights"), key="sc_save_weights"):
        try:
            scorecard.save_settings(sh.engine(), user, tpl.id, weights, round(pool, 2), method)
            st.success(t("sc.template_saved"))
        except WorkbenchError as exc:
            sh.show_error(exc)


def manual_tab(tpl: Template, period: str) -> None:
    """Enter a manual KPI of a unit for the period; the period's entries below, with who and when."""
    manual = [k for k in tpl.kpis if k.manual]
    if not manual:
        st.info(t("sc.manual.none"))
        return
    us = scorecard.template_units(sh.engine(), tpl)
    labels = {k.id: k.label(sh.lang()) for k in manual}
    names = dict(zip(us["id"], us["name_en"] if sh.lang() == "en" else us["name"]))
    a, b, c = st.columns(3)
    kid = a.selectbox(t("sc.manual.kpi"), list(labels), format_func=labels.get, key="sc_manual_kpi")
    uid = b.selectbox(t("sc.unit"), list(names), format_func=lambda u: names.get(u, str(u)), key="sc_manual_unit")
    val = c.number_input(t("sc.manual.value"), value=85.0, step=1.0, key="sc_manual_value")
    note = st.text_input(t("sc.manual.note"), key="sc_manual_note")
    if st.button(t("sc.manual.save"), key="sc_manual_save"):
        try:
            scorecard.enter_manual(sh.engine(), sh.current_user(), tpl.id, kid, int(uid), period, val, note or None)
            st.success(t("sc.manual.saved", unit=names[uid], kpi=labels[kid], value=val))
        except WorkbenchError as exc:
            sh.show_error(exc)
    st.caption(t("sc.manual.history"))
    df = scorecard.manual_entries(sh.engine(), tpl.id, period)
    st.dataframe(pd.DataFrame({t("sc.manual.kpi"): df["kpi_id"].map(labels), t("sc.unit"): df["unit"],
                               t("sc.col.value"): df["value"], t("sc.manual.note"): df["note"],
                               t("sc.col.entered_by"): df["entered_by"], t("sc.col.entered_at"): df["entered_at"]}),
                 hide_index=True, key="sc_manual_history")
