"""App tables of data integration (数据接入): import history details, mapping templates, database sources.

``app_import_batch`` itself is canonical (lib/core/schema.py); the history columns added here (target
table, file hash, status, rollback) are created by ALTER TABLE, guarded by inspection, so an
existing store keeps its batches.
"""
from __future__ import annotations

import enum

import sqlalchemy as sa

from lib.core import schema

metadata = sa.MetaData()


class BatchStatus(enum.StrEnum):
    COMMITTED = "committed"      # NULL in rows written before this migration (the demo batch)
    ROLLED_BACK = "rolled_back"
    REPLACED = "replaced"        # its rows were deleted by a re-import of the same file


# Columns added to the canonical app_import_batch.
BATCH_COLUMNS: tuple[tuple[str, sa.types.TypeEngine], ...] = (
    ("target_table", sa.String(64)),
    ("file_hash", sa.String(64)),
    ("status", sa.String(16)),
    ("rolled_back_at", sa.DateTime()),
    ("rolled_back_by", sa.String(100)),
    ("replaced_by", sa.Integer()),
)

# The full history row as this module reads and writes it (same table as schema.app_import_batch).
import_batch = sa.Table(
    schema.app_import_batch.name, metadata,
    *[sa.Column(c.name, c.type, primary_key=c.primary_key, autoincrement=False, nullable=c.nullable)
      for c in schema.app_import_batch.columns],
    *[sa.Column(name, type_) for name, type_ in BATCH_COLUMNS],
)

# A named column mapping for the next import of the same kind of file.
import_template = sa.Table(
    "app_import_template", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("table_name", sa.String(64), nullable=False),
    sa.Column("mapping", sa.Text, nullable=False),      # JSON {canonical column: source column}
    sa.Column("options", sa.Text),                      # JSON of ImportOptions fields that differ from the defaults
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Dimension rows an import created (members made by --create-missing, or the rows of an import
# into a dimension table), so a rollback can delete exactly them: dimension tables have no batch_id.
import_member = sa.Table(
    "app_import_member", metadata,
    sa.Column("batch_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("table_name", sa.String(64), primary_key=True),
    sa.Column("member_key", sa.String(64), primary_key=True),   # the id (account: the code), as text
)


def create_tables(conn: sa.Connection) -> None:
    schema.add_missing_columns(conn, schema.app_import_batch, BATCH_COLUMNS)
    metadata.create_all(conn, tables=[import_template, import_member], checkfirst=True)
