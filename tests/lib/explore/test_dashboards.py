"""Dashboards (看板): storage and permissions in lib, dashboard and click filters as QuerySpec filters,
the demo dashboards, and each viewer's own row scope on a shared dashboard."""
from __future__ import annotations

import datetime as dt

import pytest

from lib.access import auth
from lib.access.scope import User
from lib.core import store
from lib.core.errors import Forbidden, WorkbenchError
from lib.demo import build as demo
from lib.explore import dashboards as dash
from lib.semantic import query
from lib.semantic.spec import ChartSpec, Field, FilterSpec, Mark, QuerySpec, TimeRange
from tests.conftest import BACKENDS, _new_url

MODEL = query.default_model()
AS_OF = dt.date(2026, 11, 24)
NOV = TimeRange(dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def bar(metric="revenue", dim="region", **kw) -> ChartSpec:
    return ChartSpec(QuerySpec((metric,), (dim,), **kw), Mark.BAR, columns=(Field(dim),), rows=(Field(metric),))


@pytest.fixture(scope="module", params=BACKENDS)
def eng(request, tmp_path_factory):
    """A small demo store of this module's own (it is written to), with the demo users."""
    engine = store.get_engine(_new_url(request.param, tmp_path_factory, request))
    demo.build(engine, rows=demo.MIN_ROWS, as_of=AS_OF)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def users(eng):
    return {name: auth.load_user(eng, f"demo_{name}") for name in ("admin", "finance", "east", "west", "viewer")}


# ---- storage and permissions ---------------------------------------------------------------------

def test_create_append_and_read_back(eng, users):
    fin = users["finance"]
    did = dash.save_chart(eng, fin, None, "  收入看板  ", bar())
    assert dash.save_chart(eng, fin, did, "ignored", bar("gross_margin", "channel")) == did
    d = dash.get(eng, fin, did)
    assert (d.title, d.owner, d.shared) == ("收入看板", "demo_finance", False)
    assert [t.chart for t in d.tiles] == [bar(), bar("gross_margin", "channel")]
    assert [t.width for t in d.tiles] == [1, 1]
    assert d.filters == dash.DashboardFilters()
    assert did in [x.id for x in dash.list_dashboards(eng, fin)]


def test_tile_edits_reorder_resize_note_remove(eng, users):
    fin = users["finance"]
    charts = [bar(), bar("revenue", "channel"), bar("revenue", "category")]
    did = dash.create(eng, fin, "排版", [dash.Tile(c) for c in charts])
    dash.move_tile(eng, fin, did, 2, 0)
    assert [t.chart for t in dash.get(eng, fin, did).tiles] == [charts[2], charts[0], charts[1]]
    dash.resize_tile(eng, fin, did, 1, 3)
    dash.set_note(eng, fin, did, 1, " 华东最高 ")
    d = dash.get(eng, fin, did)
    assert [(t.width, t.note) for t in d.tiles] == [(1, ""), (3, "华东最高"), (1, "")]
    dash.remove_tile(eng, fin, did, 0)
    assert [t.chart for t in dash.get(eng, fin, did).tiles] == [charts[0], charts[1]]
    dash.rename(eng, fin, did, "排版二")
    dash.update(eng, fin, did, {"shared": True, "filters": {"preset": "ytd", "region": ["华东大区"]}})
    d = dash.get(eng, fin, did)
    assert (d.title, d.shared, d.filters) == ("排版二", True, dash.DashboardFilters(dash.TimePreset.YTD, ("华东大区",)))
    assert d.updated_at >= d.created_at


@pytest.mark.parametrize("call, needle", [
    (lambda e, u, d: dash.resize_tile(e, u, d, 0, 4), "1, 2 or 3"),
    (lambda e, u, d: dash.move_tile(e, u, d, 5, 0), "No tile 5"),
    (lambda e, u, d: dash.remove_tile(e, u, d, 1), "No tile 1"),
    (lambda e, u, d: dash.set_note(e, u, d, -1, "x"), "No tile -1"),
    (lambda e, u, d: dash.rename(e, u, d, "   "), "needs a title"),
    (lambda e, u, d: dash.get(e, u, 987654), "No dashboard 987654"),
    (lambda e, u, d: dash.save_chart(e, u, d, "", bar("revenue", "account")), "can't be broken down"),
    (lambda e, u, d: dash.save_chart(e, u, d, "", bar("gross_margn")), "gross_margin"),
    (lambda e, u, d: dash.update(e, u, d, {"filters": {"preset": "forever"}}), "last_12m"),
])
def test_bad_input_is_refused_in_both_languages(eng, users, call, needle):
    fin = users["finance"]
    did = dash.save_chart(eng, fin, None, "坏输入", bar())
    with pytest.raises(WorkbenchError) as err:
        call(eng, fin, did)
    assert needle in err.value.message("en")
    assert err.value.message("zh") != err.value.message("en")
    assert len(dash.get(eng, fin, did).tiles) == 1  # nothing half-written


def test_permissions_are_checked_in_lib(eng, users):
    fin, east, west, viewer, admin = (users[k] for k in ("finance", "east", "west", "viewer", "admin"))
    with pytest.raises(Forbidden):
        dash.save_chart(eng, viewer, None, "只读不能建", bar())
    mine = dash.save_chart(eng, east, None, "华东自用", bar())
    with pytest.raises(Forbidden):                       # private: another dept head can't even see it
        dash.get(eng, west, mine)
    dash.update(eng, east, mine, {"shared": True})
    assert dash.get(eng, west, mine).title == "华东自用"    # shared: visible ...
    for edit in (lambda: dash.rename(eng, west, mine, "抢走"), lambda: dash.remove_tile(eng, west, mine, 0),
                 lambda: dash.save_chart(eng, west, mine, "", bar()), lambda: dash.delete(eng, west, mine),
                 lambda: dash.rename(eng, viewer, mine, "x")):
        with pytest.raises(Forbidden):                   # ... but not editable by others
            edit()
    copy = dash.duplicate(eng, west, mine, "西部的副本")   # they may copy it into their own
    d = dash.get(eng, west, copy)
    assert (d.owner, d.shared, d.tiles) == ("demo_west", False, dash.get(eng, east, mine).tiles)
    with pytest.raises(Forbidden):
        dash.duplicate(eng, viewer, mine, "只读副本")
    dash.rename(eng, admin, mine, "管理员改名")           # admins edit anyone's
    dash.delete(eng, east, mine)
    with pytest.raises(WorkbenchError, match="No dashboard"):
        dash.get(eng, east, mine)
    assert copy in [x.id for x in dash.list_dashboards(eng, west)]
    assert copy not in [x.id for x in dash.list_dashboards(eng, east)]
    assert copy in [x.id for x in dash.list_dashboards(eng, admin)]


# ---- filters -------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset, start, end", [
    ("this_month", "2026-11-01", "2026-11-30"),
    ("this_quarter", "2026-10-01", "2026-12-31"),
    ("ytd", "2026-01-01", "2026-11-30"),
    ("last_12m", "2025-12-01", "2026-11-30"),
    ("last_year_ytd", "2025-01-01", "2025-11-30"),
])
def test_time_presets_are_whole_months(preset, start, end):
    tr = dash.preset_range(dash.TimePreset(preset), AS_OF)
    assert (tr.start.isoformat(), tr.end.isoformat()) == (start, end)


