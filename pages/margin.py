"""毛利分析 / Margin analysis: gross profit by dimension, price-volume-mix bridge, profit waterfall, leakage."""
import pandas as pd
import streamlit as st

from lib.core import fmt, i18n
from lib.core.errors import WorkbenchError
from lib.finance import margin as mg
from lib.finance import margin_charts as mc
from lib.semantic import query
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange
from pages import _shared as sh
from pages import _why_parts as why_parts

lang = sh.lang()
model = sh.model()
can_cost = sh.current_user().may_see_metric("cogs", model)



def numbers(frame: pd.DataFrame, key: str) -> None:
    """A table whose numbers read with thousands separators (the values stay numbers for sorting)."""
    st.dataframe(frame, hide_index=True, key=key, column_config={
        c: st.column_config.NumberColumn(format="localized") for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c])})

def t(key: str, **kw: object) -> str:
    return i18n.t(key, lang, **kw)


def dim_label(d: str) -> str:
    return model.dimension(d).label(lang)


def caption(*specs: QuerySpec) -> None:
    st.caption("  \n".join(sh.plain(query.describe(s, lang, model)) for s in specs))


st.title(t("margin.title"))
st.caption(t("margin.caption"))
try:
    months = sh.run(QuerySpec(("revenue",), ("month",)))
    months = months[months["revenue"].notna()]
    latest = sh.as_of_caption().month if len(months) else None
except WorkbenchError as exc:
    sh.show_error(exc)
    st.stop()
if months.empty:
    st.info(t("margin.empty"))
    st.stop()
month_list = [d.date() for d in months["month"]]
last_day = (mg.period_of(latest or max(month_list), mg.Grain.MONTH)).end

c1, c2, c3, c4 = st.columns([1, 2, 1.3, 1.3])
grain = mg.Grain(c1.selectbox(t("margin.grain"), [g.value for g in mg.Grain], key="margin_grain",
                              format_func=lambda g: t(f"margin.grain.{g}")))
if grain is mg.Grain.CUSTOM:
    start = mg.period_of(last_day, mg.Grain.MONTH).start
    picked = c2.date_input(t("margin.custom_range"), (start, last_day), key="margin_custom")
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info(t("margin.custom_incomplete"))
        st.stop()
    period = TimeRange(*picked)
else:
    options = mg.period_options(month_list, grain, last_day)
    labels = [o[0] for o in options]
    period = dict(options)[c2.selectbox(t("margin.period"), labels, key=f"margin_period_{grain.value}")]
compare = mg.Compare(c3.selectbox(t("margin.compare"), [c.value for c in mg.Compare], index=1, key="margin_compare",
                                  format_func=lambda c: t(f"margin.compare.{c}")))
dimension = c4.selectbox(t("margin.dimension"), mg.DIMENSIONS, key="margin_dim", format_func=dim_label)
period_base = compare if compare is not mg.Compare.BUDGET else mg.Compare.YOY
base = mg.comparison_range(period, period_base)
st.caption(t("margin.periods_budget" if compare is mg.Compare.BUDGET else "margin.periods",
             cur=f"{period.start} – {period.end}", base=f"{base.start} – {base.end}"))
if not can_cost:
    st.warning(t("margin.no_cogs"))
else:
    why_parts.button("margin", "gross_margin", period.start, period.end, compare.value,
                     label=t("explain.why_metric", metric=model.metric("gross_margin").label(lang)))
    why_parts.section("margin")

tabs = st.tabs([t(f"margin.tab.{k}") for k in ("table", "bridge", "waterfall", "leakage")])
with tabs[0]:
    if can_cost:
        try:
            use, version = compare, None
            if compare is mg.Compare.BUDGET and dimension not in mg.BUDGET_DIMENSIONS:
                st.info(t("margin.budget_dims"))
                use = None
            elif compare is mg.Compare.BUDGET:
                names = mg.budget_versions(sh.run, period)
                version = st.selectbox(t("margin.budget_version"), names, key="margin_budget_version") \
                    if names else None
                if version is None:
                    st.info(t("margin.no_budget"))
                    use = None
            specs = mg.margin_specs(dimension, period, use, (), version)
            table = mg.load_margin(sh.run, dimension, period, use, (), version)
            tot = table.total
            for i, (col, (label, value, delta)) in enumerate(zip(st.columns(3), mc.kpis(tot, lang, bool(use)))):
                # money shows its base, not a change; the margin its change in pp
                col.metric(label, value, delta, delta_color="normal" if i == 2 else "off")
            if tot.revenue and tot.gross_profit == tot.revenue:
                st.info(t("margin.no_cost"))
            numbers(mc.margin_frame(table, lang, dim_label(dimension), with_base=bool(use)), "margin_table")
            caption(*specs)
            sh.explain(specs[0], key="margin_explain_table")
        except WorkbenchError as exc:
            sh.show_error(exc)

