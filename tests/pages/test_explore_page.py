"""The Explore page in AppTest: drag shelves (driven through the component's key) and the pickers give the same
chart; a click filters; drill-down and its breadcrumb; save to a dashboard; every role opens it."""
from __future__ import annotations

import json

import pytest

from lib.access import auth
from lib.core import store
from lib.explore import evaluate as explore
from lib.semantic import query
from tests.pages.conftest import open_app


def _explore(monkeypatch, url, user="demo_finance", lang="zh"):
    at = open_app(monkeypatch, url, user=user, lang=lang)
    at.switch_page("pages/explore.py").run()
    assert not at.exception, at.exception
    return at


def _spec(at) -> dict:
    charts = at.get("vega_lite_chart")
    assert charts, "no chart drawn"
    return json.loads(charts[0].proto.spec)


def _ids(labels) -> list[str]:
    """Field ids of Chinese labels, as the field pane names them."""
    mdl = query.default_model()
    by_label = {f["label_zh"]: f["id"] for f in explore.pane(mdl, "zh", list(mdl.metrics))}
    return [by_label[x] for x in labels]


def _drag(at, columns=(), rows=(), color=(), filters=()):
    """What the field-shelves component sends after a drag: every shelf with its field ids."""
    at.session_state["shelves"] = {"columns": _ids(columns), "rows": _ids(rows), "color": _ids(color), "size": [],
                                   "facet": [], "tooltip": [], "filters": _ids(filters)}
    at.run()
    assert not at.exception, at.exception


def test_drag_and_pickers_give_the_same_chart(monkeypatch, demo_url):
    dragged = _explore(monkeypatch, demo_url)
    _drag(dragged, columns=["时间"], rows=["营业收入"], color=["区域"])
    picked = _explore(monkeypatch, demo_url)
    picked.multiselect(key="shelf_columns").set_value(["month"]).run()
    picked.multiselect(key="shelf_rows").set_value(["revenue"]).run()
    picked.selectbox(key="shelf_color").set_value("region").run()
    assert not picked.exception, picked.exception
    a, b = _spec(dragged), _spec(picked)
    assert a == b
    assert "region" in json.dumps(a) and "revenue" in json.dumps(a)
    # the drag moved the fields into the pickers too, and the link holds the chart
    assert dragged.multiselect(key="shelf_rows").value == ["revenue"]
    assert dragged.selectbox(key="shelf_color").value == "region"
    assert dragged.query_params["r"] == "revenue" and dragged.query_params["c"] == "month"


def _data(at):
    """The "view data" table."""
    return at.table[0].value


def test_a_click_on_a_bar_filters_and_shows_a_removable_chip(monkeypatch, demo_url):
    at = _explore(monkeypatch, demo_url)
    _drag(at, columns=["区域"], rows=["营业收入"])
    before = _data(at)
    assert len(before) > 1
    at.session_state["explore_chart"] = {"selection": {"pick": [{"region": "华东大区"}]}}
    at.run()
    assert not at.exception, at.exception
    after = _data(at)
    assert len(after) == 1 and "华东大区" in after.to_string()
    assert at.multiselect(key="explore_filter_region").value == ["华东大区"]
    at.button(key="explore_chip_region").click().run()
    assert len(_data(at)) == len(before)
    # the chart came back unselected (a new key), so the same bar can be clicked again
    at.session_state["explore_chart_1"] = {"selection": {"pick": [{"region": "华东大区"}]}}
    at.run()
    assert len(_data(at)) == 1


def test_drill_down_by_click_and_back_with_the_breadcrumb(monkeypatch, demo_url):
    at = _explore(monkeypatch, demo_url)
    _drag(at, columns=["区域"], rows=["营业收入"])
    at.radio(key="explore_click_mode").set_value("drill").run()
    at.session_state["explore_chart"] = {"selection": {"pick": [{"region": "华东大区"}]}}
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="shelf_columns").value == ["department"]
    crumb = at.button(key="explore_crumb_0")
    assert "华东大区" in crumb.label
    crumb.click().run()
    assert at.multiselect(key="shelf_columns").value == ["region"]
    assert len(_data(at)) > 1


def test_quick_calc_and_top_n_reach_the_data(monkeypatch, demo_url):
    at = _explore(monkeypatch, demo_url)
    _drag(at, columns=["产品"], rows=["营业收入"])
    at.number_input(key="explore_top_n").set_value(3).run()
    at.selectbox(key="explore_calc_revenue").set_value("pct_total").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = _data(at)
    assert len(table) == 4 and "其他" in table.to_string()  # 3 products and the rest


