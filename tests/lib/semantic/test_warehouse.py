"""A warehouse holding the facts: the same figures as the store alone, scopes applied inside each engine, and a
question spanning the warehouse and the store (actuals vs budget) aggregated on each and joined locally.

The Spark tests read the run's one Thrift Server (tests/spark.py); the split itself is also checked on both
stores with a second DuckDB standing in as the warehouse (no Spark needed).
"""
from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lib.access import auth
from lib.access.scope import Scope, User
from lib.core import store, warehouse
from lib.core.errors import Forbidden, StoreUnavailable
from lib.finance import budget, cockpit, margin
from lib.ingest import publish
from lib.performance.alerts import admin as alert_admin
from lib.performance.alerts import rules as alert_rules
from lib.performance.scorecards import center as scorecard
from lib.semantic import query
from lib.semantic.spec import Comparison, FilterSpec, InvalidSpec, QuerySpec, Sort, TimeRange

RANGE = TimeRange(dt.date(2025, 1, 1), dt.date(2026, 9, 30))


def same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    """Equal frames: the same keys, and every figure equal to a millionth (money to the fen and beyond)."""
    assert list(a.columns) == list(b.columns)
    a = a.sort_values(keys, kind="stable").reset_index(drop=True)
    b = b.sort_values(keys, kind="stable").reset_index(drop=True)
    assert len(a) == len(b)
    for c in a.columns:
        if c in keys or not pd.api.types.is_numeric_dtype(a[c]):
            left = pd.to_datetime(a[c]) if pd.api.types.is_datetime64_any_dtype(a[c]) else a[c].astype(object)
            right = pd.to_datetime(b[c]) if pd.api.types.is_datetime64_any_dtype(a[c]) else b[c].astype(object)
            assert left.where(left.notna(), None).tolist() == right.where(right.notna(), None).tolist(), c
        else:
            x, y = a[c].astype(float).to_numpy(), b[c].astype(float).to_numpy()
            assert np.allclose(x, y, rtol=1e-9, atol=1e-6, equal_nan=True), (c, a[c].tolist(), b[c].tolist())


def every_metric() -> list[tuple[str, tuple[str, ...]]]:
    """Every metric, in as few questions as compile: at quarter × region, and at month × region those whose
    own comparison is a month (MoM)."""
    at_quarter, at_month = [], []
    for mid in sorted(query.default_model().metrics):
        try:
            query.compile(QuerySpec((mid,), ("quarter", "region"), time_range=RANGE))
            at_quarter.append(mid)
        except InvalidSpec:
            at_month.append(mid)
    assert len(at_quarter) > 30 and len(at_month) <= 2
    return [(tuple(at_quarter), ("quarter", "region")), (tuple(at_month), ("month", "region"))]


# ---- on Spark ---------------------------------------------------------------------------------

@pytest.mark.parametrize("comparison", [None, Comparison.YOY], ids=["plain", "yoy"])
def test_every_metric_at_quarter_by_region_is_the_embedded_answer(spark_store, comparison):
    wh_store, alone = spark_store
    for metrics, dims in every_metric():
        spec = QuerySpec(metrics, dims, time_range=RANGE, comparison=comparison)
        got, expected = query.run(wh_store, spec), query.run(alone, spec)
        assert len(expected) >= 7 * 4 and expected.notna().any().all()   # the demo's regions, every period
        same(got, expected, list(dims))


def test_the_warehouse_part_runs_on_spark_in_its_own_sql(spark_store):
    wh_store, _ = spark_store
    only_facts = query.sql_text(QuerySpec(("revenue",), ("month", "region"), time_range=RANGE), wh_store)
    assert "`b`" in only_facts and '"' not in only_facts.replace("'∅'", "")   # Spark quoting, no ANSI names
    assert "AS STRING" in only_facts and "AS VARCHAR" not in only_facts
    both = query.sql_text(QuerySpec(("actual", "budget"), ("month",), time_range=TimeRange(
        dt.date(2026, 1, 1), dt.date(2026, 6, 30))), wh_store)
    assert "-- u1: store (duckdb)" in both and "-- u0: warehouse (hive)" in both and "joined locally over u0, u1" in both


def test_a_dept_head_reads_only_their_units_from_the_warehouse(spark_store):
    wh_store, alone = spark_store
    east = auth.load_user(alone, "demo_east")
    spec = QuerySpec(("revenue", "opex", "ar_balance", "inventory_value", "budget_variance"), ("month", "department"),
                     time_range=TimeRange(dt.date(2026, 1, 1), dt.date(2026, 6, 30)))
    got = query.run(wh_store, spec, user=east)
    same(got, query.run(alone, spec, user=east), ["month", "department"])
    everyone = query.run(alone, spec)
    assert set(got["department"]) < set(everyone["department"])
    # Asking for another region's rows by name returns nothing, on the warehouse as on the store.
    west = query.run(wh_store, QuerySpec(("revenue",), ("region",), (FilterSpec("region", "eq", ("西南大区",)),)),
                     user=east)
    assert west.empty
    # A region's units written into the filter can't widen the scope either; the values a filter offers stay his.
    assert set(query.dimension_values(wh_store, "region", east)) == set(query.dimension_values(alone, "region", east))
    assert len(query.dimension_values(wh_store, "region", east)) == 1


