"""Altair charts and display tables of the margin analysis (waterfalls, quadrant), in the user's language."""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from lib.core import fmt
from lib.core.i18n import t
from lib.finance.margin import (
    DISCOUNT_OVER,
    FALL_PP,
    Bar,
    Bridge,
    Leakage,
    MarginTable,
    ProfitWaterfall,
    StepKind,
    Totals,
)

UP, DOWN, LEVEL = "#2E7D32", "#C62828", "#1F4E79"
MONEY_COLS = ("revenue", "cogs", "gross_profit", "revenue_cmp", "gross_profit_cmp", "gross_profit_change",
              "discount", "impact", "value")
PCT_COLS = ("gross_margin", "gross_margin_cmp", "margin_change_pp", "revenue_share", "discount_rate")


def _top_text(bar: Bar, lang: str, n: int = 3) -> str:
    return "；".join(f"{c.item} {fmt.money(c.value, lang)}" for c in bar.top(n)) if bar.items else "—"


def _waterfall(rows: list[dict], lang: str, height: int = 340) -> alt.Chart:
    """Bars from ``start`` to ``end`` in order; ``kind`` total / increase / decrease picks the colour."""
    df = pd.DataFrame(rows)
    df["lo"], df["hi"] = df[["start", "end"]].min(axis=1), df[["start", "end"]].max(axis=1)
    df["text"] = [fmt.money(v, lang) for v in df["value"]]
    step, amount, top = t("margin.chart.step", lang), t("margin.chart.amount", lang), t("margin.chart.top", lang)
    order = list(df["label"])
    x = alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160))
    color = alt.Color("kind:N", legend=None, scale=alt.Scale(domain=["total", "increase", "decrease"],
                                                             range=[LEVEL, UP, DOWN]))
    tips = [alt.Tooltip("label:N", title=step), alt.Tooltip("text:N", title=amount)]
    if "top" in df:
        tips.append(alt.Tooltip("top:N", title=top))
    base = alt.Chart(df)
    bars = base.mark_bar().encode(x=x, y=alt.Y("lo:Q", title=amount, axis=alt.Axis(format=",.0f")), y2="hi:Q",
                                  color=color, tooltip=tips)
    labels = base.mark_text(dy=-6, fontSize=11).encode(x=x, y="hi:Q", text="text:N")
    return alt.layer(bars, labels).properties(height=height)


def bridge_chart(bridge: Bridge, lang: str, show_zero: bool = False) -> alt.Chart:
    """The PVM bridge as a waterfall: base total, one bar per effect (with its top contributors), current total."""
    total_key = f"margin.bridge.kind.{bridge.kind.value}"
    rows = [dict(label=f"{t('margin.bridge.base', lang)} {t(total_key, lang)}", start=0.0, end=bridge.base,
                 value=bridge.base, kind="total", top="")]
    level = bridge.base
    for b in bridge.bars:
        if b.value == 0 and not show_zero:
            continue
        rows.append(dict(label=t(f"margin.effect.{b.effect.value}", lang), start=level, end=level + b.value,
                         value=b.value, kind="increase" if b.value >= 0 else "decrease", top=_top_text(b, lang)))
        level += b.value
    rows.append(dict(label=f"{t('margin.bridge.current', lang)} {t(total_key, lang)}", start=0.0, end=bridge.current,
                     value=bridge.current, kind="total", top=""))
    return _waterfall(rows, lang)


def profit_waterfall_chart(wf: ProfitWaterfall, lang: str) -> alt.Chart:
    """Gross sales → … → operating profit."""
    rows, level = [], 0.0
    for s in wf.steps:
        label = s.label if s.label is not None else t(f"margin.step.{s.key}", lang)
        if s.kind is StepKind.TOTAL:
            rows.append(dict(label=label, start=0.0, end=s.value, value=s.value, kind="total"))
            level = s.value
        else:
            delta = s.value if s.kind is StepKind.INCREASE else -s.value
            rows.append(dict(label=label, start=level, end=level + delta, value=delta, kind=s.kind.value))
            level += delta
    return _waterfall(rows, lang)