F = dash.DashboardFilters(dash.TimePreset.THIS_MONTH, region=("华东大区",), category=("饮料", "乳制品")).resolved(AS_OF)


@pytest.mark.parametrize("chart, filters, ignored", [
    # sales has region and category: both applied, the dashboard's time range replaces the tile's own
    (bar(time_range=TimeRange(dt.date(2020, 1, 1), dt.date(2020, 12, 31))),
     (FilterSpec("region", "in", ("华东大区",)), FilterSpec("category", "in", ("饮料", "乳制品"))), ()),
    # GL has no category: that filter is ignored (and reported), region applies
    (bar("opex", "expense_type"), (FilterSpec("region", "in", ("华东大区",)),), ("category",)),
    # a tile's own filter is kept and the dashboard's added to it (AND)
    (bar(filters=(FilterSpec("channel", "in", ("电商",)),)),
     (FilterSpec("channel", "in", ("电商",)), FilterSpec("region", "in", ("华东大区",)),
      FilterSpec("category", "in", ("饮料", "乳制品"))), ()),
    # revenue with dso: receivables have no category
    (ChartSpec(QuerySpec(("revenue", "dso")), Mark.KPI), (FilterSpec("region", "in", ("华东大区",)),), ("category",)),
])
def test_apply_filters(chart, filters, ignored):
    out = dash.apply_filters(chart, F, MODEL)
    assert out.query.filters == filters
    assert out.query.time_range == NOV
    assert dash.ignored_filters(chart, F, MODEL) == ignored
    assert (out.mark, out.columns, out.rows) == (chart.mark, chart.columns, chart.rows)


