"""Explore in a real browser: drag a metric and a dimension with the mouse, see the bars, click one to filter,
download the PNG."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, login, settle

SORTABLES = 'iframe[title="streamlit_sortables.sortable_items"]'
BAR = 'path[aria-roledescription="bar"]'


@pytest.fixture(autouse=True)
def _browser_required_in_ci():
    """In CI a missing browser is a failure, never a skip."""
    if os.environ.get("CI", "").lower() == "true" and not Path(CHROMIUM).exists():
        pytest.fail(f"CI=true but no Chromium at {CHROMIUM}: apt-get install -y chromium")


def _drag(pg, frame, item_text: str, shelf: str) -> None:
    """Press on the item, move past dnd-kit's 10 px threshold in steps, then stepwise onto the shelf, release."""
    item = frame.locator(".sortable-item").get_by_text(item_text, exact=True)
    target = frame.locator(".sortable-container").filter(
        has=frame.locator(".sortable-container-header").get_by_text(shelf, exact=True))
    item.scroll_into_view_if_needed()
    a, b = item.bounding_box(), target.bounding_box()
    x, y = a["x"] + a["width"] / 2, a["y"] + a["height"] / 2
    pg.mouse.move(x, y)
    pg.mouse.down()
    pg.mouse.move(x + 15, y + 15, steps=5)
    pg.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] - 12, steps=20)
    pg.wait_for_timeout(150)
    pg.mouse.up()
    settle(pg)


def test_drag_fields_click_a_bar_and_download_the_png(server, page):
    login(page, server)
    page.get_by_role("link", name="自助分析").click()
    settle(page)
    frame = page.frame_locator(SORTABLES)
    frame.locator(".sortable-item").first.wait_for(timeout=30_000)

    _drag(page, frame, "营业收入", "行/Y")
    _drag(page, frame, "区域", "列/X")
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
