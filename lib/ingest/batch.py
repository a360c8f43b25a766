"""Importing ERP/CRM exports (CSV/Excel) into the canonical tables: validated first, written all-or-nothing.

The API the Data page, the CLI and database sources use::

    raw = read_file(data, filename, sheet=None)          # RawTable: .columns .frame .sheets .encoding .header_row .sha256
    mapping = suggest_mapping(raw, table)                # Mapping: canonical field -> source column
    prepared = prepare(engine, raw, table, mapping, create_missing=False, options=ImportOptions())
    prepared.frame / .problems / .unknown_members / .ok  # rows as stored; (row, column, value, problem_zh, problem_en)
    problems_report(prepared, lang, fmt="csv"|"xlsx")    # bytes to download
    batch_id = commit(engine, user, prepared, filename=..., file_hash=raw.sha256, replace_batch=None)
    history(engine); undo.rollback(engine, user, batch_id)
    save_template(engine, user, name, table, mapping) / templates(engine, table=None)
    stream.import_file(engine, user, path, table, mapping=None, create_missing=False, dry_run=False, progress=None)

Modules of lib.ingest: ``read`` (decoding, header rows, totals) with ``lib.core.values`` (number/date parsers),
``mapping`` (fields, suggestions, templates, options), ``rows`` (problems, member resolution),
``build`` (rows per table and their checks), ``stream`` (chunked CSV import), ``undo`` (rollback);
the app tables are ``lib.core.tables.ingest``, the command line ``lib.cli.ingest``.

``import_file`` streams large CSVs in chunks inside one transaction and rolls back on any problem,
so the store never holds part of a file. Writing needs the ``import_data`` role action. The demo
batch cannot be rolled back (its dimension rows are not tracked as batch members and the demo
users depend on it): rebuild it with ``python -m lib.cli demo --replace`` instead.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock, db, schema, store
from lib.core.errors import InvalidArgument
from lib.core.fmt import inert_text_columns
from lib.core.tables.ingest import BatchStatus, import_batch, import_member
from lib.ingest.build import RowBuilder, store_duplicates
from lib.ingest.mapping import (
    DIMENSION_TABLES,
    TABLES,
    ImportOptions,
    Mapping,
    Template,
    apply_template,
    delete_template,
    fields,
    load_mapping_file,
    save_template,
    suggest_mapping,
    templates,
)
from lib.ingest.read import RawTable, read_file
from lib.ingest.rows import KEYS, ImportRejected, Problem, Problems, Resolver, insert_members
from lib.ingest.undo import delete_batch_rows, previous_import
from lib.performance import hooks as ingest_hooks

ProgressFn = Callable[[int, float | None], None]


@dataclass(frozen=True)
class Prepared:
    """A file checked against ``table``: the rows as they will be stored, and every problem found."""

    table: str
    frame: pd.DataFrame
    problems: pd.DataFrame
    problem_count: int
    unknown_members: pd.DataFrame           # dimension, value, rows, action (create | refuse)
    new_members: dict[str, list[dict]]
    mapping: Mapping
    options: ImportOptions
    filename: str = ""
    file_hash: str = ""
    previous_batch: int | None = None       # a committed batch of the same file

    @property
    def ok(self) -> bool:
        return self.problem_count == 0 and len(self.frame) > 0


@dataclass(frozen=True)
class ImportResult:
    ok: bool
    batch_id: int | None
    rows: int
    problems: pd.DataFrame
    problem_count: int
    unknown_members: pd.DataFrame
    created: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    dry_run: bool = False


def _unknown_frame(resolver: Resolver, create: bool) -> pd.DataFrame:
    rows = [(d, v, n, "create" if create and d != "budget_version" else "refuse")
            for (d, v), n in sorted(resolver.unknown.items())]
    return pd.DataFrame(rows, columns=["dimension", "value", "rows", "action"])


def prepare(engine: sa.Engine, raw: RawTable, table: str, mapping: Mapping, *, create_missing: bool = False,
            options: ImportOptions = ImportOptions()) -> Prepared:
    """Parse, resolve and validate ``raw`` for ``table`` without writing anything.

    Unknown customers, products, org units and accounts are problems, or with ``create_missing``
    new members (org units under ``options.org_parent``). Keys repeated in the file or already in the
    store (outside ``options.replace_batch``) are problems.
    """
    fields(table)
    problems = Problems()
    with engine.connect() as conn:
        resolver = Resolver(conn, create_missing, options, org_header=mapping.columns.get("org_unit"))
        builder = RowBuilder(table, mapping, options, resolver, problems, raw.sha256, raw.header_row)
        if raw.frame.empty:
            problems.add(Problem.NO_ROWS, None, "", "")
        if builder.check_columns(raw.columns) and not raw.frame.empty:
            frame = builder.build(raw.frame, 0)
            builder.finish()
            dups = store_duplicates(conn, table, frame, options.replace_batch)
            for pos, batch in dups.itertuples(index=False):
                key = " / ".join(str(frame.iloc[pos][k]) for k in KEYS[table])
                problems.add(Problem.DUPLICATE_STORE, builder.first_row + pos, "+".join(KEYS[table]), key,
                             x=key, b=batch if batch is not None and not pd.isna(batch) else "—")
        else:
            frame = pd.DataFrame(columns=[c.name for c in schema.metadata.tables[table].columns if c.name != "batch_id"])
        previous = previous_import(conn, raw.sha256)
    return Prepared(table, frame, problems.frame(), problems.total, _unknown_frame(resolver, create_missing),
                    {k: list(v) for k, v in resolver.pending.items()}, mapping, options, raw.filename, raw.sha256,
                    previous)


_LEVELS = {"company": ("公司", "company"), "region": ("区域", "region"), "department": ("部门/门店", "department / store"),
           "store": ("部门/门店", "department / store"), "cost_center": ("部门/门店", "department / store")}


def new_org_units(engine: sa.Engine, prepared: Prepared, lang: str = "zh") -> pd.DataFrame:
    """The org units the import will create: name, the level they will be read at (区域 or 部门/门店) and
    their parent, so the user sees where they land before committing (and can pick another parent)."""
    rows = prepared.new_members.get("org_unit", [])
    if not rows:
        return pd.DataFrame(columns=["name", "level", "parent"])
    names = {m["id"]: m["name"] for m in rows}
    wanted = sorted({int(m["parent_id"]) for m in rows if m["parent_id"] is not None} - set(names))
    if wanted:
        with engine.connect() as conn:
            names.update(dict(conn.execute(sa.select(schema.org_unit.c.id, schema.org_unit.c.name)
                                           .where(schema.org_unit.c.id.in_(wanted))).all()))
    i = 1 if lang == "en" else 0
    return pd.DataFrame({"name": [m["name"] for m in rows],
                         "level": [_LEVELS.get(m["kind"], (m["kind"], m["kind"]))[i] for m in rows],
                         "parent": [names.get(m["parent_id"], "—") for m in rows]})


def problems_report(prepared: Prepared | ImportResult, lang: str = "zh", fmt: str = "csv") -> bytes:
    """The problems as a downloadable file: CSV in UTF-8 with BOM (opens in Excel) or XLSX."""
    p = prepared.problems
    heads = {"zh": ["行号", "列", "值", "问题"], "en": ["row", "column", "value", "problem"]}[lang if lang == "en" else "zh"]
    out = inert_text_columns(pd.DataFrame({heads[0]: p["row"].astype("Int64"), heads[1]: p["column"],
                                               heads[2]: p["value"], heads[3]: p["problem_en" if lang == "en" else "problem_zh"]}))
    if fmt == "xlsx":
        buf = io.BytesIO()
        out.to_excel(buf, index=False, engine="openpyxl")
        return buf.getvalue()
    if fmt != "csv":
        raise InvalidArgument(f"Unknown report format {fmt!r}. Known: csv, xlsx.", f"未知的报告格式 {fmt!r}。可选：csv、xlsx。")
    return out.to_csv(index=False).encode("utf-8-sig")


# ---- writing ---------------------------------------------------------------------------------
# _arrow, _next_batch, _insert_members, _record_members and _finish_batch are also the write steps of
# lib.ingest.sync (database sources): keep their signatures.

def _arrow(frame: pd.DataFrame, table: str, batch_id: int | None) -> pa.Table:
    t = schema.metadata.tables[table]
    cols = {}
    for name in frame.columns:
        typ = t.c[name].type
        s = frame[name]
        if isinstance(typ, sa.Date):
            cols[name] = pa.array(pd.Series(s).to_numpy(dtype="datetime64[D]"), type=pa.date32())
        elif isinstance(typ, (sa.Integer, sa.BigInteger)):
            cols[name] = pa.array(pd.to_numeric(s), from_pandas=True).cast(pa.int64(), safe=False)
        elif isinstance(typ, sa.Numeric):
            cols[name] = pa.array(pd.to_numeric(s).astype("float64"), from_pandas=True)
        else:
            cols[name] = pa.array(pd.Series(s, dtype=object).where(pd.notna(s), None), type=pa.string())
    if batch_id is not None and "batch_id" in t.c:
        cols["batch_id"] = pa.array(np.full(len(frame), batch_id), type=pa.int64())
    return pa.table(cols)


def _check_hash(conn: sa.Connection, file_hash: str, replace_batch: int | None) -> None:
    prev = previous_import(conn, file_hash) if file_hash else None
    if prev is not None and prev != replace_batch:
        b = conn.execute(sa.select(import_batch).where(import_batch.c.id == prev)).one()
        raise ImportRejected(
            f"This file was already imported as batch {prev} ({b.source}, {b.created_at:%Y-%m-%d %H:%M} by "
            f"{b.created_by}). Replace that batch (--replace-batch {prev}) or roll it back first.",
            f"该文件已于 {b.created_at:%Y-%m-%d %H:%M} 由 {b.created_by} 导入为批次 {prev}（{b.source}）。"
            f"请选择替换该批次（--replace-batch {prev}）或先回滚。")


def _replace(conn: sa.Connection, table: str, replace_batch: int, new_batch: int) -> None:
    b = conn.execute(sa.select(import_batch).where(import_batch.c.id == replace_batch)).first()
    if b is None or b.kind == "demo" or b.target_table != table or (b.status or "committed") != BatchStatus.COMMITTED:
        raise ImportRejected(f"Batch {replace_batch} is not a committed import into {table}; it cannot be replaced.",
                             f"批次 {replace_batch} 不是已提交的 {table} 导入，无法替换。")
    if table in DIMENSION_TABLES:
        raise ImportRejected("A dimension-table import cannot be replaced (other rows may use its members); "
                             "roll it back first.", "维度表导入不能替换（其他数据可能引用其成员），请先回滚。")
    delete_batch_rows(conn, table, replace_batch)
    # Members the old batch created now belong to the new one (its rows may use them).
    conn.execute(import_member.update().where(import_member.c.batch_id == replace_batch).values(batch_id=new_batch))
    conn.execute(import_batch.update().where(import_batch.c.id == replace_batch).values(
        status=BatchStatus.REPLACED.value, replaced_by=new_batch))


def _next_batch(conn: sa.Connection) -> int:
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(import_batch.c.id), 0))).scalar_one() + 1


def _record_members(conn: sa.Connection, batch_id: int, members: dict[str, list[str]]) -> None:
    tables = [t for t, keys in members.items() for _ in keys]
    if tables:
        store.bulk_load(conn, import_member, pa.table({
            "batch_id": pa.array([batch_id] * len(tables), pa.int64()), "table_name": pa.array(tables, pa.string()),
            "member_key": pa.array([k for keys in members.values() for k in keys], pa.string())}))


def _store_duplicate_sql(conn: sa.Connection, table: str, batch_id: int, rows: int) -> list[tuple]:
    """Keys of ``batch_id``'s rows that other rows of the table also hold (the in-transaction safety net)."""
    t = schema.metadata.tables[table]
    if "batch_id" not in t.c:
        return []
    if conn.dialect.name == "postgresql" and rows >= 50_000:  # fresh statistics, or the planner guesses a nested loop
        conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.format_table(t)}")
    o = t.alias("o")
    keys = KEYS[table]
    stmt = (sa.select(*[t.c[k] for k in keys], o.c.batch_id)
            .join(o, sa.and_(*[o.c[k] == t.c[k] for k in keys]))
            .where(t.c.batch_id == batch_id, sa.or_(o.c.batch_id.is_(None), o.c.batch_id != batch_id)).limit(1000))
    return list(conn.execute(stmt).all())


