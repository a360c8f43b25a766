"""The SQL store: engine from a URL, schema creation and migrations, bulk loads."""
from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from lib.core import clock, config, schema, warehouse
from lib.core.errors import SchemaTooNew, StoreUnavailable
from lib.core.tables import access as access_tables
from lib.core.tables import alerts as alert_tables
from lib.core.tables import ask as ask_tables
from lib.core.tables import dashboards as dashboard_tables
from lib.core.tables import finance as finance_tables
from lib.core.tables import ingest as ingest_tables
from lib.core.tables import metrics as metric_tables
from lib.core.tables import notify as notify_tables
from lib.core.tables import scorecards as scorecard_tables
from lib.core.tables import sources as source_tables

schema_version = sa.Table(
    "app_schema_version", sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)


def _create_canonical(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)
    create_fact_indexes(conn)


def create_fact_indexes(conn: sa.Connection) -> None:
    """The filter indexes of the fact tables, on server databases (see ``schema.FACT_INDEXES``)."""
    if conn.dialect.name == "duckdb":
        return
    # Plain DDL from our own constants: an sa.Index would attach itself to the shared metadata.
    q = conn.dialect.identifier_preparer.quote
    for name, table, cols in schema.FACT_INDEXES:
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {q(name)} ON {q(table)} ({', '.join(map(q, cols))})")


@contextlib.contextmanager
def fact_indexes_rebuilt(conn: sa.Connection) -> Iterator[None]:
    """Drop the fact indexes for a large bulk load and build them again after it.

    Building an index once over loaded rows is several times cheaper than maintaining it row by
    row during COPY. Inside the caller's transaction, so a failed load leaves the indexes as they were.
    """
    if conn.dialect.name == "duckdb":
        yield
        return
    q = conn.dialect.identifier_preparer.quote
    for name, _table, _cols in schema.FACT_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {q(name)}")
    yield
    create_fact_indexes(conn)


def clear_tables(conn: sa.Connection, tables: Iterable[sa.Table]) -> None:
    """Delete every row of ``tables`` inside the caller's transaction (TRUNCATE where it is transactional)."""
    tables = list(tables)
    if conn.dialect.name == "postgresql":
        q = conn.dialect.identifier_preparer.format_table
        conn.exec_driver_sql(f"TRUNCATE {', '.join(q(t) for t in tables)}")
    else:
        for t in tables:
            conn.execute(t.delete())


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _create_org_flat(conn: sa.Connection) -> None:
    schema.org_flat.create(conn, checkfirst=True)
    refresh_org_flat(conn)


# Append only. A released migration never changes; a new need is a new version.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "canonical business-finance model and import batches", _create_canonical),
    Migration(2, "org_flat: region and department of every org unit", _create_org_flat),
    Migration(3, "metric versions (edits of the metric center)", metric_tables.create_table),
    Migration(4, "users, scopes and the audit log", access_tables.create_tables),
    Migration(5, "finance: budget version changes, saved forecasts, scenarios", finance_tables.create_tables),
    Migration(6, "dashboards", dashboard_tables.create_tables),
    Migration(7, "data integration: import history, mapping templates, database sources", ingest_tables.create_tables),
    Migration(8, "database sources and their sync state; files registered as datasets", source_tables.create_tables),
    Migration(9, "scorecards: templates, manual KPI values, evaluation runs and their results", scorecard_tables.create_tables),
    Migration(10, "alerts: rules, events, comments", alert_tables.create_tables),
    Migration(11, "notification outbox and user contact addresses", notify_tables.create_tables),
    Migration(12, "log-in back-off per client", access_tables.create_login_clients),
    Migration(13, "budget versions drafted from a forecast: method and data date", finance_tables.add_budget_source),
    Migration(14, "questions in words: dimension vocabulary versions, recent questions", ask_tables.create_tables),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def get_engine(url: str | None = None, with_warehouse: bool = True) -> sa.Engine:
    """An engine for ``url`` (default: :func:`lib.core.config.store_url`), checked by opening one connection.

    The configured store (``url`` omitted or equal to :func:`lib.core.config.store_url`) also gets the
    configured warehouse attached (:func:`lib.core.config.warehouse_url`, :mod:`lib.core.warehouse`) unless
    ``with_warehouse`` is false; another store is opened alone.

    Raises :class:`StoreUnavailable` with advice when the store can't be opened, e.g. a DuckDB
    file held by another process.
    """
    url = config.absolutise(url or config.store_url())
    default = url == config.store_url()
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreUnavailable(
            f"The store URL {url!r} is not a valid SQLAlchemy URL ({exc}).",
            f"存储地址 {url!r} 不是有效的 SQLAlchemy URL（{exc}）。",
        ) from exc
    kwargs: dict = {}
    if parsed.get_backend_name() == "duckdb":
        db = parsed.database or ""
        if db and not db.startswith(":memory:"):
            Path(db).parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(url, **kwargs)
        with engine.connect():
            pass
    except StoreUnavailable:
        raise
    except Exception as exc:  # driver errors differ per dialect; translate them all
        raise explain_open_error(url, exc) from exc
    if default and with_warehouse and (wh_url := config.warehouse_url()):
        warehouse.attach(engine, warehouse.connect(wh_url))
    return engine


