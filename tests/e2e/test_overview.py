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


def test_why_on_a_tile_opens_the_explanation_and_its_numbers_link_to_the_charts(server, page):
    login(page, server)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    page.get_by_role("button", name="为什么？").nth(3).click()      # the opex-execution tile
    page.wait_for_selector("text=为什么变了：期间费用", timeout=30_000)
    settle(page)
    story = page.locator('[data-testid="stMarkdownContainer"]', has_text="期间费用比预算增加").first
    link = story.locator('a[href^="#why-dim-"]').first
    target = link.get_attribute("href")
    link.click()
    settle(page)
    assert page.locator(f'[id="{target[1:]}"]').count() >= 1       # the anchor the number points to exists
    assert page.locator('path[aria-roledescription="bar"]').count() > 3   # the waterfall's bars are drawn
    page.get_by_role("button", name="关闭").click()
    page.get_by_text("为什么变了：期间费用").wait_for(state="detached", timeout=30_000)
