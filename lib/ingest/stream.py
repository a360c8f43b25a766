"""The streaming import (CLI and large files): a CSV read in chunks, checked and loaded inside one transaction.

Rows are loaded while no problem has been found; from the first problem on the rest of the file
is only checked, so the report is complete, and the transaction is rolled back. A dry run does
everything, including the store-side duplicate check, and rolls back too.
"""
from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core import schema, store
from lib.ingest.batch import (
    ImportResult,
    Prepared,
    _arrow,
    _check_hash,
    _finish_batch,
    _next_batch,
    _record_members,
    _replace,
    _unknown_frame,
    commit,
    prepare,
)
from lib.ingest.build import RowBuilder
from lib.ingest.mapping import DIMENSION_TABLES, ImportOptions, Mapping, fields, suggest_mapping
from lib.ingest.read import iter_csv, read_csv_head, read_file
from lib.ingest.rows import ImportRejected, Problem, Problems, Resolver, insert_members
from lib.performance import hooks as ingest_hooks

CHUNK_ROWS = 200_000


def import_file(engine: sa.Engine, user: User, path: Path | str, table: str, *, mapping: Mapping | None = None,
                create_missing: bool = False, dry_run: bool = False, progress=None,
                options: ImportOptions | None = None, sheet: str | int | None = None,
                replace_batch: int | None = None, chunk_rows: int = CHUNK_ROWS) -> ImportResult:
    """Import one file into ``table``; all rows or none. ``progress(rows_read, fraction_or_None)`` is
    called after each chunk. Fact tables from CSV stream in chunks; other files are read whole."""
    auth.require(user, "import_data")
    fields(table)
    path = Path(path)
    options = options or ImportOptions()
    if replace_batch is not None:
        options = ImportOptions(**{**options.__dict__, "replace_batch": replace_batch})
    t0 = time.perf_counter()
    streamable = path.suffix.lower() in (".csv", ".txt", ".tsv") and table not in DIMENSION_TABLES
    if not streamable:
        raw = read_file(path, path.name, sheet=sheet)
        prepared = prepare(engine, raw, table, mapping or suggest_mapping(raw, table),
                           create_missing=create_missing, options=options)
        if progress:
            progress(len(raw.frame), 1.0)
        batch = None
        if prepared.ok and not dry_run:
            batch = commit(engine, user, prepared, filename=path.name, file_hash=raw.sha256)
        return _result(prepared, batch, t0, dry_run)
    return _stream(engine, user, path, table, mapping, create_missing, dry_run, progress, options, chunk_rows, t0)


def _result(p: Prepared, batch: int | None, t0: float, dry_run: bool) -> ImportResult:
    return ImportResult(ok=p.ok, batch_id=batch, rows=len(p.frame), problems=p.problems, problem_count=p.problem_count,
                        unknown_members=p.unknown_members, created={k: len(v) for k, v in p.new_members.items()},
                        seconds=time.perf_counter() - t0, dry_run=dry_run)


