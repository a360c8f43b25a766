"""Budget versions as Excel in the layout finance already uses: one row per org unit × account,
the twelve months as columns (``1月``…``12月`` or ``2026-01``…), units and accounts by code or name.

An upload is read and checked as a whole; any problem (unknown unit or account, non-numeric cell,
duplicate row, wrong year or month header, empty file) rejects it with a row-by-row report and
changes nothing. A valid file replaces the version's lines in one transaction.

>>> month_of("3月", 2026), month_of("2026-03", 2026), month_of("2025-03", 2026), month_of("合计", 2026)
(3, 3, 'year', None)
"""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import openpyxl
import pandas as pd
import sqlalchemy as sa
from openpyxl.styles import Font

from lib.access.scope import User
from lib.core import fmt
from lib.finance import budget_versions as bv
from lib.finance.budget_versions import LinesRejected, Problem

UNIT_HEADERS = ("组织", "部门", "单位", "成本中心", "org", "unit", "department", "cost center")
ACCOUNT_HEADERS = ("科目", "account")
NAME_HINTS = ("名称", "name")
TOTAL_HEADERS = ("合计", "总计", "全年", "total", "full year")
_MONTH_RE = [re.compile(r"^(\d{1,2})\s*月$"),                                  # 3月
             re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$"),              # 2026-03, 2026年3月
             re.compile(r"^m(\d{1,2})$", re.I)]                               # M3


def month_of(header, fiscal_year: int) -> int | str | None:
    """The month (1–12) a header names; 'year' for a month of another year, 'month' for a bad month
    number, None when the header is not a month at all."""
    if isinstance(header, (dt.date, dt.datetime)):
        return header.month if header.year == fiscal_year else "year"
    text = str(header).strip() if header is not None else ""
    for rx in _MONTH_RE:
        m = rx.match(text)
        if not m:
            continue
        if len(m.groups()) == 2:
            if int(m.group(1)) != fiscal_year:
                return "year"
            n = int(m.group(2))
        else:
            n = int(m.group(1))
        return n if 1 <= n <= 12 else "month"
    return None


def _kind(header) -> str | None:
    text = str(header or "").strip().lower()
    if not text:
        return None
    if any(text.startswith(h) for h in ACCOUNT_HEADERS):
        return "account"
    if any(text.startswith(h) for h in UNIT_HEADERS):
        return "unit"
    if any(text.startswith(h) for h in TOTAL_HEADERS):
        return "total"
    return None


def _cell_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = str(v).strip()
    return text or None


def _number(v) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    text = str(v).strip().replace(",", "").replace("，", "").replace("¥", "")
    try:
        x = float(text)
    except ValueError:
        return None
    return x if x == x and abs(x) != float("inf") else None


