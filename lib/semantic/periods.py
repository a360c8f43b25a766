"""Periods in the read path: offsets (YoY, MoM) as (months, days), moving dates and periods by them, and the
time buckets of each grain (their first day, label and successor), in Python and as SQL.

>>> bucket_label(next_bucket(dt.date(2025, 3, 1), "quarter"), "quarter")
'2025-Q2'
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from lib.semantic.model import parse_offset
from lib.semantic.spec import InvalidSpec

Offset = tuple[int, int]  # (months, days) to move a period forward
NO_OFFSET: Offset = (0, 0)


def offset(text: str | None) -> Offset:
    parsed = parse_offset(text)
    if parsed is None:
        return NO_OFFSET
    n, unit = parsed
    return {"year": (12 * n, 0), "quarter": (3 * n, 0), "month": (n, 0), "week": (0, 7 * n), "day": (0, n)}[unit]


def add(a: Offset, b: Offset) -> Offset:
    return a[0] + b[0], a[1] + b[1]


def for_grain(off: Offset, grain: str | None) -> Offset:
    """A year back at week grain is 52 weeks, so weeks still start on Monday."""
    if grain == "week" and off[0]:
        return 0, off[1] + (off[0] // 12) * 364
    return off


GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}
CUMULATIVE_GRAINS = {"year": ("day", "month", "quarter"), "quarter": ("day", "month"), "month": ("day",)}


def check_offset(off: Offset, grain: str | None, what: str) -> None:
    """An offset must move whole buckets of the grain, or buckets would straddle two periods."""
    if off == NO_OFFSET or grain is None:
        return
    months, days = off
    ok = {"day": months % 12 == 0,
          "week": months % 12 == 0 and days % 7 == 0,
          }.get(grain, days == 0 and months % GRAIN_MONTHS.get(grain, 1) == 0)
    if not ok:
        step = f"{months} month(s)" if months else f"{days} day(s)"
        raise InvalidSpec(f"{what} compares with {step} earlier, which is not a whole number of {grain}s: "
                          "choose a time grain that fits (e.g. month for MoM) or compare with last year.",
                          f"{what}的对比期间（{step}前）与时间粒度“{grain}”不对齐：请换用匹配的粒度（如环比用月），或与去年同期对比。")


def shift_date(d: dt.date, off: Offset, sign: int = 1) -> dt.date:
    ts = pd.Timestamp(d) + sign * pd.DateOffset(months=off[0], days=off[1])
    return ts.date()


def shift_end(d: dt.date, off: Offset, sign: int = 1) -> dt.date:
    """Shift the inclusive end of a period: the day after it moves, then step back one day,
    so a month's last day stays its last day (2025-02-28 less a month is 2025-01-31).

    >>> shift_end(dt.date(2025, 2, 28), (1, 0), -1), shift_end(dt.date(2025, 2, 28), (12, 0), -1)
    (datetime.date(2025, 1, 31), datetime.date(2024, 2, 29))
    >>> shift_end(dt.date(2025, 2, 15), (1, 0), -1)
    datetime.date(2025, 1, 15)
    """
    return shift_date(d + dt.timedelta(days=1), off, sign) - dt.timedelta(days=1)


def coarsest(a: str | None, b: str) -> str:
    order = ("month", "quarter", "year")
    return b if a is None or order.index(b) > order.index(a) else a


def shift_sql(col: sa.ColumnElement, off: Offset) -> sa.ColumnElement:
    # Interval literals from integers we computed, never from input.
    out = col
    if off[0]:
        out = out + sa.literal_column(f"INTERVAL '{int(off[0])} months'", sa.Interval)
    if off[1]:
        out = out + sa.literal_column(f"INTERVAL '{int(off[1])} days'", sa.Interval)
    return out


class _Trunc(sa.sql.functions.FunctionElement):
    """The first day of a date's bucket, as a DATE, in each engine's own words (see the compilers below)."""

    type = sa.Date()
    name = "date_trunc"
    # The grain is part of the statement's text, so part of its cache key (PostgreSQL caches compiled SQL).
    _traverse_internals = [*sa.sql.functions.FunctionElement._traverse_internals, ("grain", InternalTraversal.dp_string)]
    inherit_cache = True

    def __init__(self, grain: str, col: sa.ColumnElement) -> None:
        if grain not in ("day", "week", "month", "quarter", "year"):
            raise ValueError(grain)
        self.grain = grain
        super().__init__(col)

    def date_sql(self, compiler, kw) -> str:
        return compiler.process(next(iter(self.clauses)), **kw)


@compiles(_Trunc)
def _trunc_sql(element: _Trunc, compiler, **kw) -> str:
    # The unit as a literal: a bound 'month' breaks GROUP BY on DuckDB. The cast to TIMESTAMP keeps
    # PostgreSQL from turning a date into timestamptz and doing time-zone arithmetic on every row.
    return f"CAST(date_trunc('{element.grain}', CAST({element.date_sql(compiler, kw)} AS TIMESTAMP)) AS DATE)"


@compiles(_Trunc, "duckdb")
def _trunc_duckdb(element: _Trunc, compiler, **kw) -> str:
    # DuckDB truncates a DATE as it is; the cast to TIMESTAMP would cost a conversion per fact row.
    return f"CAST(date_trunc('{element.grain}', {element.date_sql(compiler, kw)}) AS DATE)"


def trunc(grain: str, col: sa.ColumnElement) -> sa.ColumnElement:
    return _Trunc(grain, col)


def shifts_buckets(off: Offset, grain: str) -> bool:
    """Whether the buckets of dates moved by ``off`` are the moved buckets, one for one, so the offset can be
    applied after grouping (to a row per bucket, not to every fact row). True for a move by days, and for whole
    months at month, quarter and year grain (the first of a month never clamps); a year back at day grain is
    not one for one (29 February and 28 February land on the same day). ``check_offset`` has already refused
    moves that are not whole buckets."""
    return off != NO_OFFSET and (off[0] == 0 or grain in GRAIN_MONTHS)


def shift_bucket(col: sa.ColumnElement, off: Offset) -> sa.ColumnElement:
    return sa.cast(shift_sql(col, off), sa.Date)


def bucket_key(grain: str, col: sa.ColumnElement, off: Offset) -> tuple[sa.ColumnElement, bool]:
    """Each row's bucket as the facts are grouped, and whether ``off`` is still to be applied to the grouped
    buckets (with :func:`shift_bucket`) rather than to every row."""
    late = shifts_buckets(off, grain)
    return trunc(grain, col if late else shift_sql(col, off)), late


def bucket_start(d: dt.date, grain: str) -> dt.date:
    """First day of the bucket holding ``d``."""
    if grain == "day":
        return d
    if grain == "week":
        return d - dt.timedelta(days=d.weekday())
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)
    return d.replace(month=1, day=1)


def bucket_label(d, grain: str) -> str:
    """How a time bucket is written.

    >>> bucket_label(dt.date(2025, 4, 1), "quarter"), bucket_label(dt.date(2025, 1, 1), "year")
    ('2025-Q2', '2025')
    """
    if d is None or pd.isna(d):
        return "—"
    d = pd.Timestamp(d)
    return {"day": f"{d:%Y-%m-%d}", "week": f"{d:%Y-%m-%d}", "month": f"{d:%Y-%m}",
            "quarter": f"{d.year}-Q{(d.month - 1) // 3 + 1}", "year": f"{d.year}"}[grain]


def next_bucket(d: dt.date, grain: str) -> dt.date:
    if grain == "day":
        return d + dt.timedelta(days=1)
    if grain == "week":
        return d + dt.timedelta(days=7)
    return (pd.Timestamp(d) + pd.DateOffset(months=GRAIN_MONTHS[grain])).date()
