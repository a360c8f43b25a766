"""How a chart's fields read: zh/en labels, number formats (¥ 元/万/亿, %, pp, days) and the chart theme.

One place decides the unit of a column (for Python text, Vega-Lite expressions and Excel formats),
so a table cell, a chart tooltip, an axis tick and an Excel cell of the same figure agree. The
theme (colours, fonts) comes from ``.streamlit/config.toml``.

>>> from lib.semantic.query import default_model
>>> i = info(Field("revenue"), default_model(), "zh")
>>> text(-12345.6, i, "zh", NegativeStyle.BRACKETS), text(0.0, i, "zh")
('(¥1.23万)', '¥0')
"""
from __future__ import annotations

import enum
import functools
import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from lib.core import config, fmt
from lib.core.i18n import t
from lib.semantic import model as semantic
from lib.semantic.periods import bucket_label
from lib.semantic.spec import Calc, Field, InvalidSpec, MoneyScale, NegativeStyle


class Kind(enum.StrEnum):
    TIME = "time"
    DIMENSION = "dimension"
    METRIC = "metric"


class Unit(enum.StrEnum):
    """How a metric column's numbers read."""

    CURRENCY = "currency"
    PERCENT = "percent"              # a share or ratio: 0.324 → 32.4%
    CHANGE = "change"                # a relative change, signed: 0.052 → +5.2%
    PERCENT_POINTS = "percent_points"  # a difference of percentages: 0.012 → +1.2个百分点
    DAYS = "days"
    NUMBER = "number"


SIGNED = (Unit.CHANGE, Unit.PERCENT_POINTS)

BAR = "#1F4E79"
LINE = "#C0504D"
NEGATIVE = "#C62828"
OTHER_COLOR = "#A0A8B3"
PALETTE = ("#1F4E79", "#F28E2B", "#4E9F7D", "#8064A2", "#4BACC6", "#9C755F", "#EDC948", "#2E86C1", "#B07AA1", "#7F7F7F")
FONTS = {"sans serif": "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif",
         "serif": "Noto Serif CJK SC, Source Han Serif SC, Songti SC, SimSun, serif",
         "monospace": "Noto Sans Mono CJK SC, monospace"}
"""Font families per Streamlit theme font; CJK first so Chinese renders in exports (see lib.explore.export)."""


@dataclass(frozen=True)
class FieldInfo:
    """A shelf field resolved against the semantic model: its data column, label, unit and direction."""

    field: Field
    kind: Kind
    column: str
    label: str
    unit: Unit | None = None
    decimals: int = 0
    direction: semantic.Direction = semantic.Direction.NEUTRAL


@dataclass(frozen=True)
class MoneyUnit:
    """A fixed scale for a run of money figures (an axis, a column): divide by ``divisor``, add ``suffix``."""

    divisor: float
    suffix: str


_FORMAT_UNIT = {semantic.Format.CURRENCY: Unit.CURRENCY, semantic.Format.PERCENT: Unit.PERCENT,
                semantic.Format.PERCENT_POINTS: Unit.PERCENT_POINTS, semantic.Format.DAYS: Unit.DAYS,
                semantic.Format.NUMBER: Unit.NUMBER}


def column(f: Field) -> str:
    """The data column of a field: the id, or ``metric__calc`` for a quick calculation."""
    return f"{f.name}__{f.calc.value}" if f.calc else f.name


def kind_of(name: str, model: semantic.SemanticModel) -> Kind:
    if name in semantic.TIME_GRAINS:
        return Kind.TIME
    if name in model.metrics:
        return Kind.METRIC
    if name in model.dimensions:
        return Kind.DIMENSION
    raise InvalidSpec(t("charts.error.unknown_field", "en", name=name), t("charts.error.unknown_field", "zh", name=name))


