"""Charts and display tables of an explanation: the waterfall from base to current through one dimension's
members (or the inputs), and the dimensions ranked. Values are shown in the metric's own unit (¥, pp, days)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from lib.core.i18n import t
from lib.explain import words
from lib.explain.explain import Explanation, Split
from lib.semantic.model import Format, SemanticModel

UP, DOWN, LEVEL = "#2E7D32", "#C62828", "#1F4E79"


def _scale(model: SemanticModel, metric: str) -> float:
    """Percentages are drawn in percent (pp for changes), the rest as they are."""
    return 100.0 if model.metric(metric).format in (Format.PERCENT, Format.PERCENT_POINTS) else 1.0


def waterfall_rows(e: Explanation, model: SemanticModel, lang: str, split: Split | None = None) -> pd.DataFrame:
    """Base, one step per member (or input), current: start/end of each bar, in the metric's display unit."""
    k = _scale(model, e.metric)
    rows = [dict(label=t("explain.col.base", lang), start=0.0, end=e.base * k, kind="total",
                 text=words.amount(model, e.metric, e.base, lang))]
    level = e.base * k
    if split is None:
        steps = [(model.metric(p.metric).label(lang), p.contribution) for p in e.parts]
    else:
        steps = [(words.member_label(m, lang), m.contribution) for m in split.members]
    for label, x in steps:
        rows.append(dict(label=label, start=level, end=level + x * k, kind="increase" if x >= 0 else "decrease",
                         text=words.change(model, e.metric, x, lang)))
        level += x * k
    rows.append(dict(label=t("explain.col.current", lang), start=0.0, end=e.current * k, kind="total",
                     text=words.amount(model, e.metric, e.current, lang)))
    return pd.DataFrame(rows)


def waterfall(e: Explanation, model: SemanticModel, lang: str, split: Split | None = None,
              height: int = 320) -> alt.Chart:
    df = waterfall_rows(e, model, lang, split)
    df["lo"], df["hi"] = df[["start", "end"]].min(axis=1), df[["start", "end"]].max(axis=1)
    order = list(dict.fromkeys(df["label"]))
    if len(order) < len(df):                      # two members with one label (blank and a real "(空白)")
        df["label"] = [f"{x} ({i})" if list(df["label"]).count(x) > 1 else x for i, x in enumerate(df["label"])]
        order = list(df["label"])
    # Zoomed to the levels the bars move between (the totals are cut at the bottom, as a bridge is read).
    levels = pd.concat([df["end"], df.loc[df["kind"] != "total", "start"]])
    lo, hi = float(levels.min()), float(levels.max())
    pad = (hi - lo) * 0.25 or abs(hi) * 0.05 or 1.0
    domain = [lo - pad, hi + pad] if lo - pad > 0 or hi + pad < 0 else [min(lo - pad, 0.0), max(hi + pad, 0.0)]
    x = alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-30, labelLimit=180))
    y = alt.Y("lo:Q", title=model.metric(e.metric).label(lang), scale=alt.Scale(domain=domain, clamp=True),
              axis=alt.Axis(format=",.1f" if _scale(model, e.metric) != 1 else ",.0f"))
    color = alt.Color("kind:N", legend=None, scale=alt.Scale(domain=["total", "increase", "decrease"],
                                                             range=[LEVEL, UP, DOWN]))
    base = alt.Chart(df)
    bars = base.mark_bar().encode(x=x, y=y, y2="hi:Q", color=color,
                                  tooltip=[alt.Tooltip("label:N", title=t("explain.col.member", lang)),
                                           alt.Tooltip("text:N", title=t("explain.col.contribution", lang))])
    labels = base.mark_text(dy=-6, fontSize=11).encode(x=x, y="hi:Q", text="text:N")
    return alt.layer(bars, labels).properties(height=height)


def ranked(e: Explanation, model: SemanticModel, lang: str) -> pd.DataFrame:
    """The dimensions in the order shown, with what their main members explain."""
    return pd.DataFrame({
        t("explain.col.dimension", lang): [model.dimension(s.dimension).label(lang) for s in e.dimensions],
        t("explain.col.causes", lang): [t("explain.sep", lang).join(words.member_label(c, lang) for c in s.causes)
                                        for s in e.dimensions],
        t("explain.col.explained", lang): [f"{s.explained * 100:.0f}%" for s in e.dimensions],
        t("explain.col.score", lang): [round(s.score * 1000, 3) for s in e.dimensions],
    })
