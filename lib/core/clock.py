"""The one clock: what "today" and "now" are for every module and page, pinnable for demos and tests.

``WORKBENCH_TODAY=2027-01-04`` moves the whole app to that day, and ``WORKBENCH_TODAY=2027-01-04T12:00``
to that moment. The pin is taken when the process first reads the clock; from there the clock runs on at
the real pace, so durations (lockouts, retries, sessions) keep working and never jump back at midnight.
With a day alone the time of day starts at the real one. No other module reads the wall clock;
``tests/test_layering.py`` checks it.
"""
from __future__ import annotations

import datetime as dt
import os
import time

from lib.core.errors import InvalidArgument

ENV = "WORKBENCH_TODAY"


def parse(raw: str) -> dt.date | dt.datetime | None:
    """The day or moment a ``WORKBENCH_TODAY`` value names; None for an empty value (the clock is not pinned).

    >>> parse("2028-02-29"), parse("2026-11-24T12:00"), parse("  ")
    (datetime.date(2028, 2, 29), datetime.datetime(2026, 11, 24, 12, 0), None)
    >>> parse("1 Jan")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lib.core.errors.InvalidArgument: WORKBENCH_TODAY='1 Jan' is not a date: write it as YYYY-MM-DD (or ...), e.g. 2027-01-04.
    """
    raw = raw.strip()
    if not raw:
        return None
    try:
        if "T" in raw or " " in raw:
            return dt.datetime.fromisoformat(raw).replace(tzinfo=None)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidArgument(f"{ENV}={raw!r} is not a date: write it as YYYY-MM-DD (or YYYY-MM-DDTHH:MM), "
                              "e.g. 2027-01-04.",
                              f"{ENV}={raw!r} 不是日期：请写成 YYYY-MM-DD（或 YYYY-MM-DDTHH:MM），例如 2027-01-04。"
                              ) from None


def pinned() -> dt.date | None:
    """The day ``WORKBENCH_TODAY`` pins the clock to, or None when it runs on the machine's date."""
    pin = parse(os.environ.get(ENV, ""))
    return pin.date() if isinstance(pin, dt.datetime) else pin


# (the WORKBENCH_TODAY value, the shift it gave when first read): a new value re-anchors the clock.
_anchor: tuple[str, dt.timedelta] | None = None


def _shift(real: dt.datetime) -> dt.timedelta:
    global _anchor
    raw = os.environ.get(ENV, "").strip()
    if _anchor is None or _anchor[0] != raw:
        pin = parse(raw)
        if pin is None:
            shift = dt.timedelta(0)
        elif isinstance(pin, dt.datetime):
            shift = pin - real
        else:
            shift = dt.timedelta(days=(pin - real.date()).days)
        _anchor = (raw, shift)
    return _anchor[1]


def now() -> dt.datetime:
    """The local time now, to the second (naive, as the store keeps it), on the pinned day if there is one."""
    real = dt.datetime.now()
    return (real + _shift(real)).replace(microsecond=0)


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
