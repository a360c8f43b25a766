"""AppTest: the question box (问一问) of the cockpit and Explore — type a question, read it back word by word,
correct a word, open it in Explore; refusals and scopes give no figure."""
from __future__ import annotations

import pytest

from tests.pages.conftest import open_app, shown


def _ask(at, question: str, where: str = "cockpit"):
    at.text_input(key=f"ask_{where}_q").input(question).run()
    assert not at.exception, at.exception
    return at


def _explore(monkeypatch, url: str, user: str, lang: str = "zh"):
    """Explore with empty shelves: no table or tile on the page but the box's (the cockpit has its own)."""
    at = open_app(monkeypatch, url, user, lang)
    at.switch_page("pages/explore.py").run()
    assert not at.exception and not at.table and not at.metric
    return at


def _reading(at) -> str:
    return " ".join(h.proto.body for h in at.get("html"))


def _kinds(at) -> list[str]:
    import re
    return re.findall(r'data-kind="(\w+)"', _reading(at))


def _captions(at) -> str:
    return shown(" ".join(c.value for c in at.caption))


def test_a_question_is_read_back_answered_corrected_and_opened_in_explore(monkeypatch, demo_url):
    at = _ask(open_app(monkeypatch, demo_url, "demo_finance"), "今年各区域的营收")
    assert _kinds(at) == ["time", "filler", "dimension", "filler", "metric"]
    assert "营业收入 · 按 区域 · 2026-01-01 至 2026-11-24" in _captions(at)
    table = at.table[0].value
    assert {"华东大区", "华北大区", "华南大区", "西部大区"} <= set(table.index)
    # 毛利 names gross profit; gross margin is one click away
    _ask(at, "今年毛利")
    assert "毛利 · 2026-01-01" in _captions(at)
    alt = next(b for b in at.button if b.key and b.key.startswith("ask_cockpit_alt_") and "gross_margin" in b.key)
    alt.click().run()
    assert "毛利率 · 2026-01-01" in _captions(at)
    # the question in Explore with its shelves filled
    _ask(at, "近12个月各区域营收趋势")
    at.button(key="ask_cockpit_open").click().run()
    assert not at.exception, at.exception
    chart = at.session_state["_ex_spec"]
    assert chart.query.metrics == ("revenue",) and chart.query.dimensions == ("month", "region")
    assert [f.name for f in chart.columns] == ["month"] and chart.color.name == "region"


def test_words_not_understood_give_no_figure_and_the_closest_metrics(monkeypatch, demo_url):
    at = _ask(_explore(monkeypatch, demo_url, "demo_finance", "en"), "员工满意度 of 华东大区", "explore")
    assert "unknown" in _kinds(at)
    assert any("员工满意度" in w.value for w in at.warning)
    assert not at.table and not at.metric
    assert any(b.key and b.key.startswith("ask_explore_use_") for b in at.button)


@pytest.mark.parametrize("username, other, own", [("demo_east", "华北大区", "华东大区"), ("demo_west", "华东大区", "西部大区"),
                                                  ("demo_viewer", "西部大区", "华南大区")])
def test_asking_about_another_region_gets_no_figure(monkeypatch, demo_url, username, other, own):
    at = _ask(_explore(monkeypatch, demo_url, username), f"{other}今年营收", "explore")
    assert any("不在您的数据范围内" in i.value for i in at.info)
    assert not at.table and not at.metric
    _ask(at, f"{own}今年营收", "explore")  # their own region: the figure
    assert at.metric[0].value.startswith("¥")


def test_a_viewer_asking_for_a_denied_metric_is_refused_by_name(monkeypatch, demo_url):
    at = _ask(_explore(monkeypatch, demo_url, "demo_viewer"), "今年毛利率", "explore")
    assert any("无权" in w.value for w in at.warning)
    assert not at.table and not at.metric


def test_explore_has_the_box_and_an_answer_fills_its_shelves(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_finance")
    at.switch_page("pages/explore.py").run()
    _ask(at, "去年销售额最高的5个产品", "explore")
    assert len(at.table[0].value) == 5
    at.button(key="ask_explore_open").click().run()
    assert not at.exception, at.exception
    chart = at.session_state["_ex_spec"]
    assert chart.query.dimensions == ("product",) and chart.top_n == 5
