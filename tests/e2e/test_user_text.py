"""What a user typed is shown as text in a real browser: a dashboard title with a URL, a KaTeX formula, a colour
directive and emphasis renders as exactly those characters in the page heading, not as a link, a formula or markup."""
from __future__ import annotations

from lib.core.fmt import WORD_JOINER
from tests.e2e.conftest import login, settle

TITLE = r"紧急 http://evil.example $\color{red}{\Huge 紧急}$ :red[红] **粗** <b>x</b> :smile: a@b.cn"


def test_a_dashboard_title_with_a_link_and_a_formula_is_plain_text(server, page):
    login(page, server, "demo_east")                 # a dept head, who may share a dashboard with finance
    page.goto(f"{server}/dashboards")
    page.wait_for_selector('[data-testid="stHeading"] h1', timeout=60_000)
    settle(page)
    page.locator("summary", has_text="复制为我的看板").click()
    box = page.locator(".st-key-dash_dup_title input")
    box.fill(TITLE)
    box.press("Enter")
    settle(page)
    page.locator(".st-key-dash_duplicate button").click()
    settle(page)
    page.wait_for_selector('[data-testid="stAlert"]', timeout=30_000)
    heading = page.locator('[data-testid="stHeading"] h1').first
    seen = heading.inner_text().replace(WORD_JOINER, "").strip()     # the invisible joiner that stops auto-links
    assert seen == TITLE                                              # every character, as typed
    assert page.locator('a[href*="evil.example"], a[href^="mailto"]').count() == 0   # no link, heading or message
    assert page.locator(".katex").count() == 0                       # no formula
    assert heading.locator("span[style], b, strong").count() == 0     # no colour, no bold
    assert TITLE in page.locator('[data-testid="stAlert"]').first.inner_text().replace(WORD_JOINER, "")  # and here
