"""Every URL parameter is data, never a crash: the links found to crash a page, and random and hostile values
thrown at every parameter of every page that reads st.query_params (Explore, dashboards, the metric center).

A page may say that it ignored something; it may never show a traceback."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.explore import dashboards
from tests.pages.conftest import open_app

PAGES = {
    "pages/explore.py": ("c", "r", "co", "sz", "fa", "tt", "mk", "fl", "tr", "so", "top"),
    "pages/dashboards.py": ("dash", "present", "tile"),
    "pages/metrics.py": ("metric",),
}
FOUND = [  # the seven links of the issue, each with what it broke
    ("pages/dashboards.py", {"dash": "²"}),                                   # int() of a Unicode digit
    ("pages/dashboards.py", {"dash": "1", "present": "1", "tile": "¹"}),
    ("pages/explore.py", {"r": "revenue", "c": "region", "top": "²"}),
    ("pages/explore.py", {"r": "revenue", "c": "region", "fl": '[["revenue","gte",["abc"]]]'}),   # text bound
    ("pages/explore.py", {"r": "revenue", "c": "region", "fl": '[["revenue","between",[]]]'}),    # empty
    ("pages/explore.py", {"r": "revenue", "c": "region", "fl": '[["revenue","lte",[null]]]'}),    # null bound
    ("pages/explore.py", {"r": "revenue", "c": "day", "co": "product", "mk": "line"}),   # Altair's MaxRowsError
]
HOSTILE = ["", " ", "²", "¹", "٣", "-1", "0", "1e9", "99999999999999999999", "NaN", "inf", "null", "[]", "{}",
           "[[]]", "[null]", '[["revenue","between",["a",null]]]', '[["region","eq",[]]]', '[["region","in",[[1]]]]',
           '[["revenue","gte",[true]]]', '[["revenue","between",[5,1]]]', '[[1,2,3]]', '[["region","gt",[null]]]',
           '[["month","in",["x"]]]', '{"a":1}', "revenue,revenue", "revenue:nope", "day,month", "product",
           "revenue,gross_margin:yoy", "-revenue", "2025-13-01~2025-01-01", "2025-02-30~2025-03-01",
           "0001-01-01~9999-12-31", "2025-01-01~", "~", "$\\Huge 紧急$", "http://evil.example", "<script>x</script>",
           "%00", "\x00", "\u202e", "a" * 3000, "1,2,3", "pie", "kpi", "pivot", "table", "heatmap", "1", "2", "3"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A small demo store (DuckDB: the parsing under test is the same on both stores) with the demo dashboards."""
    import datetime as dt

    from lib.core import store
    from lib.demo import build as demo
    url = f"duckdb:///{tmp_path_factory.mktemp('hostile') / 'wb.duckdb'}"
    engine = store.get_engine(url)
    demo.build(engine, rows=demo.MIN_ROWS, as_of=dt.date(2026, 11, 24))
    dashboards.seed_demo(engine)
    engine.dispose()
    return url


def _visit(at, page: str, params: dict[str, str]):
    at.query_params.clear()
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page).run()
    assert not at.exception, (page, params, [e.value for e in at.exception])
    return at


@pytest.mark.parametrize("page, params", FOUND, ids=[f"{p.split('/')[-1]}?{'&'.join(q)}" for p, q in FOUND])
def test_the_links_that_crashed_a_page_now_show_a_message(monkeypatch, seeded, page, params):
    if params.get("c") == "day":   # the small store has fewer daily rows by product than a chart may draw
        from lib.explore import charts
        monkeypatch.setattr(charts, "MAX_POINTS", 500)
    at = _visit(open_app(monkeypatch, seeded), page, params)
    said = [w.value for w in at.warning] + [e.value for e in at.error]
    assert said, "a dropped part of a link is said, not silently ignored"


def _value():
    filters = st.lists(st.tuples(st.sampled_from(["region", "revenue", "gross_margin", "month", "x", 1]),
                                 st.sampled_from(["eq", "in", "not_in", "gte", "lte", "between", "gt", "??"]),
                                 st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                                                    st.floats(allow_nan=True)), max_size=3)), max_size=3)
    return st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40),
                     st.integers(min_value=-10**12, max_value=10**12).map(str),
                     filters.map(lambda fs: json.dumps([list(f) for f in fs], ensure_ascii=False)))


@pytest.mark.parametrize("page", list(PAGES))
def test_random_and_hostile_parameters_never_reach_the_page_as_an_exception(monkeypatch, seeded, page):
    at = open_app(monkeypatch, seeded, user="demo_east")   # a scoped reader: the refusals are on the path too
    keys = PAGES[page]

    @settings(max_examples={"pages/explore.py": 24}.get(page, 10), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(keys), _value(), min_size=1, max_size=len(keys)))
    def visit(params):
        _visit(at, page, params)
    visit()
