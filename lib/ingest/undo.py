"""Undoing imports: rollback of a batch (its rows and the dimension members it created), in one transaction."""
from __future__ import annotations

import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock, schema, store
from lib.core.tables.ingest import BatchStatus, import_batch, import_member
from lib.ingest.rows import ImportRejected
from lib.performance import hooks as ingest_hooks

# Where each dimension's members are referenced: (table, column).
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "customer": (("sales_line", "customer_id"), ("ar_invoice", "customer_id")),
    "product": (("sales_line", "product_id"), ("inventory_snapshot", "product_id")),
    "org_unit": (("sales_line", "org_unit_id"), ("journal_line", "org_unit_id"), ("budget_line", "org_unit_id"),
                 ("ar_invoice", "org_unit_id"), ("inventory_snapshot", "org_unit_id"), ("customer", "org_unit_id"),
                 ("org_unit", "parent_id")),
    "account": (("journal_line", "account_code"), ("budget_line", "account_code"), ("account", "parent_code")),
}


def previous_import(conn: sa.Connection, file_hash: str) -> int | None:
    """The committed batch that imported a file with this hash, if any."""
    if not file_hash:
        return None
    b = import_batch.c
    return conn.execute(sa.select(b.id).where(b.file_hash == file_hash, sa.func.coalesce(b.status, "committed")
                                              == BatchStatus.COMMITTED.value).order_by(b.id.desc()).limit(1)).scalar()


def delete_batch_rows(conn: sa.Connection, table: str, batch_id: int) -> int:
    """Delete the fact rows of ``batch_id`` from ``table`` (a fact table); returns how many."""
    t = schema.metadata.tables[table]
    if "batch_id" not in t.c:
        return 0
    n = conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.batch_id == batch_id)).scalar_one()
    conn.execute(t.delete().where(t.c.batch_id == batch_id))  # DuckDB reports no rowcount for DELETE
    return n


def _chunks(values: list, n: int = 1000):
    for i in range(0, len(values), n):
        yield values[i:i + n]


def _still_used(conn: sa.Connection, dim: str, keys: list) -> tuple[str, object] | None:
    """A (table, key) that still refers to one of ``keys`` after the batch's own rows are gone."""
    own = set(map(str, keys))
    for table, column in REFERENCES[dim]:
        t = schema.metadata.tables[table]
        for part in _chunks(keys):
            stmt = sa.select(t.c[column]).where(t.c[column].in_(part))
            if table == dim:  # a member's parent may be another member of the same batch
                key_col = t.c.code if dim == "account" else t.c.id
                stmt = sa.select(key_col, t.c[column]).where(t.c[column].in_(part))
                for row in conn.execute(stmt):
                    if str(row[0]) not in own:
                        return table, row[1]
                continue
            hit = conn.execute(stmt.limit(1)).scalar()
            if hit is not None:
                return table, hit
    return None


def _refuse_unless_drafts(conn: sa.Connection, batch_id: int) -> None:
    """Budget lines may only leave a draft version: approved and locked ones are what is reported."""
    bl, bv = schema.budget_line, schema.budget_version
    held = conn.execute(sa.select(bv.c.name, bv.c.status).distinct()
                        .select_from(bl.join(bv, bl.c.version_id == bv.c.id))
                        .where(bl.c.batch_id == batch_id, bv.c.status != "draft")).first()
    if held is not None:
        raise ImportRejected(
            f"Batch {batch_id} holds lines of budget version {held.name!r}, which is {held.status}; only a draft "
            "version's lines can be rolled back. Return it to draft (or copy it) first.",
            f"批次 {batch_id} 包含预算版本“{held.name}”的明细，该版本状态为 {held.status}；只有草稿版本的明细可以回滚。"
            "请先退回草稿（或复制一个版本）。")


def rollback(engine: sa.Engine, user: User, batch_id: int) -> int:
    """Delete a batch's rows and the dimension members it created, in one transaction; returns rows deleted.

    Refuses the demo batch, a batch already rolled back or replaced, and a batch whose members
    other rows still use (roll back those imports first): a rollback restores the state before the
    import exactly, or does nothing.
    """
    auth.require(user, "import_data")
    with engine.begin() as conn:
        b = conn.execute(sa.select(import_batch).where(import_batch.c.id == batch_id)).first()
        if b is None:
            raise ImportRejected(f"No import batch {batch_id}.", f"没有导入批次 {batch_id}。")
        if b.kind == "demo":
            raise ImportRejected(
                "The demo company cannot be rolled back batch-wise; rebuild it with `python -m lib.cli demo --replace`.",
                "示例公司数据不能按批次回滚；请用 `python -m lib.cli demo --replace` 重建。")
        status = b.status or BatchStatus.COMMITTED.value
        if status != BatchStatus.COMMITTED.value:
            raise ImportRejected(f"Batch {batch_id} is {status}; only a committed batch can be rolled back.",
                                 f"批次 {batch_id} 的状态为 {status}，只有已提交的批次可以回滚。")
        if b.target_table == "budget_line":
            _refuse_unless_drafts(conn, batch_id)
        deleted = delete_batch_rows(conn, b.target_table, batch_id) if b.target_table else 0
        m = import_member.c
        members = conn.execute(sa.select(m.table_name, m.member_key).where(m.batch_id == batch_id)).all()
        by_dim: dict[str, list] = {}
        for table, key in members:
            by_dim.setdefault(table, []).append(key if table == "account" else int(key))
        # Members are removed leaves first: customers use org units, org units their parents.
        for dim in ("customer", "product", "account", "org_unit"):
            keys = by_dim.get(dim)
            if not keys:
                continue
            t = schema.metadata.tables[dim]
            key_col = t.c.code if dim == "account" else t.c.id
            used = _still_used(conn, dim, keys)
            if used:
                raise ImportRejected(
                    f"Batch {batch_id} created {dim} members that {used[0]} still uses (e.g. {used[1]}); "
                    "roll back the imports that use them first.",
                    f"批次 {batch_id} 创建的{dim}成员仍被 {used[0]} 使用（例如 {used[1]}），请先回滚引用它们的导入。")
            for part in _chunks(keys):
                conn.execute(t.delete().where(key_col.in_(part)))
            if dim == b.target_table:
                deleted += len(keys)
        conn.execute(import_member.delete().where(m.batch_id == batch_id))
        if "org_unit" in by_dim:
            store.refresh_org_flat(conn)
        conn.execute(import_batch.update().where(import_batch.c.id == batch_id).values(
            status=BatchStatus.ROLLED_BACK.value, rolled_back_at=clock.now_precise(), rolled_back_by=user.username))
        audit.record(conn, user.username, "import", target=f"rollback:{batch_id}",
                     detail={"batch_id": batch_id, "rows": deleted, "table": b.target_table}, source="ingest")
    ingest_hooks.data_changed(engine, user.username)
    return deleted
