"""An explanation in words and as a plain object: the narrative (zh/en) and the CLI's JSON.

Every number in the narrative comes from the explanation; with ``link`` the numbers become links to the
part of the page that shows them (the inputs, a dimension's waterfall, a drill step).
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from lib.core import fmt
from lib.core.i18n import t
from lib.explain import decompose as dc
from lib.explain.explain import Explanation, Split
from lib.semantic.model import Format, SemanticModel

Link = Callable[[str], str]
"""A target ("inputs", "dim:region", "step:1") → a URL fragment ("#explain-region")."""
TOP = 3


def member_label(m: dc.Member | object, lang: str) -> str:
    """A member as people read it; the grouped rows named."""
    if isinstance(m, dc.Member):
        if m.kind == "other":
            return t("explain.other", lang, n=m.count)
        if m.kind == "overlap":
            return t("explain.overlap", lang)
        m = m.member
    if m is None or (isinstance(m, float) and pd.isna(m)):
        return t("explain.blank", lang)
    return str(m)


def amount(model: SemanticModel, metric: str, x: float | None, lang: str) -> str:
    """A value of the metric."""
    m = model.metric(metric)
    if x is None or pd.isna(x):
        return "—"
    if m.format is Format.CURRENCY:
        return fmt.money(x, lang)
    if m.format in (Format.PERCENT, Format.PERCENT_POINTS):
        return fmt.percent(x, 1)
    if m.format is Format.DAYS:
        return t("explain.days", lang, x=f"{x:,.1f}")
    return f"{x:,.{m.decimals}f}"


def change(model: SemanticModel, metric: str, x: float | None, lang: str) -> str:
    """A change of the metric, signed: ¥ for money, pp for percentages, days, plain numbers."""
    m = model.metric(metric)
    if x is None or pd.isna(x):
        return "—"
    if m.format is Format.CURRENCY:
        s = fmt.money(x, lang)
        return s if s.startswith("-") else "+" + s
    if m.format in (Format.PERCENT, Format.PERCENT_POINTS):
        return fmt.change_pp(x, lang, 2)
    if m.format is Format.DAYS:
        return t("explain.days", lang, x=f"{x:+,.1f}")
    return f"{x:+,.{m.decimals}f}"


def _dir(model: SemanticModel, metric: str, x: float, lang: str) -> str:
    flow = model.metric(metric).format in (Format.CURRENCY, Format.NUMBER)
    if x > 0:
        return t("explain.up" if flow else "explain.rise", lang)
    return t("explain.down" if flow else "explain.fall", lang)


def leads(e: Explanation, s: Split) -> list[dc.Member]:
    """The members a sentence names: the dimension's causes (most surprising first) when a few explain the
    movement, else the largest moving in the direction of the change."""
    real = [m for m in s.members if m.kind == "member"]
    if s.qualified:
        by = {m.member: m for m in real}
        got = sorted((by[c] for c in s.causes if c in by), key=lambda m: -abs(m.contribution))
        if got:
            return got[:TOP]
    return [m for m in real if m.contribution * e.change > 0][:TOP] or real[:1]


def _members(e: Explanation, model: SemanticModel, s: Split, lang: str, linked: Callable[[str, str], str]) -> str:
    ch = e.change
    shown = leads(e, s)
    items = []
    for m in shown:
        text = f"{member_label(m, lang)} {linked(change(model, e.metric, m.contribution, lang), 'dim:' + s.dimension)}"
        if ch and 0 < m.contribution / ch <= 1:
            text += ("（" if lang == "zh" else " (") + t("explain.share", lang, share=fmt.percent(m.contribution / ch, 0)) \
                + ("）" if lang == "zh" else ")")
        if m.rate_effect is not None and m is shown[0]:
            text += t("explain.ratio_effects", lang, rate=change(model, e.metric, m.rate_effect, lang),
                      mix=change(model, e.metric, m.mix_effect, lang))
        items.append(text)
    return t("explain.sep", lang).join(items)


def _ancestors(model: SemanticModel, dim: str) -> set[str]:
    out, d = {"account_type"}, model.dimensions[dim].parent   # account type: opex is opex
    while d:
        out.add(d)
        d = model.dimensions[d].parent
    return out


def narrative(e: Explanation, model: SemanticModel, lang: str = "zh", link: Link | None = None) -> str:
    """'营业利润同比减少 ¥523万（…）。按构成：… 按区域看，华北大区 -¥190万（占 36%）…'.

    Plain text; with ``link``, markdown whose numbers link to where the page shows them (all else escaped)."""
    links: list[tuple[str, str]] = []

    def linked(text: str, target: str) -> str:
        if not link:
            return text
        links.append((text, link(target)))
        return f"\x00{len(links) - 1}\x00"

    m = model.metric(e.ask.metric)
    vs = t(f"explain.vs.{e.ask.vs.value}", lang)
    if e.change == 0:
        return t("explain.no_change", lang, metric=m.label(lang), vs=vs)
    out = [t("explain.headline", lang, metric=m.label(lang), vs=vs, dir=_dir(model, e.metric, e.change, lang),
             change=linked(change(model, e.metric, abs(e.change), lang).lstrip("+"), "top"),
             base=amount(model, e.metric, e.base, lang), current=amount(model, e.metric, e.current, lang))]
    if e.partial:
        out.append(t("explain.partial", lang, end=f"{e.current_range.end:%Y-%m-%d}",
                     base_end=f"{e.base_range.end:%Y-%m-%d}"))
    if e.parts and (e.kind == "linear" or model.metric(e.metric).type.value == "derived"):
        ordered = sorted(e.parts, key=lambda p: -abs(p.contribution))[:TOP]
        items = [f"{model.metric(p.metric).label(lang)} {linked(change(model, e.metric, p.contribution, lang), 'inputs')}"
                 for p in ordered]
        out.append(t("explain.parts", lang, items=t("explain.sep", lang).join(items)))
    if e.detail is not None and e.detail.dimensions:
        d, s = e.detail, e.detail.dimensions[0]
        out.append(t("explain.detail", lang, input=model.metric(d.metric).label(lang),
                     change=linked(change(model, d.metric, d.change, lang), "inputs"),
                     dim=model.dimension(s.dimension).label(lang),
                     items=_members(d, model, s, lang, lambda text, _t: linked(text, "detail"))))
    if e.dimensions:
        s = e.dimensions[0]
        out.append(t("explain.by_dim", lang, dim=model.dimension(s.dimension).label(lang),
                     items=_members(e, model, s, lang, linked)))
    for k, step in enumerate(e.path, start=1):
        child = step.explanation
        where = [t("explain.dim_member", lang, dim=model.dimension(d).label(lang), member=member_label(v, lang))
                 for d, v in child.single if d not in _ancestors(model, step.dimension)]
        if where:
            out.append(t("explain.all_in", lang, member=member_label(step.member, lang),
                         items=t("explain.sep", lang).join(where)))
        if not child.dimensions:
            break
        s = child.dimensions[0]
        out.append(t("explain.drill", lang, member=member_label(step.member, lang),
                     dim=model.dimension(s.dimension).label(lang),
                     items=_members(child, model, s, lang, lambda text, _t, k=k: linked(text, f"step:{k}"))))
    text = "".join(out) if lang == "zh" else " ".join(out)
    if not link:
        return text
    # Markdown: names from the data are shown literally (escaped); only the numbers are links.
    text = fmt.plain(text)
    for i, (number, target) in enumerate(links):
        text = text.replace(f"\x00{i}\x00", f"[{fmt.plain(number)}]({target})")
    return text


def _key(v: object, lang: str) -> object:
    """A member value for JSON: the value itself, or the blank's label."""
    return member_label(v, lang) if v is None or (isinstance(v, float) and pd.isna(v)) else v


