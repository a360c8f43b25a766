"""Exports, all offline: a chart as PNG/SVG (vl-convert), its data as CSV/XLSX, a dashboard as a PDF.

Chinese text needs a CJK font that vl-convert can find. It reads the system fonts (on Debian,
``apt-get install fonts-noto-cjk``); a folder of extra fonts can be named in ``WORKBENCH_FONT_DIR``
(several separated by ``os.pathsep``), which is registered with ``vl_convert.register_font_directory``
before the first export. :func:`cjk_font_available` tells whether Chinese will render.
"""
from __future__ import annotations

import datetime as dt
import functools
import io
import os
from pathlib import Path

import altair as alt
import pandas as pd
import vl_convert as vlc
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from pypdf import PageObject, PdfReader, PdfWriter, Transformation

from lib.core import fmt
from lib.core.errors import WorkbenchError
from lib.core.i18n import t
from lib.explore.chart_format import NEGATIVE, FieldInfo, Kind, Unit, dim_text, excel_format, excel_value
from lib.explore.chart_tables import KpiTile, table_fields
from lib.explore.charts import theme, theme_config
from lib.semantic.spec import ChartSpec

FONT_DIR_ENV = "WORKBENCH_FONT_DIR"
PAGE = (842, 595)        # A4 landscape in points: the cover's size
TABLE_ROWS = 40          # rows of a table tile in the PDF; the rest are in the Excel export


class ExportError(WorkbenchError):
    """A chart could not be converted (the message carries vl-convert's reason)."""


@functools.cache
def _setup() -> str | None:
    """Register extra font folders once; the Vega-Lite version vl-convert should compile with."""
    for folder in os.environ.get(FONT_DIR_ENV, "").split(os.pathsep):
        if folder.strip() and Path(folder).is_dir():
            vlc.register_font_directory(folder)
    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vlc.get_vegalite_versions() else None


def _spec(chart: alt.TopLevelMixin) -> dict:
    return chart.to_dict() if hasattr(chart, "to_dict") else chart


