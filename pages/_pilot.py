"""The pilot checklist (试点) the Overview shows: one sales file → margin by product and customer → PVM bridge.

``render()`` is called by the Overview page; ``missing_notice(page)`` lets any page say which file
to import instead of failing on an empty table.
"""
import streamlit as st

from lib.core import config, i18n, store
from lib.ingest import pilot
from pages import _shared as sh

ICONS = {True: ":material/check_circle:", False: ":material/radio_button_unchecked:"}


@st.cache_data(show_spinner=False, max_entries=16)
def _counts(url: str, data: str) -> dict[str, int]:
    return store.row_counts(sh.engine())


def counts() -> dict[str, int]:
    """Row counts of the canonical tables, cached per data version."""
    return _counts(config.store_url(), sh.data_version())


def render(expanded: bool | None = None) -> pilot.Checklist:
    """The checklist, open while a step is left; ticks come from the store's state. Nothing is shown
    once every step is done and no page lacks data (a store in full use)."""
    lang = sh.lang()
    me = sh.current_user()
    state = pilot.checklist(sh.run, counts(), lambda mid: me.may_see_metric(mid, sh.model()))
    if state.done and not pilot.missing_for(counts()):
        return state
    open_ = (not state.done) if expanded is None else expanded
    with st.expander(sh.t("pilot.title"), expanded=open_, icon=":material/flag:"):
        for s in state.steps:
            text = sh.t(f"pilot.step.{s.step.value}")
            if s.blocked:
                text += sh.t("pilot.step.blocked")
            elif s.step is pilot.Step.BRIDGE and s.months:
                text += sh.t("pilot.step.bridge.months", base=s.months[0], current=s.months[1])
            elif s.step is pilot.Step.BRIDGE:
                text += sh.t("pilot.step.bridge.need", n=state.sales_months)
            a, b = st.columns([4, 1])
            a.markdown(f"{ICONS[s.done]} {text}")
            if not s.blocked:
                b.page_link(s.page, label=sh.t(f"pilot.go.{s.step.value}"), icon=":material/arrow_forward:")
        if state.done:
            st.caption(sh.t("pilot.done"))
        missing_notice(None, lang)
    return state


def missing_notice(page: str | None, lang: str | None = None) -> bool:
    """Say which files a page (or, with None, every page) still needs; True when something is missing."""
    lang = lang or sh.lang()
    sep = "、" if lang == "zh" else ", "
    found = pilot.missing_for(counts(), (page,) if page else None)
    for m in found:
        tables = sep.join(i18n.t(f"pilot.need.{t}", lang) for t in m.tables)
        st.caption(i18n.t("pilot.missing", lang, page=i18n.t(f"pilot.page.{m.page}", lang), tables=tables))
    return bool(found)
