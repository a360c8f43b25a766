"""Explore in a real browser: drag a metric and a dimension with the mouse, see the bars, click one to filter,
download the PNG."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, login, settle

SHELVES = 'iframe[title="pages._explore_parts.field_shelves"]'
BAR = 'path[aria-roledescription="bar"]'


@pytest.fixture(autouse=True)
def _browser_required_in_ci():
    """In CI a missing browser is a failure, never a skip."""
    if os.environ.get("CI", "").lower() == "true" and not Path(CHROMIUM).exists():
        pytest.fail(f"CI=true but no Chromium at {CHROMIUM}: apt-get install -y chromium")


def _drag(pg, frame, field: str, shelf: str) -> None:
    """Press on the field's pill in the pane, move past the 5 px threshold in steps, then stepwise onto the
    shelf, release: the mouse as a person moves it (pointer events, not a synthetic drop)."""
    item = frame.locator(f'.pane .pill[data-field="{field}"]')
    target = frame.locator(f'.shelf[data-shelf="{shelf}"]')
    item.scroll_into_view_if_needed()
    a, b = item.bounding_box(), target.bounding_box()
    x, y = a["x"] + a["width"] / 2, a["y"] + a["height"] / 2
    pg.mouse.move(x, y)
    pg.mouse.down()
    pg.mouse.move(x + 10, y + 10, steps=5)
    pg.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=20)
    pg.wait_for_timeout(100)
    pg.mouse.up()
    settle(pg)


def _open_explore(pg, server):
    login(pg, server)
    pg.get_by_role("link", name="自助分析").click()
    settle(pg)
    frame = pg.frame_locator(SHELVES)
    frame.locator(".pane .pill").first.wait_for(timeout=30_000)
    return frame


def test_drag_fields_click_a_bar_and_download_the_png(server, page):
    frame = _open_explore(page, server)
    _drag(page, frame, "revenue", "rows")
    _drag(page, frame, "region", "columns")
    page.wait_for_selector(BAR, timeout=30_000)
    settle(page)
    bars = page.locator(BAR)
    labels = [bars.nth(i).get_attribute("aria-label") for i in range(bars.count())]
    assert len(labels) >= 3, labels
    assert all(lab.startswith("区域: ") for lab in labels), labels
    east = page.locator(f'{BAR}[aria-label^="区域: 华东大区;"]')
    assert east.count() == 1

    east.click()
    settle(page)
    page.wait_for_function(f"document.querySelectorAll('{BAR}').length === 1", timeout=30_000)
    page.get_by_text("查看数据").click()
    rows = page.locator('[data-testid="stTable"] tbody tr')
    rows.first.wait_for(timeout=10_000)
    assert rows.count() == 1 and "华东大区" in rows.first.inner_text()
    assert page.get_by_role("button", name="✕ 区域：华东大区").count() == 1

    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="下载 PNG").click()
    path = download.value.path()
    assert download.value.suggested_filename.endswith(".png")
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pane_shelves_and_chart_fit_one_screen(server, browser, tmp_path):
    """At 1440 × 900, with a metric and a dimension placed, the pane, the shelves and the top of the chart
    are all on the first screen; dimensions and metrics look different; the pane searches both languages;
    a pill dragged off its shelf leaves it."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    try:
        frame = _open_explore(pg, server)
        _drag(pg, frame, "revenue", "rows")
        _drag(pg, frame, "region", "columns")
        pg.wait_for_selector(BAR, timeout=30_000)
        settle(pg)
        assert frame.locator('.shelf[data-shelf="rows"] .pill[data-field="revenue"]').count() == 1
        assert frame.locator('.shelf[data-shelf="columns"] .pill[data-field="region"]').count() == 1
        pg.evaluate("window.scrollTo(0, 0)")
        pg.locator('[data-testid="stMain"]').evaluate("e => e.scrollTo(0, 0)")
        pg.wait_for_timeout(200)
        pane = pg.locator(SHELVES).bounding_box()
        chart = pg.locator('[data-testid="stVegaLiteChart"]').first.bounding_box()
        pg.screenshot(path=str(tmp_path / "explore-1440x900.png"))
        assert pane["y"] >= 0 and pane["y"] + pane["height"] <= 900, pane
        assert 0 <= chart["y"] < 900 - 100, chart  # the chart's top edge, with some of the chart, in view
        pg.screenshot(path=str(tmp_path / "explore-1440x900.png"))

        def look(field: str) -> dict:
            return frame.locator(f'.pane .pill[data-field="{field}"]').evaluate(
                "e => { const s = getComputedStyle(e); return {bg: s.backgroundColor, color: s.color,"
                " radius: s.borderTopLeftRadius, icon: e.querySelector('.icon').textContent}; }")
        dim, metric = look("channel"), look("orders")
        assert dim["bg"] != metric["bg"] and dim["color"] != metric["color"] and dim["icon"] != metric["icon"]
        title = frame.locator('.pane .pill[data-field="gross_margin"]').get_attribute("title")
        assert title.startswith("毛利率：") and len(title) > len("毛利率：")  # its 口径 on hover

        search = frame.locator("#search")
        search.fill("margin")
        assert frame.locator('.pane .pill[data-field="gross_margin"]').count() == 1
        assert frame.locator('.pane .pill[data-field="region"]').count() == 0
        search.fill("区域")
        assert frame.locator('.pane .pill[data-field="region"]').count() == 1
        search.fill("")

        # dragged off its shelf onto the pane: the column is gone, the chart is one bar again (revenue alone)
        on_shelf = frame.locator('.shelf[data-shelf="columns"] .pill[data-field="region"]')
        a = on_shelf.bounding_box()
        b = frame.locator(".pane .list").bounding_box()
        pg.mouse.move(a["x"] + 10, a["y"] + a["height"] / 2)
        pg.mouse.down()
        pg.mouse.move(a["x"] + 20, a["y"] + 20, steps=5)
        pg.mouse.move(b["x"] + 40, b["y"] + 40, steps=15)
        pg.mouse.up()
        settle(pg)
        frame.locator('.shelf[data-shelf="columns"] .hint').wait_for(timeout=30_000)
        assert frame.locator('.shelf[data-shelf="columns"] .pill').count() == 0
    finally:
        context.close()
