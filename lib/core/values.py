"""Value parsers for imports: numbers and dates as Chinese ERP exports and spreadsheets write them.

Each parser has a scalar form with doctest tables and a vectorised form for whole columns that
takes a fast path for clean columns and returns the mask of cells it could not read.
"""
from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd

EXCEL_EPOCH = dt.date(1899, 12, 30)  # Excel serial 1 = 1900-01-01, with its 1900 leap-year bug

# Full-width ASCII (Ｕ+FF01..FF5E) and the ideographic space, mapped to plain ASCII.
_FULL_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_NUM_JUNK = re.compile(r"[\s,¥￥$元]|^RMB|^CNY", re.IGNORECASE)


def half_width(text: str) -> str:
    """Full-width digits and punctuation as ASCII.

    >>> half_width("１２３，４５６．７８")
    '123,456.78'
    """
    return text.translate(_FULL_WIDTH)


def parse_number(text: str) -> float | None:
    """A number as finance writes it, or None when it is not one.

    >>> [parse_number(t) for t in ["1,234.5", "¥1,234", "￥ -1,234", "(1,234)", "-1,234", "１２３"]]
    [1234.5, 1234.0, -1234.0, -1234.0, -1234.0, 123.0]
    >>> [parse_number(t) for t in ["13%", "1,234.50元", "1.2e3", "－5", "", "abc", "1-2", "nan"]]
    [0.13, 1234.5, 1200.0, -5.0, None, None, None, None]
    """
    t = half_width(str(text)).strip()
    if not t:
        return None
    neg = False
    if t.startswith("(") and t.endswith(")"):
        neg, t = True, t[1:-1]
    pct = t.endswith("%")
    if pct:
        t = t[:-1]
    t = _NUM_JUNK.sub("", t)
    if t.endswith("-") and t.count("-") == 1:  # "1,234-" as some ERPs print credits
        neg, t = True, t[:-1]
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", t):
        return None
    v = float(t)
    if not math.isfinite(v):
        return None
    v = -v if neg else v
    return v / 100 if pct else v


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`parse_number`: (float64 values with NaN where empty or bad, mask of bad cells).

    Clean numbers take the fast path; only cells that fail it go through the full parser.
    """
    s = values.astype(str).str.strip()
    empty = (s == "").to_numpy()
    out = None
    if not empty.any():
        try:  # the common case, a column of plain numbers, in one vectorised cast
            import pyarrow as pa
            import pyarrow.compute as pc
            out = pc.cast(pa.array(s, type=pa.string()), pa.float64()).to_numpy(zero_copy_only=False).copy()
        except (pa.ArrowInvalid, ValueError, TypeError):
            out = None
    if out is None:
        out = pd.to_numeric(s.where(~empty, None), errors="coerce").astype("float64").to_numpy(na_value=np.nan).copy()
    slow = np.isnan(out) & ~empty | np.isinf(out)
    if slow.any():
        idx = np.flatnonzero(slow)
        parsed = [parse_number(x) for x in s.to_numpy()[idx]]
        out[idx] = [np.nan if p is None else p for p in parsed]
    bad = np.isnan(out) & ~empty
    return out, bad


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S",
                 "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m", "%Y/%m", "%Y年%m月")


def parse_date(text: str) -> dt.date | None:
    """A date in the forms ERP exports use, or None. Month-only forms give the first of the month.

    >>> [parse_date(t) for t in ["2024-03-05", "2024/3/5", "2024年3月5日", "20240305", "45356", "２０２４－０３－０５"]]
    [datetime.date(2024, 3, 5), datetime.date(2024, 3, 5), datetime.date(2024, 3, 5), datetime.date(2024, 3, 5), datetime.date(2024, 3, 5), datetime.date(2024, 3, 5)]
    >>> [parse_date(t) for t in ["2024-03", "2024年3月", "2024-02-30", "3/5/2024", "", "1.5"]]
    [datetime.date(2024, 3, 1), datetime.date(2024, 3, 1), None, None, None, None]
    """
    t = half_width(str(text)).strip()
    if not t:
        return None
    if re.fullmatch(r"\d+(\.0+)?", t):  # 20240305, 202403, or an Excel serial such as 45356
        digits = t.split(".")[0]
        fmt = {8: "%Y%m%d", 6: "%Y%m"}.get(len(digits))
        if fmt is None:
            return _excel_serial(t)
        try:
            return dt.datetime.strptime(digits, fmt).date()
        except ValueError:
            return None
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    return None


def _excel_serial(t: str) -> dt.date | None:
    if re.fullmatch(r"\d{4,5}(\.0+)?", t):
        n = int(float(t))
        if 1 <= n <= 2_958_465:
            return EXCEL_EPOCH + dt.timedelta(days=n)
    return None


def parse_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`parse_date`: (datetime64[D] values with NaT where empty or bad, mask of bad cells)."""
    s = values.astype(str).str.strip()
    empty = (s == "").to_numpy()
    out = pd.to_datetime(s.where(~empty, None), format="%Y-%m-%d", errors="coerce").to_numpy(dtype="datetime64[D]")
    slow = np.isnat(out) & ~empty
    if slow.any():
        idx = np.flatnonzero(slow)
        texts = s.to_numpy()[idx]
        cache: dict[str, dt.date | None] = {}
        vals = []
        for x in texts:
            if x not in cache:
                cache[x] = parse_date(x)
            vals.append(cache[x])
        out[idx] = np.array([np.datetime64(v, "D") if v else np.datetime64("NaT") for v in vals], dtype="datetime64[D]")
    bad = np.isnat(out) & ~empty
    return out, bad
