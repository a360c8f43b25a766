"""The analysis date: a month counts as complete only when the clock has passed it and the data reaches its end."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from lib.core import schema, store
from lib.finance import overview
from lib.semantic import asof, query

D = dt.date


def _daily_sales(engine, first: dt.date, last: dt.date) -> None:
    """One order line of 10 yuan a day from ``first`` to ``last``."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    n = len(days)
    store.init_schema(engine)
    with engine.begin() as conn:
        store.bulk_load(conn, schema.sales_line, pa.table({
            "order_no": [f"SO{i}" for i in range(n)], "line_no": [1] * n, "order_date": days,
            "org_unit_id": [1] * n, "customer_id": [1] * n, "product_id": [1] * n, "quantity": [1.0] * n,
            "list_price": [10.0] * n, "discount_amount": [0.0] * n, "net_revenue": [10.0] * n,
            "cost_amount": [6.0] * n}))
        store.refresh_org_flat(conn)


CASES = [  # (what, data from, data to, today, expected data end, expected complete month, days stale)
    ("data up to yesterday", D(2026, 9, 1), D(2026, 11, 30), D(2026, 12, 1), D(2026, 11, 30), D(2026, 11, 1), 0),
    ("the load stopped a week before month end", D(2026, 9, 1), D(2026, 11, 23), D(2026, 12, 1),
     D(2026, 11, 23), D(2026, 10, 1), 7),
    ("rows dated after today are not data yet", D(2026, 9, 1), D(2026, 11, 30), D(2026, 11, 15),
     D(2026, 11, 14), D(2026, 10, 1), 0),
    ("a 1 January reads the whole December", D(2026, 9, 1), D(2026, 12, 31), D(2027, 1, 1),
     D(2026, 12, 31), D(2026, 12, 1), 0),
    ("data that starts mid-month has no complete month yet", D(2026, 11, 5), D(2026, 11, 23), D(2026, 11, 24),
     D(2026, 11, 23), None, 0),
]


@pytest.mark.parametrize("what,first,last,today,end,month,stale", CASES, ids=[c[0] for c in CASES])
def test_the_analysis_date(empty_engine, what, first, last, today, end, month, stale):
    _daily_sales(empty_engine, first, last)
    run = lambda spec: query.run(empty_engine, spec)  # noqa: E731
    a = asof.read(run, today=today)
    assert (a.today, a.data_start, a.data_end, a.month, a.stale_days) == (today, first, end, month, stale)
    assert overview.latest_complete_month(run, today) == month


def test_the_caption_says_what_the_figures_stand_on():
    a = asof.AsOf(D(2026, 12, 1), D(2025, 1, 1), D(2026, 11, 23))
    assert a.caption("zh") == ("数据截至 2026-11-23 · 最近完整月份 2026-10 · 今天 2026-12-01"
                               "（数据比昨天晚 7 天：最近一次导入可能中断）")
    assert a.caption("en").startswith("Data up to 2026-11-23 · latest complete month 2026-10 · today 2026-12-01")
    assert asof.AsOf(D(2026, 12, 1), D(2026, 11, 2), D(2026, 11, 30)).caption("zh") == \
        "数据截至 2026-11-30 · 最近完整月份 2026-11 · 今天 2026-12-01"
    assert asof.AsOf(D(2026, 12, 1), None, None).caption("en") == "No data before today (2026-12-01)."


def test_an_empty_store_has_no_analysis_date(empty_engine):
    store.init_schema(empty_engine)
    a = asof.read(lambda spec: query.run(empty_engine, spec), today=D(2026, 12, 1))
    assert (a.data_start, a.data_end, a.month) == (None, None, None)