def _num(x: float | None) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def member_dict(m: dc.Member, lang: str) -> dict:
    d = {"member": member_label(m, lang) if m.kind != "member" else _key(m.member, lang),
         "contribution": _num(m.contribution), "current": _num(m.current), "base": _num(m.base)}
    if m.rate_effect is not None:
        d["rate_effect"], d["mix_effect"] = _num(m.rate_effect), _num(m.mix_effect)
    if m.kind != "member":
        d["kind"] = m.kind
        if m.kind == "other":
            d["count"] = m.count
    return d


def split_dict(s: Split, lang: str) -> dict:
    return {"dimension": s.dimension, "score": round(s.score, 6), "explained": round(s.explained, 6),
            "qualified": s.qualified, "causes": [_key(c, lang) for c in s.causes],
            "members": [member_dict(m, lang) for m in s.members]}


def to_dict(e: Explanation, model: SemanticModel, lang: str = "zh") -> dict:
    """The CLI's JSON: metric, current, base, change, dimensions (by score; members by |contribution|),
    narrative; plus the periods, the inputs and the drill path."""
    return {
        "metric": e.ask.metric, "explained_metric": e.metric, "kind": e.kind, "vs": e.ask.vs.value,
        "current_range": [e.current_range.start.isoformat(), e.current_range.end.isoformat()],
        "base_range": [e.base_range.start.isoformat(), e.base_range.end.isoformat()],
        "partial": e.partial,
        "filters": [f.to_dict() for f in e.ask.filters],
        "current": _num(e.current), "base": _num(e.base), "change": _num(e.change),
        "inputs": [{"metric": p.metric, "role": p.role, "contribution": _num(p.contribution),
                    "current": _num(p.current), "base": _num(p.base)} for p in e.parts],
        "dimensions": [split_dict(s, lang) for s in e.dimensions],
        "single": [{"dimension": d, "member": _key(v, lang)} for d, v in e.single],
        "tree": [{"dimension": st.dimension, "member": _key(st.member, lang), "contribution": _num(st.contribution),
                  "change_within": _num(st.explanation.change),
                  "next": split_dict(st.explanation.dimensions[0], lang) if st.explanation.dimensions else None}
                 for st in e.path],
        "detail": None if e.detail is None else {
            "metric": e.detail.metric, "change": _num(e.detail.change),
            "dimensions": [split_dict(s, lang) for s in e.detail.dimensions]},
        "narrative": narrative(e, model, lang),
    }


