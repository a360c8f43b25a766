"""经营概览 / Overview: the latest complete month's P&L headlines and a 24-month trend."""
import streamlit as st

from lib import charts, fmt
from lib.errors import WorkbenchError
from lib.overview import Kind
from pages import _pilot
from pages import _shared as sh

lang = sh.lang()
st.title(sh.t("overview.title"))
_pilot.render()  # the pilot checklist: open while a step is left, collapsed once all are done
try:
    data = sh.overview_figures()
except WorkbenchError as exc:
    sh.show_error(exc)
    st.stop()

if data is None:
    st.info(sh.t("overview.empty"))
    st.stop()

st.caption(sh.t("overview.caption", month=f"{data.month:%Y-%m}"))
for col, kpi in zip(st.columns(len(data.kpis)), data.kpis):
    if kpi.kind is Kind.MONEY:
        value, yoy, mom = fmt.money(kpi.value, lang), fmt.change_pct(kpi.yoy), fmt.change_pct(kpi.mom)
    else:
        value, yoy, mom = fmt.percent(kpi.value), fmt.change_pp(kpi.yoy, lang), fmt.change_pp(kpi.mom, lang)
    with col:
        st.metric(sh.t(f"kpi.{kpi.key}"), value,
                  delta=f"{yoy} {sh.t('overview.yoy')}" if yoy else None,
                  delta_color="normal" if kpi.higher_is_better else "inverse",
                  help=sh.t(f"kpi.{kpi.key}.help"))
        if mom:
            good = (kpi.mom or 0) >= 0 if kpi.higher_is_better else (kpi.mom or 0) <= 0
            st.caption(f"{sh.t('overview.mom')} :{'green' if good else 'red'}[{mom}]")

st.subheader(sh.t("overview.trend"))
st.altair_chart(charts.revenue_margin_trend(data.trend, lang), width="stretch", key="overview_trend")
sh.explain(data.spec, key="overview_explain")