def info(f: Field, model: semantic.SemanticModel, lang: str) -> FieldInfo:
    """Resolve a shelf field (label in ``lang``; unit, decimals and direction for metrics)."""
    kind = kind_of(f.name, model)
    if kind is Kind.TIME:
        return FieldInfo(f, kind, f.name, t(f"charts.grain.{f.name}", lang))
    if kind is Kind.DIMENSION:
        return FieldInfo(f, kind, f.name, model.dimension(f.name).label(lang))
    m = model.metric(f.name)
    unit, decimals, direction = _FORMAT_UNIT[m.format], m.decimals, m.direction
    label = m.label(lang)
    if f.calc is not None:
        label = t("charts.calc_label", lang, metric=label, calc=t(f"charts.calc.{f.calc.value}", lang))
        pct = unit in (Unit.PERCENT, Unit.PERCENT_POINTS)
        if f.calc in (Calc.YOY, Calc.MOM):
            unit, decimals = (Unit.PERCENT_POINTS if pct else Unit.CHANGE), 1
        elif f.calc is Calc.PCT_TOTAL:
            unit, decimals, direction = Unit.PERCENT, 1, semantic.Direction.NEUTRAL
        elif f.calc is Calc.RANK:
            unit, decimals, direction = Unit.NUMBER, 0, semantic.Direction.NEUTRAL
        elif f.calc is Calc.VS_BUDGET and pct:
            unit = Unit.PERCENT_POINTS
    return FieldInfo(f, kind, column(f), label, unit, decimals, direction)


def _missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def money_unit(values: Iterable, scale: MoneyScale, lang: str) -> MoneyUnit:
    """One scale for a run of money values: the chosen one, or by the largest magnitude (元/万/亿; K/M/B in English).

    >>> money_unit([1.5e6, -2e4], MoneyScale.AUTO, "zh"), money_unit([3e6], MoneyScale.AUTO, "en").suffix
    (MoneyUnit(divisor=10000.0, suffix='万'), 'M')
    """
    if scale is MoneyScale.YUAN:
        return MoneyUnit(1.0, "")
    if scale is MoneyScale.WAN:
        return MoneyUnit(1e4, t("charts.unit.wan", lang))
    if scale is MoneyScale.YI:
        return MoneyUnit(1e8, t("charts.unit.yi", lang))
    top = max((abs(float(v)) for v in values if not _missing(v)), default=0.0)
    steps = ((1e8, "亿"), (1e4, "万")) if lang == "zh" else ((1e9, "B"), (1e6, "M"), (1e4, "K"))
    for limit, suffix in steps:
        if top >= limit:
            return MoneyUnit(1e3 if suffix == "K" else limit, suffix)
    return MoneyUnit(1.0, "")


def text(x, fi: FieldInfo, lang: str = "zh", negative: NegativeStyle = NegativeStyle.RED,
         unit: MoneyUnit | None = None) -> str:
    """A figure as finance reads it; money per value (fmt.money) unless a fixed ``unit`` is given.

    >>> from lib.semantic.query import default_model
    >>> gm = info(Field("gross_margin", Calc.YOY), default_model(), "en")
    >>> text(-0.0123, gm, "en", NegativeStyle.BRACKETS)
    '-1.2 pp'
    """
    if _missing(x):
        return "—"
    x = float(x)
    d = fi.decimals
    u = fi.unit
    if u in SIGNED:
        return fmt.change_pct(x, d) if u is Unit.CHANGE else fmt.change_pp(x, lang, d)
    a = abs(x)
    if u is Unit.CURRENCY:
        body = f"¥{a / unit.divisor:,.{d}f}{unit.suffix}" if unit else fmt.money(a, lang, d)
    elif u is Unit.PERCENT:
        body = f"{a * 100:.{d}f}%"
    elif u is Unit.DAYS:
        body = f"{a:,.{d}f}{t('charts.days', lang)}"
    else:
        body = f"{a:,.{d}f}"
    if x >= 0 or not any(c in "123456789" for c in body):   # rounds to zero: no sign
        return body
    return f"({body})" if negative is NegativeStyle.BRACKETS else f"-{body}"


