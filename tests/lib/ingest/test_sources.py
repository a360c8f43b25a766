"""Database sources: read-only queries, secrets kept out of the store, and sync against a PostgreSQL "ERP"."""
from __future__ import annotations

import datetime as dt
import os
import stat
import uuid

import pytest
import sqlalchemy as sa

from lib.access import auth
from lib.core import config, schema, store
from lib.core.errors import Forbidden, InvalidArgument, WorkbenchError
from lib.core.tables import sources as source_tables
from lib.ingest import batch as ingest
from lib.ingest import sources
from lib.ingest import sync as source_sync
from tests.conftest import PG_URL


@pytest.mark.parametrize("sql, ok", [
    ("select a, b from t where b > 1", True),
    ("with c as (select 1 as a) select a from c", True),
    ("select a from t union all select a from u", True),
    ("SELECT 单号 AS doc_no FROM erp.so_line WHERE 状态 = '已审核'", True),
    ("select 1; drop table t", False),
    ("delete from t", False),
    ("update t set a = 1", False),
    ("insert into t values (1)", False),
    ("select a into b from t", False),
    ("select a from t for update", False),
    ("select pg_sleep(10)", False),
    ("select set_config('x', 'y', false)", False),
    ("select * from dblink('x', 'delete from t') as r(a int)", False),
    ("copy t to stdout", False),
    ("select * from read_csv('/etc/passwd')", False),
    ("select * from glob('*')", False),
    ("", False),
])
def test_check_query(sql, ok):
    if ok:
        assert sources.check_query(sql, "postgresql")
    else:
        with pytest.raises(InvalidArgument):
            sources.check_query(sql, "postgresql")


@pytest.fixture
def secrets_file(tmp_path, monkeypatch):
    path = tmp_path / ".streamlit" / "secrets.toml"
    path.parent.mkdir()
    path.write_text('[auth]\ncookie_key = "k"\n', encoding="utf-8")
    monkeypatch.setattr(config, "SECRETS_FILE", path)
    return path


def test_secret_written_0600_and_read_back(secrets_file, monkeypatch):
    url = 'postgresql+psycopg://erp:p"a\\ss@db:5432/erp'
    sources.write_secret("erp", url)
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    assert sources.url_of("erp") == url
    assert 'cookie_key = "k"' in secrets_file.read_text(encoding="utf-8")
    sources.write_secret("erp", "duckdb:///x.duckdb")  # replaced in place, not appended twice
    assert secrets_file.read_text(encoding="utf-8").count("[sources.erp]") == 1
    assert sources.url_of("erp") == "duckdb:///x.duckdb"
    monkeypatch.setenv("WORKBENCH_SOURCE_ERP_URL", "duckdb:///from-env.duckdb")
    assert sources.url_of("erp") == "duckdb:///from-env.duckdb"
    with pytest.raises(WorkbenchError, match="WORKBENCH_SOURCE_CRM_URL"):
        sources.url_of("crm")
    with pytest.raises(InvalidArgument):
        sources.write_secret("bad]name", "x")


def test_file_databases_are_refused_unless_allowed(secrets_file, monkeypatch, tmp_path):
    """A DuckDB/SQLite source could read any file the app can read: refused unless the operator allows it."""
    sources.write_secret("local", f"duckdb:///{tmp_path / 'erp.duckdb'}")
    monkeypatch.delenv(sources.ALLOW_FILES_ENV, raising=False)
    with pytest.raises(InvalidArgument, match=sources.ALLOW_FILES_ENV):
        sources.check_connection("local")
    monkeypatch.setenv(sources.ALLOW_FILES_ENV, "1")
    assert sources.check_connection("local") == "duckdb"


# ---- sync against an ERP ------------------------------------------------------------------------

ERP_DDL = """
CREATE TABLE so_line (
  doc_no varchar(20), line_no int, doc_date date, dept varchar(20), cust_code varchar(20), cust_name varchar(50),
  sku varchar(20), sku_name varchar(50), qty numeric(12,3), price numeric(12,4), disc numeric(12,2),
  amount numeric(14,2), cost numeric(14,2), updated_at timestamp)
"""
T0 = dt.datetime(2026, 3, 1, 9, 0, 0)
COLS = ("doc_no", "line_no", "doc_date", "dept", "cust_code", "cust_name", "sku", "sku_name", "qty", "price",
        "disc", "amount", "cost", "updated_at")


def _row(doc, line, day, qty, price, cost, minutes, cust="C1", sku="P1"):
    return dict(zip(COLS, (doc, line, dt.date(2026, 2, day), "EAST", cust, f"客户{cust}", sku, f"产品{sku}",
                           qty, price, 0, qty * price, cost, T0 + dt.timedelta(minutes=minutes))))


@pytest.fixture
def erp_url():
    """A throw-away PostgreSQL database standing in for the ERP's reporting replica."""
    if not PG_URL:
        pytest.skip("WORKBENCH_TEST_PG_URL not set: the ERP source test needs a PostgreSQL server")
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"wberp_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    erp = sa.create_engine(url)
    with erp.begin() as conn:
        conn.exec_driver_sql(ERP_DDL)
    erp.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _erp(url: str, sql: str, rows=()):
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text(sql), list(rows)) if rows else conn.execute(sa.text(sql))
    eng.dispose()


INSERT = f"INSERT INTO so_line ({', '.join(COLS)}) VALUES ({', '.join(':' + c for c in COLS)})"
MAPPING = {"order_no": "doc_no", "line_no": "line_no", "order_date": "doc_date", "org_unit": "dept",
           "customer": "cust_code", "customer_name": "cust_name", "product": "sku", "product_name": "sku_name",
           "quantity": "qty", "list_price": "price", "discount_amount": "disc", "net_revenue": "amount",
           "cost_amount": "cost"}


