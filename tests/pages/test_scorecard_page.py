"""AppTest of the scorecard page per role and language: finance evaluates, tries a what-if, saves and
publishes; a dept head sees their own lines and the ranking; a viewer reads; the metric center opens
on a metric from a link."""
from __future__ import annotations

import pandas as pd
import pytest

from lib.access import auth
from lib.core import store
from lib.performance.scorecards import center as scorecard
from tests.conftest import copy_store
from tests.pages.conftest import open_app


@pytest.fixture(scope="module")
def sc_url(small_demo_template, tmp_path_factory, request):
    url = copy_store(small_demo_template, tmp_path_factory, request)   # 3,000 rows as of 2026-11-24
    engine = store.get_engine(url)
    scorecard.seed_demo(engine)  # a no-op when demo.build already seeds the scorecards
    engine.dispose()
    return url


def _frame(at, column: str):
    """The first dataframe with this column (AppTest does not expose a dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _page(monkeypatch, url, user, lang):
    at = open_app(monkeypatch, url, user, lang)
    at.switch_page("pages/scorecard.py").run()
    assert not at.exception, at.exception
    return at


def test_finance_evaluates_what_if_saves_and_publishes(monkeypatch, sc_url):
    at = _page(monkeypatch, sc_url, "demo_finance", "zh")
    at.selectbox(key="sc_template").set_value("cost_center").run()
    at.selectbox(key="sc_period").set_value("2026-YTD10").run()
    at.button(key="sc_evaluate").click().run()
    assert not at.exception, at.exception
    ranking = _frame(at, "奖金（元）")
    assert len(ranking) == 4 and ranking["排名"].min() == 1
    at.number_input(key="sc_pool_cost_center").set_value(1000.01).run()
    at.number_input(key="sc_w_cost_center_service_satisfaction").set_value(0.0).run()
    assert any("分配合计 ¥1,000.01（奖金池 ¥1,000.01）" == c.value for c in at.caption), [c.value for c in at.caption]
    lines = _frame(at, "metric_link")
    first = _frame(at, "奖金（元）").iloc[0]             # the unit shown below is the first of the ranking
    assert lines["贡献分"].sum() == pytest.approx(first["加权总分"], abs=0.06)   # points with the what-if weights
    assert list(lines["权重"]) == [60.0, 0.0]
    assert lines["metric_link"].iloc[0] == "metrics?metric=opex"
    assert lines["explore_link"].iloc[0].startswith("explore?")
    at.button(key="sc_save_publish").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success, "saved"
    engine = store.get_engine(sc_url)
    fin = auth.load_user(engine, "demo_finance")
    runs = scorecard.runs(engine, fin, "cost_center")
    newest = runs.iloc[0]
    assert newest["status"] == "published" and newest["period"] == "2026-YTD10" and float(newest["pool"]) == 1000.01
    at.button(key="sc_save_draft").click().run()    # a second run without a reason is refused, in words
    assert at.error and "原因" in at.error[0].value
    scorecard.enter_manual(engine, fin, "cost_center", "service_satisfaction", 19, "2026-YTD10", 77.0)
    engine.dispose()
    at.text_input(key="sc_reason").set_value("late survey").run()     # the data changed after the evaluation:
    assert any("数据在评估后已变化" in w.value for w in at.warning)     # said before saving …
    at.button(key="sc_save_draft").click().run()
    assert at.error and "数据在评估后已变化，请重新评估" in at.error[0].value   # … and refused


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dept_head_sees_own_scorecard_and_ranking(monkeypatch, sc_url, lang):
    at = _page(monkeypatch, sc_url, "demo_east", lang)
    assert "sc_evaluate" not in [b.key for b in at.button] and "sc_publish" not in [b.key for b in at.button]
    ranking = _frame(at, "排名" if lang == "zh" else "Rank")
    assert len(ranking) == 4 and ranking.shape[1] == 5
    units = [s.options for s in at.selectbox if s.key == "sc_run_unit"][0]
    assert units == (["华东大区"] if lang == "zh" else ["East"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_viewer_reads_published_ranking(monkeypatch, sc_url, lang):
    at = _page(monkeypatch, sc_url, "demo_viewer", lang)
    assert "sc_evaluate" not in [b.key for b in at.button]
    assert [s.options for s in at.selectbox if s.key == "sc_run_unit"][0] == (["华南大区"] if lang == "zh" else ["South"])
    lines = _frame(at, "metric_link")
    kpi, rule, score, note = lines.columns[0], lines.columns[6], lines.columns[7], lines.columns[10]
    gm = lines[lines[kpi] == ("毛利率" if lang == "zh" else "Gross margin")].iloc[0]
    # cost of sales is denied to viewers: no figure, rule or score to solve the margin back from
    assert gm[rule] == "—" and pd.isna(gm[score]) and pd.isna(gm["metric_link"]) and pd.isna(gm["explore_link"])
    assert gm[note] == ("您的角色无权查看该指标：实际值、目标、规则与得分不显示（总分与排名已含此项）" if lang == "zh"
                        else "your role may not see this metric: its actual, target, rule and score are hidden "
                             "(the total and rank include it)")
    revenue = lines[lines["metric_link"] == "metrics?metric=revenue"]
    assert revenue.notna().all(axis=None) or revenue[score].notna().all()


def test_finance_reads_runs_and_manual_entry_in_english(monkeypatch, sc_url):
    at = _page(monkeypatch, sc_url, "demo_finance", "en")
    at.selectbox(key="sc_template").set_value("sales_region").run()
    at.selectbox(key="sc_period").set_value("2026-Q3").run()
    at.selectbox(key="sc_manual_unit").set_value(2).run()
    at.number_input(key="sc_manual_value").set_value(91.0).run()
    at.button(key="sc_manual_save").click().run()
    assert not at.exception and at.success, [e.value for e in at.error]
    assert _frame(at, "Entered by").iloc[0]["Value"] == 91.0


def test_metric_center_opens_on_a_linked_metric(monkeypatch, sc_url):
    at = open_app(monkeypatch, sc_url, "demo_finance", "en")
    at.query_params["metric"] = "dso"
    at.switch_page("pages/metrics.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="metrics_pick").value == "dso"


def test_the_page_opens_on_the_published_run_in_force(monkeypatch, own_url):
    engine = store.get_engine(own_url)
    finance = auth.load_user(engine, "demo_finance")
    try:
        runs = scorecard.runs(engine, finance, "sales_region")
        in_force = int(runs[(runs["status"] == "published") & runs["effective"]]["id"].max())
        # a newer draft of another period: the newest run, but not what people read
        draft = scorecard.save_run(engine, finance, scorecard.run_evaluation(engine, finance, "sales_region", "2026-10"))
    finally:
        engine.dispose()
    assert draft > in_force
    at = _page(monkeypatch, own_url, "demo_finance", "zh")
    assert at.selectbox(key="sc_template").value == "sales_region"
    assert at.selectbox(key="sc_run").value == in_force
    assert not at.error, [e.value for e in at.error]
