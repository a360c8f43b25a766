"""Shared fixtures: every store-backed test runs on DuckDB, and on PostgreSQL when
``WORKBENCH_TEST_PG_URL`` names a server (an admin URL; each test session makes its own databases)."""
from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
import sqlalchemy as sa

from lib.core import clock, store, warehouse
from lib.demo import build as demo
from tests import spark

PG_URL = os.environ.get("WORKBENCH_TEST_PG_URL", "").strip()
BACKENDS = [
    "duckdb",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not PG_URL, reason="WORKBENCH_TEST_PG_URL not set: PostgreSQL half not asked for")),
]
# Small and fixed, so the suite is fast and every figure reproducible.
DEMO_ROWS = 20_000
DEMO_SEED = 7
DEMO_AS_OF = dt.date(2026, 11, 24)
# The suite's "today" is the demo's as-of day, whatever the calendar says, so every result is the same on
# any date (CI also runs under faketime on awkward dates to prove it). Set before anything reads the clock;
# the app servers the browser tests start inherit it. A test about another day pins its own. The time of day
# is pinned too (noon, running on from there): a test's fixed times (09:00 queued messages) are then always
# in the past, and no run crosses midnight whatever the hour it starts.
os.environ[clock.ENV] = f"{DEMO_AS_OF.isoformat()}T12:00"
# Password hashes at bcrypt's lowest cost (lib.core.config.bcrypt_rounds): the suite logs in hundreds of times,
# 0.3 s each at the real cost. What is checked (hashes, never plain text; lock-out; back-off) doesn't change.
os.environ["WORKBENCH_BCRYPT_ROUNDS"] = "4"


class _PgDatabases:
    """Creates throw-away databases on the server and drops them at the end of the session."""

    def __init__(self, admin_url: str) -> None:
        try:
            self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with self.admin.connect():
                pass
        except Exception as exc:  # noqa: BLE001  (asked for PostgreSQL and can't have it: fail, never skip)
            pytest.fail(f"WORKBENCH_TEST_PG_URL is set but the server can't be reached: {exc}", pytrace=False)
        self.names: list[str] = []

    def new(self, template: str | None = None) -> str:
        name = f"wbtest_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.names.append(name)
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_databases():
    if not PG_URL:
        pytest.skip("WORKBENCH_TEST_PG_URL not set")
    dbs = _PgDatabases(PG_URL)
    yield dbs
    dbs.drop_all()


def _new_url(backend: str, tmp_path_factory, request) -> str:
    if backend == "duckdb":
        return f"duckdb:///{tmp_path_factory.mktemp('store') / 'wb.duckdb'}"
    return request.getfixturevalue("pg_databases").new()


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path_factory) -> str:
    """A URL to a new, empty store on each backend."""
    return _new_url(request.param, tmp_path_factory, request)


