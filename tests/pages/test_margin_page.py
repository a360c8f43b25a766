"""AppTest: the margin page renders for every kind of reader and its controls work; the scenario tab too."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import open_app, shown


def _page(monkeypatch, url: str, user: str, lang: str) -> AppTest:
    at = open_app(monkeypatch, url, user, lang)
    at.switch_page("pages/margin.py").run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


@pytest.mark.parametrize("user, charts", [("demo_finance", 3), ("demo_east", 3), ("demo_viewer", 1)])
def test_the_page_renders_for_each_reader_in_both_languages(monkeypatch, demo_url, user, charts):
    at = _page(monkeypatch, demo_url, user, "zh")
    for lang in ("zh", "en"):
        if lang == "en":
            at.session_state["lang"] = "en"
            at.run()
            assert not at.exception, at.exception
        assert at.title[0].value == {"zh": "毛利分析", "en": "Margin analysis"}[lang]
        assert not at.error, [e.value for e in at.error]
        assert _charts(at) == charts   # bridge, profit waterfall, quadrant; a viewer the revenue bridge only
        if user == "demo_viewer":       # denied COGS: told so, shown the revenue bridge, no crash
            assert "cost" in at.warning[0].value or "成本" in at.warning[0].value
            kind = at.selectbox(key="margin_bridge_kind")
            assert kind.options == ["营业收入" if lang == "zh" else "Net revenue"]
        else:
            assert any("SELECT" in c.value for c in at.code)   # "view SQL" behind every figure


def test_the_main_controls_work(monkeypatch, demo_url):
    at = _page(monkeypatch, demo_url, "demo_finance", "zh")
    table = lambda: at.dataframe[0].value  # noqa: E731
    assert "品类" in table().columns and "乳制品" in set(table()["品类"])
    at.selectbox(key="margin_dim").set_value("region").run()
    assert "区域" in table().columns
    at.selectbox(key="margin_compare").set_value("budget").run()
    assert at.selectbox(key="margin_budget_version").value.startswith("FY2026")
    assert table()["对比期收入（元）"].notna().all()
    at.selectbox(key="margin_dim").set_value("product").run()          # the budget has no products: told so
    assert any("预算按组织和科目编制" in i.value for i in at.info)
    at.selectbox(key="margin_compare").set_value("previous")
    at.selectbox(key="margin_grain").set_value("year")
    at.selectbox(key="margin_drill").set_value("乳制品").run()          # the bridge over dairy products only
    assert not at.exception and not at.error
    assert any("品类 = 乳制品" in shown(c.value) for c in at.caption)
    assert "成本效应" in at.selectbox(key="margin_bridge_bar").options
    at.selectbox(key="margin_bridge_kind").set_value("revenue")
    at.selectbox(key="margin_leak_dim").set_value("customer").run()
    assert not at.exception and not at.error
    assert "成本效应" not in at.selectbox(key="margin_bridge_bar").options
    assert _charts(at) == 3


def test_an_empty_store_says_what_to_import(monkeypatch, empty_url):
    from lib.access import auth
    from lib.core import store
    engine = store.get_engine(empty_url)
    store.init_schema(engine)
    auth.add_user(engine, "demo_finance", "finance", "yecai-demo-2026")
    engine.dispose()
    at = _page(monkeypatch, empty_url, "demo_finance", "en")
    assert "Import sales lines" in at.info[0].value and not at.error


def _scenario_script():
    import streamlit as st

    from lib.access import auth
    from pages import _scenario_view
    from pages import _shared as sh
    st.session_state["_user"] = auth.load_user(sh.engine(), st.session_state["scn_test_user"])
    _scenario_view.render()


@pytest.mark.parametrize("user", ["demo_finance", "demo_viewer"])
def test_the_scenario_tab(monkeypatch, demo_url, user):
    monkeypatch.setenv("WORKBENCH_DB_URL", demo_url)
    at = AppTest.from_function(_scenario_script, default_timeout=60)
    at.session_state["scn_test_user"] = user
    at.run()
    assert not at.exception, at.exception
    if user == "demo_viewer":
        assert at.info and not at.get("dataframe")
        return
    at.number_input(key="scn_price_0").set_value(3.0).run()
    at.number_input(key="scn_volume_0").set_value(-5.0).run()
    df = at.dataframe[0].value.set_index("项目")
    base, s1 = df.loc["营业收入（元）", "基准"], df.loc["营业收入（元）", "情景1"]
    assert s1 == pytest.approx(round(base * 1.03 * 0.95, 2), abs=0.011)
    at.radio(key="scn_base_kind").set_value("budget").run()
    at.number_input(key="scn_count").set_value(3).run()
    at.selectbox(key="scn_by_1").set_value("region").run()
    assert not at.exception and not at.error
    assert list(at.dataframe[-1].value.columns[:3]) == ["项目", "基准", "情景1"]


def test_saving_a_scenario_from_the_tab(monkeypatch, own_url):
    from lib.core import store
    from lib.finance import budget_versions
    monkeypatch.setenv("WORKBENCH_DB_URL", own_url)
    at = AppTest.from_function(_scenario_script, default_timeout=60)
    at.session_state["scn_test_user"] = "demo_finance"
    at.session_state["scn_base_kind"] = "budget"
    at.run()
    at.number_input(key="scn_price_0").set_value(3.0)
    at.text_input(key="scn_save_name").input("FY 涨价3%")
    at.button(key="scn_save_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success
    engine = store.get_engine(own_url)
    v = budget_versions.versions(engine)
    engine.dispose()
    saved = v[v["name"] == "FY 涨价3%"]
    assert saved["kind"].tolist() == ["scenario"] and saved["lines"].iloc[0] > 0