def _finish_batch(conn: sa.Connection, user: User, *, batch_id: int, table: str, filename: str, file_hash: str,
                  rows: int, created: dict[str, int], replace_batch: int | None, kind: str) -> None:
    if table == "org_unit" or created.get("org_unit"):
        store.refresh_org_flat(conn)
    dups = _store_duplicate_sql(conn, table, batch_id, rows)
    if dups:
        raise ImportRejected(
            f"{len(dups)} key(s) of this file are already in the store, e.g. {tuple(dups[0][:-1])} in batch {dups[0][-1]}.",
            f"本文件有 {len(dups)} 个键已存在于存储中，例如批次 {dups[0][-1]} 的 {tuple(dups[0][:-1])}。")
    conn.execute(import_batch.insert().values(
        id=batch_id, kind=kind, source=filename[:300], note=f"replaces batch {replace_batch}" if replace_batch else None,
        row_count=rows, created_at=clock.now_precise(), created_by=user.username, target_table=table,
        file_hash=file_hash, status=BatchStatus.COMMITTED.value))
    audit.record(conn, user.username, "import", target=f"{table}:{filename}"[:200],
                 detail={"batch_id": batch_id, "rows": rows, "sha256": file_hash, "created": created,
                         "replaced": replace_batch}, source="ingest")