def explain_open_error(url: str, exc: Exception) -> StoreUnavailable:
    """Turn a driver's failure to open the store into a message that says what to do."""
    text = str(getattr(exc, "orig", None) or exc)
    if "Could not set lock on file" in text or "Conflicting lock" in text:
        pid = re.search(r"PID (\d+)", text)
        who = f" (process {pid.group(1)})" if pid else ""
        return StoreUnavailable(
            f"The embedded store is open in another process{who}, probably the running app or a CLI "
            "command. DuckDB allows one writer at a time: stop that process and try again, or point "
            "WORKBENCH_DB_URL at PostgreSQL to share the store.",
            f"嵌入式存储正被另一个进程{who}占用（多半是正在运行的应用或命令行）。DuckDB 同一时间只允许一个写入进程："
            "请先停止该进程再重试，或将 WORKBENCH_DB_URL 指向 PostgreSQL 以便共享。",
        )
    safe = sa.engine.make_url(url).render_as_string(hide_password=True) if "://" in url else url
    return StoreUnavailable(
        f"Cannot open the store {safe}: {text.splitlines()[0] if text else type(exc).__name__}",
        f"无法打开存储 {safe}：{text.splitlines()[0] if text else type(exc).__name__}",
    )


def refresh_org_flat(conn: sa.Connection) -> int:
    """Rebuild ``org_flat`` from ``org_unit`` inside the caller's transaction; call after any org change.

    Level 1 is the child of the root (a region, or head office), level 2 its child (a department,
    store or cost center); deeper units report under their level-2 ancestor.
    """
    units = {r.id: r for r in conn.execute(sa.select(schema.org_unit)).all()}
    rows = []
    for uid in units:
        chain, seen, cur = [], set(), uid
        while cur is not None and cur in units and cur not in seen:
            seen.add(cur)
            chain.append(units[cur])
            cur = units[cur].parent_id
        chain.reverse()  # root first
        l1 = chain[1] if len(chain) > 1 else None
        l2 = chain[2] if len(chain) > 2 else None
        rows.append({"org_unit_id": uid, "depth": len(chain) - 1,
                     "l1_id": l1.id if l1 else None, "l1_name": l1.name if l1 else None,
                     "l2_id": l2.id if l2 else None, "l2_name": l2.name if l2 else None,
                     "path": "/".join(u.name for u in chain)})
    conn.execute(schema.org_flat.delete())
    if rows:
        conn.execute(schema.org_flat.insert(), rows)
    return len(rows)


def current_version(conn: sa.Connection) -> int:
    """The schema version of the store behind ``conn``; 0 for an empty store."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(schema_version.c.version), 0))).scalar_one()


def init_schema(engine: sa.Engine) -> int:
    """Create or migrate the schema, idempotently, each migration in its own transaction.

    Returns the schema version after the call.
    """
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        have = current_version(conn)
    if have > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"The store has schema version {have}, newer than this workbench's {SCHEMA_VERSION}. "
            "Update the workbench (git pull) before using this store.",
            f"存储的结构版本为 {have}，高于当前工作台的 {SCHEMA_VERSION}。请先更新工作台（git pull）。",
        )
    for m in MIGRATIONS:
        if m.version <= have:
            continue
        with engine.begin() as conn:
            m.apply(conn)
            conn.execute(schema_version.insert().values(
                version=m.version, description=m.description, applied_at=clock.now_precise()))
    return SCHEMA_VERSION


def row_counts(engine: sa.Engine) -> dict[str, int]:
    """Row count of every canonical table (0 where the table does not exist yet)."""
    out: dict[str, int] = {}
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        for t in schema.CANONICAL_TABLES:
            out[t.name] = (conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                           if insp.has_table(t.name) else 0)
    return out


def bulk_load(conn: sa.Connection, table: sa.Table, data: pa.Table) -> int:
    """Append an Arrow table to ``table`` inside the caller's transaction, without row-by-row inserts.

    DuckDB reads the Arrow table in place (INSERT … SELECT); PostgreSQL takes it by COPY.
    Columns are matched by name; returns the number of rows loaded.
    """
    names = list(data.column_names)
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no columns {unknown}")
    if data.num_rows == 0:
        return 0
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(n) for n in names)
    target = prep.format_table(table)
    dialect = conn.dialect.name
    raw = conn.connection.driver_connection
    if dialect == "duckdb":
        view = "_wb_bulk_src"
        raw.register(view, data)
        try:
            raw.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {view}")
        finally:
            raw.unregister(view)
    elif dialect == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN WITH (FORMAT csv)") as cp:
            step = 500_000
            for start in range(0, data.num_rows, step):
                buf = io.BytesIO()
                pacsv.write_csv(data.slice(start, step), buf,
                                pacsv.WriteOptions(include_header=False, quoting_style="needed"))
                cp.write(buf.getvalue())
    else:  # any other SQLAlchemy dialect: executemany in chunks (slower, still one transaction)
        step = 10_000
        for start in range(0, data.num_rows, step):
            conn.execute(table.insert(), data.slice(start, step).to_pylist())
    return data.num_rows
