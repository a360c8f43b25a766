"""AppTest: the admin page (用户与权限) creates, changes, disables and resets users, previews what a user
sees and lists the audit log; every other role that reaches its URL is refused."""
from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib.access import auth
from lib.core import clock, fmt, store
from lib.finance import overview
from lib.semantic import query
from lib.semantic.spec import QuerySpec, TimeRange
from tests.pages.conftest import DEMO_PASSWORD, open_app

PAGE = "pages/admin.py"
DEMO_USERS = ["demo_admin", "demo_east", "demo_finance", "demo_viewer", "demo_west"]


def _admin(monkeypatch, url: str, lang: str = "zh") -> AppTest:
    at = open_app(monkeypatch, url, "demo_admin", lang)
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def _log_in(monkeypatch, url: str, user: str, password: str) -> AppTest:
    """The log-in form filled by hand, so a refusal can be inspected."""
    at = open_app(monkeypatch, url, user=None)
    at.text_input(key="login_username").input(user)
    at.text_input(key="login_password").input(password)
    return at.button[0].click().run()


def _users(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value.set_index("用户名")


def _audit(at: AppTest, action: str) -> pd.DataFrame:
    at.selectbox(key="admin_audit_action").set_value(action).run()
    return at.dataframe[-1].value


def _pick(at: AppTest, username: str) -> AppTest:
    return at.selectbox(key="admin_pick").set_value(username).run()


def _ok(at: AppTest) -> str:
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at.success[0].value


def _yuan(text: str) -> float:
    """'¥1.65万' -> 16500.0: a figure as the page shows it, back to a number to compare."""
    sign, digits, unit = re.fullmatch(r"(-?)¥([\d,.]+)(亿|万)?", text).groups()
    return float(digits.replace(",", "")) * {"亿": 1e8, "万": 1e4, None: 1}[unit] * (-1 if sign else 1)


def _expected_revenue(url: str, username: str) -> float:
    """This year's revenue to the latest complete month within ``username``'s scope, asked of the library directly."""
    engine = store.get_engine(url)
    try:
        user = auth.load_user(engine, username)
        month = overview.latest_complete_month(lambda spec: query.run(engine, spec, user=user))
        spec = QuerySpec(("revenue",), (), (), TimeRange(dt.date(month.year, 1, 1),
                                                        (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()))
        return float(query.run(engine, spec, user=user)["revenue"].iloc[0])
    finally:
        engine.dispose()


@pytest.mark.parametrize("lang, title, role", [("zh", "用户与权限", "部门负责人"),
                                               ("en", "Users and permissions", "Department head")], ids=["zh", "en"])
def test_the_page_renders_for_an_admin(monkeypatch, demo_url, lang, title, role):
    at = _admin(monkeypatch, demo_url, lang)
    assert at.title[0].value == title
    users = at.dataframe[0].value
    assert list(users.iloc[:, 0]) == DEMO_USERS
    assert not [c for c in users.columns if "hash" in c.lower() or "密码" in c]
    assert users.iloc[1, 2] == role and users.iloc[1, 6] == ("华东大区")
    assert at.selectbox(key="admin_pick").value == "demo_admin"
    assert at.button(key="admin_new_submit") and at.button(key="admin_user_demo_admin_pw_save")
    assert not at.metric  # no preview until a user is chosen
    assert len(at.dataframe) == 3  # users, their contact e-mails and the audit log
    assert "demo.east@yecai.example" in set(at.dataframe[1].value.astype(str).stack())


@pytest.mark.parametrize("user", ["demo_finance", "demo_east"])
def test_other_roles_reaching_the_url_are_refused(monkeypatch, demo_url, user):
    at = open_app(monkeypatch, demo_url, user)
    at.switch_page(PAGE).run()
    assert not at.exception
    assert "只有管理员" in at.error[0].value
    assert not at.dataframe and not at.metric
    assert not [w for w in (*at.button, *at.selectbox, *at.text_input) if (w.key or "").startswith("admin_")]


def test_a_new_dept_head_logs_in_and_sees_only_their_region(monkeypatch, own_url):
    at = _admin(monkeypatch, own_url)
    at.text_input(key="admin_new_username").input("Wang_West")
    at.text_input(key="admin_new_display_name").input("王西部")
    at.selectbox(key="admin_new_role").set_value("dept_head")
    at.checkbox(key="admin_new_generate").uncheck()
    at.text_input(key="admin_new_password").input("west-secret-2026")
    at.button(key="admin_new_submit").click().run()
    assert not at.exception and "组织" in at.error[0].value  # a dept head without a scope is refused
    assert "wang_west" not in _users(at).index

    at.multiselect(key="admin_new_orgs").set_value(["R40"])
    at.button(key="admin_new_submit").click().run()
    assert "wang_west" in _ok(at)
    assert not at.code  # a typed password is never shown back
    row = _users(at).loc["wang_west"]
    assert (row["显示名称"], row["角色"], row["数据范围"], row["启用"]) == ("王西部", "部门负责人", "西部大区", True)
    assert at.selectbox(key="admin_pick").value == "wang_west"
    assert at.text_input(key="admin_new_username").value == ""  # the form is cleared for the next user
    created = _audit(at, "user_create")
    assert list(created["对象"]) == ["wang_west"] and list(created["操作人"]) == ["demo_admin"]
    assert list(created["来源"]) == ["admin page"] and "R40" in created["详情"][0]

    west = open_app(monkeypatch, own_url, "wang_west", password="west-secret-2026")
    assert any("西部大区" in c.value for c in west.sidebar.caption)
    revenue = west.metric[0].value
    assert revenue == fmt.money(_expected_revenue(own_url, "wang_west"))
    assert _yuan(revenue) < _expected_revenue(own_url, "demo_admin")


def test_a_disabled_user_cannot_log_in_until_enabled(monkeypatch, own_url):
    at = _pick(_admin(monkeypatch, own_url), "demo_admin")
    at.button(key="admin_user_demo_admin_disable").click().run()
    assert "不能停用自己的账户" in at.error[0].value  # an admin cannot lock themselves out
    assert _users(at).loc["demo_admin", "启用"]

    _pick(at, "demo_west").button(key="admin_user_demo_west_disable").click().run()
    assert "demo_west" in _ok(at)
    assert not _users(at).loc["demo_west", "启用"]
    assert at.button(key="admin_user_demo_west_enable")
    at.selectbox(key="admin_preview_user").set_value("demo_west").run()
    assert "已停用" in at.warning[-1].value and not at.metric
    disabled = _audit(at, "user_disable")
    assert list(disabled["对象"]) == ["demo_west"] and list(disabled["操作人"]) == ["demo_admin"]

    refused = _log_in(monkeypatch, own_url, "demo_west", DEMO_PASSWORD)
    assert "已停用" in refused.error[0].value and not refused.metric

    at.button(key="admin_user_demo_west_enable").click().run()
    assert _users(at).loc["demo_west", "启用"]
    assert not open_app(monkeypatch, own_url, "demo_west").error


def test_a_locked_account_can_be_unlocked(monkeypatch, own_url):
    engine = store.get_engine(own_url)
    with engine.begin() as conn:  # as five failed log-ins leave it, without paying for five bcrypt checks
        conn.execute(auth.users.update().where(auth.users.c.username == "demo_east")
                     .values(failed_attempts=0, locked_until=clock.now() + dt.timedelta(minutes=15)))
    engine.dispose()
    assert "分钟后再试" in _log_in(monkeypatch, own_url, "demo_east", DEMO_PASSWORD).error[0].value
    at = _pick(_admin(monkeypatch, own_url), "demo_east")
    assert "锁定至" in at.warning[0].value
    at.button(key="admin_user_demo_east_unlock").click().run()
    _ok(at)
    assert pd.isna(_users(at).loc["demo_east", "锁定至"]) and not at.warning
    assert not open_app(monkeypatch, own_url, "demo_east").error


def test_a_generated_password_is_shown_once_and_logs_in(monkeypatch, own_url):
    at = _pick(_admin(monkeypatch, own_url, "en"), "demo_east")
    assert at.checkbox(key="admin_user_demo_east_pw_generate").value  # generating is the default
    at.button(key="admin_user_demo_east_pw_save").click().run()
    assert "demo_east" in _ok(at)
    password = at.code[0].value
    assert len(password) >= auth.MIN_PASSWORD and password != DEMO_PASSWORD
    at.run()
    assert not at.code and not at.success  # shown once: gone on the next run
    assert list(_audit(at, "password_reset")["Target"]) == ["demo_east"]

    assert "密码错误" in _log_in(monkeypatch, own_url, "demo_east", DEMO_PASSWORD).error[0].value
    east = open_app(monkeypatch, own_url, "demo_east", password=password)
    assert any("华东大区" in c.value for c in east.sidebar.caption)


def test_role_and_scope_changes_apply_and_are_audited(monkeypatch, own_url):
    at = _pick(_admin(monkeypatch, own_url), "demo_finance")
    at.selectbox(key="admin_user_demo_finance_role").set_value("viewer")
    at.button(key="admin_user_demo_finance_role_save").click().run()
    assert "组织" in at.error[0].value  # a viewer without a scope would see nothing: refused
    assert _users(at).loc["demo_finance", "角色"] == "财务"

    _pick(at, "demo_west").multiselect(key="admin_user_demo_west_orgs").set_value(["R10", "R40"])
    at.multiselect(key="admin_user_demo_west_categories").set_value(["饮料"])
    at.button(key="admin_user_demo_west_scope_save").click().run()
    _ok(at)
    row = _users(at).loc["demo_west"]
    assert (row["数据范围"], row["品类"]) == ("华东大区、西部大区", "饮料")
    at.selectbox(key="admin_user_demo_west_role").set_value("finance")
    at.button(key="admin_user_demo_west_role_save").click().run()
    assert "财务" in _ok(at)
    assert _users(at).loc["demo_west", "角色"] == "财务"
    assert list(_audit(at, "scope_change")["对象"]) == ["demo_west"]
    assert list(_audit(at, "user_update")["对象"]) == ["demo_west"]


def test_the_preview_shows_the_cockpit_within_that_users_scope(monkeypatch, own_url):
    at = open_app(monkeypatch, own_url, "demo_admin")
    company = at.metric[0].value  # the admin's own cockpit: the whole company's revenue this year
    at.switch_page(PAGE).run()
    at.selectbox(key="admin_preview_user").set_value("demo_east").run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["营业收入（累计）", "毛利率（累计）", "营业利润（累计）", "费用预算执行率",
                                            "应收账款周转天数", "存货周转天数"]
    east = at.metric[0].value
    assert east == fmt.money(_expected_revenue(own_url, "demo_east"))
    assert _yuan(east) < _yuan(company)
    assert any("华东大区" in c.value for c in at.main.caption)
    at.selectbox(key="admin_preview_user").set_value("demo_viewer").run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["营业收入（累计）", "应收账款周转天数"]  # no costs, margins or GL
    previews = _audit(at, "query_as")
    assert list(previews["对象"]) == ["demo_viewer", "demo_east"] and set(previews["操作人"]) == {"demo_admin"}
