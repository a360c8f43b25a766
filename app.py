"""Yecai Workbench (业财分析工作台): page config, language switch and navigation. Router only.

Start it with ``python app.py [streamlit flags]`` (what ``make run`` does). Streamlit treats a
folder named ``pages/`` as its old v1 router until ``st.navigation`` has run once in the process;
that router can run a page script without this file (so without its gates) and gives widgets
other ids on the first run. Starting the server from here switches it off before any session.
"""
import sys

import streamlit as st
from streamlit import runtime
from streamlit.runtime.pages_manager import PagesManager

if __name__ == "__main__" and not runtime.exists():
    from streamlit.web import cli

    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", __file__, *sys.argv[1:]]
    sys.exit(cli.main())

if PagesManager.uses_pages_directory:  # started by a bare `streamlit run app.py`: same switch, one rerun
    PagesManager.uses_pages_directory = False
    st.rerun()

from lib.access import auth
from lib.core import i18n
from pages import _shared as sh

st.set_page_config(page_title=i18n.t("app.title", sh.lang()), page_icon=":material/analytics:", layout="wide")

with st.sidebar:
    st.radio(i18n.t("app.language", sh.lang()), i18n.LANGS, format_func=i18n.LANG_NAMES.get,
             key="lang", horizontal=True)

user = sh.gate()  # stops the run with the log-in form until someone is logged in
with st.sidebar:
    st.caption(sh.t("login.as", name=user.username, role=user.role))
    st.caption(sh.plain(sh.scope_label(user)))
sh.logout_button()

cockpit = st.Page("pages/overview.py", title=sh.t("nav.overview"), icon=":material/dashboard:", url_path="overview")
# Streamlit serves its default page at "/" only, so a default cockpit would answer its own URL /overview (which
# links and e-mails carry) with "Page not found". The default is a hidden step that opens /overview instead.
home = st.Page(lambda: st.switch_page(cockpit, query_params=st.query_params.to_dict()), title=sh.t("nav.overview"),
               icon=":material/dashboard:", url_path="home", default=True, visibility="hidden")
pages = {
    sh.t("nav.section.analysis"): [
        home, cockpit,
        st.Page("pages/explore.py", title=sh.t("nav.explore"), icon=":material/query_stats:", url_path="explore"),
        st.Page("pages/dashboards.py", title=sh.t("nav.dashboards"), icon=":material/space_dashboard:",
                url_path="dashboards"),
        st.Page("pages/metrics.py", title=sh.t("nav.metrics"), icon=":material/menu_book:", url_path="metrics"),
    ],
    sh.t("nav.section.finance"): [
        st.Page("pages/margin.py", title=sh.t("nav.margin"), icon=":material/waterfall_chart:", url_path="margin"),
        st.Page("pages/budget.py", title=sh.t("nav.budget"), icon=":material/request_quote:", url_path="budget"),
    ],
    sh.t("nav.section.performance"): [
        st.Page("pages/scorecard.py", title=sh.t("nav.scorecard"), icon=":material/military_tech:",
                url_path="scorecard"),
        st.Page("pages/alerts.py", title=sh.t("nav.alerts"), icon=":material/notifications_active:",
                url_path="alerts"),
    ],
    sh.t("nav.section.data"): [
        st.Page("pages/data.py", title=sh.t("nav.data"), icon=":material/upload_file:", url_path="data"),
    ],
}
admin = dict(title=sh.t("nav.admin"), icon=":material/admin_panel_settings:", url_path="admin")
if auth.may(user, "manage_users"):
    pages[sh.t("nav.section.admin")] = [st.Page("pages/admin.py", **admin)]
else:  # not in the menu, but its URL reaches the page's own refusal instead of Streamlit's "page not found"
    pages[sh.t("nav.section.analysis")].append(st.Page("pages/admin.py", **admin, visibility="hidden"))
page = st.navigation(pages)
sh.follow_link([p for section in pages.values() for p in section], page)  # a link opened before log-in
page.run()
