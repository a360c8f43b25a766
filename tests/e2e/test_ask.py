"""问一问 in a real browser: type a question on the cockpit, read the coloured reading, correct a word with one
click, and open the question in Explore with its chart drawn."""
from __future__ import annotations

import urllib.parse

from tests.e2e.conftest import login, settle


def test_ask_read_correct_and_open_in_explore(server, page):
    login(page, server)
    box = page.get_by_label("用一句话提问（例如：今年各区域的营收）")
    box.wait_for(timeout=30_000)
    box.fill("近12个月各区域的毛利走势")
    box.press("Enter")
    page.wait_for_selector('.ask-token[data-kind="metric"]', timeout=30_000)
    settle(page)
    kinds = page.locator(".ask-token").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds == ["time", "filler", "dimension", "filler", "metric", "grain"]
    reading = page.get_by_text("理解为：", exact=False).first.inner_text()
    assert "毛利 · 按 月、区域" in reading
    page.get_by_role("button", name="“毛利”改为 毛利率", exact=True).click()
    page.get_by_text("理解为：毛利率", exact=False).first.wait_for(timeout=30_000)
    settle(page)
    page.get_by_test_id("stVegaLiteChart").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="在自助分析中打开").click()
    page.wait_for_url("**/explore**", timeout=30_000)
    settle(page)
    params = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert params["c"] == ["month"] and params["r"] == ["gross_margin"] and params["co"] == ["region"]
    page.get_by_test_id("stVegaLiteChart").first.wait_for(timeout=30_000)
    assert page.locator("h1").first.inner_text() == "自助分析"
