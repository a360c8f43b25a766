"""Import test files, written at test time (not copied from anywhere): a pilot sales export as an
ERP prints it (GBK, Chinese headers, two title rows), a two-sheet workbook, and one bad file per kind.

Pilot sales, by hand (net = quantity × price − discount; cost):
  row 4  2024-03-05 SO-1/1 华东一部 甲超市 P01 矿泉水  1,000 × 2.50 − 0   = 2,500.00; cost 1,800.00
  row 5  2024-03-06 SO-1/2 华东一部 甲超市 P02 绿茶      10 × 5.00 − 5   =    45.00; cost    30.00
  row 6  2024-04-02 SO-2/1 西部一部 乙便利 P01 矿泉水    200 × 2.40 − 0   =   480.00; cost   360.00
  row 7  2024-04-03 SO-3/1 西部一部 乙便利 P03 可乐      100 × 3.00 − 0   =   300.00; cost   240.00
  March: revenue 2,545, cost 1,830, margin 715;  April: revenue 780, cost 600, margin 180.
Dates are written four ways (2024年3月5日, 2024/3/6, 20240402, 2024-04-03), amounts with thousands
separators, ￥ and a percent tax rate.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

HEADER = "单据日期,订单号,行号,部门,客户名称,存货编码,存货名称,数量,无税单价,折扣额,无税金额,成本金额,税率"
ROWS = [
    "2024年3月5日,SO-1,1,华东一部,甲超市,P01,矿泉水,\"1,000\",2.50,0,\"￥2,500.00\",\"1,800.00\",13%",
    "2024/3/6,SO-1,2,华东一部,甲超市,P02,绿茶,10,5.00,5,45.00,30.00,13%",
    "20240402,SO-2,1,西部一部,乙便利,P01,矿泉水,200,2.40,0,480.00,360.00,13%",
    "2024-04-03,SO-3,1,西部一部,乙便利,P03,可乐,100,3.00,0,300.00,240.00,13%",
]
TITLE = ["销售出库明细表", "制表日期：2024-05-01,,,"]
PILOT_REVENUE = {"2024-03": 2545.0, "2024-04": 780.0}
PILOT_COST = {"2024-03": 1830.0, "2024-04": 600.0}


def pilot_csv(folder: Path, rows: list[str] | None = None, name: str = "pilot_sales.csv",
              encoding: str = "gbk") -> Path:
    """The pilot sales file: two title rows, Chinese headers, GBK bytes."""
    path = folder / name
    text = "\r\n".join([*TITLE, HEADER, *(ROWS if rows is None else rows)]) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def replace_cell(row: str, column: str, value: str) -> str:
    """A pilot row with one cell changed (cells that hold commas are quoted)."""
    import csv
    import io
    cells = next(csv.reader(io.StringIO(row)))
    cells[HEADER.split(",").index(column)] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


# One bad file per kind: (name, rows, expected problem kind, column named in the report).
BAD_FILES = [
    ("bad_number", [replace_cell(ROWS[0], "数量", "一千")], "BAD_NUMBER", "数量"),
    ("bad_date", [replace_cell(ROWS[0], "单据日期", "2024-02-30")], "BAD_DATE", "单据日期"),
    ("date_out_of_range", [replace_cell(ROWS[0], "单据日期", "1899-12-31")], "DATE_RANGE", "单据日期"),
    ("negative_quantity", [replace_cell(ROWS[1], "数量", "-10")], "NEGATIVE", "数量"),
    ("empty_required", [replace_cell(ROWS[1], "客户名称", "")], "EMPTY", "客户名称"),
    ("duplicate_in_file", [ROWS[2], ROWS[2]], "DUPLICATE_FILE", "order_no+line_no"),
    ("revenue_identity", [replace_cell(ROWS[0], "无税金额", "2,600.00")], "REVENUE", "无税金额"),
    ("unknown_member", [replace_cell(ROWS[2], "客户名称", "新客户丙")], "UNKNOWN", "客户名称"),
    ("too_long", [replace_cell(ROWS[2], "订单号", "X" * 40)], "TOO_LONG", "订单号"),
]


def two_sheet_xlsx(folder: Path) -> Path:
    """A workbook: sheet 说明 (notes), sheet 销售 (a title row, real Excel dates and numbers)."""
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "说明"
    ws.append(["本工作簿由测试生成"])
    ws2 = wb.create_sheet("销售")
    ws2.append(["2024年4月销售"])
    ws2.append(["Order Date", "Order No", "Customer", "SKU", "Department", "Qty", "Unit Price", "Net Amount", "Cost"])
    ws2.append([dt.datetime(2024, 4, 10), "X-1", "甲超市", "P01", "华东一部", 50, 2.5, 125.0, 90.0])
    ws2.append([dt.datetime(2024, 4, 11), "X-2", "乙便利", "P03", "西部一部", 20, 3, 60, 48])
    path = folder / "two_sheets.xlsx"
    wb.save(path)
    return path


def big_sales_csv(path: Path, rows: int, customers: int = 2000, products: int = 300, units: int = 12,
                  seed: int = 1, encoding: str = "gbk") -> Path:
    """A large sales export (Chinese headers, GBK) for streaming tests and the benchmark; every row valid."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(seed)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    q = rng.integers(1, 100, rows)
    price = rng.integers(100, 5000, rows) / 100
    disc = np.round(q * price * rng.choice([0, 0, 0, 0.05], rows), 2)
    net = np.round(q * price - disc, 2)
    frame = pd.DataFrame({
        "单据日期": day.strftime("%Y-%m-%d"), "订单号": "SO" + pd.Series(np.arange(rows) // 3).astype(str).str.zfill(8),
        "行号": np.arange(rows) % 3 + 1, "部门": "销售" + pd.Series(rng.integers(1, units + 1, rows)).astype(str) + "部",
        "客户名称": "客户" + pd.Series(rng.integers(0, customers, rows)).astype(str).str.zfill(5),
        "存货编码": "SKU" + pd.Series(rng.integers(0, products, rows)).astype(str).str.zfill(4),
        "数量": q, "无税单价": price, "折扣额": disc, "无税金额": net, "成本金额": np.round(net * 0.7, 2),
    })
    step = 200_000
    with open(path, "wb") as fh:
        for start in range(0, rows, step):
            part = frame.iloc[start:start + step].to_csv(index=False, header=start == 0)
            fh.write(part.encode(encoding))
    return path
