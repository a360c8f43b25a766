"""The one clock: pinned by WORKBENCH_TODAY, running at the real pace from the pinned day."""
from __future__ import annotations

import datetime as dt

import pytest

from lib.core import clock
from lib.core.errors import InvalidArgument


@pytest.mark.parametrize("day", [dt.date(2027, 1, 1), dt.date(2026, 12, 31), dt.date(2028, 2, 29),
                                 dt.date(2027, 6, 15)])
def test_a_pinned_day_is_today_and_now_runs_on_from_it(monkeypatch, day):
    monkeypatch.setenv(clock.ENV, day.isoformat())
    assert clock.today() == day and clock.pinned() == day
    first = clock.now_precise()
    assert first.date() == day or first.date() == day + dt.timedelta(days=1)   # midnight may pass meanwhile
    assert clock.now_precise() >= first and clock.now().microsecond == 0


def test_a_pinned_moment_runs_on_from_that_moment_and_a_new_pin_reanchors(monkeypatch):
    monkeypatch.setenv(clock.ENV, "2027-12-31T23:59:50")
    first = clock.now_precise()
    assert dt.timedelta(0) <= first - dt.datetime(2027, 12, 31, 23, 59, 50) < dt.timedelta(seconds=5)
    assert clock.now_precise() >= first and clock.pinned() == dt.date(2027, 12, 31)
    monkeypatch.setenv(clock.ENV, "2026-11-24T12:00")
    assert clock.today() == dt.date(2026, 11, 24)


def test_the_shift_is_taken_once_so_the_clock_never_jumps_back(monkeypatch):
    monkeypatch.setenv(clock.ENV, "2027-06-15")
    stamps = [clock.now_precise() for _ in range(1000)]
    assert stamps == sorted(stamps)


def test_a_cookie_time_is_shifted_like_the_clock(monkeypatch):
    monkeypatch.setenv(clock.ENV, "2030-03-01")
    issued = clock.from_timestamp(clock.epoch_ms() / 1000)   # a token made "now" by the real clock
    assert abs((issued - clock.now_precise()).total_seconds()) < 5


def test_unpinned_the_clock_is_the_machines(monkeypatch):
    monkeypatch.delenv(clock.ENV, raising=False)
    assert clock.pinned() is None
    assert abs(clock.epoch_ms() / 1000 - clock.now_precise().timestamp()) < 5


def test_a_bad_pin_says_how_to_write_it(monkeypatch):
    monkeypatch.setenv(clock.ENV, "2027/01/04")
    with pytest.raises(InvalidArgument) as err:
        clock.today()
    assert "YYYY-MM-DD" in str(err.value) and "2027/01/04" in err.value.message("zh")
