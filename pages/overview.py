"""经营驾驶舱 / Management cockpit: year-to-date KPIs against target, open alerts, the scorecard ranking,
the full-year outlook, and the latest month's headlines with the 24-month trend. Within the reader's scope."""
import streamlit as st

from lib.core.errors import WorkbenchError
from lib.explore import charts
from pages import _ask_parts as ask_box
from pages import _cockpit_parts as parts
from pages import _pilot
from pages import _shared as sh
from pages import _why_parts as why_parts

lang = sh.lang()
st.title(sh.t("overview.title"))
_pilot.render()  # the pilot checklist: open while a step is left, collapsed once all are done
ask_box.box("cockpit")
try:
    data = sh.cockpit_figures()
    month = sh.overview_figures()
except WorkbenchError as exc:
    sh.show_error(exc)
    st.stop()

if data is None or month is None:
    st.info(sh.t("overview.empty"))
    st.stop()

sh.as_of_caption()
st.caption(sh.t("cockpit.caption", start=f"{data.month:%Y}-01", end=f"{data.month:%Y-%m}",
                scope=sh.scope_label(sh.current_user())))
parts.tiles(data, why=True)
why_parts.section("cockpit")
left, right = st.columns(2)
for column, panel in ((left, parts.open_alerts), (right, parts.ranking)):
    with column:
        try:
            panel()
        except WorkbenchError as exc:  # a broken stored template or rule must not take the landing page down
            sh.show_error(exc)
parts.outlook(data)

st.subheader(sh.t("cockpit.month", month=f"{month.month:%Y-%m}"))
parts.month_row(month)
st.altair_chart(charts.revenue_margin_trend(month.trend, lang), width="stretch", key="overview_trend")
sh.explain(month.spec, key="overview_explain")
