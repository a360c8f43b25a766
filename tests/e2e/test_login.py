"""Log-in in a real browser: wrong password, the cookie after reload, logout that survives a reload,
and a dept head who sees only their region."""
from __future__ import annotations

from tests.e2e.conftest import cookie_written, login, settle


def test_wrong_password_is_refused_with_a_message(server, page):
    login(page, server, "demo_viewer", "not-the-password")
    assert page.get_by_text("用户名或密码错误").is_visible()
    assert page.locator('[data-testid="stMetric"]').count() == 0


def test_reload_keeps_you_logged_in_and_logout_survives_a_reload(server, page):
    login(page, server, "demo_finance")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    cookie_written(page)
    page.reload()
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)  # back in by the cookie, no form
    settle(page)
    page.get_by_role("button", name="退出登录").click()
    settle(page)
    page.wait_for_selector('input[aria-label="用户名"]', timeout=30_000)
    cookie_written(page, present=False)
    page.reload()
    page.wait_for_selector('input[aria-label="用户名"]', timeout=30_000)  # still logged out
    settle(page)
    assert page.locator('[data-testid="stMetric"]').count() == 0


def test_a_dept_head_sees_their_scope_labelled(server, page):
    login(page, server, "demo_east")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    settle(page)
    assert page.get_by_test_id("stSidebarUserContent").get_by_text("数据范围：华东大区").is_visible()


def test_a_cookie_copied_before_logout_no_longer_logs_in(server, browser, page):
    login(page, server, "demo_east")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
    cookie_written(page)
    cookies = [c for c in page.context.cookies() if c["name"] == "yecai_auth"]
    assert cookies
    page.get_by_role("button", name="退出登录").click()
    settle(page)
    thief = browser.new_context(viewport={"width": 1200, "height": 900})
    thief.add_cookies(cookies)
    other = thief.new_page()
    other.goto(server)
    other.wait_for_selector('input[aria-label="用户名"]', timeout=30_000)
    settle(other)
    assert other.locator('[data-testid="stMetric"]').count() == 0
    thief.close()


def test_a_forged_cookie_shows_the_log_in_form_not_a_crash(server, browser):
    import base64
    import json
    forged = ".".join(base64.urlsafe_b64encode(json.dumps(x).encode()).decode().rstrip("=")
                      for x in ({"alg": "none", "typ": "JWT"}, {"username": "demo_admin", "exp_date": 9e9})) + "."
    host = server.split("//")[1].split(":")[0]
    ctx = browser.new_context()
    ctx.add_cookies([{"name": "yecai_auth", "value": forged, "domain": host, "path": "/"}])
    pg = ctx.new_page()
    pg.goto(server)
    pg.wait_for_selector('input[aria-label="用户名"]', timeout=30_000)
    settle(pg)
    assert pg.locator('[data-testid="stException"]').count() == 0
    assert pg.locator('[data-testid="stMetric"]').count() == 0
    ctx.close()
