"""AppTest: 为什么？ opens an explanation from the cockpit tiles, the margin and budget pages, a clicked mark in
Explore and an alert; it follows the reader's comparison choice, stays within their scope and closes."""
from __future__ import annotations

import pytest

from tests.pages.conftest import open_app, shown
from tests.pages.test_alerts_page import alerts_url  # noqa: F401  (a fixture)
from tests.pages.test_explore_page import _drag, _explore


def _narrative(at, start: str) -> str:
    got = [shown(m.value) for m in at.markdown if shown(m.value).startswith(start)]
    assert got, [m.value for m in at.markdown][:12]
    return got[0]


def _ok(at):
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_the_cockpit_explains_a_tile_follows_the_comparison_and_closes(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_finance")
    at.button(key="why_btn_cockpit_opex_execution").click().run()
    _ok(at)
    text = _narrative(at, "期间费用比预算增加")
    assert "](#why-dim-" in text                       # each number links to the chart that shows it
    heads = [s.value for s in at.subheader]
    assert "为什么变了：期间费用" in heads and any(h.startswith("变动瀑布：") for h in heads) and "逐层下钻" in heads
    assert any("各项贡献之和 = 总变动" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) >= 2
    at.radio(key="why_vs_cockpit").set_value("yoy").run()
    _ok(at)
    _narrative(at, "期间费用同比增加")
    at.button(key="why_close_cockpit").click().run()
    _ok(at)
    assert "为什么变了：期间费用" not in [s.value for s in at.subheader]


def test_a_dept_heads_explanation_stays_in_their_region(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_east", "en")
    at.button(key="why_btn_cockpit_operating_profit").click().run()
    _ok(at)
    text = _narrative(at, "Operating profit vs budget")
    page = " ".join([text] + [str(d.value.to_dict()) for d in at.dataframe] + [c.value for c in at.caption])
    assert not any(r in page for r in ("华北大区", "西部大区", "华南大区"))
    assert any("华东大区" in c.value for c in at.caption)     # the one region in scope: nothing to split


def test_margin_and_budget_pages_explain_their_figure(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_finance")
    at.switch_page("pages/margin.py").run()
    at.button(key="why_btn_margin_gross_margin").click().run()
    _ok(at)
    _narrative(at, "毛利率同比")
    at.switch_page("pages/budget.py").run()
    at.radio(key="bud_period").set_value("ytd").run()
    at.selectbox(key="bud_region").set_value("华北大区").run()
    at.button(key="why_btn_budget_opex").click().run()
    _ok(at)
    text = _narrative(at, "期间费用比预算")
    assert "华东大区" not in text


def test_a_clicked_mark_in_explore_is_explained_against_its_previous_period(monkeypatch, demo_url):
    at = _explore(monkeypatch, demo_url)
    _drag(at, columns=["区域"], rows=["营业收入"])
    at.radio(key="explore_click_mode").set_value("why").run()
    at.session_state["explore_chart"] = {"selection": {"pick": [{"region": "华东大区"}]}}
    at.run()
    _ok(at)
    _narrative(at, "营业收入比上期")
    assert any("华东大区" in c.value for c in at.caption)
    assert len(at.table[0].value) > 1                  # the chart itself was not filtered by the click


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_alert_shows_its_explanation(monkeypatch, alerts_url, lang):  # noqa: F811
    at = open_app(monkeypatch, alerts_url, "demo_finance", lang)
    at.switch_page("pages/alerts.py").run()
    _ok(at)
    pick = at.selectbox(key="al_pick")
    budget_alert = next(o for o in pick.options if "区域费用预算执行超进度" in o)
    pick.set_value(int(budget_alert.split()[0].lstrip("#"))).run()
    _ok(at)
    _narrative(at, "实际数比预算" if lang == "zh" else "Actual vs budget")
