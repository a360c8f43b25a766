"""lib.core.db.run: one set of dtypes on every engine, a row cap that refuses, a timeout that cancels."""
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.core import db
from lib.core.config import Limits
from lib.core.errors import QueryTimeout, ResultTooLarge
from lib.core.schema import sales_line


def test_dtypes_are_the_same_on_every_engine(demo_engine):
    month = sa.func.date_trunc(sa.literal_column("'month'"), sales_line.c.order_date).label("month")
    stmt = (sa.select(month, sales_line.c.channel, sa.func.sum(sales_line.c.net_revenue).label("revenue"),
                      sa.func.count().label("lines"), sa.func.min(sales_line.c.order_date).label("first"))
            .group_by(month, sales_line.c.channel).order_by(month, sales_line.c.channel))
    df = db.run(demo_engine, stmt)
    assert str(df["month"].dtype).startswith("datetime64") and df["month"].dt.tz is None
    assert df["month"].iloc[0] == pd.Timestamp("2023-01-01")
    assert str(df["first"].dtype).startswith("datetime64")
    assert df["revenue"].dtype == "float64"
    assert isinstance(df["channel"].dtype, pd.StringDtype)
    assert pd.api.types.is_integer_dtype(df["lines"].dtype)


def test_row_cap_refuses_instead_of_truncating(demo_engine):
    stmt = sa.select(sales_line.c.order_no).limit(11)
    assert len(db.run(demo_engine, stmt, Limits(row_cap=11))) == 11
    with pytest.raises(ResultTooLarge, match="more than 10 rows"):
        db.run(demo_engine, stmt, Limits(row_cap=10))


def test_a_slow_query_is_cancelled_with_a_clear_error(empty_engine):
    if empty_engine.dialect.name == "postgresql":
        slow = sa.select(sa.func.pg_sleep(10))
    else:
        slow = sa.text("SELECT count(*) FROM range(100000000000)")
    with pytest.raises(QueryTimeout, match="longer than 0.3 s") as err:
        db.run(empty_engine, slow, Limits(timeout_s=0.3))
    assert "查询超过" in err.value.message("zh")
    # The connection is usable afterwards.
    assert db.run(empty_engine, sa.select(sa.literal(1).label("x")))["x"].iloc[0] == 1


def test_empty_results_keep_their_columns(demo_engine):
    df = db.run(demo_engine, sa.select(sales_line.c.order_no).where(sales_line.c.quantity < 0))
    assert list(df.columns) == ["order_no"] and df.empty
