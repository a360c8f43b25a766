"""Reading import files: encodings, title rows above the header, workbooks, and the value parsers (tables)."""
from __future__ import annotations

import datetime as dt
import importlib.util

import numpy as np
import pandas as pd
import pytest

from lib.core.errors import InvalidArgument
from lib.ingest.read import find_header, parse_date, parse_dates, parse_number, parse_numbers, read_file
from tests.lib import ingest_files as F

D = dt.date

NUMBERS = [  # (text, value)
    ("1234", 1234.0), ("1,234.56", 1234.56), ("¥1,234", 1234.0), ("￥ 1,234.00", 1234.0), ("RMB 12", 12.0),
    ("-1,234", -1234.0), ("(1,234)", -1234.0), ("（1,234）", -1234.0), ("1,234-", -1234.0), ("－5", -5.0),
    ("13%", 0.13), ("12.5%", 0.125), ("１２３", 123.0), ("１，２３４．５", 1234.5), ("1,234.50元", 1234.5),
    ("1.2e3", 1200.0), (" 7 ", 7.0), ("0", 0.0),
    ("", None), ("abc", None), ("一千", None), ("1-2", None), ("1.2.3", None), ("nan", None), ("inf", None), ("--5", None),
]
DATES = [  # (text, date)
    ("2024-03-05", D(2024, 3, 5)), ("2024/3/5", D(2024, 3, 5)), ("2024/03/05", D(2024, 3, 5)),
    ("2024年3月5日", D(2024, 3, 5)), ("20240305", D(2024, 3, 5)), ("2024.3.5", D(2024, 3, 5)),
    ("45356", D(2024, 3, 5)), ("45356.0", D(2024, 3, 5)), ("２０２４－０３－０５", D(2024, 3, 5)),
    ("2024-03-05 13:45:00", D(2024, 3, 5)), ("2024-03", D(2024, 3, 1)), ("2024年3月", D(2024, 3, 1)),
    ("202403", D(2024, 3, 1)),
    ("", None), ("2024-02-30", None), ("3/5/2024", None), ("20241305", None), ("1.5", None), ("明天", None), ("12", None),
]


@pytest.mark.parametrize("text,value", NUMBERS)
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text,value", DATES)
def test_parse_date(text, value):
    assert parse_date(text) == value


def test_vectorised_parsers_agree_with_the_scalar_ones():
    nums, bad = parse_numbers(pd.Series([t for t, _ in NUMBERS]))
    want = [np.nan if v is None else v for _, v in NUMBERS]
    np.testing.assert_array_equal(nums, np.array(want, dtype=float))
    assert bad.tolist() == [v is None and t.strip() != "" for t, v in NUMBERS]
    dates, bad = parse_dates(pd.Series([t for t, _ in DATES]))
    assert [None if np.isnat(d) else d.astype(object) for d in dates] == [v for _, v in DATES]
    assert bad.tolist() == [v is None and t != "" for t, v in DATES]


@pytest.mark.parametrize("encoding,expected", [("gbk", "gbk"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                               ("gb18030", "gbk")])
def test_csv_encodings_and_title_rows(tmp_path, encoding, expected):
    path = F.pilot_csv(tmp_path, encoding=encoding)
    if encoding == "gbk":
        assert "销售".encode("gbk") in path.read_bytes()   # real GBK bytes, not UTF-8
    raw = read_file(path, path.name)
    assert raw.encoding == expected          # GB18030 text of GBK characters is GBK
    assert raw.header_row == 2 and raw.title[0] == "销售出库明细表"
    assert raw.columns == tuple(F.HEADER.split(","))
    assert raw.frame["无税金额"].tolist() == ["￥2,500.00", "45.00", "480.00", "300.00"]


def test_gb18030_only_characters(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("客户,金额\n€公司,1\n".encode("gb18030"))
    raw = read_file(path, path.name)
    assert raw.encoding == "gb18030" and raw.frame["客户"].iloc[0] == "€公司"


def test_find_header_cases():
    assert find_header([["报表"], ["a", "b", "c"], ["1", "2", "3"]]) == 1
    assert find_header([["a", "b"], ["1", "2"]]) == 0
    assert find_header([["公司：甲", "", ""], ["期间：2024-03", "", ""], ["日期", "金额", "数量"], ["2024-03-01", "1", "2"]]) == 2
    # A row of numbers is never the header.
    assert find_header([["1", "2", "3"], ["日期", "金额", "数量"]]) == 1


def test_xlsx_sheets(tmp_path):
    path = F.two_sheet_xlsx(tmp_path)
    first = read_file(path, path.name)
    assert first.sheets == ("说明", "销售") and first.sheet == "说明"
    by_name, by_index = read_file(path, path.name, sheet="销售"), read_file(path.read_bytes(), path.name, sheet=1)
    assert by_name.columns == by_index.columns == ("Order Date", "Order No", "Customer", "SKU", "Department", "Qty",
                                                   "Unit Price", "Net Amount", "Cost")
    assert by_name.header_row == 1 and by_name.encoding is None
    assert by_name.frame.iloc[0].tolist() == ["2024-04-10", "X-1", "甲超市", "P01", "华东一部", "50", "2.5", "125", "90"]
    with pytest.raises(InvalidArgument, match="Sheets: 说明, 销售"):
        read_file(path, path.name, sheet="无此表")


@pytest.mark.skipif(bool(importlib.util.find_spec("xlrd") or importlib.util.find_spec("python_calamine")),
                    reason="an .xls reader is installed here; the message is for machines without one")
def test_xls_without_a_reader_says_what_to_do(tmp_path):
    with pytest.raises(InvalidArgument, match="save it as .xlsx or CSV") as exc:
        read_file(b"\xd0\xcf\x11\xe0", "old.xls")
    assert "另存为 .xlsx" in exc.value.message_zh


def test_unreadable_inputs():
    with pytest.raises(InvalidArgument, match="use CSV"):
        read_file(b"x", "a.pdf")
    with pytest.raises(InvalidArgument, match="not a well-formed CSV"):
        read_file(b"a,b\n1,2,3\n", "a.csv")
    with pytest.raises(InvalidArgument, match="not a readable XLSX"):
        read_file(b"not a zip", "a.xlsx")