with tabs[1]:
    b1, b2, b3 = st.columns(3)
    kinds = [k.value for k in mg.BridgeKind] if can_cost else [mg.BridgeKind.REVENUE.value]
    kind = mg.BridgeKind(b1.selectbox(t("margin.bridge.kind"), kinds, key="margin_bridge_kind",
                                      format_func=lambda k: t(f"margin.bridge.kind.{k}")))
    bdim = b2.selectbox(t("margin.bridge.dimension"), mg.DIMENSIONS, index=1, key="margin_bridge_dim",
                        format_func=dim_label)
    try:
        cats = sh.run(QuerySpec(("revenue",), ("category",), time_range=TimeRange(min(base.start, period.start),
                                                                                     max(base.end, period.end))))
        cat_names = [""] + cats["category"].dropna().astype(str).tolist()
        drill = b3.selectbox(t("margin.bridge.drill"), cat_names, key="margin_drill",
                             format_func=lambda c: c or t("margin.bridge.all"))
        filters = (FilterSpec("category", "eq", (drill,)),) if drill else ()
        frames = mg.load_pvm(sh.run, bdim, period, base, filters, with_cogs=kind is mg.BridgeKind.GROSS_PROFIT)
        bridge = mg.pvm_bridge(frames.base, frames.current, bdim, kind)
        st.altair_chart(mc.bridge_chart(bridge, lang), width="stretch", key="margin_bridge_chart")
        st.caption(mc.bridge_check(bridge, lang))
        shown = [b.effect.value for b in bridge.bars if b.value != 0] or [bridge.bars[0].effect.value]
        pick = st.selectbox(t("margin.bridge.pick"), shown, key="margin_bridge_bar",
                            format_func=lambda e: t(f"margin.effect.{e}"))
        bar = bridge.bar(mg.Effect(pick))
        if bar.items:
            st.caption(t("margin.bridge.top", n=min(10, len(bar.items)), total=len(bar.items),
                         sum=fmt.money(bar.value, lang)))
            numbers(mc.contributors_frame(bar, lang, dim_label(bdim)), "margin_contrib")
        else:
            st.caption(t("margin.bridge.none"))
        revenue_note = t("margin.bridge.method_revenue") if kind is mg.BridgeKind.REVENUE else ""
        st.caption(t("margin.bridge.method") + revenue_note)
        caption(*frames.specs)
        sh.explain(frames.specs[1], key="margin_explain_bridge")
    except WorkbenchError as exc:
        sh.show_error(exc)

with tabs[2]:
    if can_cost:
        try:
            wf = mg.load_profit_waterfall(sh.run, period)
            st.altair_chart(mc.profit_waterfall_chart(wf, lang), width="stretch", key="margin_waterfall_chart")
            if not wf.has_opex:
                st.info(t("margin.waterfall.no_opex"))
            specs = mg.waterfall_specs(period)
            caption(*specs)
            sh.explain(specs[0], key="margin_explain_waterfall")
        except WorkbenchError as exc:
            sh.show_error(exc)

with tabs[3]:
    if can_cost:
        ldim = st.selectbox(t("margin.leak.dimension"), mg.DIMENSIONS, index=1, key="margin_leak_dim",
                            format_func=dim_label)
        try:
            leak = mg.load_leakage(sh.run, ldim, period, base)
            for key, title, frame in mc.leak_lists(leak, lang, dim_label(ldim)):
                st.markdown(f"**{title}**")
                if frame is None:
                    st.caption(t("margin.leak.none"))
                else:
                    numbers(frame, f"margin_leak_{key}")
            st.markdown(f"**{t('margin.leak.quadrant')}**")
            st.altair_chart(mc.quadrant_chart(leak, lang, dim_label(ldim)), width="stretch", key="margin_quadrant")
            specs = mg.leakage_specs(ldim, period, base)
            caption(*specs)
            sh.explain(specs[0], key="margin_explain_leakage")
        except WorkbenchError as exc:
            sh.show_error(exc)