def quadrant_chart(leak: Leakage, lang: str, item_label: str) -> alt.Chart:
    """Revenue (x, log) against gross margin (y); bubble = |gross profit|, red when negative."""
    q = leak.quadrant.copy()
    q["size"] = q["gross_profit"].abs()
    q["sign"] = np.where(q["gross_profit"] < 0, "neg", "pos")
    q["quadrant_name"] = [t(f"margin.quadrant.{v}", lang) for v in q["quadrant"]]
    rev, gm, gp = t("margin.col.revenue", lang), t("margin.col.gross_margin", lang), t("margin.col.gross_profit", lang)
    points = alt.Chart(q).mark_circle(opacity=0.6).encode(
        x=alt.X("revenue:Q", title=rev, scale=alt.Scale(type="log"), axis=alt.Axis(format=",.0f")),
        y=alt.Y("gross_margin:Q", title=gm, axis=alt.Axis(format=".0%")),
        size=alt.Size("size:Q", legend=None, scale=alt.Scale(range=[20, 1200])),
        color=alt.Color("quadrant_name:N", title=t("margin.col.quadrant", lang)),
        stroke=alt.Color("sign:N", legend=None, scale=alt.Scale(domain=["neg", "pos"], range=[DOWN, "#ffffff"])),
        tooltip=[alt.Tooltip("item:N", title=item_label), alt.Tooltip("revenue:Q", title=rev, format=",.0f"),
                 alt.Tooltip("gross_margin:Q", title=gm, format=".1%"),
                 alt.Tooltip("gross_profit:Q", title=gp, format=",.0f")])
    layers = [points]
    if len(q):
        layers.append(alt.Chart(pd.DataFrame({"x": [float(q["revenue"].median())]})).mark_rule(
            strokeDash=[4, 4], color="grey").encode(x="x:Q"))
    if leak.margin is not None:
        layers.append(alt.Chart(pd.DataFrame({"y": [leak.margin]})).mark_rule(
            strokeDash=[4, 4], color="grey").encode(y="y:Q"))
    return alt.layer(*layers).properties(height=380)


def table_frame(df: pd.DataFrame, cols: tuple[str, ...], lang: str, item_label: str) -> pd.DataFrame:
    """Selected columns with headers in ``lang``: money rounded to 元 cents, percents and pp ×100 to 0.1."""
    out = {item_label: df["item"].astype(str).tolist()}
    for c in cols:
        v = pd.to_numeric(df[c], errors="coerce").astype(float)
        out[t(f"margin.col.{c}", lang)] = (v * 100).round(1) if c in PCT_COLS else v.round(2)
    return pd.DataFrame(out)


def margin_frame(table: MarginTable, lang: str, item_label: str, with_base: bool = True) -> pd.DataFrame:
    cols = ("revenue", "cogs", "gross_profit", "gross_margin", "revenue_share")
    if with_base:
        cols += ("revenue_cmp", "gross_profit_cmp", "gross_margin_cmp", "gross_profit_change", "margin_change_pp")
    return table_frame(table.rows, cols, lang, item_label)


def contributors_frame(bar: Bar, lang: str, item_label: str, n: int = 10) -> pd.DataFrame:
    return pd.DataFrame({item_label: [c.item for c in bar.top(n)],
                         t("margin.col.value", lang): [round(c.value, 2) for c in bar.top(n)]})


def bridge_check(bridge: Bridge, lang: str) -> str:
    """The reconciliation line a finance reader can tick: base + Σ bars = current."""
    bars = math.fsum(b.value for b in bridge.bars)
    return t("margin.bridge.check", lang, base=f"{bridge.base:,.2f}", bars=f"{bars:+,.2f}",
             cur=f"{bridge.current:,.2f}")


def kpis(total: Totals, lang: str, with_base: bool) -> list[tuple[str, str, str | None]]:
    """(label, value, delta) of the headlines: revenue and gross profit with their base, margin with its pp change."""
    base = lambda v: t("margin.kpi.base", lang, value=fmt.money(v, lang)) if with_base else None  # noqa: E731
    return [(t("margin.kpi.revenue", lang), fmt.money(total.revenue, lang), base(total.revenue_cmp)),
            (t("margin.kpi.gross_profit", lang), fmt.money(total.gross_profit, lang), base(total.gross_profit_cmp)),
            (t("margin.kpi.gross_margin", lang), fmt.percent(total.gross_margin),
             fmt.change_pp(total.margin_change_pp, lang) if with_base else None)]


def leak_lists(leak: Leakage, lang: str, item_label: str) -> list[tuple[str, str, pd.DataFrame | None]]:
    """(key, title, table or None when empty) of the three leakage lists."""
    cols = ("revenue", "gross_profit", "gross_margin", "gross_margin_cmp", "margin_change_pp", "impact")
    spec = (("negative", leak.negative, cols[:3], {}),
            ("falling", leak.falling, cols, {"pp": round(FALL_PP * 100)}),
            ("discounting", leak.discounting, ("revenue", "discount", "discount_rate", "gross_margin"),
             {"pp": round(DISCOUNT_OVER * 100), "rate": fmt.percent(leak.discount_rate)}))
    return [(key, t(f"margin.leak.{key}", lang, **kw), None if df.empty else table_frame(df, c, lang, item_label))
            for key, df, c, kw in spec]
