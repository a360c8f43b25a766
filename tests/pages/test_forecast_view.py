"""The 预测 tab (pages/_forecast_view.py) on its own: a two-line script calls ``render()`` with the
user already in session state, as the budget page does after log-in (the budget page's own AppTest
covers the tab inside the page). A combination of two cheap members keeps it fast; the forecaster is tested in lib."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from lib.access import auth
from lib.core import fmt, store
from lib.finance import forecast
from lib.finance import forecast_models as fm
from lib.semantic import query


def _script():
    from pages import _forecast_view
    _forecast_view.render()


def _open(monkeypatch, url: str, username: str) -> AppTest:
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    monkeypatch.setattr(fm, "COMBINATION", fm.Combination(fixed=(fm.BASELINE, fm.ETS_ADD_DAMPED)))
    engine = store.get_engine(url)
    user = auth.load_user(engine, username)
    engine.dispose()
    at = AppTest.from_function(_script, default_timeout=180)
    at.session_state["_user"] = user
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _frame(at: AppTest, column: str):
    """The table with ``column`` (AppTest keeps no key of a plain st.dataframe)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture
def saved_in_june(own_url):
    """A forecast version made with the actuals to June 2026, so July–October have actuals to compare."""
    engine = store.get_engine(own_url)
    series = forecast.monthly_series(lambda s: query.run(engine, s), "revenue", "region", dt.date(2026, 6, 30))
    results = {k: forecast.forecast_series(s, 6, candidates=[fm.BASELINE]) for k, s in series.items()}
    run_id = forecast.save_run(engine, auth.load_user(engine, "demo_finance"), "revenue", "region",
                               dt.date(2026, 6, 1), results)
    engine.dispose()
    return own_url, run_id


def test_finance_forecasts_by_region_saves_a_version_and_compares_a_past_one(monkeypatch, saved_in_june):
    url, june = saved_in_june
    at = _open(monkeypatch, url, "demo_finance")
    assert not at.get("vega_lite_chart"), "nothing is forecast before it is asked for"
    at.button(key="fc_go").click().run()
    assert at.get("vega_lite_chart"), "the history + forecast chart with its bands"
    accuracy = _frame(at, "sMAPE (%)")
    assert accuracy["模型"].tolist() == ["combination", "seasonal_naive", "ets_add_damped"]
    assert accuracy["选用"].tolist() == [True, False, False]
    shown = {m.label: m.value for m in at.metric}
    assert shown["选用模型"].startswith("组合预测") and shown["回测区间覆盖率"].startswith("80%区间 ")
    assert "%" in shown["回测区间覆盖率"].split("·")[1]                    # both coverages are figures
    assert any(c.value.startswith("过去3个预测窗口中，平均误差比“去年同月”") for c in at.caption)
    at.selectbox(key="fc_by").set_value("region").run()
    at.button(key="fc_go").click().run()
    assert not at.exception, at.exception
    overview = _frame(at, "选用模型")
    assert len(overview) == 4 and overview["与“去年同月”相比"].str.startswith("过去3个预测窗口中").all()
    at.button(key="fc_save").click().run()
    assert not at.exception and at.success, at.exception
    engine = store.get_engine(url)
    saved = forecast.runs(engine)
    engine.dispose()
    assert len(saved) == 2 and saved.loc[0, "dimension"] == "region" and saved.loc[0, "series"] == 4
    at.selectbox(key="fc_run").set_value(june).run()
    assert not at.exception, at.exception
    summary = _frame(at, "已有实际的月数")
    assert len(summary) == 4 and set(summary["已有实际的月数"]) == {4}      # July to October 2026 have actuals


def test_viewer_sees_no_cost_metric_and_no_save_button(monkeypatch, demo_url):
    at = _open(monkeypatch, demo_url, "demo_viewer")
    options = at.selectbox(key="fc_metric").options
    assert "营业收入" in options and "营业成本" not in options
    at.button(key="fc_go").click().run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "fc_save"]


def test_region_head_forecasts_only_their_region(monkeypatch, demo_url):
    at = _open(monkeypatch, demo_url, "demo_east")
    at.selectbox(key="fc_by").set_value("region").run()
    at.button(key="fc_go").click().run()
    assert not at.exception, at.exception
    assert _frame(at, "选用模型")["序列"].tolist() == ["华东大区"]
    assert [b for b in at.button if b.key == "fc_save"] == []


def test_finance_turns_a_forecast_into_a_draft_budget(monkeypatch, own_url):
    from lib.finance import budget_versions as bv
    at = _open(monkeypatch, own_url, "demo_finance")
    at.radio(key="fc_draft_target").set_value("next_year").run()
    assert at.text_input(key="fc_draft_name_next_year").value == "FY2027 预算草案（预测，数据至 2026-10）"
    at.button(key="fc_draft_go").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert at.success[0].value.startswith("已生成草稿版本 #")
    totals = _frame(at, "合计（各行之和）")
    assert totals["科目类型"].tolist() == ["收入", "营业成本", "期间费用", "合计"]
    engine = store.get_engine(own_url)
    v = bv.versions(engine)
    engine.dispose()
    row = v[v["name"] == "FY2027 预算草案（预测，数据至 2026-10）"].iloc[0]
    assert row["status"] == "draft" and row["kind"] == "budget"
    assert totals["合计（各行之和）"].iloc[-1] == fmt.money(float(row["total"]), "zh")   # the lines as stored
    assert row["method"].startswith("forecast: combination×") and str(row["data_date"])[:7] == "2026-10"


def test_roles_that_cannot_edit_budgets_see_no_draft_action(monkeypatch, demo_url):
    at = _open(monkeypatch, demo_url, "demo_east")
    assert not [b for b in at.button if b.key == "fc_draft_go"]
