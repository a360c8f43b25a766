"""The alerts page per role and language, and its main flows by widget key: evaluate, acknowledge with a
comment, preview and save a rule. One writable 3,000-row demo store per backend for the module."""
from __future__ import annotations

import datetime as dt

import pytest

from lib.access import auth
from lib.core import store
from lib.performance.alerts import admin as alert_admin
from lib.performance.alerts import center as alerts
from tests.conftest import copy_store
from tests.pages.conftest import open_app

AS_OF = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def alerts_url(small_demo_template, tmp_path_factory, request):
    """A small demo (3,000 rows as of AS_OF) with the demo rules plus one rule that fires for every region,
    evaluated once."""
    url = copy_store(small_demo_template, tmp_path_factory, request)
    engine = store.get_engine(url)
    alert_admin.seed_demo(engine)
    alert_admin.save_rule(engine, auth.load_user(engine, "demo_admin"), alert_admin.ar.Rule.from_dict(
        {"name": "各区域月收入", "kind": "threshold", "metric": "revenue", "value": 0, "dimension": "region"}))
    alerts.run_all(engine, as_of=AS_OF)
    engine.dispose()
    return url


def _page(monkeypatch, url, user, lang="zh"):
    at = open_app(monkeypatch, url, user, lang)
    at.switch_page("pages/alerts.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.mark.parametrize("user, lang, tabs", [
    ("demo_finance", "zh", 3), ("demo_finance", "en", 3), ("demo_east", "zh", 1), ("demo_east", "en", 1),
    ("demo_viewer", "zh", 1), ("demo_viewer", "en", 1),
])
def test_page_opens_for_every_role(monkeypatch, alerts_url, user, lang, tabs):
    at = _page(monkeypatch, alerts_url, user, lang)
    assert len(at.tabs) == tabs                                    # rules and outbox only for finance/admin
    shown = at.dataframe[0].value if at.dataframe else None
    if shown is not None:                                          # the rule that fires for every region
        shown = shown[shown["rule"] == "各区域月收入"]
    comment_boxes = [w.key for w in at.text_area]
    if user == "demo_east":                                        # only 华东 rows; they may act on them
        assert set(shown["unit"]) == {"华东大区"} and set(shown["assignee"]) == {"demo_east"}
        assert comment_boxes == ["al_comment"]
    if user == "demo_viewer":                                      # the 华南 revenue alert, read-only
        assert set(shown["unit"]) == {"华南大区"}
        assert comment_boxes == []


def test_finance_evaluates_acknowledges_and_comments(monkeypatch, alerts_url):
    at = _page(monkeypatch, alerts_url, "demo_finance")
    at.date_input(key="al_as_of").set_value(AS_OF)
    at.button(key="al_run").click().run()
    assert not at.exception and "0 条" in at.success[0].value          # a second run: nothing new
    ids = at.selectbox(key="al_pick").options
    assert len(ids) >= 5
    at.selectbox(key="al_set_status").set_value("acknowledged")
    at.text_area(key="al_comment").input("已联系负责人")
    at.button(key="FormSubmitter:al_form-保存").click().run()
    assert not at.exception, at.exception
    engine = store.get_engine(alerts_url)
    try:
        picked = int(at.selectbox(key="al_pick").value)
        hist = alerts.comments(engine, auth.load_user(engine, "demo_finance"), picked)
        assert "已联系负责人" in hist["body"].tolist()
        runs = alerts.last_run(engine)["id"]
        at.date_input(key="al_as_of").set_value(dt.date(2026, 10, 1))     # earlier than the last run: a preview
        at.button(key="al_run").click().run()
        assert not at.exception and any("仅预览" in i.value for i in at.info)
        assert alerts.last_run(engine)["id"] == runs
    finally:
        engine.dispose()


def test_finance_previews_and_saves_a_rule(monkeypatch, alerts_url):
    at = _page(monkeypatch, alerts_url, "demo_finance", "en")
    at.date_input(key="al_as_of").set_value(AS_OF).run()
    at.text_input(key="al_r_name").input("华东 overdue > 10%")
    at.selectbox(key="al_r_kind").set_value("balance")
    at.selectbox(key="al_r_metric").set_value("overdue_ar_ratio")
    at.selectbox(key="al_r_filter_dim").set_value("region")
    at.text_input(key="al_r_filter_values").input("华东大区")
    at.number_input(key="al_r_value").set_value(0.1)
    at.selectbox(key="al_r_window").set_value("last_month")
    at.button(key="al_rule_preview").click().run()
    assert not at.exception, at.exception
    assert any("would have fired" in i.value for i in at.info)
    at.button(key="al_rule_save").click().run()
    assert not at.exception and any("Rule saved" in s.value for s in at.success)
    engine = store.get_engine(alerts_url)
    try:
        assert "华东 overdue > 10%" in {r.name for r in alerts.rules(engine)}
    finally:
        engine.dispose()