def test_cross_filter():
    event = {"selection": {"pick": [{"region": "华东大区"}, {"region": "西部大区"}]}}
    sel = dash.selection_values(event)
    assert sel == {"region": ("华东大区", "西部大区")}
    assert dash.cross_filter(bar("revenue", "channel"), sel, MODEL).query.filters == (
        FilterSpec("region", "in", ("华东大区", "西部大区")),)
    # inventory has no channel: a click on a channel leaves it alone
    inv = bar("inventory_value", "category")
    assert dash.cross_filter(inv, {"channel": ("电商",)}, MODEL) == inv
    # a clicked time bucket (its label, or epoch milliseconds from a temporal axis) becomes that bucket's range
    ms = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp() * 1000)
    opex = bar("opex", "expense_type")
    for grain, value, start, end in (("month", ms, "2026-03-01", "2026-03-31"), ("month", "2026-03", "2026-03-01", "2026-03-31"),
                                     ("quarter", "2025-Q4", "2025-10-01", "2025-12-31"), ("year", "2025", "2025-01-01", "2025-12-31")):
        out = dash.cross_filter(opex, dash.selection_values({"selection": {"pick": [{grain: value}]}}), MODEL)
        assert out.query.time_range == TimeRange(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    assert dash.cross_filter(opex, {"month": ("not a month",)}, MODEL) == opex
    assert dash.selection_values(None) == {} and dash.selection_values({"selection": {"pick": []}}) == {}


# ---- demo dashboards and scope -------------------------------------------------------------------

def test_every_demo_tile_runs_on_the_demo_store(demo_engine):
    fin = auth.load_user(demo_engine, "demo_finance")
    run = lambda spec: query.run(demo_engine, spec, fin, MODEL)  # noqa: E731
    as_of = dash.latest_month(run)
    assert as_of == dt.date(2026, 11, 1)
    declared = dash.load_demo()
    assert [d["title"] for d in declared] == ["经营总览", "销售与毛利", "费用与预算"]
    for raw in declared:
        filters = dash.DashboardFilters.from_dict(raw.get("filters")).resolved(as_of)
        for tile in (dash.Tile.from_dict(t) for t in raw["tiles"]):
            df = run(dash.apply_filters(tile.chart, filters, MODEL).query)
            assert len(df) > 0 and df[list(tile.chart.query.metrics)].notna().any().all(), (raw["title"], tile.chart)


def test_seed_demo_is_idempotent(eng, users):
    first = dash.seed_demo(eng)
    assert dash.seed_demo(eng) == first and len(set(first)) == 3
    seen = {d.title: d for d in dash.list_dashboards(eng, users["viewer"])}
    assert {"经营总览", "销售与毛利", "费用与预算"} <= set(seen)
    assert seen["经营总览"].owner == "demo_finance" and seen["经营总览"].shared
    assert len(seen["经营总览"].tiles) == 6 and len(seen["销售与毛利"].tiles) == 4 and len(seen["费用与预算"].tiles) == 3


def test_a_dept_head_sees_the_shared_overview_in_their_scope(eng, users):
    overview = dash.seed_demo(eng)[0]
    east, fin = users["east"], users["finance"]
    d = dash.get(eng, east, overview)
    filters = d.filters.resolved(AS_OF)
    by_region = dash.apply_filters(d.tiles[1].chart, filters, MODEL)     # revenue by region
    seen = query.run(eng, by_region.query, east, MODEL)
    assert seen["region"].tolist() == ["华东大区"]
    everyone = query.run(eng, by_region.query, fin, MODEL).set_index("region")["revenue"]
    assert len(everyone) > 1
    assert seen["revenue"].iloc[0] == pytest.approx(everyone["华东大区"])
    kpi = dash.apply_filters(d.tiles[2].chart, filters, MODEL)            # the revenue KPI: east's total only
    assert query.run(eng, kpi.query, east, MODEL)["revenue"].iloc[0] == pytest.approx(everyone["华东大区"])


def test_viewer_cannot_see_cost_tiles():
    viewer = User("v", "viewer", denied_metrics=frozenset({"cogs", "actual"}))
    chart = dash.Tile.from_dict(dash.load_demo()[0]["tiles"][3]).chart   # gross margin KPI
    with pytest.raises(Forbidden):
        query.compile(chart.query, viewer, MODEL)