def test_save_to_a_new_dashboard_and_reopen_it(monkeypatch, own_url):
    at = _explore(monkeypatch, own_url)
    _drag(at, columns=["区域"], rows=["营业收入"])
    at.text_input(key="explore_save_title").input("自助分析测试看板")
    at.button(key="explore_save_button").click().run()
    assert not at.exception, at.exception
    assert at.success, [e.value for e in at.error]
    from lib.explore import dashboards
    engine = store.get_engine(own_url)
    try:
        user = auth.load_user(engine, "demo_finance")
        saved = [d for d in dashboards.list_dashboards(engine, user) if d.title == "自助分析测试看板"]
        assert len(saved) == 1
        assert saved[0].tiles[0].chart.query.metrics == ("revenue",)
    finally:
        engine.dispose()
    # saved again into the same dashboard, now picked from the list
    at.selectbox(key="explore_save_target").set_value(saved[0].id).run()
    at.button(key="explore_save_button").click().run()
    assert not at.exception, at.exception
    at.switch_page("pages/dashboards.py").run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("user,exports,saves", [
    ("demo_admin", True, True), ("demo_finance", True, True), ("demo_east", True, True),
    ("demo_viewer", False, False)])
def test_every_role_opens_the_page(monkeypatch, demo_url, user, exports, saves):
    at = _explore(monkeypatch, demo_url, user=user, lang="en")
    assert at.info  # empty shelves: what to drag
    at.multiselect(key="shelf_columns").set_value(["month"]).run()
    at.multiselect(key="shelf_rows").set_value(["revenue"]).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.get("vega_lite_chart")
    keys = {b.key for b in at.get("download_button")}
    assert ("explore_export_png" in keys) is exports
    assert any(b.key == "explore_save_button" for b in at.button) is saves
    if user == "demo_viewer":  # no cost figures in the field list or the pickers
        assert "cogs" not in at.multiselect(key="shelf_rows").options


def test_a_tampered_link_opens_the_default_chart_with_a_message(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url)
    at.query_params["r"] = "no_such_metric"
    at.query_params["fl"] = "{not json"
    at.switch_page("pages/explore.py").run()
    assert not at.exception, at.exception
    assert at.warning and at.info  # what was ignored, then what to drag


def test_every_chart_type_draws(monkeypatch, demo_url):
    at = _explore(monkeypatch, demo_url)
    _drag(at, columns=["区域"], rows=["营业收入", "毛利率"])
    for mark in ("bar", "bar_stacked", "line", "area", "scatter", "pie", "donut", "table", "pivot"):
        at.selectbox(key="explore_mark").set_value(mark).run()
        assert not at.exception, (mark, at.exception)
        assert not at.error, (mark, [e.value for e in at.error])
        if mark in ("pivot", "table"):
            assert len(at.dataframe) >= 1, mark
        else:
            assert at.get("vega_lite_chart"), mark
    at.selectbox(key="explore_mark").set_value("heatmap").run()  # needs two dimensions: said in words
    assert not at.exception and "热力图" in at.error[0].value
    _drag(at, rows=["营业收入", "毛利率"])
    at.selectbox(key="explore_mark").set_value("kpi").run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric] == ["营业收入", "毛利率"]


def test_a_result_over_the_row_cap_is_refused_with_advice(monkeypatch, demo_url):
    monkeypatch.setenv("WORKBENCH_ROW_CAP", "5")
    at = _explore(monkeypatch, demo_url)
    _drag(at, columns=["客户"], rows=["订单数"])
    assert not at.exception, at.exception
    assert any("只看前 N 项" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_metric_range_on_the_filters_shelf_keeps_the_aggregated_rows(monkeypatch, demo_url):
    from lib.explore import evaluate as explore
    from lib.semantic import query
    engine = store.get_engine(demo_url)
    try:
        spec = explore.build_chart(explore.Shelves(columns=("region",), rows=("revenue",)), explore.Options(),
                                   query.default_model())
        values = sorted(query.run(engine, spec.query)["revenue"].dropna(), reverse=True)
    finally:
        engine.dispose()
    at = _explore(monkeypatch, demo_url)
    _drag(at, columns=["区域"], rows=["营业收入"], filters=["营业收入"])
    at.number_input(key="explore_min_revenue").set_value(float(values[1])).run()
    assert not at.exception, at.exception
    assert len(_data(at)) == 2
    assert "营业收入 gte" in " ".join(c.value for c in at.caption)
    assert at.query_params["fl"].startswith('[["revenue","gte"')
