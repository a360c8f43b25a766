"""Exports: PNG/SVG from vl-convert, CSV with a BOM, a formatted XLSX, and a dashboard PDF (cover + one page per tile)."""
from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pandas as pd
import pytest
from pypdf import PdfReader

from lib.explore import charts, export
from lib.semantic import query
from lib.semantic.spec import Calc, ChartSpec, Field, FilterSpec, Mark, NegativeStyle, QuerySpec

MODEL = query.default_model()
MADE_AT = dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC)
DATA = pd.DataFrame({
    "month": pd.to_datetime(["2025-01-01", "2025-02-01"]),
    "region": ["华东", "华东"],
    "revenue": [1_234_567.891, -2_000.0],
    "gross_margin": [0.3245, -0.05],
    "gross_margin__yoy": [0.012, None],
})
SPEC = ChartSpec(QuerySpec(("revenue", "gross_margin"), ("month", "region"),
                           filters=(FilterSpec("region", "in", ("华东",)),)),
                 Mark.BAR, columns=(Field("month"),), rows=(Field("revenue"), Field("gross_margin")),
                 tooltip=(Field("region"), Field("gross_margin", Calc.YOY)), facet=Field("region"), title="营业收入趋势",
                 negative=NegativeStyle.BRACKETS)


@pytest.fixture(scope="module")
def chart():
    return charts.render(SPEC, DATA, MODEL)


def test_png_and_svg(chart):
    """A faceted chart with two value axes: Vega-Lite needs the axes independent per panel, or it fails to draw."""
    png = export.chart_png(chart, scale=1.0)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = export.chart_svg(chart)
    assert svg.lstrip().startswith("<svg") and "营业收入趋势" in svg


def test_csv_has_bom_labels_and_plain_numbers():
    raw = export.data_csv(SPEC, DATA, MODEL, "zh")
    assert raw.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert list(frame.columns) == ["月份", "区域", "营业收入（元）", "毛利率（%）", "毛利率同比（pp）"]
    assert frame["月份"].tolist() == ["2025-01", "2025-02"]
    assert frame["营业收入（元）"].tolist() == [1234567.89, -2000.0]
    assert frame["毛利率（%）"].tolist() == pytest.approx([32.45, -5.0])


def test_xlsx_numbers_formats_and_about_sheet():
    raw = export.data_xlsx(SPEC, DATA, MODEL, "en", MADE_AT, query.describe(SPEC.query, "en"))
    wb = openpyxl.load_workbook(io.BytesIO(raw))
    data, about = wb.worksheets
    assert (data.title, about.title) == ("Data", "About")
    assert [c.value for c in data[1]] == ["Month", "Region", "Net revenue", "Gross margin", "Gross margin YoY"]
    assert data.freeze_panes == "A2"
    month, region, revenue, margin, yoy = data[2]
    assert month.value == dt.datetime(2025, 1, 1) and month.number_format == "yyyy-mm"
    assert region.value == "华东"
    assert isinstance(revenue.value, float) and revenue.value == pytest.approx(1234567.891)
    assert revenue.number_format == '"¥"#,##0.00;("¥"#,##0.00)'          # brackets, as the chart asks
    assert margin.value == pytest.approx(0.3245) and margin.number_format == "0.0%;(0.0%)"
    assert yoy.value == pytest.approx(1.2) and "pp" in yoy.number_format   # percentage points written ×100
    assert data["E3"].value is None
    assert data.column_dimensions["C"].width >= 14
    facts = {row[0].value: row[1].value for row in about.iter_rows() if row[0].value}
    assert facts["Question"] == "Net revenue, Gross margin · by month, Region · Region ∈ 华东"
    assert facts["Filters"] == "Region in 华东"
    assert facts["Made at"] == "2026-11-24 08:30:00+00:00"
    assert ChartSpec.from_json(facts["Chart spec (JSON)"]) == SPEC


def test_dashboard_pdf_has_cover_and_one_page_per_tile(chart):
    kpis = charts.kpi(ChartSpec(QuerySpec(("revenue",))), pd.DataFrame({"revenue": [5e6], "revenue__yoy": [0.1]}), MODEL)
    tiles = [("营业收入", chart), ("明细", charts.table(SPEC, DATA, MODEL, "zh")), ("核心指标", kpis)]
    pdf = export.dashboard_pdf("经营总览", "2025-01-01 至 2025-02-28\n区域：华东", tiles, "zh", MADE_AT)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1 + len(tiles)
    assert {(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages} == {export.PAGE}
    cover = reader.pages[0].extract_text()
    assert "经营总览" in cover and "区域：华东" in cover and "2026-11-24" in cover
    assert "明细" in reader.pages[2].extract_text() and "(¥0.20万)" in reader.pages[2].extract_text()
    assert "¥500.00万" in reader.pages[3].extract_text() and "同比 +10.0%" in reader.pages[3].extract_text()
    assert reader.metadata.title == "经营总览"


def test_text_that_looks_like_a_formula_stays_text_in_xlsx_and_csv():
    """An imported customer named "=HYPERLINK(...)" must not become a live formula in an export."""
    import openpyxl

    model = query.default_model()
    chart = ChartSpec(QuerySpec(("revenue",), ("customer",)), Mark.TABLE, rows=(Field("customer"),),
                      columns=(Field("revenue"),))
    data = pd.DataFrame({"customer": ['=HYPERLINK("http://x","y")', "@SUM(A1)", "华东客户"], "revenue": [1.0, 2.0, 3.0]})
    wb = openpyxl.load_workbook(io.BytesIO(export.data_xlsx(chart, data, model, "zh", dt.datetime(2026, 1, 1), "x")))
    cells = [wb.active.cell(row=i, column=1) for i in (2, 3, 4)]
    assert [c.data_type for c in cells] == ["s", "s", "s"]
    assert cells[0].value.startswith("'=") and cells[2].value == "华东客户"
    csv = export.data_csv(chart, data, model, "zh").decode("utf-8-sig")
    assert "'=HYPERLINK" in csv and "'@SUM" in csv