def commit(engine: sa.Engine, user: User, prepared: Prepared, *, filename: str, file_hash: str,
           replace_batch: int | None = None, kind: str = "file") -> int:
    """Write a prepared import in ONE transaction and return its batch id.

    Refuses a prepared import with problems, and a file whose hash a committed batch already has,
    unless ``replace_batch`` (default ``prepared.options.replace_batch``) is that batch, whose rows
    are then deleted in the same transaction.
    """
    auth.require(user, "import_data")
    replace_batch = replace_batch if replace_batch is not None else prepared.options.replace_batch
    try:
        batch_id = _commit(engine, user, prepared, filename, file_hash, replace_batch, kind)
    except sa.exc.IntegrityError as exc:  # a member or batch id taken since the file was checked
        raise ImportRejected(f"The store changed since the file was checked; check it again ({exc.orig}).",
                             "检查文件后存储已发生变化，请重新检查后再导入。") from exc
    ingest_hooks.data_changed(engine, user.username)
    return batch_id


def _commit(engine: sa.Engine, user: User, prepared: Prepared, filename: str, file_hash: str,
            replace_batch: int | None, kind: str) -> int:
    with engine.begin() as conn:
        _check_hash(conn, file_hash, replace_batch)
        if not prepared.ok:
            raise ImportRejected(f"The import has {prepared.problem_count} problem(s); nothing was written.",
                                 f"导入存在 {prepared.problem_count} 个问题，未写入任何数据。")
        batch_id = _next_batch(conn)
        if replace_batch is not None:
            _replace(conn, prepared.table, replace_batch, batch_id)
        members = _insert_members(conn, prepared.new_members)
        written = store.bulk_load(conn, schema.metadata.tables[prepared.table],
                                  _arrow(prepared.frame, prepared.table, batch_id))
        if prepared.table in DIMENSION_TABLES:
            key = "code" if prepared.table == "account" else "id"
            members.setdefault(prepared.table, []).extend(str(k) for k in prepared.frame[key])
        _record_members(conn, batch_id, members)
        _finish_batch(conn, user, batch_id=batch_id, table=prepared.table, filename=filename, file_hash=file_hash,
                      rows=written, created={k: len(v) for k, v in prepared.new_members.items()},
                      replace_batch=replace_batch, kind=kind)
    return batch_id


