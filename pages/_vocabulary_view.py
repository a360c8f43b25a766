"""The metric center's question words (问数词汇): a dimension's synonyms and its members' aliases, saved as
versions (lib.ask.lexicon). Metric synonyms are a field of the metric's own edit form."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.ask import lexicon
from lib.ask.vocabulary import NOT_WORDS
from lib.core.errors import WorkbenchError
from pages import _shared as sh

ss = st.session_state
P = "vocab_"


def _save(dim: str) -> None:
    model = sh.model()
    try:
        aliases = lexicon.parse_aliases(ss.get(f"{P}{dim}_aliases") or "")
        known = set(map(str, sh.dimension_values(dim, scoped=False)))
        unknown = [m for m in aliases if m not in known]
        if unknown:
            raise WorkbenchError(sh.t("vocab.unknown_member", names=", ".join(unknown)),
                                 sh.t("vocab.unknown_member", names="、".join(unknown)))
        synonyms = [w for w in (ss.get(f"{P}{dim}_synonyms") or "").replace("，", ",").replace("、", ",").split(",")]
        v = lexicon.save(sh.engine(), dim, {"synonyms": synonyms, "aliases": aliases}, ss.get(P + "author") or "",
                         model, ss.get(f"{P}{dim}_note") or "", user=sh.current_user())
    except WorkbenchError as exc:
        ss[P + "flash"] = ("error", sh.message(exc))
        return
    ss[P + "flash"] = ("success", sh.t("vocab.saved", version=v.version))
    for k in ("synonyms", "aliases", "note"):
        ss.pop(f"{P}{dim}_{k}", None)


def section(can_edit: bool) -> None:
    model, lang = sh.model(), sh.lang()
    with st.expander(sh.t("vocab.title"), key=P + "box"):
        st.caption(sh.t("vocab.caption"))
        dims = [d for d in model.dimensions if d not in NOT_WORDS]
        dim = st.selectbox(sh.t("vocab.dimension"), dims, key=P + "dim",
                           format_func=lambda d: model.dimension(d).label(lang))
        hist = lexicon.history(sh.engine(), dim, model)
        cur = hist[0].definition
        if P + "flash" in ss:
            kind, text = ss.pop(P + "flash")
            (st.success if kind == "success" else st.error)(text)
        if can_edit:
            with st.form(P + "form"):
                st.text_input(sh.t("vocab.synonyms"), ", ".join(cur.get("synonyms", [])), key=f"{P}{dim}_synonyms")
                st.text_area(sh.t("vocab.aliases"), "\n".join(f"{m}: {', '.join(w)}" for m, w in cur.get("aliases", {}).items()),
                             key=f"{P}{dim}_aliases")
                a, b = st.columns([1, 2])
                a.text_input(sh.t("metrics.field.author"), key=P + "author")
                b.text_input(sh.t("metrics.field.note"), key=f"{P}{dim}_note")
                st.form_submit_button(sh.t("vocab.save"), key=P + "submit", on_click=_save, args=(dim,))
        else:
            st.markdown(sh.plain("、".join(cur.get("synonyms", [])) or "—"))
        st.caption(sh.t("vocab.history"))
        st.dataframe(pd.DataFrame([{sh.t("metrics.history.version"): v.version, sh.t("metrics.field.author"): v.author,
                                    sh.t("metrics.history.time"): v.created_at, sh.t("metrics.field.note"): v.note,
                                    sh.t("vocab.synonyms"): "、".join(v.definition.get("synonyms", [])),
                                    sh.t("vocab.aliases"): "；".join(f"{m}: {'、'.join(w)}" for m, w in
                                                                    v.definition.get("aliases", {}).items())}
                                   for v in hist]), hide_index=True)
