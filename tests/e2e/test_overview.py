"""The Overview in a real browser: the figures, the chart's marks, and the language switch."""
from __future__ import annotations

from tests.e2e.conftest import login, settle


def test_first_visit_shows_five_figures_and_24_bars_and_switches_language(server, page):
    # The first session of a fresh server: where Streamlit's v1 pages/ router used to lose the click.
    login(page, server)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    assert page.locator("h1").first.inner_text() == "经营概览"
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    assert [x.strip() for x in labels] == ["营业收入", "毛利", "毛利率", "期间费用", "营业利润"]
    assert page.locator('path[aria-roledescription="bar"]').count() == 24

    page.get_by_text("English", exact=True).click()
    settle(page)
    assert page.locator("h1").first.inner_text() == "Business overview"
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    assert [x.strip() for x in labels][0] == "Net revenue"

    page.get_by_text("中文", exact=True).click()
    settle(page)
    assert page.locator("h1").first.inner_text() == "经营概览"


def test_a_page_url_cannot_bypass_the_router(server, page):
    # Only app.py decides what runs: a pages/ file name in the URL is not a way around it.
    login(page, server)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    page.wait_for_timeout(1000)  # the cookie is written by a hidden component
    page.goto(f"{server}/_shared")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    assert page.locator('[data-testid="stSidebar"] [role="radiogroup"]').count() == 1
    assert page.locator("h1").first.inner_text() == "经营概览"
