"""Altair charts in the house style. The self-service issue adds ChartSpec rendering here."""
from __future__ import annotations

import altair as alt
import pandas as pd

from lib.i18n import t

BAR = "#1F4E79"
LINE = "#C0504D"


def revenue_margin_trend(trend: pd.DataFrame, lang: str = "zh") -> alt.TopLevelMixin:
    """Monthly revenue as bars (万元) with gross margin % as a line on its own axis."""
    # Months as ordinal labels: one bar per closed month, no axis tick past the last one.
    df = trend.assign(revenue_wan=trend["revenue"] / 1e4, label=trend["month"].dt.strftime("%Y-%m"))
    month = t("chart.month", lang)
    rev = t("chart.revenue_wan", lang)
    gm = t("chart.gross_margin", lang)
    x = alt.X("label:O", title=month, sort=None, axis=alt.Axis(labelAngle=-45))
    bars = alt.Chart(df).mark_bar(color=BAR, opacity=0.85).encode(
        x=x,
        y=alt.Y("revenue_wan:Q", title=rev, axis=alt.Axis(format=",.0f")),
        tooltip=[alt.Tooltip("label:O", title=month), alt.Tooltip("revenue_wan:Q", title=rev, format=",.1f"),
                 *([alt.Tooltip("gross_margin:Q", title=gm, format=".1%")] if "gross_margin" in trend else [])],
    )
    if "gross_margin" not in df.columns:  # a reader denied margins sees revenue only
        return bars.properties(height=320)
    line = alt.Chart(df).mark_line(color=LINE, point=alt.OverlayMarkDef(color=LINE), strokeWidth=2).encode(
        x=x,
        y=alt.Y("gross_margin:Q", title=gm, axis=alt.Axis(format=".0%", titleColor=LINE),
                scale=alt.Scale(zero=False)),
    )
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=320)