@pytest.fixture
def empty_engine(empty_url):
    engine = store.get_engine(empty_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def demo_url(request, tmp_path_factory) -> str:
    """A store holding the small demo company, built once per backend per session."""
    url = _new_url(request.param, tmp_path_factory, request)
    engine = store.get_engine(url)
    demo.build(engine, rows=DEMO_ROWS, seed=DEMO_SEED, as_of=DEMO_AS_OF)
    engine.dispose()
    return url


SMALL_ROWS = 3_000


@pytest.fixture(scope="session", params=BACKENDS)
def small_demo_template(request, tmp_path_factory) -> tuple[str, str]:
    """(backend, url) of a 3,000-row demo store built once per backend per session, never opened by a test:
    per-test stores that write are copies of it (a file copy, or PostgreSQL's CREATE DATABASE … TEMPLATE),
    a few milliseconds instead of a demo build each."""
    url = _new_url(request.param, tmp_path_factory, request)
    engine = store.get_engine(url)
    demo.build(engine, rows=SMALL_ROWS, as_of=DEMO_AS_OF)
    engine.dispose()   # no connection may stay open on a template
    return request.param, url


def copy_store(template: tuple[str, str], tmp_path_factory, request) -> str:
    """A new store holding exactly what ``template`` holds."""
    import shutil

    backend, url = template
    if backend == "duckdb":
        source = sa.engine.make_url(url).database
        target = tmp_path_factory.mktemp("store") / "wb.duckdb"
        shutil.copyfile(source, target)
        if os.path.exists(source + ".wal"):
            shutil.copyfile(source + ".wal", str(target) + ".wal")
        return f"duckdb:///{target}"
    dbs = request.getfixturevalue("pg_databases")
    return dbs.new(template=sa.engine.make_url(url).database)


@pytest.fixture
def small_demo_url(small_demo_template, tmp_path_factory, request) -> str:
    """A 3,000-row demo store of the test's own (DuckDB, and PostgreSQL when asked), for tests that write."""
    return copy_store(small_demo_template, tmp_path_factory, request)


@pytest.fixture(scope="session")
def demo_engine(demo_url):
    engine = store.get_engine(demo_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_tables(demo_engine):
    """The demo store's tables read raw into pandas: the independent side of known-value tests."""
    import decimal

    import pandas as pd

    def plain(df: pd.DataFrame) -> pd.DataFrame:
        for c in df.columns:
            first = df[c].dropna().iloc[0] if df[c].notna().any() else None
            if isinstance(first, decimal.Decimal):
                df[c] = df[c].astype(float)
            elif isinstance(first, dt.date):
                df[c] = pd.to_datetime(df[c])
        return df

    with demo_engine.connect() as conn:
        return {t: plain(pd.read_sql(sa.text(f"SELECT * FROM {t}"), conn))
                for t in ("org_unit", "product", "customer", "account", "sales_line", "journal_line",
                          "budget_version", "budget_line", "ar_invoice", "inventory_snapshot")}


@pytest.fixture
def duckdb_held_by_another_process(tmp_path):
    """(path, pid) of a DuckDB file that another process holds open read-write."""
    import subprocess
    import sys
    path = tmp_path / "held.duckdb"
    code = f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield path, holder.pid
    finally:
        holder.kill()
        holder.wait()


# ---- the Spark warehouse: one Thrift Server per run (tests/spark.py) ------------------------------

def pytest_configure(config):
    d = spark.claim_folder()
    if d is not None:
        config.stash[_SPARK_DIR] = d


def pytest_unconfigure(config):
    d = config.stash.get(_SPARK_DIR, None)
    if d is not None:
        spark.stop(d)


_SPARK_DIR = pytest.StashKey[str]()


def pytest_collection_modifyitems(session, config, items):
    if any(spark.FIXTURE in getattr(item, "fixturenames", ()) for item in items):
        spark.boot()   # boots while the other tests run


@pytest.fixture(scope="session")
def spark_warehouse() -> spark.Warehouse:
    """The run's Spark Thrift Server, holding the demo company (DEMO_ROWS, DEMO_SEED) as Parquet tables."""
    return spark.ready(DEMO_ROWS, DEMO_SEED, DEMO_AS_OF)


@pytest.fixture(scope="session")
def spark_engine(spark_warehouse):
    engine = warehouse.connect(spark_warehouse.url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def spark_store(spark_warehouse, spark_engine, tmp_path_factory):
    """(store, reference): a copy of the demo store the warehouse was published from, with the warehouse
    attached, and another copy without it (the embedded answer)."""
    import shutil

    engines = []
    for name in ("with_warehouse", "alone"):
        target = tmp_path_factory.mktemp(name) / "wb.duckdb"
        shutil.copyfile(spark_warehouse.store_file, target)
        engines.append(store.get_engine(f"duckdb:///{target}"))
    warehouse.attach(engines[0], spark_engine)
    yield tuple(engines)
    for e in engines:
        warehouse.detach(e)
        e.dispose()