def _insert_members(conn: sa.Connection, pending: dict[str, list[dict]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for dim in ("org_unit", "customer", "product", "account"):
        rows = pending.get(dim) or []
        if not rows:
            continue
        t = schema.metadata.tables[dim]
        key = t.c.code if dim == "account" else t.c.id
        taken = conn.execute(sa.select(sa.func.count()).select_from(t).where(
            key.in_([r["code" if dim == "account" else "id"] for r in rows]))).scalar_one()
        if taken:
            raise ImportRejected("The store changed since the file was checked; check it again.",
                                 "检查文件后存储已发生变化，请重新检查。")
        insert_members(conn, dim, rows)
        out[dim] = [str(r["code" if dim == "account" else "id"]) for r in rows]
    return out


def history(engine: sa.Engine) -> pd.DataFrame:
    """Every import batch, newest first: who, when, file, hash, table, rows, status."""
    b = import_batch.c
    stmt = sa.select(b.id.label("batch_id"), b.kind, b.target_table.label("table"), b.source.label("file"),
                     b.file_hash, b.row_count.label("rows"), sa.func.coalesce(b.status, "committed").label("status"),
                     b.created_at, b.created_by, b.rolled_back_at, b.rolled_back_by, b.replaced_by, b.note
                     ).order_by(b.id.desc())
    return db.run(engine, stmt)


__all__ = ["ImportOptions", "ImportRejected", "ImportResult", "Mapping", "Prepared", "RawTable", "TABLES", "Template",
           "apply_template", "commit", "delete_template", "history", "load_mapping_file", "new_org_units", "prepare",
           "problems_report", "read_file", "save_template", "suggest_mapping", "templates"]
