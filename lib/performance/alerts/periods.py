"""Periods of the alert rules: the window a rule looks at, its comparison window, labels, the closed month.

Everything is relative to the last day with data (by default the day before ``as_of``). Pure functions.
"""
from __future__ import annotations

import datetime as dt
import enum

from lib.semantic.spec import TimeRange


class Window(enum.StrEnum):
    """The period a rule looks at, relative to the last day with data (the day before as_of)."""

    DAY = "day"                      # the last day
    MONTH_TO_DATE = "month_to_date"
    LAST_MONTH = "last_month"        # the last complete month
    LAST_3_MONTHS = "last_3_months"  # the last three complete months
    YEAR_TO_DATE = "year_to_date"


class Compare(enum.StrEnum):
    PREVIOUS = "previous"
    LAST_YEAR = "last_year"


def _month_add(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def _month_end(d: dt.date) -> dt.date:
    return _month_add(d, 1) - dt.timedelta(days=1)


def last_day(as_of: dt.date) -> dt.date:
    """The last day with data: the day before ``as_of``."""
    return as_of - dt.timedelta(days=1)


def window_range(window: Window, as_of: dt.date) -> TimeRange:
    """The inclusive dates of ``window`` seen from ``as_of``.

    >>> window_range(Window.LAST_MONTH, dt.date(2026, 11, 24))
    TimeRange(start=datetime.date(2026, 10, 1), end=datetime.date(2026, 10, 31))
    >>> window_range(Window.LAST_MONTH, dt.date(2026, 11, 1)).start
    datetime.date(2026, 10, 1)
    """
    end = last_day(as_of)
    if window is Window.DAY:
        return TimeRange(end, end)
    if window is Window.MONTH_TO_DATE:
        return TimeRange(end.replace(day=1), end)
    if window is Window.YEAR_TO_DATE:
        return TimeRange(dt.date(end.year, 1, 1), end)
    last = end.replace(day=1) if end == _month_end(end) else _month_add(end.replace(day=1), -1)
    months = 1 if window is Window.LAST_MONTH else 3
    return TimeRange(_month_add(last, 1 - months), _month_end(last))


def shifted(tr: TimeRange, window: Window, compare: Compare) -> TimeRange:
    """The comparison range: the same window one period earlier, or one year earlier.

    >>> shifted(TimeRange(dt.date(2026, 11, 1), dt.date(2026, 11, 23)), Window.MONTH_TO_DATE, Compare.PREVIOUS)
    TimeRange(start=datetime.date(2026, 10, 1), end=datetime.date(2026, 10, 23))
    """
    def year_back(d: dt.date) -> dt.date:
        return dt.date(d.year - 1, 2, 28) if (d.month, d.day) == (2, 29) else d.replace(year=d.year - 1)
    if compare is Compare.LAST_YEAR or window is Window.YEAR_TO_DATE:
        return TimeRange(year_back(tr.start), year_back(tr.end))
    if window is Window.DAY:
        return TimeRange(tr.start - dt.timedelta(days=1), tr.end - dt.timedelta(days=1))
    months = 3 if window is Window.LAST_3_MONTHS else 1
    start = _month_add(tr.start, -months)
    if window is Window.MONTH_TO_DATE:
        return TimeRange(start, min(start.replace(day=tr.end.day) if tr.end.day <= _month_end(start).day
                                    else _month_end(start), _month_end(start)))
    return TimeRange(start, _month_end(_month_add(tr.end.replace(day=1), -months)))


def label(tr: TimeRange) -> str:
    """'2026-10' for a whole month, '2026-10-12' for a day, else 'start~end'."""
    if tr.start == tr.end:
        return tr.start.isoformat()
    if tr.start.day == 1 and tr.end == _month_end(tr.start):
        return f"{tr.start:%Y-%m}"
    return f"{tr.start}~{tr.end}"


def closed_through(end: dt.date, as_of: dt.date) -> dt.date:
    """The end of the last closed month given data up to ``end``: a general ledger books at period close.

    A month is closed when its last day has postings or when it is over (before ``as_of``) and nothing
    later was posted; otherwise (postings dated in a running month) the month before is the last closed one.

    >>> closed_through(dt.date(2026, 10, 31), dt.date(2026, 11, 24)), closed_through(dt.date(2026, 11, 23), dt.date(2026, 11, 24))
    (datetime.date(2026, 10, 31), datetime.date(2026, 10, 31))
    >>> closed_through(dt.date(2026, 11, 20), dt.date(2026, 12, 3))
    datetime.date(2026, 11, 30)
    """
    month_end = _month_end(end)
    if end == month_end or last_day(as_of) >= month_end:
        return month_end
    return end.replace(day=1) - dt.timedelta(days=1)
