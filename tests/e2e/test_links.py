"""Links opened before log-in, in a fresh browser: the log-in form first, then the page and state the link
points to, never Streamlit's "Page not found" dialog and never the cockpit instead."""
from __future__ import annotations

import urllib.parse

from tests.e2e.conftest import login, settle

BAR = 'path[aria-roledescription="bar"]'
# The suite's e2e store is a fresh demo build, which seeds 销售与毛利 as dashboard 2 (four tiles).
SALES_AND_MARGIN = 2


def _no_dialog(pg) -> None:
    assert pg.locator('[role="dialog"]').count() == 0, pg.locator('[role="dialog"]').all_inner_texts()


def test_the_cockpits_own_url_opens_the_cockpit_after_log_in(server, page):
    login(page, server, url=f"{server}/overview")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    _no_dialog(page)
    assert page.locator("h1").first.inner_text() == "经营驾驶舱"
    assert urllib.parse.urlparse(page.url).path == "/overview"


def test_the_root_url_opens_the_cockpit_at_its_own_url(server, page):
    login(page, server)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    _no_dialog(page)
    assert page.locator("h1").first.inner_text() == "经营驾驶舱"
    assert urllib.parse.urlparse(page.url).path == "/overview"


def test_an_explore_link_opened_before_log_in_lands_on_its_chart(server, page):
    # What an alert e-mail or a scorecard line carries: revenue by region, filtered to two regions.
    params = {"c": "region", "r": "revenue", "mk": "bar",
              "fl": '[["region","in",["华东大区","华北大区"]]]', "tr": "2026-01-01~2026-10-31"}
    login(page, server, url=f"{server}/explore?{urllib.parse.urlencode(params)}")
    page.wait_for_selector(BAR, timeout=60_000)
    settle(page)
    _no_dialog(page)
    assert page.locator("h1").first.inner_text() == "自助分析"
    labels = sorted(page.locator(BAR).nth(i).get_attribute("aria-label").split(";")[0]
                    for i in range(page.locator(BAR).count()))
    assert labels == ["区域: 华东大区", "区域: 华北大区"], labels
    assert urllib.parse.urlparse(page.url).path == "/explore"


def test_a_presentation_link_opened_before_log_in_starts_the_meeting(server, page):
    login(page, server, url=f"{server}/dashboards?dash={SALES_AND_MARGIN}&present=1",
          arrived='[data-testid="stVegaLiteChart"]')
    page.wait_for_selector('[data-testid="stVegaLiteChart"]', timeout=60_000)
    settle(page)
    _no_dialog(page)
    assert not page.locator('[data-testid="stSidebar"]').is_visible()   # meeting mode: no chrome
    assert page.get_by_text("键盘 ← → 翻页").inner_text().startswith("第 1 / 4 页")
