"""为什么？ — the explanation a page opens from one of its figures: the narrative (its numbers link to the
charts below), the waterfall from base to current, the dimensions ranked, the drill path. Everything is read
through ``sh.run``: the logged-in reader's scope and denied metrics hold as on every page."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from lib.core import i18n
from lib.core.errors import WorkbenchError
from lib.explain import charts, words
from lib.explain.explain import Ask, Explanation, Vs, explain
from lib.semantic.spec import FilterSpec
from pages import _shared as sh


def _state(page: str) -> str:
    return f"why_{page}"


def button(page: str, metric: str, first: dt.date, last: dt.date, vs: str, filters: tuple[FilterSpec, ...] = (),
           key: str = "", label: str | None = None) -> None:
    """A 为什么？ button; clicked, the page's explanation section opens on this figure."""
    if st.button(label or sh.t("explain.why"), key=f"why_btn_{page}_{key or metric}", icon=":material/help:"):
        open_on(page, metric, first, last, vs, filters)


def open_on(page: str, metric: str, first: dt.date, last: dt.date, vs: str,
            filters: tuple[FilterSpec, ...] = ()) -> None:
    """Open the page's explanation section on a figure (its next ``section`` call shows it)."""
    st.session_state[_state(page)] = {"metric": metric, "first": f"{first:%Y-%m}", "last": f"{last:%Y-%m}",
                                      "vs": vs, "filters": [f.to_dict() for f in filters]}
    st.session_state.pop(f"why_vs_{page}", None)


def show(page: str, ask: Ask, key: str) -> None:
    """Open the page's explanation on ``ask`` (once per ``key``: a reader's own comparison choice then stays)."""
    if st.session_state.get(f"why_key_{page}") != key:
        st.session_state[f"why_key_{page}"] = key
        st.session_state[_state(page)] = {"metric": ask.metric, "first": f"{ask.start:%Y-%m}",
                                          "last": f"{ask.end:%Y-%m}", "vs": ask.vs.value,
                                          "filters": [f.to_dict() for f in ask.filters]}
        st.session_state.pop(f"why_vs_{page}", None)
    section(page, closable=False)


def _link(target: str) -> str:
    return "#why-" + target.replace(":", "-").replace("_", "-")


def _split_view(e: Explanation, s, key: str, anchor: str) -> None:
    lang, model = sh.lang(), sh.model()
    st.subheader(sh.t("explain.waterfall", dim=model.dimension(s.dimension).label(lang)), anchor=anchor[1:] or False)
    st.altair_chart(charts.waterfall(e, model, lang, s), width="stretch", key=f"why_chart_{key}")
    st.dataframe(words.members_table(e, s, model, lang), hide_index=True, key=f"why_table_{key}")


def section(page: str, closable: bool = True) -> None:
    """The explanation opened on this page, if any (placed where the page wants it)."""
    req = st.session_state.get(_state(page))
    if not req:
        return
    lang, model = sh.lang(), sh.model()
    st.divider()
    head, close = st.columns([5, 1])
    with head:
        st.subheader(sh.t("explain.title", metric=model.metric(req["metric"]).label(lang)), anchor="why-top")
    if closable:
        with close:
            if st.button(sh.t("explain.close"), key=f"why_close_{page}", icon=":material/close:"):
                st.session_state.pop(_state(page), None)
                st.rerun()
    options = [v.value for v in Vs]
    vs = st.radio(sh.t("explain.vs_label"), options, index=options.index(req["vs"]), horizontal=True,
                  format_func=lambda v, lang=lang: i18n.t(f"explain.vs_opt.{v}", lang), key=f"why_vs_{page}")
    try:
        ask = Ask.months(req["metric"], req["first"], req["last"], vs,
                         tuple(FilterSpec(f["dimension"], f.get("op", "in"), tuple(f["values"])) for f in req["filters"]))
        e = explain(sh.run, model, ask, depth=3)
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    st.caption(sh.t("explain.periods", cur=f"{e.current_range.start} – {e.current_range.end}",
                    base=f"{e.base_range.start} – {e.base_range.end}"))
    st.markdown(words.narrative(e, model, lang, link=_link))
    if e.change == 0:
        return
    st.caption(sh.t("explain.identity", change=words.change(model, e.metric, e.change, lang)))
    if e.parts:
        st.subheader(sh.t("explain.inputs"), anchor="why-inputs")
        st.altair_chart(charts.waterfall(e, model, lang), width="stretch", key=f"why_inputs_{page}")
    if e.detail is not None and e.detail.dimensions:
        _split_view(e.detail, e.detail.dimensions[0], f"{page}_detail", "#why-detail")
    if not e.dimensions:
        st.info(sh.t("explain.none"))
        return
    st.markdown(f"**{sh.t('explain.ranked')}**")
    st.dataframe(charts.ranked(e, model, lang), hide_index=True, key=f"why_ranked_{page}")
    top = e.dimensions[0]
    _split_view(e, top, f"{page}_top", _link(f"dim:{top.dimension}"))
    others = [s.dimension for s in e.dimensions[1:]]
    if others:
        pick = st.selectbox(sh.t("explain.dim_pick"), others, key=f"why_dim_{page}",
                            format_func=lambda d, lang=lang: model.dimension(d).label(lang))
        _split_view(e, e.split(pick), f"{page}_pick", "#why-dim-other")
    if e.single:
        st.caption(sh.t("explain.single", items=sh.t("explain.sep").join(
            f"{model.dimension(d).label(lang)}：{sh.plain(words.member_label(v, lang))}" for d, v in e.single)))
    if e.path:
        st.subheader(sh.t("explain.tree"), anchor="why-tree")
        for k, step in enumerate(e.path, start=1):
            child = step.explanation
            st.markdown(f"{k}. {sh.plain(model.dimension(step.dimension).label(lang))} = "
                        f"**{sh.plain(words.member_label(step.member, lang))}** "
                        f"{words.change(model, e.metric, step.contribution, lang)}")
            if child.dimensions:
                _split_view(child, child.dimensions[0], f"{page}_step{k}", f"#why-step-{k}")
