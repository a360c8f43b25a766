"""The analysis date: the clock's today, the data's last day, and the latest month complete by both.

A month is complete when it is over by the clock *and* the store has data to its last day: a nightly
load that stopped on the 23rd does not make the month complete, and neither does a calendar that has
turned while the data has not. Every figure is read through the one path (``run`` is ``query.run`` or
a page's cached ``sh.run``). Pure apart from that read.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from lib.core import clock, i18n
from lib.semantic.spec import QuerySpec, Sort, TimeRange

Runner = Callable[[QuerySpec], pd.DataFrame]
_EPOCH = dt.date(1900, 1, 1)


def month_end(month: dt.date) -> dt.date:
    """The last day of the month of ``month``.

    >>> month_end(dt.date(2028, 2, 10)), month_end(dt.date(2026, 12, 1))
    (datetime.date(2028, 2, 29), datetime.date(2026, 12, 31))
    """
    return (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()


def complete_month(first: dt.date, last: dt.date) -> dt.date | None:
    """First day of the latest month lying whole within data from ``first`` to ``last`` (days with data).

    >>> complete_month(dt.date(2025, 1, 1), dt.date(2026, 11, 23))   # the load stopped on the 23rd
    datetime.date(2026, 10, 1)
    >>> complete_month(dt.date(2025, 1, 1), dt.date(2026, 11, 30))   # data to the month's last day
    datetime.date(2026, 11, 1)
    >>> complete_month(dt.date(2026, 11, 5), dt.date(2026, 11, 23)) is None   # no whole month yet
    True
    >>> complete_month(dt.date(2026, 12, 1), dt.date(2026, 12, 31))  # a 1 January reading December
    datetime.date(2026, 12, 1)
    """
    month = last.replace(day=1) if last == month_end(last) else (pd.Timestamp(last.replace(day=1))
                                                                 - pd.DateOffset(months=1)).date()
    return month if month >= first.replace(day=1) else None


@dataclass(frozen=True)
class AsOf:
    """What a page's figures stand on: the clock's day, the data's last day and the latest complete month."""

    today: dt.date
    data_start: dt.date | None
    """The first day with data (None: the store has none before today)."""
    data_end: dt.date | None
    """The last day with data before today: today itself is still running, later days are not yet real."""

    @property
    def month(self) -> dt.date | None:
        """First day of the latest complete month (None: no whole month of data yet)."""
        if self.data_start is None or self.data_end is None:
            return None
        return complete_month(self.data_start, self.data_end)

    @property
    def stale_days(self) -> int | None:
        """Days between the data's last day and yesterday: 0 when the last load brought yesterday's data."""
        return None if self.data_end is None else (self.today - dt.timedelta(days=1) - self.data_end).days

    def caption(self, lang: str) -> str:
        """The line a page shows under its title: '数据截至 2026-11-23 · 最近完整月份 2026-10 · 今天 2026-11-24'."""
        if self.data_end is None:
            return i18n.t("asof.no_data", lang, today=f"{self.today:%Y-%m-%d}")
        month = self.month
        text = i18n.t("asof.caption", lang, end=f"{self.data_end:%Y-%m-%d}", today=f"{self.today:%Y-%m-%d}",
                      month=f"{month:%Y-%m}" if month else i18n.t("asof.no_month", lang))
        if self.stale_days:
            text += i18n.t("asof.stale", lang, days=self.stale_days)
        return text


def _edge(run: Runner, metric: str, today: dt.date, descending: bool) -> dt.date | None:
    if today - dt.timedelta(days=1) < _EPOCH:
        return None
    df = run(QuerySpec((metric,), ("day",), time_range=TimeRange(_EPOCH, today - dt.timedelta(days=1)),
                       sort=(Sort("day", descending),), limit=1))
    if df.empty or pd.isna(df["day"].iloc[0]):
        return None
    return pd.Timestamp(df["day"].iloc[0]).date()


def data_end(run: Runner, metric: str = "revenue", today: dt.date | None = None) -> dt.date | None:
    """The last day before ``today`` (default: the clock's) with a value of ``metric``, as ``run`` sees it;
    None when there is none. Rows dated today or later are not counted: today is still running."""
    return _edge(run, metric, today or clock.today(), True)


def read(run: Runner, metric: str = "revenue", today: dt.date | None = None) -> AsOf:
    """The analysis date of ``metric``'s data as ``run`` sees it (within the reader's scope), on ``today``
    (default: the clock's)."""
    today = today or clock.today()
    end = _edge(run, metric, today, True)
    return AsOf(today, _edge(run, metric, today, False) if end else None, end)