def vega_label_expr(fi: FieldInfo, lang: str, unit: MoneyUnit | None = None, ref: str = "datum.value") -> str:
    """A Vega expression writing an axis or legend tick of this field, e.g. ``¥1.2万`` or ``12.5%``."""
    u = fi.unit
    if u is Unit.CURRENCY:
        unit = unit or MoneyUnit(1.0, "")
        div = f" / {unit.divisor:g}" if unit.divisor != 1 else ""
        return (f"{ref} == 0 ? '¥0' : ({ref} < 0 ? '-' : '') + '¥' + format(abs({ref}){div}, ',.2~f')"
                f" + '{unit.suffix}'")
    if u is Unit.PERCENT:
        return f"format({ref}, '.1~%')"
    if u is Unit.CHANGE:
        return f"format({ref}, '+.1~%')"
    if u is Unit.PERCENT_POINTS:
        return f"format({ref} * 100, '+.1~f') + '{'pp' if lang != 'zh' else '个百分点'}'"
    if u is Unit.DAYS:
        return f"format({ref}, ',.1~f') + '{t('charts.days', lang)}'"
    return f"format({ref}, ',.2~f')"


def excel_format(fi: FieldInfo, negative: NegativeStyle = NegativeStyle.RED, lang: str = "zh") -> str:
    """An Excel number format for this field (see :func:`excel_value` for the number written).

    >>> from lib.semantic.query import default_model
    >>> excel_format(info(Field("revenue"), default_model(), "zh"))
    '"¥"#,##0.00;[Red]-"¥"#,##0.00'
    """
    d = fi.decimals
    digits = "0" + ("." + "0" * d if d else "")
    u = fi.unit
    if u is Unit.CHANGE:
        return f"+{digits}%;[Red]-{digits}%;{digits}%"
    if u is Unit.PERCENT_POINTS:
        pp = '"pp"' if lang != "zh" else '"个百分点"'
        return f"+{digits}{pp};[Red]-{digits}{pp};{digits}{pp}"
    pos = {Unit.CURRENCY: f'"¥"#,##{digits}', Unit.PERCENT: f"{digits}%",
           Unit.DAYS: f'#,##{digits}"{t("charts.days", lang)}"'}.get(u, f"#,##{digits}")
    if negative is NegativeStyle.BRACKETS:
        return f"{pos};({pos})"
    return f"{pos};[Red]-{pos}"


def excel_value(x, fi: FieldInfo) -> float | None:
    """The number an Excel cell holds: the value itself, except percentage points are written ×100."""
    if _missing(x):
        return None
    return float(x) * 100 if fi.unit is Unit.PERCENT_POINTS else float(x)


def dim_text(x, fi: FieldInfo) -> str:
    """A dimension member or time bucket as text (time buckets as ``lib.semantic.periods.bucket_label`` writes them)."""
    if fi.kind is Kind.TIME:
        return bucket_label(x, fi.column)
    return "—" if _missing(x) else str(x)


# -- theme ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Theme:
    primary: str
    text: str
    background: str
    font: str


@functools.cache
def theme() -> Theme:
    """The app theme from ``.streamlit/config.toml`` (defaults if the file or a key is missing)."""
    raw: dict = {}
    path = config.ROOT / ".streamlit" / "config.toml"
    if path.exists():
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("theme", {})
    font = raw.get("font", "sans serif")
    return Theme(raw.get("primaryColor", BAR), raw.get("textColor", "#1F2937"),
                 raw.get("backgroundColor", "#FFFFFF"), FONTS.get(font, font))


def theme_config(big: bool = False) -> dict:
    """The Vega-Lite ``config`` of every chart; ``big`` for presentation mode."""
    th = theme()
    fs = 18 if big else 12
    text_style = {"labelFont": th.font, "titleFont": th.font, "labelFontSize": fs, "titleFontSize": fs + 1,
                  "labelColor": th.text, "titleColor": th.text}
    return {
        "font": th.font, "background": th.background, "view": {"stroke": None},
        "title": {"font": th.font, "fontSize": 28 if big else 16, "color": th.text, "anchor": "start"},
        "axis": {**text_style, "gridColor": "#E5E7EB", "domainColor": "#9CA3AF", "tickColor": "#9CA3AF",
                 "labelLimit": 260},
        "legend": {**text_style, "titleFontSize": fs}, "header": {**text_style},
        "range": {"category": list(PALETTE)},
        "mark": {"color": th.primary}, "text": {"font": th.font, "fontSize": fs},
    }