def member_frame(e: Explanation, s: Split, lang: str) -> pd.DataFrame:
    """One row per shown member of a dimension, raw numbers: member, contribution, (rate, mix,) current, base."""
    ratio = e.kind == "ratio"
    rows = []
    for m in s.members:
        row = {"member": member_label(m, lang), "kind": m.kind, "contribution": m.contribution}
        if ratio:
            row["rate_effect"], row["mix_effect"] = m.rate_effect, m.mix_effect
        row["current"], row["base"] = m.current, m.base
        rows.append(row)
    return pd.DataFrame(rows)


def parts_frame(e: Explanation, model: SemanticModel, lang: str) -> pd.DataFrame:
    return pd.DataFrame([{"input": model.metric(p.metric).label(lang), "metric": p.metric,
                          "contribution": p.contribution, "current": p.current, "base": p.base} for p in e.parts])


def members_table(e: Explanation, s: Split, model: SemanticModel, lang: str) -> pd.DataFrame:
    """A dimension's members formatted for reading: contribution (rate and mix for ratios), current, base."""
    df = member_frame(e, s, lang)

    def ch(x):
        return change(model, e.metric, x, lang)
    cols = {t("explain.col.member", lang): df["member"], t("explain.col.contribution", lang): df["contribution"].map(ch)}
    if e.kind == "ratio":
        cols[t("explain.col.rate", lang)] = df["rate_effect"].map(ch)
        cols[t("explain.col.mix", lang)] = df["mix_effect"].map(ch)
    cols[t("explain.col.current", lang)] = df["current"].map(lambda x: amount(model, e.metric, x, lang))
    cols[t("explain.col.base", lang)] = df["base"].map(lambda x: amount(model, e.metric, x, lang))
    return pd.DataFrame(cols)


def tables(e: Explanation, model: SemanticModel, lang: str) -> list[pd.DataFrame]:
    """The inputs and each dimension as formatted tables (the CLI's table output)."""
    out = []

    def ch(x):
        return change(model, e.metric, x, lang)
    if e.parts:
        df = parts_frame(e, model, lang)
        out.append(pd.DataFrame({t("explain.col.input", lang): df["input"],
                                 t("explain.col.contribution", lang): df["contribution"].map(ch)}))
    for s in e.dimensions:
        table = members_table(e, s, model, lang)
        table.insert(0, t("explain.col.dimension", lang), model.dimension(s.dimension).label(lang))
        out.append(table)
    return out
