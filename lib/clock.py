"""The one clock: what "today" and "now" are for every module and page, pinnable for demos and tests.

``WORKBENCH_TODAY=2027-01-04`` moves the whole app to that day: the clock runs on from there at the
real pace (the time of day is the real one), so durations (lockouts, retries, sessions) keep working.
No other module reads the wall clock; ``tests/test_layering.py`` checks it.
"""
from __future__ import annotations

import datetime as dt
import os
import time

from lib.errors import InvalidArgument

ENV = "WORKBENCH_TODAY"


def parse(raw: str) -> dt.date | None:
    """The day a ``WORKBENCH_TODAY`` value names; None for an empty value (the clock is not pinned).

    >>> parse("2028-02-29"), parse("  ")
    (datetime.date(2028, 2, 29), None)
    >>> parse("1 Jan")
    Traceback (most recent call last):
    ...
    lib.errors.InvalidArgument: WORKBENCH_TODAY='1 Jan' is not a date: write it as YYYY-MM-DD, e.g. 2027-01-04.
    """
    raw = raw.strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidArgument(f"{ENV}={raw!r} is not a date: write it as YYYY-MM-DD, e.g. 2027-01-04.",
                              f"{ENV}={raw!r} 不是日期：请写成 YYYY-MM-DD，例如 2027-01-04。") from None


def pinned() -> dt.date | None:
    """The day ``WORKBENCH_TODAY`` pins the clock to, or None when it runs on the machine's date."""
    return parse(os.environ.get(ENV, ""))


def _shift(real: dt.datetime) -> dt.timedelta:
    day = pinned()
    return dt.timedelta(0) if day is None else dt.timedelta(days=(day - real.date()).days)


def now() -> dt.datetime:
    """The local time now, to the second (naive, as the store keeps it), on the pinned day if there is one."""
    real = dt.datetime.now().replace(microsecond=0)
    return real + _shift(real)


def now_precise() -> dt.datetime:
    """:func:`now` with microseconds: for stamps that version something and must differ within a second."""
    real = dt.datetime.now()
    return real + _shift(real)


def today() -> dt.date:
    """Today's date by this clock."""
    return now().date()


def from_timestamp(seconds: float) -> dt.datetime:
    """A POSIX time read from elsewhere (a cookie's expiry) as a time on this clock: the same shift applied."""
    real = dt.datetime.fromtimestamp(seconds)
    return real + _shift(dt.datetime.now())


def epoch_ms() -> int:
    """The machine's real time in milliseconds since 1970, never pinned: for protocols that check it against
    their own clocks (DingTalk's signed webhooks refuse a timestamp more than an hour off)."""
    return int(time.time() * 1000)
