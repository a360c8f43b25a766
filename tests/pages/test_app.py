"""AppTest: the app runs in both languages on both stores, and the cockpit's month row shows the right figures."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.core import fmt
from tests import expected
from tests.pages.conftest import open_app, shown

KPIS = ("revenue", "gross_profit", "gross_margin", "opex", "operating_profit")


def _app(monkeypatch, url: str, user: str | None = "demo_finance") -> AppTest:
    return open_app(monkeypatch, url, user)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_month_row_shows_the_five_figures_of_the_latest_complete_month(monkeypatch, demo_url, demo_tables, lang):
    at = _app(monkeypatch, demo_url)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception
    month, cur, prev, ly = expected.overview(demo_tables)
    labels = {"zh": ["营业收入", "毛利", "毛利率", "期间费用", "营业利润"],
              "en": ["Net revenue", "Gross profit", "Gross margin", "Operating expenses", "Operating profit"]}[lang]
    shown = {m.label: (m.value, m.delta) for m in at.metric[-5:]}  # after the six year-to-date tiles
    assert list(shown) == labels
    for label, key in zip(labels, KPIS):
        value, delta = shown[label]
        if key == "gross_margin":
            assert value == fmt.percent(cur[key])
            assert delta.startswith(fmt.change_pp(cur[key] - ly[key], lang))
        else:
            assert value == fmt.money(cur[key], lang)
            assert delta.startswith(fmt.change_pct((cur[key] - ly[key]) / abs(ly[key])))
    assert f"{month.start_time:%Y-%m}" in at.caption[0].value
    chart = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(chart) == 1


def test_language_switch_changes_the_whole_page(monkeypatch, demo_url):
    at = _app(monkeypatch, demo_url).run()
    assert at.title[0].value == "经营驾驶舱"
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Management cockpit"
    assert at.metric[0].label == "Net revenue (YTD)"
    at.run()  # the choice survives the next rerun (the switch's identity must not depend on the language)
    assert at.title[0].value == "Management cockpit" and at.radio(key="lang").value == "en"


def test_an_empty_store_says_how_to_fill_it(monkeypatch, empty_url):
    at = _app(monkeypatch, empty_url, user=None).run()
    assert not at.exception
    assert "lib.cli init" in at.info[0].value  # no users yet: how to create the first admin


def test_a_locked_store_is_an_error_message_not_a_traceback(monkeypatch, duckdb_held_by_another_process):
    # DuckDB only: file locks between processes are an embedded-store concept.
    path, _pid = duckdb_held_by_another_process
    at = _app(monkeypatch, f"duckdb:///{path}", user=None).run()
    assert not at.exception
    assert "另一个进程" in at.error[0].value and "WORKBENCH_DB_URL" in shown(at.error[0].value)


def test_trend_chart_has_one_bar_per_closed_month(monkeypatch, demo_url, demo_tables):
    import pyarrow as pa
    at = _app(monkeypatch, demo_url).run()
    chart = (at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))[0]
    month, *_ = expected.overview(demo_tables)
    data = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all()  # the chart's Arrow payload
    labels = data.column("label").to_pylist()
    assert len(labels) == 24 and labels[-1] == f"{month.start_time:%Y-%m}"
    assert labels == sorted(labels)


def test_overview_explains_its_numbers_with_the_sql_behind_them(monkeypatch, demo_url):
    at = _app(monkeypatch, demo_url).run()
    sql = [c.value for c in at.code if c.language == "sql"]
    assert len(sql) == 1
    assert "sum(b.net_revenue)" in sql[0] and "journal_line" in sql[0]
    assert any("营业收入、毛利、毛利率、期间费用、营业利润 · 按 月" in m.value for m in at.markdown)


def test_without_a_cookie_key_the_app_says_how_to_set_one(monkeypatch, demo_url, tmp_path):
    from lib.core import config
    monkeypatch.delenv("WORKBENCH_COOKIE_KEY")
    monkeypatch.setattr(config, "SECRETS_FILE", tmp_path / "secrets.toml")  # no file
    at = open_app(monkeypatch, demo_url, user=None)
    assert not at.exception
    assert "WORKBENCH_COOKIE_KEY" in shown(at.error[0].value) and "`python -m lib.cli init`" in at.error[0].value
    assert not at.text_input  # no log-in form without a key


def test_a_locked_account_is_told_when_to_come_back(monkeypatch, tmp_path):
    import datetime as dt

    from lib.access import auth
    from lib.core import store
    from lib.demo import build as demo
    url = f"duckdb:///{tmp_path / 'lock.duckdb'}"
    e = store.get_engine(url)
    demo.build(e, rows=2_000, as_of=dt.date(2026, 11, 24))
    for i in range(auth.MAX_FAILED):  # from as many places: one client alone would be slowed down first
        try:
            auth.authenticate(e, "demo_west", "wrong-password!", client=f"10.9.0.{i}")
        except auth.AuthError:
            pass
    e.dispose()
    at = open_app(monkeypatch, url, user=None)
    at.text_input(key="login_username").input("demo_west")
    at.text_input(key="login_password").input("yecai-demo-2026")
    at.button[0].click().run()
    assert "15 分钟后再试" in at.error[0].value and not at.metric


def test_a_viewer_sees_revenue_and_receivables_but_no_costs(monkeypatch, demo_url):
    at = _app(monkeypatch, demo_url, user="demo_viewer").run()
    assert not at.exception and not at.error
    # no margins (cost of sales) and no expenses (GL postings): README's access table
    assert [m.label for m in at.metric] == ["营业收入（累计）", "应收账款周转天数", "营业收入"]
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) == 1


def test_explain_shows_the_sql_that_ran_for_this_user(monkeypatch, demo_url):
    at = _app(monkeypatch, demo_url, user="demo_east").run()
    sql = [c.value for c in at.code if c.language == "sql"][0]
    assert "org_unit_id IN" in sql  # the dept head's scope is in the SQL shown
