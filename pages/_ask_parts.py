"""问一问: the question box at the top of the cockpit and of Explore.

Type a question; the reading comes back word by word, coloured by what each word was read as (grey when it
was filler, red when not understood), with the restatement in words, one-click corrections where a word
names several things, and the answer drawn as Explore's 'auto' would. No figure when a word was not
understood. One click opens the question in Explore with its shelves filled.
"""
from __future__ import annotations

import html

import streamlit as st

from lib.ask import answer as ask
from lib.ask import lexicon
from lib.ask.vocabulary import Entry
from lib.core.errors import WorkbenchError
from lib.explore import charts
from lib.explore import evaluate as explore
from lib.semantic.spec import Mark
from pages import _shared as sh

ss = st.session_state
COLORS = {"metric": ("#0b57d0", "#e8f0fe"), "dimension": ("#6f42c1", "#f1eafd"), "member": ("#137333", "#e6f4ea"),
          "time": ("#9a6700", "#fff4ce"), "comparison": ("#b3261e", "#fce8e6"), "ranking": ("#006a6a", "#dff4f4"),
          "grain": ("#9a6700", "#fff4ce"), "unknown": ("#b3261e", "#ffffff"), "filler": ("#5f6368", "transparent")}


def _ask(p: str, question: str) -> None:
    ss[p + "_asked"] = question.strip()
    ss[p + "_over"] = {}
    if question.strip():
        try:
            lexicon.remember(sh.engine(), sh.current_user().username, question)
        except WorkbenchError:  # the recent list is a convenience; the answer must not fail on it
            pass


def _typed(p: str) -> None:
    _ask(p, ss.get(p + "_q", ""))


def _picked(p: str, key: str) -> None:
    q = ss.get(key)
    if q:
        ss[p + "_q"] = q
        _ask(p, q)
    ss[key] = None


def _override(p: str, span: tuple[int, int], entry: Entry) -> None:
    ss[p + "_over"] = {**ss.get(p + "_over", {}), span: entry}


def _replace_unknown(p: str, question: str, unknown: tuple[str, ...], label: str) -> None:
    """The question again with the metric in place of the words not understood."""
    question = question.replace(unknown[0], label, 1)
    for word in unknown[1:]:
        question = question.replace(word, "", 1)
    ss[p + "_q"] = question
    _ask(p, question)


def _tokens_html(answer: ask.Answer, model, lang: str) -> str:
    parts = []
    for t in answer.reading.tokens:
        fg, bg = COLORS[t.kind]
        kind = sh.t(f"ask.kind.{t.kind}") if t.kind != "filler" else ""
        title = ask.token_label(t, model, lang) if t.kind not in ("filler", "unknown") else kind
        if t.read_as:
            title += " · " + sh.t("ask.read_as", text=t.text, name=t.read_as)
        deco = "text-decoration: underline wavy;" if t.kind == "unknown" else ""
        border = f"border: 1px solid {fg};" if t.kind not in ("filler",) else ""
        parts.append(f'<span class="ask-token" data-kind="{t.kind}" title="{html.escape(title)}" '
                     f'style="color:{fg};background:{bg};{border}{deco}border-radius:4px;padding:1px 5px;'
                     f'margin:0 2px;display:inline-block">{html.escape(t.text)}'
                     + (f'<sub style="opacity:.75;margin-left:3px">{html.escape(kind)}</sub>' if kind else "")
                     + "</span>")
    return f'<div class="ask-reading">{"".join(parts)}</div>'


def _open_in_explore(chart, where: str) -> None:
    """Explore's state for the chart (its shelves remount), then Explore itself."""
    ss["_ex_spec"] = chart
    ss["_ex_grain"] = explore.options_of(chart).grain
    ss["_ex_ff"] = ()
    ss["_ex_gen"] = ss.get("_ex_gen", 0) + 1
    if where == "explore":
        st.rerun()
    st.switch_page("pages/explore.py", query_params=explore.to_query_params(chart))


