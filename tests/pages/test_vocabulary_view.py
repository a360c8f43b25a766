"""AppTest: finance teaches the question box in the metric center — a metric's synonym saved with the metric,
a member's alias as a version of its dimension's words — and the box reads them at once."""
from __future__ import annotations

from lib.ask import lexicon
from lib.semantic import metric_store, query
from tests.pages.test_metrics_page import _app, _pick, own_engine  # noqa: F401  (a fixture)


def test_a_synonym_and_an_alias_taught_in_the_metric_center_are_read(monkeypatch, own_url, own_engine):  # noqa: F811
    at = _pick(_app(monkeypatch, own_url), "revenue")
    p = "metrics_edit_revenue_"
    at.text_input(key=p + "synonyms").set_value(at.text_input(key=p + "synonyms").value + ", 流水")
    at.text_input(key=p + "author").set_value("王会计")
    at.button(key="metrics_edit_submit").click().run()
    assert not at.exception and not at.error
    assert "流水" in metric_store.history(own_engine, "revenue")[0].definition["synonyms"]

    at.selectbox(key="vocab_dim").set_value("region").run()
    at.text_area(key="vocab_region_aliases").set_value("华东大区: 东区, East China\n火星大区: 火星")
    at.text_input(key="vocab_author").set_value("王会计")
    at.button(key="vocab_submit").click().run()
    assert any("火星大区" in e.value for e in at.error)          # no such member: nothing saved
    assert [v.version for v in lexicon.history(own_engine, "region", query.default_model())] == [0]
    at.text_area(key="vocab_region_aliases").set_value("华东大区: 东区, East China")
    at.button(key="vocab_submit").click().run()
    assert not at.exception and not at.error and "1" in at.success[0].value
    assert lexicon.latest(own_engine)["region"]["aliases"] == {"华东大区": ["东区", "East China"]}

    at.switch_page("pages/explore.py").run()
    at.text_input(key="ask_explore_q").input("东区今年的流水").run()
    assert not at.exception
    assert "营业收入 · 2026-01-01 至 2026-11-24 · 区域 属于 华东大区" in " ".join(
        c.value for c in at.caption).replace("\\", "")
