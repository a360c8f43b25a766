"""Rule management tab of the alerts page (finance/admin): list, edit or create, preview 12 months, save."""
from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from lib.core import clock
from lib.performance.alerts import admin as alert_admin
from lib.performance.alerts import center as alerts
from lib.performance.alerts import rules as ar
from lib.semantic.spec import FilterSpec
from pages import _shared as sh

NEW = 0


def _table(rules: list[ar.Rule], lang: str) -> pd.DataFrame:
    model = sh.model()
    return pd.DataFrame([{
        sh.t("al.col.id"): r.id, sh.t("al.rules.name"): r.name, sh.t("al.rules.kind"): sh.t(f"al.kind.{r.kind.value}"),
        sh.t("al.rules.metric"): model.metric(r.metric).label(lang) if r.metric in model.metrics else r.metric,
        sh.t("al.rules.dimension"): r.dimension or "", sh.t("al.rules.value"): r.value,
        sh.t("al.rules.severity"): sh.t(f"al.severity.{r.severity.value}"), sh.t("al.rules.enabled"): r.enabled}
        for r in rules])


def _form(base: ar.Rule, lang: str) -> ar.Rule:
    """Widgets for every field of the rule; returns the rule as edited (not yet validated)."""
    model = sh.model()
    metric_ids = sorted(model.metrics)
    dims = ["", *sorted(model.dimensions)]
    c1, c2 = st.columns(2)
    name = c1.text_input(sh.t("al.rules.name"), value=base.name, key="al_r_name")
    kinds = [k.value for k in ar.Kind]
    # Labels made now: a format_func that read the language later would outlive this run's session.
    kind_label = {k: sh.t(f"al.kind.{k}") for k in kinds}
    kind = c2.selectbox(sh.t("al.rules.kind"), kinds, index=kinds.index(base.kind.value), key="al_r_kind",
                        format_func=kind_label.get)
    metric_label = {m: f"{model.metric(m).label(lang)} ({m})" for m in metric_ids}
    dim_label = {d: model.dimension(d).label(lang) if d else sh.t("al.rules.no_dimension") for d in dims}
    filter_label = {**dim_label, "": "—"}
    metric = c1.selectbox(sh.t("al.rules.metric"), metric_ids, index=metric_ids.index(base.metric)
                          if base.metric in metric_ids else 0, key="al_r_metric", format_func=metric_label.get)
    dimension = c2.selectbox(sh.t("al.rules.dimension"), dims, index=dims.index(base.dimension or ""),
                             key="al_r_dimension", format_func=dim_label.get)
    f0 = base.filters[0] if base.filters else None
    fdim = c1.selectbox(sh.t("al.rules.filter_dim"), dims, index=dims.index(f0.dimension) if f0 else 0,
                        key="al_r_filter_dim", format_func=filter_label.get)
    fvals = c2.text_input(sh.t("al.rules.filter_values"), value=",".join(map(str, f0.values)) if f0 else "",
                          key="al_r_filter_values")
    ops = [o.value for o in ar.Op]
    op = c1.selectbox(sh.t("al.rules.op"), ops, index=ops.index(base.op.value), key="al_r_op")
    value = c2.number_input(sh.t("al.rules.value"), value=float(base.value), key="al_r_value", format="%.4g")
    windows = [w.value for w in ar.Window]
    window = c1.selectbox(sh.t("al.rules.window"), windows, index=windows.index(base.window.value), key="al_r_window")
    compares = [c.value for c in ar.Compare]
    compare = c2.selectbox(sh.t("al.rules.compare"), compares, index=compares.index(base.compare.value),
                           key="al_r_compare")
    grain = c1.selectbox(sh.t("al.rules.grain"), ["month", "day"], index=0 if base.grain == "month" else 1,
                         key="al_r_grain")
    lookback = c2.number_input(sh.t("al.rules.lookback"), min_value=1, max_value=366, value=int(base.lookback),
                               key="al_r_lookback")
    sevs = [s.value for s in ar.Severity]
    sev_label = {s: sh.t(f"al.severity.{s}") for s in sevs}
    severity = c1.selectbox(sh.t("al.rules.severity"), sevs, index=sevs.index(base.severity.value), key="al_r_severity",
                            format_func=sev_label.get)
    enabled = c2.checkbox(sh.t("al.rules.enabled"), value=base.enabled, key="al_r_enabled")
    extra = [f for f in base.filters[1:]]   # further filters (from YAML) are kept as they are
    filters = ((FilterSpec(fdim, "in", tuple(v.strip() for v in fvals.split(",") if v.strip())),) if fdim and fvals
               else ()) + tuple(extra)
    return dataclasses.replace(base, name=name.strip(), kind=ar.Kind(kind), metric=metric, dimension=dimension or None,
                               filters=filters, op=ar.Op(op), value=float(value), window=ar.Window(window),
                               compare=ar.Compare(compare), grain=grain, lookback=int(lookback),
                               severity=ar.Severity(severity), enabled=enabled)


def render(engine, user, lang: str) -> None:
    """The rules tab: only reached by users who may edit alert rules (checked again in lib on save)."""
    rules = alerts.rules(engine)
    if rules:
        st.dataframe(_table(rules, lang), key="al_rules_table", hide_index=True, width="stretch")
    else:
        st.info(sh.t("al.rules.none"))
    by_id = {r.id: r for r in rules}
    labels = {NEW: sh.t("al.rules.new"), **{i: f"#{i} {r.name}" for i, r in by_id.items()}}
    picked = st.selectbox(sh.t("al.rules.pick"), list(labels), key="al_rule_pick", format_func=labels.get)
    base = by_id.get(picked) or ar.Rule(name="", kind=ar.Kind.THRESHOLD, metric="revenue", value=0.0)
    edited = _form(base, lang)
    c1, c2 = st.columns(2)
    if c1.button(sh.t("al.rules.preview"), key="al_rule_preview", icon=":material/history:"):
        as_of = st.session_state.get("al_as_of") or clock.today()
        p = alert_admin.preview(engine, user, edited, as_of)
        st.info(sh.t("al.rules.preview_result", n=p.fired))
        if not p.firings.empty:
            st.dataframe(p.firings, key="al_preview_table", hide_index=True, width="stretch")
    if c2.button(sh.t("al.rules.save"), key="al_rule_save", type="primary"):
        rule_id = alert_admin.save_rule(engine, user, edited)
        st.success(sh.t("al.rules.saved", id=rule_id))