def box(where: str) -> None:
    """The question box of a page (``where``: 'cockpit' or 'explore'); keys are prefixed ``ask_<where>``."""
    p = f"ask_{where}"
    lang, user, model = sh.lang(), sh.current_user(), sh.model()
    # On Explore the box folds away (open while a question is answered), so the workspace fits one screen.
    folded = where == "explore"
    frame = (st.expander(sh.t("ask.title"), expanded=bool(ss.get(p + "_asked")), key=p + "_box") if folded else
             st.container(border=True, key=p + "_box"))
    with frame:
        if not folded:
            st.markdown(f"**{sh.t('ask.title')}**")
        left, right = st.columns([6, 1], vertical_alignment="bottom")
        left.text_input(sh.t("ask.label"), key=p + "_q", on_change=_typed, args=(p,))
        right.button(sh.t("ask.go"), key=p + "_go", on_click=_typed, args=(p,))
        try:
            vocab = sh.vocabulary()
            regions = sh.dimension_values("region") if "region" in model.dimensions else []
            cats = sh.dimension_values("category") if "category" in model.dimensions else []
        except WorkbenchError as exc:
            sh.show_error(exc)
            return
        examples = ask.examples(model, user, lang, regions, cats)
        recent = lexicon.recent(sh.engine(), user.username, 6)
        a, b = st.columns(2)
        if examples:
            a.pills(sh.t("ask.examples"), examples, key=p + "_ex", on_change=_picked, args=(p, p + "_ex"))
        if recent:
            b.pills(sh.t("ask.recent"), recent, key=p + "_recent", on_change=_picked, args=(p, p + "_recent"))
        question = ss.get(p + "_asked")
        if not question:
            return
        try:
            answer = ask.ask(sh.engine(), question, user, vocab, model, lang, overrides=ss.get(p + "_over"),
                             run=sh.run, in_scope=sh.dimension_values)
        except WorkbenchError as exc:
            sh.show_error(exc)
            return
        st.html(_tokens_html(answer, model, lang))
        if answer.spec is not None:
            st.caption(f"{sh.t('ask.reading')}：" + sh.plain(ask.restated(answer, model, lang)))
        _alternatives(p, answer, model, lang)
        if not answer.answered:
            st.warning(sh.t("ask.no_answer", why=sh.plain(answer.message)))
            if answer.reading.suggestions and answer.reading.unknown:
                st.caption(sh.t("ask.closest"))
                cols = st.columns(len(answer.reading.suggestions))
                for i, mid in enumerate(answer.reading.suggestions):
                    label = model.metric(mid).label(lang)
                    cols[i].button(sh.t("ask.use_metric", label=label), key=f"{p}_use_{mid}", on_click=_replace_unknown,
                                   args=(p, question, answer.reading.unknown, label))
            return
        if answer.message:
            st.info(sh.plain(answer.message))
        _draw(p, answer, model, lang)
        if st.button(sh.t("ask.open_explore"), key=p + "_open", icon=":material/query_stats:"):
            _open_in_explore(ask.chart_of(answer.spec, model), where)


def _alternatives(p: str, answer: ask.Answer, model, lang: str) -> None:
    offers = [(t, e) for t in answer.reading.tokens for e in t.alternatives[:3]]
    if not offers:
        return
    st.caption(sh.t("ask.alternatives"))
    cols = st.columns(min(4, len(offers)))
    for i, (t, e) in enumerate(offers[:8]):
        cols[i % len(cols)].button(sh.t("ask.alternative", text=t.text, label=ask.entry_label(e, model, lang)),
                                   key=f"{p}_alt_{t.start}_{t.end}_{e.kind}_{e.dimension}_{e.target}",
                                   on_click=_override, args=(p, (t.start, t.end), e))


def _draw(p: str, answer: ask.Answer, model, lang: str) -> None:
    rows = answer.rows
    if rows.empty:
        st.caption(sh.t("ask.rows", n=0))
        return
    shown = ask.drawn(answer.spec, model)
    table = ask.table(answer, model, lang)
    if shown.mark is Mark.KPI:
        cols = st.columns(len(answer.spec.metrics))
        for col, mid in zip(cols, answer.spec.metrics):
            label = model.metric(mid).label(lang)
            chg = table[sh.t("ask.chg", label=label)].iloc[0] if f"{mid}__chg" in rows.columns else None
            col.metric(label, table[label].iloc[0], delta=chg if chg and chg != "—" else None)
    drew = False
    if shown.mark not in (Mark.KPI, Mark.TABLE):
        try:
            st.altair_chart(charts.render(shown, rows, model, lang), key=p + "_chart")
            drew = True
        except WorkbenchError as exc:
            sh.show_error(exc)
    # Under a chart the rows fold away, so the page the box sits on stays in view.
    with st.expander(sh.t("ask.data", n=len(rows)), expanded=not drew, key=p + "_data"):
        if len(table) <= 100:
            st.table(table.set_index(table.columns[0]) if len(table.columns) > 1 else table)
        else:
            st.dataframe(table, hide_index=True)
