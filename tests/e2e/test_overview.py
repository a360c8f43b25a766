"""The cockpit in a real browser: the tiles and the month row, the trend chart's marks, and the language switch."""
from __future__ import annotations

from tests.e2e.conftest import cookie_written, login, settle


def test_first_visit_shows_the_tiles_the_month_row_and_24_bars_and_switches_language(server, page):
    # The first session of a fresh server: where Streamlit's v1 pages/ router used to lose the click.
    login(page, server)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    assert page.locator("h1").first.inner_text() == "经营驾驶舱"
    labels = [x.strip() for x in page.locator('[data-testid="stMetricLabel"]').all_inner_texts()]
    assert labels == ["营业收入（累计）", "毛利率（累计）", "营业利润（累计）", "费用预算执行率", "应收账款周转天数",
                      "存货周转天数", "营业收入", "毛利", "毛利率", "期间费用", "营业利润"]
    page.get_by_test_id("stVegaLiteChart").last.scroll_into_view_if_needed()   # the trend, below the tiles
    page.wait_for_selector('path[aria-roledescription="bar"]', timeout=30_000)
    assert page.locator('path[aria-roledescription="bar"]').count() == 24

    page.get_by_text("English", exact=True).click()
    settle(page)
    assert page.locator("h1").first.inner_text() == "Management cockpit"
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    assert [x.strip() for x in labels][0] == "Net revenue (YTD)"

    page.get_by_text("中文", exact=True).click()
    settle(page)
    assert page.locator("h1").first.inner_text() == "经营驾驶舱"


def test_a_page_url_cannot_bypass_the_router(server, page):
    # Only app.py decides what runs: a pages/ file name in the URL is not a way around it.
    login(page, server)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    cookie_written(page)
    page.goto(f"{server}/_shared")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    assert page.locator('[data-testid="stSidebar"] [role="radiogroup"]').count() == 1
    assert page.locator("h1").first.inner_text() == "经营驾驶舱"