def parse(data: bytes, fiscal_year: int, units: pd.DataFrame,
          accounts: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Read an upload into lines (period, org_unit_id, account_code, amount) and the problems found.

    Row numbers are the spreadsheet's (the header is row 1). Empty cells are months without a line.
    """
    empty = pd.DataFrame(columns=list(bv.LINE_COLUMNS))
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        return empty, [Problem(None, None, None, f"not an Excel .xlsx file ({type(exc).__name__}).",
                               f"不是 Excel（.xlsx）文件（{type(exc).__name__}）。")]
    rows = [r for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    while rows and all(_cell_text(v) is None for v in rows[-1]):
        rows.pop()
    if not rows or len(rows) < 2:
        return empty, [Problem(None, None, None, "the file is empty: a header row and at least one row are needed.",
                               "文件为空：需要一行表头和至少一行数据。")]
    header, problems = rows[0], []
    unit_col = account_col = None
    months: dict[int, int] = {}  # column index -> month
    for j, h in enumerate(header):
        kind = _kind(h)
        if kind == "unit":
            # code and name columns may both be there: use the first (codes come first in our layout)
            unit_col = j if unit_col is None else unit_col
        elif kind == "account":
            account_col = j if account_col is None else account_col
        elif kind == "total" or _cell_text(h) is None:
            continue
        else:
            m = month_of(h, fiscal_year)
            if m is None:
                problems.append(Problem(1, _cell_text(h), h, "not a month header (use 1月…12月 or "
                                        f"{fiscal_year}-01…), an org unit or an account column.",
                                        f"不是月份表头（应为 1月…12月 或 {fiscal_year}-01…），也不是组织或科目列。"))
            elif m == "year":
                problems.append(Problem(1, _cell_text(h), h,
                                        f"a month of another year: this version is for {fiscal_year}.",
                                        f"不是本版本财年（{fiscal_year}）的月份。"))
            elif m == "month":
                problems.append(Problem(1, _cell_text(h), h, "no such month (1 to 12).", "月份须为 1 到 12。"))
            elif m in months.values():
                problems.append(Problem(1, _cell_text(h), h, "this month has two columns.", "该月份出现了两列。"))
            else:
                months[j] = m
    if unit_col is None:
        problems.append(Problem(1, None, None, "no org unit column (a header starting with 组织 or unit).",
                                "缺少组织列（表头以“组织”或 unit 开头）。"))
    if account_col is None:
        problems.append(Problem(1, None, None, "no account column (a header starting with 科目 or account).",
                                "缺少科目列（表头以“科目”或 account 开头）。"))
    if not months and not problems:
        problems.append(Problem(1, None, None, "no month columns.", "没有月份列。"))
    if problems:
        return empty, problems
    by_code = {str(c): int(i) for i, c in zip(units["id"], units["code"])}
    by_name = {str(n): int(i) for i, n in zip(units["id"], units["name"])}
    english = units.get("name_en", pd.Series([None] * len(units)))
    by_name.update({n: int(i) for i, n in zip(units["id"], english) if isinstance(n, str) and n})
    acc_code = {str(c) for c in accounts["code"]}
    acc_name = {str(n): str(c) for c, n in zip(accounts["code"], accounts["name"])}
    unit_h, acc_h = _cell_text(header[unit_col]), _cell_text(header[account_col])
    out, seen = [], {}
    for i, r in enumerate(rows[1:], start=2):
        cells = list(r) + [None] * (len(header) - len(r))
        if all(_cell_text(v) is None for v in cells):
            continue
        u, a = _cell_text(cells[unit_col]), _cell_text(cells[account_col])
        unit_id = by_code.get(u, by_name.get(u)) if u else None
        code = (a if a in acc_code else acc_name.get(a)) if a else None
        if unit_id is None:
            problems.append(Problem(i, unit_h, u, "unknown org unit (use its code or name).", "组织不存在（请填组织编码或名称）。"))
        if code is None:
            problems.append(Problem(i, acc_h, a, "unknown account (use its code or name).", "科目不存在（请填科目编码或名称）。"))
        if unit_id is not None and code is not None:
            if (unit_id, code) in seen:
                problems.append(Problem(i, None, f"{u} / {a}",
                                        f"the same org unit and account as row {seen[unit_id, code]}.",
                                        f"与第 {seen[unit_id, code]} 行的组织和科目重复。"))
            else:
                seen[unit_id, code] = i
        for j, m in months.items():
            v = cells[j]
            if _cell_text(v) is None:
                continue
            x = _number(v)
            if x is None:
                problems.append(Problem(i, _cell_text(header[j]), v, "not a number.", "不是数字。"))
            elif unit_id is not None and code is not None:
                out.append((dt.date(fiscal_year, m, 1), unit_id, code, round(x, 2)))
    if not out and not problems:
        problems.append(Problem(None, None, None, "the file has no amounts.", "文件中没有金额。"))
    if problems:
        return empty, problems
    return pd.DataFrame(out, columns=list(bv.LINE_COLUMNS)), []


def upload(engine: sa.Engine, user: User, version_id: int, data: bytes) -> int:
    """Replace a draft version's lines with an Excel file's, or raise :class:`LinesRejected` with every
    problem and change nothing. Returns the number of lines saved."""
    bv._require(user)
    v = bv.version(engine, version_id)
    bv._editable(v)
    parsed, problems = parse(data, v.fiscal_year, bv.units(engine), bv.accounts(engine))
    if problems:
        raise LinesRejected(problems, "The upload", "上传文件")
    return bv.replace_lines(engine, user, version_id, parsed, "upload", {"source": "excel"})


def download(engine: sa.Engine, version_id: int, lang: str = "zh") -> bytes:
    """The version as an .xlsx in the upload layout (codes and names, 12 months, a total column)."""
    v = bv.version(engine, version_id)
    df = bv.lines(engine, version_id)
    zh = lang == "zh"
    heads = (["组织编码", "组织名称", "科目编码", "科目名称"] if zh else ["Org unit code", "Org unit name",
                                                                "Account code", "Account name"])
    month_heads = [f"{m}月" if zh else f"{v.fiscal_year}-{m:02d}" for m in range(1, 13)]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = str(v.fiscal_year)
    ws.append([*heads, *month_heads, "合计" if zh else "Total"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    if len(df):
        df = df.assign(m=[p.month for p in df["period"]])
        for (_uid, code), g in df.groupby(["org_unit_id", "account_code"], sort=True):
            by_month = dict(zip(g["m"], g["amount"]))
            first = g.iloc[0]
            ws.append([*map(fmt.cell_text, (first["org_code"], first["org_name"], code, first["account_name"])),
                       *[by_month.get(m) for m in range(1, 13)], float(g["amount"].sum())])
    ws.freeze_panes = "E2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
