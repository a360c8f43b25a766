"""AppTest: the metric center finds, explains, trends, edits and versions metrics, and refuses bad edits."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.core import store
from lib.semantic import metric_store
from lib.semantic import model as semantic
from tests.pages.conftest import open_app

SEED = semantic.load()


def _app(monkeypatch, url: str, lang: str = "zh") -> AppTest:
    at = open_app(monkeypatch, url, "demo_finance", lang)
    at.switch_page("pages/metrics.py").run()
    assert not at.exception
    return at


@pytest.fixture
def own_engine(own_url):
    engine = store.get_engine(own_url)
    yield engine
    engine.dispose()


def _listed(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value.iloc[:, 0])


def _text(at: AppTest) -> str:
    return "\n".join(x.value for x in at.markdown)


def _pick(at: AppTest, metric_id: str) -> AppTest:
    return at.selectbox(key="metrics_pick").set_value(metric_id).run()


@pytest.mark.parametrize("lang, title", [("zh", "指标中心"), ("en", "Metric center")], ids=["zh", "en"])
def test_the_page_renders_with_a_trend_and_its_sql(monkeypatch, demo_url, lang, title):
    at = _app(monkeypatch, demo_url, lang)
    assert at.title[0].value == title
    assert len(_listed(at)) == len(SEED.metrics)
    assert len(at.get("vega_lite_chart")) == 1
    assert any("SELECT" in c.value for c in at.code)  # the explain expander shows the compiled SQL
    assert not at.error


def test_an_empty_store_still_lists_the_metrics_and_says_there_is_no_trend(monkeypatch, empty_url):
    from lib.access import auth
    engine = store.get_engine(empty_url)
    store.init_schema(engine)
    auth.add_user(engine, "demo_finance", "finance", "yecai-demo-2026")  # a store with a user and no data
    engine.dispose()
    at = _app(monkeypatch, empty_url)
    assert len(_listed(at)) == len(SEED.metrics)
    assert not at.get("vega_lite_chart") and "没有数据" in at.info[0].value
    assert not at.error


def test_every_metric_renders_with_its_trend(monkeypatch, demo_url):
    at = _app(monkeypatch, demo_url)
    for mid in SEED.metrics:
        _pick(at, mid)
        assert not at.exception and not at.error, mid
        assert SEED.metric(mid).label_zh in at.subheader[0].value


def test_search_narrows_the_list(monkeypatch, demo_url):
    at = _app(monkeypatch, demo_url)
    at.text_input(key="metrics_search").set_value("毛利").run()
    listed = _listed(at)
    assert "gross_margin" in listed and "gross_profit" in listed and "dso" not in listed
    assert at.selectbox(key="metrics_pick").value in listed
    at.text_input(key="metrics_search").set_value("").run()
    at.selectbox(key="metrics_subject").set_value("receivables").run()
    assert set(_listed(at)) == {m.id for m in SEED.metrics.values() if m.subject == "receivables"}
    at.text_input(key="metrics_search").set_value("no such metric").run()
    assert not at.exception and at.info


def test_selecting_a_metric_shows_its_definition_and_lineage(monkeypatch, demo_url):
    at = _pick(_app(monkeypatch, demo_url, "en"), "gross_margin")
    text = _text(at)
    assert SEED.metric("gross_margin").description in text
    assert any("Gross profit (gross_profit) ÷ Net revenue (revenue)" in c.value for c in at.code)
    assert "`sales_line`" in text and "`cost_amount`" in text  # the leaf metrics' source columns
    assert "operating\\_margin" not in text  # gross margin is used by the YoY change, not by operating margin
    assert "gross\\_margin\\_yoy\\_pp" in text


def test_the_trend_can_be_broken_down(monkeypatch, demo_url):
    import pyarrow as pa
    at = _pick(_app(monkeypatch, demo_url), "revenue")
    at.selectbox(key="metrics_trend_by").set_value("region").run()
    assert not at.exception
    chart = at.get("vega_lite_chart")[0]
    data = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all()
    assert "region" in data.column_names and len(set(data.column("region").to_pylist())) > 1
    months = {str(m)[:7] for m in data.column("month").to_pylist()}
    assert len(months) == 24  # the 24 months before the current one
    _pick(at, "orders")  # a breakdown the next metric also has is kept
    assert at.selectbox(key="metrics_trend_by").value == "region"


def test_an_edit_becomes_version_1_in_the_history(monkeypatch, own_url, own_engine):
    at = _pick(_app(monkeypatch, own_url), "revenue")
    p = "metrics_edit_revenue_"
    at.text_area(key=p + "description").set_value("净销售额合计（新口径）。")
    at.text_input(key=p + "author").set_value("王会计")
    at.text_input(key=p + "note").set_value("口径说明更清楚")
    at.button(key="metrics_edit_submit").click().run()
    assert not at.exception and not at.error
    assert "1" in at.success[0].value
    assert "净销售额合计（新口径）。" in _text(at)  # the cached model picked up the edit
    versions = metric_store.history(own_engine, "revenue")
    assert [v.version for v in versions] == [1, 0]
    assert versions[0].definition["description"] == "净销售额合计（新口径）。" and versions[0].author == "王会计"
    shown = at.dataframe[1].value
    assert list(shown["版本"]) == [1, 0]
    assert shown.iloc[0]["变更字段"] == "description" and shown.iloc[0]["修改人"] == "王会计"

    at.text_input(key="metrics_restore_author").set_value("王会计")
    at.button(key="metrics_restore_revenue_0").click().run()
    assert not at.exception and not at.error
    versions = metric_store.history(own_engine, "revenue")
    assert [v.version for v in versions] == [2, 1, 0] and versions[0].action == "restore"
    assert versions[0].definition["description"] == SEED.metric("revenue").description
    assert at.text_area(key=p + "description").value == SEED.metric("revenue").description


def test_a_bad_edit_is_refused_and_changes_nothing(monkeypatch, own_url, own_engine):
    at = _pick(_app(monkeypatch, own_url), "revenue")
    at.text_input(key="metrics_edit_revenue_expr").set_value("sum(net_revenue)); drop table sales_line; --")
    at.text_input(key="metrics_edit_revenue_author").set_value("王会计")
    at.button(key="metrics_edit_submit").click().run()
    assert not at.exception and not at.success
    assert "not a single expression" in at.error[0].value
    assert [v.version for v in metric_store.history(own_engine, "revenue")] == [0]
    assert metric_store.load_model(own_engine)[0].metric("revenue").expr == "sum(net_revenue)"
    assert any(c.value == "sum(net_revenue)" for c in at.code)
    assert list(at.dataframe[1].value["版本"]) == [0]


def test_an_edit_without_author_is_refused(monkeypatch, own_url, own_engine):
    at = _pick(_app(monkeypatch, own_url, "en"), "dso")
    at.text_area(key="metrics_edit_dso_description").set_value("x")
    at.button(key="metrics_edit_submit").click().run()
    assert not at.exception and "author" in at.error[0].value
    assert [v.version for v in metric_store.history(own_engine, "dso")] == [0]


def test_a_new_ratio_metric_can_be_created(monkeypatch, own_url, own_engine):
    at = _app(monkeypatch, own_url)
    at.selectbox(key="metrics_new_type").set_value("ratio").run()
    p = "metrics_new_"
    for key, value in (("id", "cogs_ratio"), ("label_zh", "成本率"), ("label_en", "Cost ratio"),
                       ("description", "营业成本 ÷ 营业收入。"), ("owner", "财务部"), ("author", "王会计")):
        (at.text_area if key == "description" else at.text_input)(key=p + key).set_value(value)
    at.selectbox(key=p + "numerator").set_value("cogs")
    at.selectbox(key=p + "denominator").set_value("revenue")
    at.selectbox(key=p + "format").set_value("percent")
    at.button(key="metrics_new_submit").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="metrics_pick").value == "cogs_ratio"
    assert "营业成本 ÷ 营业收入。" in _text(at) and len(at.get("vega_lite_chart")) == 1
    assert [(v.version, v.action) for v in metric_store.history(own_engine, "cogs_ratio")] == [(1, "create")]


def test_a_dept_head_reads_but_cannot_edit_and_lib_refuses_too(monkeypatch, own_url):
    from lib.access import auth
    from lib.core.errors import Forbidden
    at = open_app(monkeypatch, own_url, "demo_east")
    at.switch_page("pages/metrics.py").run()
    assert not at.exception
    assert "不能修改" in " ".join(i.value for i in at.info)
    assert not [b for b in at.button if b.key and b.key.startswith("metrics_restore_")]
    assert at.dataframe[-1].value.shape[0] >= 1  # the history table is still shown
    engine = store.get_engine(own_url)
    east = auth.load_user(engine, "demo_east")
    m = metric_store.load_model(engine)[0].metric("revenue").to_dict()
    with pytest.raises(Forbidden, match="may not edit metrics"):
        metric_store.save(engine, {**m, "description": "x"}, "demo_east", user=east)
    assert [v.version for v in metric_store.history(engine, "revenue")] == [0]
    engine.dispose()


def test_a_viewer_does_not_see_denied_metrics_listed(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_viewer")
    at.switch_page("pages/metrics.py").run()
    listed = set(_listed(at))
    assert "revenue" in listed
    assert not listed & {"cogs", "gross_profit", "gross_margin", "operating_profit", "actual", "budget_variance"}
    assert not at.exception and not at.error


def test_a_dept_heads_trend_breaks_down_into_their_own_region_only(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_east")
    at.switch_page("pages/metrics.py").run()
    _pick(at, "revenue")
    at.selectbox(key="metrics_trend_by").set_value("region").run()
    import pyarrow as pa
    chart = (at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))[0]
    data = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()
    region_col = [c for c in data.columns if data[c].astype(str).str.contains("大区").any()]
    assert region_col and set(data[region_col[0]]) == {"华东大区"}


def test_lineage_does_not_name_metrics_the_reader_may_not_see(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_viewer")
    at.switch_page("pages/metrics.py").run()
    _pick(at, "revenue")
    text = _text(at)
    assert "毛利" not in text and "营业利润" not in text and "营业收入" in text
