"""Overview figures: a hand-checkable store, then the demo store against pandas."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from lib.core import schema, store
from lib.finance import overview
from lib.semantic import query
from tests import expected

D = dt.date


def _sales(rows):
    cols = ["order_no", "line_no", "order_date", "org_unit_id", "customer_id", "product_id",
            "quantity", "list_price", "discount_amount", "net_revenue", "cost_amount"]
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})


@pytest.fixture
def tiny(empty_engine):
    """Oct 2025: revenue 100 (two lines), COGS 60, opex 20. Sep 2025: 80 / 50 / 10. Oct 2024: 50 / 30."""
    store.init_schema(empty_engine)
    with empty_engine.begin() as conn:
        store.bulk_load(conn, schema.account, pa.table({
            "code": ["6001", "6601", "660101"], "name": ["收入", "销售费用", "薪酬"],
            "type": ["revenue", "opex", "opex"], "parent_code": [None, None, "6601"]}))
        store.bulk_load(conn, schema.sales_line, _sales([
            ("A", 1, D(2025, 10, 3), 1, 1, 1, 2.0, 35.0, 10.0, 60.0, 35.0),
            ("B", 1, D(2025, 10, 31), 1, 1, 1, 1.0, 40.0, 0.0, 40.0, 25.0),
            ("C", 1, D(2025, 9, 15), 1, 1, 1, 2.0, 40.0, 0.0, 80.0, 50.0),
            ("D", 1, D(2024, 10, 15), 1, 1, 1, 1.0, 50.0, 0.0, 50.0, 30.0),
        ]))
        store.bulk_load(conn, schema.journal_line, pa.table({
            "entry_no": ["J1", "J2", "J3"], "line_no": [1, 1, 1],
            "posting_date": [D(2025, 10, 31), D(2025, 9, 30), D(2025, 10, 31)],
            "account_code": ["660101", "660101", "6001"], "org_unit_id": [1, 1, 1],
            "amount": [20.0, 10.0, 100.0]}))
        store.refresh_org_flat(conn)
    return empty_engine


def runner(engine):
    return lambda spec: query.run(engine, spec)


def test_known_values_on_a_hand_checkable_store(tiny):
    o = overview.build(runner(tiny))
    assert o.month == D(2025, 10, 1)
    k = {x.key: x for x in o.kpis}
    assert k["revenue"].value == pytest.approx(100.0)
    assert k["revenue"].mom == pytest.approx(0.25)             # 100 vs 80
    assert k["revenue"].yoy == pytest.approx(1.0)              # 100 vs 50
    assert k["gross_profit"].value == pytest.approx(40.0)
    assert k["gross_margin"].value == pytest.approx(0.40)      # 40 / 100, not the mean of 42%/37.5%
    assert k["gross_margin"].mom == pytest.approx(0.40 - 30 / 80)  # +2.5 pp
    assert k["gross_margin"].yoy == pytest.approx(0.40 - 20 / 50)  # 0 pp
    assert k["opex"].value == pytest.approx(20.0)              # revenue account 6001 not counted
    assert k["opex"].mom == pytest.approx(1.0)
    assert k["opex"].yoy is None                               # nothing posted a year ago
    assert k["operating_profit"].value == pytest.approx(20.0)
    assert not k["opex"].higher_is_better


def test_an_incomplete_month_is_not_the_latest_complete_month(tiny):
    with tiny.begin() as conn:
        store.bulk_load(conn, schema.sales_line, _sales([("E", 1, D(2025, 11, 5), 1, 1, 1, 1.0, 9.0, 0.0, 9.0, 4.0)]))
    assert overview.latest_complete_month(runner(tiny)) == D(2025, 10, 1)


def test_no_sales_no_overview(empty_engine):
    store.init_schema(empty_engine)
    assert overview.build(runner(empty_engine)) is None


def test_demo_overview_equals_pandas(demo_engine, demo_tables):
    month, cur, prev, ly = expected.overview(demo_tables)
    o = overview.build(runner(demo_engine))
    assert o.month == month.to_timestamp().date()
    for k in o.kpis:
        assert k.value == pytest.approx(cur[k.key], abs=0.005), k.key
        if k.key == "gross_margin":
            assert k.yoy == pytest.approx(cur[k.key] - ly[k.key], abs=1e-9)
        else:
            assert k.mom == pytest.approx((cur[k.key] - prev[k.key]) / abs(prev[k.key]), rel=1e-9)
    assert len(o.trend) == 24 and o.trend["month"].iloc[-1].date() == o.month
