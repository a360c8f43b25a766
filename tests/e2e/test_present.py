"""Presentation mode (会议模式) in a real browser: a link opens it, the arrow keys move tile by tile."""
from __future__ import annotations

from tests.e2e.conftest import cookie_written, login, settle

# The suite's e2e store is a fresh demo build, which seeds 经营总览, 销售与毛利, 费用与预算 as dashboards 1, 2, 3.
SALES_AND_MARGIN = 2


def _position(pg) -> str:
    return pg.get_by_text("键盘 ← → 翻页").inner_text()


def test_arrow_keys_move_through_the_tiles(server, page):
    base = server
    login(page, base)
    cookie_written(page)
    page.goto(f"{base}/dashboards?dash={SALES_AND_MARGIN}&present=1")
    page.wait_for_selector('[data-testid="stVegaLiteChart"]', timeout=60_000)
    settle(page)
    assert not page.locator('[data-testid="stSidebar"]').is_visible()   # no chrome in the meeting
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 1
    assert _position(page).startswith("第 1 / 4 页")
    page.keyboard.press("ArrowRight")
    settle(page)
    assert _position(page).startswith("第 2 / 4 页")
    assert "tile=1" in page.url
    page.keyboard.press("ArrowRight")
    settle(page)
    assert _position(page).startswith("第 3 / 4 页")
    assert page.get_by_text("毛利前十的产品").is_visible()            # the tile's note
    page.keyboard.press("ArrowLeft")
    settle(page)
    assert _position(page).startswith("第 2 / 4 页")
