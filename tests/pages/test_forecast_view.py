"""The 预测 tab (pages/_forecast_view.py) on its own: a two-line script calls ``render()`` with the
user already in session state, as the budget page does after log-in (the budget page's own AppTest
covers the tab inside the page). Fewer candidate models keep it fast; model choice is tested in lib."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from lib.access import auth
from lib.core import store
from lib.finance import forecast
from lib.finance import forecast_models as fm
from lib.semantic import query


def _script():
    from pages import _forecast_view
    _forecast_view.render()


def _open(monkeypatch, url: str, username: str) -> AppTest:
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    monkeypatch.setattr(fm, "full_candidates", lambda positive: [fm.BASELINE, fm.ETS_ADD_DAMPED])
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
    assert set(accuracy["模型"]) == {"seasonal_naive", "ets_add_damped"} and accuracy["选用"].sum() == 1
    at.selectbox(key="fc_by").set_value("region").run()
    at.button(key="fc_go").click().run()
    assert not at.exception, at.exception
    assert len(_frame(at, "选用模型")) == 4
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