def test_row_denials_hold_on_the_warehouse(spark_store):
    wh_store, alone = spark_store
    viewer = auth.load_user(alone, "demo_viewer")
    with pytest.raises(Forbidden):
        query.run(wh_store, QuerySpec(("gross_margin",)), user=viewer)
    spec = QuerySpec(("revenue", "dso"), ("quarter", "region"), time_range=RANGE)
    same(query.run(wh_store, spec, user=viewer), query.run(alone, spec, user=viewer), ["quarter", "region"])


def test_budget_vs_actual_spans_both_connections(spark_store):
    wh_store, alone = spark_store
    month = dt.date(2026, 6, 1)
    for by in ((), ("region",), ("region", "account_type")):
        got = budget.variance(lambda s: query.run(wh_store, s), month, by)
        want = budget.variance(lambda s: query.run(alone, s), month, by)
        for part in ("month_rows", "ytd_rows", "totals"):
            g, w = getattr(got, part).reset_index(drop=True), getattr(want, part).reset_index(drop=True)
            pd.testing.assert_frame_equal(g, w, check_dtype=False, rtol=1e-9, atol=1e-6)
        assert len(got.month_rows) and got.month_rows["budget"].abs().sum() > 0


def test_the_cockpit_shows_the_same_figures(spark_store):
    wh_store, alone = spark_store
    # The whole company here; a dept head's cockpit is the app's own, in tests/pages/test_warehouse_page.py.
    for user in (None,):
        got = cockpit.build(lambda s, u=user: query.run(wh_store, s, user=u))
        want = cockpit.build(lambda s, u=user: query.run(alone, s, user=u))
        assert got.month == want.month and [t.key for t in got.tiles] == [t.key for t in want.tiles]
        for g, w in zip(got.tiles, want.tiles):
            assert g.status == w.status, g.key
            assert np.allclose(np.array([g.value, g.target, g.gap, *g.spark], float),
                               np.array([w.value, w.target, w.gap, *w.spark], float), rtol=1e-9, equal_nan=True), g.key
        pd.testing.assert_frame_equal(cockpit.outlook_summary(got.outlook), cockpit.outlook_summary(want.outlook),
                                      rtol=1e-9)