@pytest.fixture
def store_engine(empty_engine, secrets_file):
    store.init_schema(empty_engine)
    with empty_engine.begin() as conn:
        source_tables.create_tables(conn)  # until migration 8 is in lib/core/store.py
        conn.execute(schema.org_unit.insert(), [{"id": 1, "code": "HQ", "name": "总部", "kind": "company"},
                                                {"id": 2, "code": "EAST", "name": "华东", "kind": "region",
                                                 "parent_id": 1}])
        store.refresh_org_flat(conn)
    auth.add_user(empty_engine, "fin", "finance", "finance-pass-123")
    auth.add_user(empty_engine, "east", "dept_head", "east-pass-1234", orgs=["EAST"])
    return empty_engine


def _state(engine):
    """Row count and a checksum of the sales lines, and the feed's watermark."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.sales_line.c.order_no, schema.sales_line.c.line_no,
                                      schema.sales_line.c.quantity, schema.sales_line.c.net_revenue,
                                      schema.sales_line.c.cost_amount)
                            .order_by(schema.sales_line.c.order_no, schema.sales_line.c.line_no)).all()
    return [(r[0], r[1], float(r[2]), float(r[3]), float(r[4])) for r in rows]


def test_register_keeps_the_url_out_of_the_store(store_engine, erp_url, secrets_file):
    fin, east = auth.load_user(store_engine, "fin"), auth.load_user(store_engine, "east")
    with pytest.raises(Forbidden):
        sources.register(store_engine, east, "erp", erp_url)
    src = sources.register(store_engine, fin, "erp", erp_url, note="用友 U8 报表库")
    assert (src.secret_ref, src.dialect) == ("secrets:sources.erp.url", "postgresql")
    with store_engine.connect() as conn:
        stored = " ".join(str(v) for r in conn.execute(sa.select(source_tables.source)).all() for v in r)
    assert sa.engine.make_url(erp_url).host not in stored and "postgresql+psycopg" not in stored
    assert sources.url_of("erp") == erp_url
    with pytest.raises(InvalidArgument):  # a query that writes is refused when the feed is saved
        sources.set_feed(store_engine, fin, "erp", "sales_line", MAPPING, "updated_at",
                         query="delete from so_line returning *")


def test_sync_initial_incremental_and_refused(store_engine, erp_url):
    fin = auth.load_user(store_engine, "fin")
    _erp(erp_url, INSERT, [_row("SO1", 1, 3, 2, 50.0, 60.0, 1), _row("SO1", 2, 3, 1, 30.0, 20.0, 2),
                           _row("SO2", 1, 10, 4, 25.0, 70.0, 3, cust="C2", sku="P2")])
    sources.register(store_engine, fin, "erp", erp_url)
    sources.set_feed(store_engine, fin, "erp", "sales_line", MAPPING, "updated_at",
                     query="SELECT * FROM so_line WHERE doc_no LIKE 'SO%'", options={"create_missing": True})

    first = source_sync.sync(store_engine, fin, "erp", "sales_line")
    assert (first.rows, first.replaced) == (3, 0)
    assert _state(store_engine) == [("SO1", 1, 2.0, 100.0, 60.0), ("SO1", 2, 1.0, 30.0, 20.0),
                                    ("SO2", 1, 4.0, 100.0, 70.0)]
    assert sources.get_feed(store_engine, "erp", "sales_line").watermark == "datetime:2026-03-01T09:03:00"

    # At the source: a new line, and SO1/1 changed (quantity 2 → 3) with a newer updated_at.
    _erp(erp_url, INSERT, [_row("SO3", 1, 20, 1, 80.0, 50.0, 4)])
    _erp(erp_url, "UPDATE so_line SET qty = 3, amount = 150, cost = 90, updated_at = :t "
                  "WHERE doc_no = 'SO1' AND line_no = 1", [{"t": T0 + dt.timedelta(minutes=5)}])
    second = source_sync.sync(store_engine, fin, "erp", "sales_line")
    assert (second.rows, second.replaced) == (2, 1)
    assert _state(store_engine) == [("SO1", 1, 3.0, 150.0, 90.0), ("SO1", 2, 1.0, 30.0, 20.0),
                                    ("SO2", 1, 4.0, 100.0, 70.0), ("SO3", 1, 1.0, 80.0, 50.0)]
    assert sources.get_feed(store_engine, "erp", "sales_line").watermark == "datetime:2026-03-01T09:05:00"

    hist = ingest.history(store_engine)
    assert list(hist["kind"]) == ["sync", "sync"] and list(hist["rows"]) == [2, 3]
    with pytest.raises(Forbidden):
        source_sync.sync(store_engine, auth.load_user(store_engine, "east"), "erp", "sales_line")
    nothing = source_sync.sync(store_engine, fin, "erp", "sales_line")
    assert (nothing.rows, nothing.batch_id) == (0, None)

    # A bad row (negative cost is fine; a negative quantity is not) and a good one: nothing lands.
    before = _state(store_engine)
    _erp(erp_url, INSERT, [_row("SO4", 1, 21, 1, 10.0, 5.0, 6), _row("SO5", 1, 22, -2, 10.0, 5.0, 7)])
    with pytest.raises(WorkbenchError) as err:
        source_sync.sync(store_engine, fin, "erp", "sales_line")
    assert err.value.prepared.problem_count == 1 and "qty" in str(err.value)
    assert list(err.value.prepared.problems["column"]) == ["qty"]
    assert _state(store_engine) == before
    assert sources.get_feed(store_engine, "erp", "sales_line").watermark == "datetime:2026-03-01T09:05:00"