def _stream(engine, user, path, table, mapping, create_missing, dry_run, progress, options, chunk_rows, t0):
    head = read_csv_head(path)
    mapping = mapping or suggest_mapping(head, table)
    problems = Problems()
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        sample = fh.read(1 << 20)
    avg_line = len(sample) / max(1, sample.count(b"\n"))
    rows = 0
    batch_id = None
    resolver = None
    bad_rows: list = []
    created: dict[str, int] = {}
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            resolver = Resolver(conn, create_missing, options, org_header=mapping.columns.get("org_unit"))
            builder = RowBuilder(table, mapping, options, resolver, problems, head.sha256, head.header_row)
            if builder.check_columns(head.columns):
                _check_hash(conn, head.sha256, options.replace_batch)
                batch_id = _next_batch(conn)
                if options.replace_batch is not None:
                    _replace(conn, table, options.replace_batch, batch_id)
                resolver.preload(table)
                rebuild = _rebuild_indexes(conn, table, size / avg_line)
                with _indexes_rebuilt(conn, table) if rebuild else contextlib.nullcontext():
                    writer = _Writer(conn, table, batch_id)
                    try:
                        for chunk in iter_csv(path, head, chunk_rows, bad_rows):
                            frame = builder.build(chunk, rows)
                            rows += len(chunk)
                            if problems.total == 0:
                                writer.put(resolver.pending, frame)
                                resolver.pending = {}
                            if progress:
                                progress(rows, min(1.0, rows * avg_line / size) if size else None)
                    finally:
                        writer.close()
                builder.finish()
                for number, expected, _actual, text in bad_rows:
                    problems.add(Problem.MALFORMED, number, "", text, x=expected)
                if rows == 0 and not bad_rows:
                    problems.add(Problem.NO_ROWS, None, "", "")
                created = dict(resolver.created)
                if problems.total == 0 and rows:
                    _finish_batch(conn, user, batch_id=batch_id, table=table, filename=path.name,
                                  file_hash=head.sha256, rows=rows, created=created,
                                  replace_batch=options.replace_batch, kind="file")
            ok = problems.total == 0 and rows > 0
            if ok and not dry_run:
                trans.commit()
            else:
                trans.rollback()
        except ImportRejected as exc:
            trans.rollback()
            problems.counts[Problem.DUPLICATE_STORE.name] += 1
            problems.rows.append((None, "", "", exc.message_zh, exc.message_en, "REJECTED"))
            ok = False
        except BaseException:
            trans.rollback()
            raise
    if ok and not dry_run:
        ingest_hooks.data_changed(engine, user.username)
    return ImportResult(ok=ok, batch_id=batch_id if ok and not dry_run else None, rows=rows,
                        problems=problems.frame(), problem_count=problems.total,
                        unknown_members=_unknown_frame(resolver, create_missing) if resolver else None,
                        created=created, seconds=time.perf_counter() - t0, dry_run=dry_run)




def _rebuild_indexes(conn: sa.Connection, table: str, rows_estimate: float) -> bool:
    """Drop and rebuild the fact indexes when the file is large next to the table (building an index
    once is far cheaper than maintaining it row by row; over a big table it is not)."""
    if conn.dialect.name != "postgresql" or rows_estimate < 100_000:
        return False
    t = schema.metadata.tables[table]
    have = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
    return rows_estimate > 0.5 * have


@contextlib.contextmanager
def _indexes_rebuilt(conn: sa.Connection, table: str):
    """``store.fact_indexes_rebuilt`` for one table's indexes only (the others may be large)."""
    q = conn.dialect.identifier_preparer.quote
    mine = [(name, cols) for name, t, cols in schema.FACT_INDEXES if t == table]
    for name, _ in mine:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {q(name)}")
    yield
    for name, cols in mine:  # names and columns are our own constants, never input
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {q(name)} ON {q(table)} ({', '.join(map(q, cols))})")


class _Writer:
    """Writes checked chunks on a second thread while the next chunk is parsed (the connection is
    used by this thread alone while it runs; the queue holds one chunk, so memory stays bounded)."""

    def __init__(self, conn: sa.Connection, table: str, batch_id: int) -> None:
        self.conn, self.table, self.batch_id = conn, table, batch_id
        self.target = schema.metadata.tables[table]
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue
            members, frame = item
            try:
                keys = {}
                for dim in ("org_unit", "customer", "product", "account"):
                    if members.get(dim):
                        insert_members(self.conn, dim, members[dim])
                        keys[dim] = [str(r["code" if dim == "account" else "id"]) for r in members[dim]]
                _record_members(self.conn, self.batch_id, keys)
                store.bulk_load(self.conn, self.target, _arrow(frame, self.table, self.batch_id))
            except BaseException as exc:  # noqa: BLE001  (handed to the importing thread, which rolls back)
                self.error = exc

    def put(self, members: dict, frame) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((members, frame))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
