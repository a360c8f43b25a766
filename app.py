"""Yecai Workbench (业财分析工作台): page config, language switch and navigation. Router only."""
import streamlit as st

from lib import i18n
from pages import _shared as sh

st.set_page_config(page_title=i18n.t("app.title", sh.lang()), page_icon=":material/analytics:", layout="wide")

with st.sidebar:
    st.radio(i18n.t("app.language", sh.lang()), i18n.LANGS, format_func=i18n.LANG_NAMES.get,
             key="lang", horizontal=True)

pages = {
    sh.t("nav.section.analysis"): [
        st.Page("pages/overview.py", title=sh.t("nav.overview"), icon=":material/dashboard:",
                url_path="overview", default=True),
    ],
}
st.navigation(pages).run()
