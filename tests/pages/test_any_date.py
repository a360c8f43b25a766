"""Every page on awkward days: the clock pinned to a 1 January, a quarter's last day, 29 February and a day in
the middle of next year, on a demo store whose data runs to the day before. Also the two ways a month can be
incomplete: data up to yesterday, and a load that stopped a week before month end.

DuckDB only: these are about dates reaching the pages; both engines are covered by tests/lib/semantic/test_asof.py.
"""
from __future__ import annotations

import datetime as dt

import pytest

from lib.core import clock, store
from lib.demo import build as demo
from tests.pages.conftest import open_app

D = dt.date
PAGES = ("overview", "explore", "dashboards", "metrics", "margin", "budget", "scorecard", "alerts", "data", "admin")
# (today, the latest complete month the cockpit must show)
AWKWARD = [(D(2027, 1, 1), D(2026, 12, 1)), (D(2027, 3, 31), D(2027, 2, 1)), (D(2028, 2, 29), D(2028, 1, 1)),
           (D(2027, 6, 15), D(2027, 5, 1))]


def _demo(tmp_path_factory, as_of: dt.date) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('anydate') / 'wb.duckdb'}"
    engine = store.get_engine(url)
    demo.build(engine, rows=3000, as_of=as_of)
    engine.dispose()
    return url


@pytest.fixture(scope="module", params=AWKWARD, ids=[str(d) for d, _ in AWKWARD])
def awkward(request, tmp_path_factory):
    today, month = request.param
    mp = pytest.MonkeyPatch()
    mp.setenv(clock.ENV, today.isoformat())   # the demo's own "today" (alert runs, scorecard periods) too
    url = _demo(tmp_path_factory, today)
    yield url, today, month
    mp.undo()


@pytest.mark.parametrize("user", ["demo_finance", "demo_east"])
def test_every_page_opens_on_an_awkward_day(monkeypatch, awkward, user):
    url, today, month = awkward
    monkeypatch.setenv(clock.ENV, today.isoformat())
    at = open_app(monkeypatch, url, user)
    captions = [c.value for c in at.caption]
    yesterday = today - dt.timedelta(days=1)
    if user == "demo_finance":   # all data: the demo's sales run to yesterday
        assert f"数据截至 {yesterday:%Y-%m-%d} · 最近完整月份 {month:%Y-%m} · 今天 {today:%Y-%m-%d}" in captions, captions
    else:                        # a region of a small demo may have no order on the last day: its own last day
        assert any(c.startswith("数据截至 ") and f" · 最近完整月份 {month:%Y-%m} · 今天 {today:%Y-%m-%d}" in c
                   for c in captions), captions
    assert any(c.startswith(f"本年累计：{month:%Y}-01 至 {month:%Y-%m}") for c in captions), captions
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)


@pytest.mark.parametrize("built,month,stale", [
    (D(2026, 12, 1), D(2026, 11, 1), ""),                                   # the nightly load brought yesterday
    (D(2026, 11, 24), D(2026, 10, 1), "（数据比昨天晚 7 天：最近一次导入可能中断）"),   # it stopped on the 23rd
], ids=["data up to yesterday", "data stops a week before month end"])
def test_a_month_is_complete_only_when_the_data_reaches_its_end(monkeypatch, tmp_path_factory, built, month, stale):
    url = _demo(tmp_path_factory, built)
    monkeypatch.setenv(clock.ENV, "2026-12-01")
    at = open_app(monkeypatch, url, "demo_finance")
    end = built - dt.timedelta(days=1)
    captions = [c.value for c in at.caption]
    assert f"数据截至 {end:%Y-%m-%d} · 最近完整月份 {month:%Y-%m} · 今天 2026-12-01{stale}" in captions, captions
    assert any(c.startswith(f"本年累计：2026-01 至 {month:%Y-%m}") for c in captions), captions
    at.switch_page("pages/budget.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="bud_month").value == month          # budget vs actual opens on the complete month
