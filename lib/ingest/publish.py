"""Publish the canonical tables the warehouse serves, from the app's store to a Spark SQL warehouse.

Each table the semantic layer reads from the warehouse (``SemanticModel.warehouse_tables``) is written as
Parquet files into a folder of its own under ``folder`` — with the store's column types (DECIMAL(18,2) stays
exact) — and then registered in the warehouse as ``CREATE TABLE … USING parquet LOCATION``. Every file is
written before any table is touched: a failed read or write leaves the warehouse as it was. The tables are
then swapped one by one (Spark's session catalog has no multi-table transaction), and the old folders removed.

``folder`` must be where the Spark processes can read it: on one machine any folder; on a cluster a shared
mount, named to Spark as ``location`` when its path there differs.
"""
from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from lib.core import schema
from lib.core.errors import WorkbenchError
from lib.semantic.model import SemanticModel

BATCH_ROWS = 200_000
_SAFE_LOCATION = re.compile(r"^[A-Za-z0-9_./:\-]+$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PublishError(WorkbenchError):
    """The tables could not be published; the warehouse is as it was."""


@dataclass(frozen=True)
class Published:
    table: str
    rows: int
    location: str


def arrow_type(t: sa.types.TypeEngine) -> pa.DataType:
    """The Parquet column type for a store column type.

    >>> arrow_type(sa.Numeric(18, 2)), arrow_type(sa.Date()), arrow_type(sa.String(32))
    (Decimal128Type(decimal128(18, 2)), DataType(date32[day]), DataType(string))
    """
    if isinstance(t, sa.Numeric) and not isinstance(t, sa.Float):
        return pa.decimal128(t.precision or 38, t.scale or 0)
    if isinstance(t, sa.Float):
        return pa.float64()
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    if isinstance(t, sa.BigInteger):
        return pa.int64()
    if isinstance(t, sa.Integer):
        return pa.int32()
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us")
    if isinstance(t, sa.Date):
        return pa.date32()
    return pa.string()


def arrow_schema(table: sa.Table) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in table.c])


def _batches(store: sa.Engine, table: sa.Table, schema_: pa.Schema):
    """The table's rows as Arrow batches in ``schema_``: DuckDB hands Arrow over directly, other stores
    through the driver in batches."""
    with store.connect() as conn:
        if conn.dialect.name == "duckdb":
            raw = conn.connection.driver_connection
            # Our own table name from the canonical schema (checked against _NAME), not user input.
            reader = raw.execute(f'SELECT * FROM "{table.name}"').to_arrow_reader(BATCH_ROWS)
            for batch in reader:
                yield pa.Table.from_batches([batch]).cast(schema_)
            return
        result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(sa.select(table))
        names = schema_.names
        for part in result.partitions(BATCH_ROWS):
            cols = list(zip(*part)) if part else [[] for _ in names]
            yield pa.table({n: pa.array(list(v), type=schema_.field(n).type) for n, v in zip(names, cols)},
                           schema=schema_)


def publish(store: sa.Engine, warehouse: sa.Engine, model: SemanticModel, folder: Path,
            location: str | None = None, tables: tuple[str, ...] | None = None) -> list[Published]:
    """Copy ``tables`` (default: every warehouse table of ``model``) from ``store`` to ``warehouse``."""
    folder = Path(folder).resolve()
    base = (location or str(folder)).rstrip("/")
    if not _SAFE_LOCATION.match(base):
        raise PublishError(f"The warehouse location {base!r} may hold only letters, digits and _ . / : -.",
                           f"数仓位置 {base!r} 只能包含字母、数字和 _ . / : -。")
    names = tables or model.warehouse_tables()
    for name in names:
        if name not in schema.metadata.tables or not _NAME.match(name):
            raise PublishError(f"{name!r} is not a canonical table.", f"{name!r} 不是标准模型的表。")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = uuid.uuid4().hex[:12]
    written: list[tuple[str, Path, int]] = []
    try:
        for name in names:
            table = schema.metadata.tables[name]
            sch = arrow_schema(table)
            target = folder / f"{name}__{stamp}"
            target.mkdir()
            rows, part = 0, 0
            for batch in _batches(store, table, sch):
                if batch.num_rows:
                    pq.write_table(batch, target / f"part-{part:05d}.parquet")
                    part += 1
                    rows += batch.num_rows
            if part == 0:   # an empty table still needs a file that carries its columns
                pq.write_table(sch.empty_table(), target / "part-00000.parquet")
            written.append((name, target, rows))
    except Exception as exc:
        for _name, target, _rows in written:
            shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(folder / f"{names[len(written)]}__{stamp}", ignore_errors=True)
        if isinstance(exc, WorkbenchError):
            raise
        raise PublishError(f"Publishing stopped before the warehouse was changed: {exc}",
                           f"发布在修改数仓之前中止：{exc}") from exc
    out = []
    with warehouse.connect() as conn:
        for name, target, rows in written:
            where = f"{base}/{target.name}"
            old = _location(conn, name)
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{name}`")
            conn.exec_driver_sql(f"CREATE TABLE `{name}` USING parquet LOCATION '{where}'")
            if old and old.startswith(str(folder)) and Path(old).name.startswith(f"{name}__"):
                shutil.rmtree(old, ignore_errors=True)
            out.append(Published(name, rows, where))
    return out


def _location(conn: sa.Connection, name: str) -> str | None:
    """Where the warehouse's table ``name`` reads its files now (None: no such table)."""
    # Spark lists (namespace, tableName, isTemporary)
    names = {r[1] if len(r) > 1 else r[0] for r in conn.exec_driver_sql("SHOW TABLES").fetchall()}
    if name not in names:
        return None
    for row in conn.exec_driver_sql(f"DESCRIBE TABLE EXTENDED `{name}`").fetchall():
        if str(row[0]).strip() == "Location":
            loc = str(row[1]).strip()
            return loc[len("file:"):] if loc.startswith("file:") else loc
    return None
