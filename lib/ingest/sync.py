"""Syncing database sources (数据源同步): read rows past a feed's watermark, validate them as a file import,
write them and the new watermark in ONE transaction.

A synced row whose key (``lib.ingest.rows.KEYS``, e.g. sales_line order_no + line_no) is already
stored replaces that row: the source's newer version wins. Anything else that fails validation
refuses the whole sync, leaving the store and the watermark as they were.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
from dataclasses import dataclass, replace

import pandas as pd
import sqlalchemy as sa

from lib.access.scope import User
from lib.core import clock, schema, store
from lib.core.errors import InvalidArgument, WorkbenchError
from lib.core.tables.sources import source_feed
from lib.ingest import batch as ingest
from lib.ingest import mapping as ingest_map
from lib.ingest import rows as ingest_rows
from lib.ingest.read import RawTable
from lib.ingest.rows import ImportRejected, Problem
from lib.ingest.sources import Feed, _source_engine, _writer, check_query, get_feed
from lib.performance import hooks as ingest_hooks

MAX_ROWS = 2_000_000
"""Most rows one sync reads from one feed; more is refused (sync more often, or load a file)."""


# ---- reading a source --------------------------------------------------------------------------

def encode_watermark(value: object) -> str:
    """A watermark value as stored text, typed so it binds back as the same kind of value.

    >>> encode_watermark(dt.datetime(2026, 1, 2, 3, 4, 5)), encode_watermark(42), encode_watermark(decimal.Decimal("7"))
    ('datetime:2026-01-02T03:04:05', 'int:42', 'decimal:7')
    """
    if isinstance(value, dt.datetime):
        return f"datetime:{value.isoformat()}"
    if isinstance(value, dt.date):
        return f"date:{value.isoformat()}"
    if isinstance(value, bool):
        raise InvalidArgument("A watermark column can't be true/false.", "水位列不能是布尔值。")
    if isinstance(value, int):
        return f"int:{value}"
    if isinstance(value, (decimal.Decimal, float)):
        return f"decimal:{value}"
    return f"str:{value}"


def decode_watermark(text: str | None) -> object:
    """The value :func:`encode_watermark` stored (None: nothing read yet).

    >>> decode_watermark("datetime:2026-01-02T03:04:05"), decode_watermark("int:42")
    (datetime.datetime(2026, 1, 2, 3, 4, 5), 42)
    """
    if not text:
        return None
    kind, _, value = text.partition(":")
    match kind:
        case "datetime":
            return dt.datetime.fromisoformat(value)
        case "date":
            return dt.date.fromisoformat(value)
        case "int":
            return int(value)
        case "decimal":
            return decimal.Decimal(value)
    return value


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d") if v.time() == dt.time() else v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return str(v)


@dataclass(frozen=True)
class Increment:
    """Rows of a feed past its watermark, as text (what a file import reads), and the new watermark."""

    raw: RawTable
    watermark: str | None


def read_increment(engine: sa.Engine, feed: Feed, limit: int | None = None) -> Increment:
    """Read the feed's rows newer than its watermark from the source, in a read-only transaction.

    Rows are ordered by the watermark column; ``limit`` reads only the first rows (a preview).
    """
    src_engine = _source_engine(feed.source_name)
    since = decode_watermark(feed.watermark)
    try:
        with src_engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(postgresql_readonly=True)
            elif conn.dialect.name in ("mysql", "mariadb"):
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            stmt, params = _select(conn, feed, since)
            result = conn.execute(stmt, params)
            keys = list(result.keys())
            rows = result.fetchmany((limit or MAX_ROWS) + 1)
            conn.rollback()  # never commit anything on a source
    except WorkbenchError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise InvalidArgument(f"Reading {feed.target} from source {feed.source_name!r} failed: {first}",
                              f"从数据源 {feed.source_name!r} 读取 {feed.target} 失败：{first}") from exc
    finally:
        src_engine.dispose()
    if limit is None and len(rows) > MAX_ROWS:
        raise InvalidArgument(f"More than {MAX_ROWS:,} new rows in one sync: sync more often or import a file first.",
                              f"一次同步的新行超过 {MAX_ROWS:,} 行：请更频繁地同步，或先用文件导入。")
    rows = rows[:limit] if limit else rows
    if feed.watermark_column not in keys:
        raise InvalidArgument(f"The watermark column {feed.watermark_column!r} is not among the source columns: "
                              f"{', '.join(keys)}.", f"水位列 {feed.watermark_column!r} 不在源列中：{'、'.join(keys)}。")
    wm_index = keys.index(feed.watermark_column)
    values = [r[wm_index] for r in rows if r[wm_index] is not None]
    new_mark = encode_watermark(max(values)) if values else feed.watermark
    frame = pd.DataFrame([[_cell(v) for v in r] for r in rows], columns=keys, dtype=object) if rows \
        else pd.DataFrame(columns=keys, dtype=object)
    digest = hashlib.sha256(f"{feed.source_name}/{feed.target}/{feed.watermark}/{new_mark}/{len(rows)}".encode()).hexdigest()
    raw = RawTable(columns=tuple(keys), frame=frame.astype(str) if rows else frame,
                   filename=f"{feed.source_name}:{feed.target}", sha256=digest)
    return Increment(raw, new_mark)


def _select(conn: sa.Connection, feed: Feed, since: object) -> tuple[sa.Executable, dict]:
    q = conn.dialect.identifier_preparer.quote
    wm = feed.watermark_column
    if feed.source_table:
        schema_name, _, name = feed.source_table.rpartition(".")
        try:
            t = sa.Table(name, sa.MetaData(), schema=schema_name or None, autoload_with=conn)
        except sa.exc.NoSuchTableError:
            raise InvalidArgument(f"Source {feed.source_name!r} has no table {feed.source_table!r}.",
                                  f"数据源 {feed.source_name!r} 没有表 {feed.source_table!r}。") from None
        if wm not in t.c:
            raise InvalidArgument(f"{feed.source_table} has no column {wm!r}. Columns: {', '.join(t.c.keys())}.",
                                  f"{feed.source_table} 没有列 {wm!r}。列：{'、'.join(t.c.keys())}。")
        stmt = sa.select(t).order_by(t.c[wm])
        return (stmt.where(t.c[wm] > sa.bindparam("wm")), {"wm": since}) if since is not None else (stmt, {})
    # The query was parsed and re-rendered by check_query; colons are escaped so text() binds only :wm.
    inner = check_query(feed.query or "", conn.dialect.name).replace(":", "\\:")
    where = f" WHERE {q(wm)} > :wm" if since is not None else ""
    return sa.text(f"SELECT * FROM ({inner}) AS wb_src{where} ORDER BY {q(wm)}"), ({"wm": since} if since is not None else {})


# ---- sync --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncResult:
    source_name: str
    target: str
    rows: int
    """Rows written (new and changed)."""
    replaced: int
    """Of those, rows that replaced an earlier version with the same key."""
    batch_id: int | None
    watermark: str | None


class SyncRejected(ImportRejected):
    """The new rows failed validation: nothing was written and the watermark did not move.
    ``prepared`` holds the problems (``ingest.problems_report`` gives the downloadable report)."""

    def __init__(self, message: str, message_zh: str, prepared: ingest.Prepared) -> None:
        super().__init__(message, message_zh)
        self.prepared = prepared


def _without_replacements(prepared: ingest.Prepared) -> tuple[ingest.Prepared, int]:
    """Keys already in the store are updates for a sync, not problems: (prepared without them, their count).

    ``prepare`` adds duplicate-key problems after every other check, so a report holding no other kind
    has no other problem, even past its row cap: then every counted problem is an update.
    """
    p = prepared.problems
    if not len(p):
        return prepared, 0
    dup = p["kind"] == Problem.DUPLICATE_STORE.name
    if not dup.any():
        return prepared, 0
    if dup.all():
        return replace(prepared, problems=p.iloc[0:0], problem_count=0), prepared.problem_count
    return replace(prepared, problems=p[~dup].reset_index(drop=True), problem_count=int((~dup).sum())), 0


def sync(engine: sa.Engine, user: User, source_name: str, target: str) -> SyncResult:
    """Copy the feed's new and changed rows into the store: ONE transaction with the watermark.

    Rows go through the file import's validation (:func:`lib.ingest.batch.prepare`); a row whose key
    (:data:`lib.ingest.rows.KEYS`) is already stored replaces it. Any other problem raises
    :class:`SyncRejected` and leaves the store and the watermark as they were. Rolling back a sync
    batch removes its rows; earlier versions it replaced are not brought back.
    """
    user = _writer(engine, user)
    feed = get_feed(engine, source_name, target)
    inc = read_increment(engine, feed)
    if inc.raw.frame.empty:
        return SyncResult(source_name, target, 0, 0, None, feed.watermark)
    opts = dict(feed.options)
    create_missing = bool(opts.pop("create_missing", False))
    mapping = ingest_map.Mapping(target, dict(feed.mapping), {k: "source" for k in feed.mapping})
    prepared = ingest.prepare(engine, inc.raw, target, mapping, create_missing=create_missing,
                              options=ingest_map.ImportOptions.from_dict(opts))
    prepared, replaced = _without_replacements(prepared)
    if not prepared.ok:
        first = prepared.problems.head(1)
        where = (f" (row {first.iloc[0]['row']}, {first.iloc[0]['column']}: {first.iloc[0]['problem_en']})"
                 if len(first) else "")
        where_zh = (f"（第 {first.iloc[0]['row']} 行，{first.iloc[0]['column']}：{first.iloc[0]['problem_zh']}）"
                    if len(first) else "")
        raise SyncRejected(f"Sync of {target} from {source_name!r} refused: {prepared.problem_count} problem(s){where}. "
                           "Nothing was written; the watermark did not move.",
                           f"从 {source_name!r} 同步 {target} 被拒绝：{prepared.problem_count} 个问题{where_zh}。"
                           "未写入任何数据，水位未变。", prepared)
    try:
        written, batch_id = _write(engine, user, feed, inc, prepared, replaced)
    except sa.exc.IntegrityError as exc:  # a member or batch id taken by a concurrent import
        raise ImportRejected(f"The store changed during the sync; sync again ({exc.orig}).",
                             "同步期间存储已发生变化，请重新同步。") from exc
    ingest_hooks.data_changed(engine, user.username)
    return SyncResult(source_name, target, written, replaced, batch_id, inc.watermark)


def _write(engine: sa.Engine, user: User, feed: Feed, inc: Increment, prepared: ingest.Prepared,
           replaced: int) -> tuple[int, int]:
    """Rows, created members, batch and watermark in ONE transaction: (rows written, batch id)."""
    source_name, target = feed.source_name, feed.target
    table = schema.metadata.tables[target]
    label = f"{source_name}:{target}"
    now = clock.now()
    fc = source_feed.c
    with engine.begin() as conn:
        batch_id = ingest._next_batch(conn)
        if replaced:
            _delete_keys(conn, table, ingest_rows.KEYS[target], prepared.frame)
        members = ingest._insert_members(conn, prepared.new_members)
        written = store.bulk_load(conn, table, ingest._arrow(prepared.frame, target, batch_id))
        ingest._record_members(conn, batch_id, members)
        ingest._finish_batch(conn, user, batch_id=batch_id, table=target, filename=label, file_hash=inc.raw.sha256,
                             rows=written, created={k: len(v) for k, v in prepared.new_members.items()},
                             replace_batch=None, kind="sync")
        conn.execute(source_feed.update().where(fc.source_name == source_name, fc.target == target).values(
            watermark=inc.watermark, last_sync_at=now, last_batch_id=batch_id, last_rows=written))
    return written, batch_id


def _delete_keys(conn: sa.Connection, table: sa.Table, keys: tuple[str, ...], frame: pd.DataFrame) -> None:
    """Delete the stored rows whose key is among ``frame``'s: one semi-join per chunk against a VALUES list
    (a tuple IN list is compared row by row on PostgreSQL: 1,000 keys × 100,000 rows took minutes)."""
    rows = [tuple(_plain(v) for v in r) for r in frame[list(keys)].itertuples(index=False)]
    for start in range(0, len(rows), 5000):
        v = sa.values(*[sa.column(k, table.c[k].type) for k in keys], name="wb_keys").data(rows[start:start + 5000])
        conn.execute(table.delete().where(sa.exists().where(*[v.c[k] == table.c[k] for k in keys])))


def _plain(v: object) -> object:
    """A pandas/numpy key value as the Python value the driver binds."""
    if isinstance(v, pd.Timestamp):
        return v.date()
    if hasattr(v, "item"):
        v = v.item()
    return v.date() if isinstance(v, dt.datetime) else v
