"""Log-in in a real browser: wrong password, the cookie after reload, logout that survives a reload,
and a dept head who sees only their region."""
from __future__ import annotations

from tests.e2e.conftest import login, settle


def test_wrong_password_is_refused_with_a_message(server, page):
    login(page, server, "demo_viewer", "not-the-password")
    assert page.get_by_text("用户名或密码错误").is_visible()
    assert page.locator('[data-testid="stMetric"]').count() == 0


def test_reload_keeps_you_logged_in_and_logout_survives_a_reload(server, page):
    login(page, server, "demo_finance")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    page.wait_for_timeout(1000)  # the cookie is written by a hidden component
    page.reload()
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)  # back in by the cookie, no form
    settle(page)
    page.get_by_role("button", name="退出登录").click()
    settle(page)
    page.wait_for_selector('input[aria-label="用户名"]', timeout=30_000)
    page.wait_for_timeout(1000)
    page.reload()
    page.wait_for_selector('input[aria-label="用户名"]', timeout=30_000)  # still logged out
    settle(page)
    assert page.locator('[data-testid="stMetric"]').count() == 0


def test_a_dept_head_sees_their_scope_labelled(server, page):
    login(page, server, "demo_east")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    assert page.get_by_text("数据范围：华东大区").is_visible()