def _convert(fn, chart: alt.TopLevelMixin, **kw):
    version = _setup()
    try:
        return fn(_spec(chart), **({"vl_version": version} if version else {}), **kw)
    except ValueError as exc:
        raise ExportError(f"The chart could not be exported: {exc}", f"图表无法导出：{exc}") from exc


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """The chart as a PNG (``scale`` 2 for sharp slides)."""
    return _convert(vlc.vegalite_to_png, chart, scale=scale)


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as SVG text (text stays text: searchable, and the title is in it)."""
    return _convert(vlc.vegalite_to_svg, chart)


@functools.cache
def cjk_font_available() -> bool:
    """Whether exports can draw Chinese: two different characters must not render alike (as missing glyphs do)."""
    def png(ch: str) -> bytes:
        c = alt.Chart(pd.DataFrame({"x": [0]})).mark_text(text=ch, fontSize=40, font=theme().font).encode()
        return chart_png(c.properties(width=60, height=60), scale=1.0)
    return png("中") != png("国")


# -- data -------------------------------------------------------------------------------------

_CSV_SUFFIX = {Unit.PERCENT: "%", Unit.CHANGE: "%", Unit.PERCENT_POINTS: "pp"}


def _csv_column(fi: FieldInfo, values: pd.Series, lang: str) -> tuple[str, list]:
    if fi.kind is not Kind.METRIC:
        return fi.label, [dim_text(v, fi) for v in values]
    nums = pd.to_numeric(values, errors="coerce").astype(float)
    if fi.unit in _CSV_SUFFIX:
        suffix = _CSV_SUFFIX[fi.unit]
        return (f"{fi.label}（{suffix}）" if lang == "zh" else f"{fi.label} ({suffix})"), (nums * 100).round(6).tolist()
    if fi.unit is Unit.CURRENCY:
        return (f"{fi.label}（元）" if lang == "zh" else f"{fi.label} (CNY)"), nums.round(2).tolist()
    return fi.label, nums.tolist()


def data_csv(chart: ChartSpec, data: pd.DataFrame, model, lang: str = "zh") -> bytes:
    """The chart's data as CSV: UTF-8 with a BOM (so Excel reads Chinese), labelled headers, plain numbers.

    Money is in 元; percentages, changes and percentage points are ×100 with the unit in the header.
    """
    cols = dict(_csv_column(fi, data[fi.column].reset_index(drop=True), lang)
                for fi in table_fields(chart, data, model, lang))
    return fmt.inert_text_columns(pd.DataFrame(cols)).to_csv(index=False).encode("utf-8-sig")


_DATE_FORMATS = {"day": "yyyy-mm-dd", "week": "yyyy-mm-dd", "month": "yyyy-mm", "year": "yyyy"}


def _width(value) -> int:
    s = str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def data_xlsx(chart: ChartSpec, data: pd.DataFrame, model, lang: str, made_at: dt.datetime,
              description: str) -> bytes:
    """The chart's data as a formatted workbook.

    Sheet 1: labelled headers (frozen), real numbers with number formats (¥#,##0.00, 0.0%, …;
    percentage points ×100), time buckets as dates. Sheet 2: the question in words
    (``description``, e.g. ``lib.semantic.query.describe``), the filters, when it was made, the spec JSON.
    """
    fields = table_fields(chart, data, model, lang)
    wb = Workbook()
    ws = wb.active
    ws.title = t("charts.export.sheet_data", lang)
    head_fill = PatternFill("solid", fgColor=theme().primary.lstrip("#"))
    widths = []
    for j, fi in enumerate(fields, start=1):
        cell = ws.cell(row=1, column=j, value=fi.label)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = head_fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        width = _width(fi.label)
        number_format = excel_format(fi, chart.negative, lang) if fi.kind is Kind.METRIC else None
        for i, v in enumerate(data[fi.column].tolist(), start=2):
            if fi.kind is Kind.METRIC:
                c = ws.cell(row=i, column=j, value=excel_value(v, fi))
                c.number_format = number_format
                width = max(width, 14)
            elif fi.kind is Kind.TIME and fi.column in _DATE_FORMATS and not pd.isna(v):
                c = ws.cell(row=i, column=j, value=pd.Timestamp(v).date())
                c.number_format = _DATE_FORMATS[fi.column]
                width = max(width, 11)
            else:
                ws.cell(row=i, column=j, value=fmt.cell_text(dim_text(v, fi)))
                width = max(width, _width(dim_text(v, fi)))
        widths.append(width)
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 8), 60)
    ws.freeze_panes = "A2"
    if fields:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(fields))}{max(len(data) + 1, 1)}"

    about = wb.create_sheet(t("charts.export.sheet_spec", lang))
    filters = [_filter_words(f, model, lang) for f in chart.query.filters] or [t("charts.export.no_filters", lang)]
    rows = [(t("charts.export.title", lang), chart.title or ""),
            (t("charts.export.description", lang), description),
            *((t("charts.export.filters", lang) if i == 0 else "", f) for i, f in enumerate(filters)),
            (t("charts.export.when", lang), made_at.isoformat(sep=" ", timespec="seconds")),
            (t("charts.export.spec", lang), chart.to_json())]
    for i, (k, v) in enumerate(rows, start=1):
        about.cell(row=i, column=1, value=k).font = Font(bold=True)
        about.cell(row=i, column=2, value=v).alignment = Alignment(wrap_text=True, vertical="top")
    about.column_dimensions["A"].width = 18
    about.column_dimensions["B"].width = 100
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _filter_words(f, model, lang: str) -> str:
    from lib.semantic.model import TIME_GRAINS
    label = t(f"charts.grain.{f.dimension}", lang) if f.dimension in TIME_GRAINS else model.dimension(f.dimension).label(lang)
    zh = lang == "zh"
    ops = {"eq": "=", "ne": "≠", "in": "属于" if zh else "in", "not_in": "不属于" if zh else "not in",
           "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "between": "介于" if zh else "between"}
    return f"{label} {ops.get(f.op, f.op)} {('、' if lang == 'zh' else ', ').join(str(v) for v in f.values)}"


# -- dashboard PDF ----------------------------------------------------------------------------

def _cover(title: str, subtitle: str, lang: str, made_at: dt.datetime, pages: int) -> alt.TopLevelMixin:
    w, h = PAGE
    th = theme()
    lines = [(title, 34, "bold", h * 0.38, th.primary), *[(s, 16, "normal", h * 0.50 + 26 * i, th.text)
                                                           for i, s in enumerate(subtitle.splitlines())]]
    lines.append((t("charts.export.made_at", lang, when=made_at.strftime("%Y-%m-%d %H:%M")), 13, "normal",
                  h * 0.50 + 26 * len(subtitle.splitlines()) + 20, "#6B7280"))
    base = alt.Chart(pd.DataFrame({"_": [0]}))
    layers = [base.mark_text(text=txt, fontSize=size, fontWeight=weight, color=color, align="center",
                             font=th.font, limit=w - 80).encode(x=alt.value(w / 2), y=alt.value(y))
              for txt, size, weight, y, color in lines if txt]
    return alt.layer(*layers).properties(width=w, height=h, config=alt.Config.from_dict(
        {**theme_config(), "view": {"stroke": None}}))


def _table_chart(frame: pd.DataFrame, lang: str) -> alt.TopLevelMixin:
    """A data frame drawn as an Altair text table (first TABLE_ROWS rows)."""
    shown = frame.head(TABLE_ROWS)
    cols = [str(c) for c in shown.columns]
    long = pd.DataFrame([{"row": i, "col": c, "text": "" if pd.isna(v) else str(v)}
                         for i, (_, r) in enumerate(shown.iterrows()) for c, v in zip(cols, r.tolist())])
    if long.empty:
        long = pd.DataFrame({"row": [0], "col": cols[:1] or [""], "text": ["—"]})
    col_w = max(90, min(180, 8 * max([_width(c) for c in cols] + [12])))
    chart = alt.Chart(long).mark_text(align="left", dx=-col_w / 2 + 4, font=theme().font).encode(
        x=alt.X("col:N", sort=cols, title=None, axis=alt.Axis(
            orient="top", labelAngle=0, domain=False, ticks=False, labelFontWeight="bold", labelLimit=col_w - 6,
            labelAlign="left", labelOffset=-col_w / 2 + 4)),
        y=alt.Y("row:O", title=None, axis=None),
        text="text:N",
    ).properties(width=col_w * len(cols), height=alt.Step(20))
    if len(frame) > TABLE_ROWS:
        chart = chart.properties(title=alt.TitleParams(
            t("charts.export.rows_cut", lang, n=TABLE_ROWS, total=len(frame)), fontSize=11, anchor="start",
            orient="bottom", fontWeight="normal"))
    return chart


def _kpi_chart(tiles: list[KpiTile]) -> alt.TopLevelMixin:
    """KPI tiles side by side: label, value, and the change coloured by whether it is good."""
    th = theme()
    good_color = {True: "#2E7D32", False: NEGATIVE, None: "#6B7280"}
    cells = []
    for k in tiles:
        base = alt.Chart(pd.DataFrame({"_": [0]})).properties(width=220, height=130)
        change = f"{k.change_label} {k.change_text}".strip() if k.change_text else ""
        cells.append(alt.layer(
            base.mark_text(text=k.label, fontSize=16, color="#6B7280", align="left", font=th.font).encode(
                x=alt.value(8), y=alt.value(24)),
            base.mark_text(text=k.value_text, fontSize=30, fontWeight="bold", color=th.text, align="left",
                           font=th.font).encode(x=alt.value(8), y=alt.value(68)),
            base.mark_text(text=change or " ", fontSize=15, color=good_color[k.good], align="left",
                           font=th.font).encode(x=alt.value(8), y=alt.value(106))))
    return alt.concat(*cells, columns=4) if cells else _table_chart(pd.DataFrame(), "zh")


def _tile_page(title: str, tile, lang: str, n: int, total: int) -> alt.TopLevelMixin:
    if isinstance(tile, pd.DataFrame):
        chart, cfg = _table_chart(tile, lang), alt.Config.from_dict(theme_config())
    elif isinstance(tile, list):
        chart, cfg = _kpi_chart(tile), alt.Config.from_dict(theme_config())
    else:
        cfg = tile.config if tile.config is not alt.Undefined else alt.Config.from_dict(theme_config())
        chart = tile.copy(deep=True)
        chart.config = alt.Undefined
    page = alt.vconcat(chart, title=alt.TitleParams(title, subtitle=t("charts.export.page", lang, n=n, total=total),
                                                    anchor="start", fontSize=20, subtitleFontSize=11))
    page.config = cfg
    return page.properties(padding=24)


def _on_a4(page: PageObject) -> PageObject:
    """The page centred on an A4 landscape sheet, shrunk to fit (never enlarged), so every page prints alike."""
    w, h = float(page.mediabox.width), float(page.mediabox.height)
    pw, ph = PAGE
    f = min(1.0, pw / w, ph / h)
    sheet = PageObject.create_blank_page(width=pw, height=ph)
    sheet.merge_transformed_page(page, Transformation().scale(f).translate((pw - w * f) / 2, (ph - h * f) / 2))
    return sheet


def dashboard_pdf(title: str, subtitle: str,
                  tiles: list[tuple[str, alt.TopLevelMixin | pd.DataFrame | list[KpiTile]]],
                  lang: str, made_at: dt.datetime) -> bytes:
    """A dashboard as one PDF: a cover (title, the filters as ``subtitle`` — one line per line —
    and the date), then one page per tile, each on an A4 landscape sheet.

    A tile is a chart (from ``lib.explore.charts.render``), a display frame (``table``/``pivot``, drawn as
    a text table of its first TABLE_ROWS rows) or a list of KPI tiles (``lib.explore.charts.kpi``).
    """
    writer = PdfWriter()
    total = len(tiles) + 1
    pages = [_cover(title, subtitle, lang, made_at, total)]
    pages += [_tile_page(name, tile, lang, i, total) for i, (name, tile) in enumerate(tiles, start=2)]
    for page in pages:
        for p in PdfReader(io.BytesIO(_convert(vlc.vegalite_to_pdf, page))).pages:
            writer.add_page(_on_a4(p))
    writer.add_metadata({"/Title": title, "/Subject": subtitle, "/Producer": "Yecai Workbench"})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()
