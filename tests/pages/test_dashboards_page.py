"""AppTest of the dashboards page (看板): every role opens it, the demo dashboards render, click filters
cross tiles, presentation mode moves tile by tile, and a chart saved through lib shows up."""
from __future__ import annotations

import datetime as dt

import pytest

from lib.access import audit, auth
from lib.core import store
from lib.demo import build as demo
from lib.explore import dashboards
from lib.semantic.spec import ChartSpec, Field, Mark, QuerySpec
from tests.conftest import BACKENDS, _new_url
from tests.pages.conftest import open_app, shown

PAGE = "pages/dashboards.py"


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request, tmp_path_factory):
    """A small demo store of this module's own with the demo dashboards (tests here add to it, never remove)."""
    url = _new_url(request.param, tmp_path_factory, request)
    engine = store.get_engine(url)
    demo.build(engine, rows=demo.MIN_ROWS, as_of=dt.date(2026, 11, 24))
    ids = dashboards.seed_demo(engine)
    engine.dispose()
    return url, ids


def _open(monkeypatch, url, user="demo_finance", lang="zh", **params):
    at = open_app(monkeypatch, url, user=user, lang=lang)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _charts(at):
    return at.get("vega_lite_chart")


def test_every_role_opens_the_page(monkeypatch, seeded):
    url, ids = seeded
    for user in ("demo_admin", "demo_finance", "demo_east", "demo_viewer"):
        at = _open(monkeypatch, url, user=user, dash=str(ids[0]))
        assert at.title[0].value == "经营总览"
        if user == "demo_viewer":  # no cost metrics for viewers: those tiles say why instead of failing
            assert any("gross_margin" in shown(w.value) for w in at.warning)
        else:
            assert not at.warning, [w.value for w in at.warning]
        if user == "demo_east":  # the shared dashboard shows a dept head their own region only
            chart = next(c for c in _charts(at) if c.key == f"dash_tile_{ids[0]}_1")   # revenue by region
            data = b"".join(ds.data.data for ds in chart.proto.datasets)             # the chart's rows (Arrow)
            assert "华东大区".encode() in data and "华北大区".encode() not in data and "西部大区".encode() not in data


def test_the_three_demo_dashboards_render(monkeypatch, seeded):
    url, ids = seeded
    at = _open(monkeypatch, url, lang="en")
    for dash_id, title, n_charts in zip(ids, ("经营总览", "销售与毛利", "费用与预算"), (2, 4, 3)):
        at.selectbox(key="dash_pick").set_value(dash_id).run()
        assert not at.exception, at.exception
        assert at.title[0].value == title
        assert not at.warning and not at.error, [w.value for w in (*at.warning, *at.error)]
        assert len(_charts(at)) == n_charts
        assert at.query_params["dash"] == str(dash_id)
    at.selectbox(key="dash_pick").set_value(ids[0]).run()
    assert [m.label for m in at.metric] == ["Net revenue", "Gross margin", "Operating expenses", "Days sales outstanding"]
    if url.startswith("duckdb"):  # the PDF is drawn from the same frames on both engines; once is enough (~8 s)
        at.button(key="dash_pdf_make").click().run()
        assert not at.exception and not at.error, at.exception
        assert at.get("download_button")
        engine = store.get_engine(url)
        exports = audit.entries(engine, username="demo_finance", action="export")
        engine.dispose()
        assert exports["target"].tolist()[:1] == [f"dashboard:{ids[0]}"]


def test_click_on_one_tile_filters_the_others(monkeypatch, seeded):
    url, ids = seeded
    at = _open(monkeypatch, url, dash=str(ids[0]))
    before = at.metric[0].value
    at.session_state[f"dash_tile_{ids[0]}_1"] = {"selection": {"pick": [{"region": "华东大区"}]}}
    at.run()
    assert not at.exception, at.exception
    after = at.metric[0].value
    assert after != before                                       # the revenue KPI now shows 华东 only
    assert any("区域 属于 华东大区" in c.value for c in at.caption)  # and says so under the tile
    chip = at.button(key=f"dash_chip_{ids[0]}_1")
    assert "华东大区" in chip.label
    chip.click().run()
    assert at.metric[0].value == before


def test_presentation_mode_shows_one_tile_and_moves(monkeypatch, seeded):
    url, ids = seeded
    at = _open(monkeypatch, url, dash=str(ids[1]), present="1")
    assert not at.title                                   # no dashboard chrome, one tile
    assert len(_charts(at)) == 1
    assert at.button(key="dash_prev").disabled
    at.button(key="dash_next").click().run()
    assert at.session_state["dash_slide"] == 1 and at.query_params["tile"] == "1"
    assert len(_charts(at)) == 1
    at.button(key="dash_next").click().run()
    at.button(key="dash_next").click().run()
    assert at.session_state["dash_slide"] == 3 and at.button(key="dash_next").disabled
    at.button(key="dash_prev").click().run()
    assert at.session_state["dash_slide"] == 2
    assert any("毛利前十" in i.value for i in at.info)            # the tile's note
    assert any("近" in c.value or "本年至今" in c.value for c in at.caption)  # the filters as a subtitle
    at.toggle(key="dash_present_off").set_value(False).run()
    assert at.title[0].value == "销售与毛利" and "present" not in at.query_params
    at.toggle(key="dash_present_on").set_value(True).run()              # and back into the meeting
    assert not at.title and at.query_params["present"] == "1"


def test_saved_chart_appears_and_owner_edits(monkeypatch, seeded):
    url, ids = seeded
    engine = store.get_engine(url)
    east = auth.load_user(engine, "demo_east")
    chart = ChartSpec(QuerySpec(("revenue",), ("channel",)), Mark.BAR, columns=(Field("channel"),), rows=(Field("revenue"),),
                      title="渠道收入")
    new_id = dashboards.save_chart(engine, east, None, "我的看板", chart)
    engine.dispose()
    at = _open(monkeypatch, url, user="demo_east", dash=str(new_id))
    assert at.title[0].value == "我的看板"
    assert "渠道收入" in [m.value.strip("*") for m in at.markdown]
    at.toggle(key="dash_edit").set_value(True).run()
    at.text_input(key=f"dash_edit_{new_id}_0_note").input("华东渠道").run()
    assert not at.exception, at.exception
    assert any(i.value == "华东渠道" for i in at.info)
    at.segmented_control(key=f"dash_edit_{new_id}_0_width").set_value(3).run()
    assert not at.exception, at.exception
    engine = store.get_engine(url)
    tile = dashboards.get(engine, east, new_id).tiles[0]
    engine.dispose()
    assert (tile.width, tile.note) == (3, "华东渠道")
    # someone else's shared dashboard: view only, no edit switch
    at.selectbox(key="dash_pick").set_value(ids[0]).run()
    assert not at.exception, at.exception
    assert "dash_edit" not in [tg.key for tg in at.toggle]