def test_margin_and_its_price_volume_mix_bridge_are_the_same(spark_store):
    wh_store, alone = spark_store
    period = TimeRange(dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    base = margin.comparison_range(period, margin.Compare.YOY)
    runs = [lambda s, e=e: query.run(e, s) for e in (wh_store, alone)]
    for compare in (margin.Compare.YOY, margin.Compare.BUDGET):
        got, want = (margin.load_margin(r, "region", period, compare) for r in runs)
        pd.testing.assert_frame_equal(got.rows, want.rows, check_dtype=False, rtol=1e-9)
    got, want = (margin.load_pvm(r, "category", period, base) for r in runs)
    pd.testing.assert_frame_equal(got.current, want.current, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(got.base, want.base, check_dtype=False, rtol=1e-9)


def test_scorecards_and_alerts_judge_the_same_figures(spark_store):
    wh_store, alone = spark_store
    fin = auth.load_user(alone, "demo_finance")
    got, want = (scorecard.run_evaluation(e, fin, "sales_region", "2026-Q2") for e in (wh_store, alone))
    pd.testing.assert_frame_equal(got.lines, want.lines, check_dtype=False, rtol=1e-9)
    as_of = dt.date(2026, 11, 24)
    judged = 0
    for rule in alert_admin.load_rules_file():
        a, b = (alert_rules.judge(rule, lambda s, e=e: query.run(e, s), as_of) for e in (wh_store, alone))
        assert (a.judged, a.data_end) == (b.judged, b.data_end), rule.name
        assert [(x.member, x.period) for x in a.breaches] == [(x.member, x.period) for x in b.breaches], rule.name
        assert np.allclose([x.value for x in a.breaches], [x.value for x in b.breaches], rtol=1e-9)
        judged += len(a.judged)
    assert judged > 0


# ---- the split on both stores, a second DuckDB as the warehouse ---------------------------------

@pytest.fixture(scope="module")
def duck_warehouse(demo_url, tmp_path_factory):
    """The demo store, with a DuckDB copy of the demo's tables attached as its warehouse (any backend)."""
    target = tmp_path_factory.mktemp("wh") / "wh.duckdb"
    wh = store.get_engine(f"duckdb:///{target}")
    src = store.get_engine(demo_url)
    with wh.connect() as w:
        raw = w.connection.driver_connection
        for name in query.default_model().warehouse_tables():   # Arrow batches, as publish reads them
            t = store.schema.metadata.tables[name]
            data = pa.concat_tables(publish._batches(src, t, publish.arrow_schema(t)))
            raw.register("incoming", data)
            raw.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
            raw.unregister("incoming")
    engine = store.get_engine(demo_url)
    warehouse.attach(engine, wh)
    yield engine, src
    warehouse.detach(engine)
    for e in (engine, src, wh):
        e.dispose()


def test_with_a_warehouse_attached_every_metric_is_the_same(duck_warehouse):
    with_wh, alone = duck_warehouse
    for comparison in (None, Comparison.YOY):
        for metrics, dims in every_metric():
            spec = QuerySpec(metrics, dims, time_range=RANGE, comparison=comparison)
            same(query.run(with_wh, spec), query.run(alone, spec), list(dims))


def test_a_mixed_question_runs_each_part_where_its_data_is(duck_warehouse):
    with_wh, alone = duck_warehouse
    spec = QuerySpec(("budget_execution", "budget_variance", "revenue"), ("month", "region"),
                     time_range=TimeRange(dt.date(2026, 1, 1), dt.date(2026, 9, 30)),
                     sort=(Sort("budget_variance", True),), limit=10)
    same(query.run(with_wh, spec), query.run(alone, spec), ["month", "region"])
    text = query.sql_text(spec, with_wh)
    parts = text.split("\n\n")
    assert parts[-1].startswith("-- joined locally over u0, u1, u2")
    places = {p.split(":")[1].split("(")[0].strip(): p for p in parts[:-1]}
    assert len(parts) == 4 and set(places) == {"store", "warehouse"}
    # Each part reads only its own connection's tables: budgets from the store, facts from the warehouse.
    for p in parts[:-1]:
        assert ("budget_line" in p) == p.split(":")[1].strip().startswith("store")
        assert ("sales_line" in p or "journal_line" in p) != ("budget_line" in p)


def test_the_warehouse_scope_is_the_users(duck_warehouse):
    with_wh, alone = duck_warehouse
    user = User("d", "dept_head", Scope(org_unit_ids=frozenset({5, 7})))
    spec = QuerySpec(("revenue", "budget", "inventory_value", "ar_balance"), ("month",),
                     time_range=TimeRange(dt.date(2026, 1, 1), dt.date(2026, 6, 30)))
    got = query.run(with_wh, spec, user=user)
    same(got, query.run(alone, spec, user=user), ["month"])
    assert (got["revenue"] < query.run(alone, spec)["revenue"]).all()


def test_an_empty_part_keeps_its_types(duck_warehouse):
    with_wh, alone = duck_warehouse
    spec = QuerySpec(("actual", "budget"), ("month", "region"), (FilterSpec("region", "eq", ("没有这个区域",)),),
                     TimeRange(dt.date(2026, 1, 1), dt.date(2026, 3, 31)))
    got = query.run(with_wh, spec)
    assert got.empty and list(got.columns) == list(query.run(alone, spec).columns)


def test_a_warehouse_that_cant_be_reached_says_so_in_both_languages():
    with pytest.raises(StoreUnavailable) as err:
        warehouse.connect("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert "warehouse" in str(err.value) and "数仓" in err.value.message_zh


def test_the_cli_publishes_the_store_and_reports_where_each_dataset_is_read(spark_warehouse, spark_engine, tmp_path,
                                                                          capsys):
    from lib.cli import main as cli

    with spark_engine.connect() as conn:     # a database of its own: the shared tables stay as they are
        conn.exec_driver_sql("CREATE DATABASE IF NOT EXISTS cli_publish")
    to = spark_warehouse.url.rsplit("/", 1)[0] + "/cli_publish"
    store_file = tmp_path / "wb.duckdb"
    shutil.copyfile(spark_warehouse.store_file, store_file)
    url = f"duckdb:///{store_file}"
    assert cli.main(["--url", url, "warehouse", "publish", "--to", to, "--dir", str(tmp_path / "tables")]) == 0
    out = capsys.readouterr().out
    assert "sales_line" in out and "20,000 rows" in out and "published 8 tables" in out
    assert cli.main(["--url", url, "warehouse", "status", "--to", to]) == 0
    out = capsys.readouterr().out
    assert "budget       budget_line          read from the store" in out
    assert "sales        sales_line           read from the warehouse" in out
    assert "differs" not in out and "warehouse       20,000" in out
    # Publishing again replaces the files: one folder per table remains.
    assert cli.main(["--url", url, "warehouse", "publish", "--to", to, "--dir", str(tmp_path / "tables")]) == 0
    assert len(list((tmp_path / "tables").glob("sales_line__*"))) == 1
    assert cli.main(["--url", url, "warehouse", "publish", "--to", to, "--dir", str(tmp_path / "x'y")]) == 2
    assert "may hold only letters" in capsys.readouterr().err
