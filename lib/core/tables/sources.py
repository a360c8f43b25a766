"""App tables of database sources and of files registered as datasets (migration 8).

No secret is stored here: a source row names where its URL lives (``secret_ref``: a secrets.toml
key or an environment variable), never the URL itself.
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# One external database (an ERP/CRM reporting replica).
source = sa.Table(
    "app_source", metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    # "secrets:sources.<name>.url" or "env:WORKBENCH_SOURCE_<NAME>_URL"
    sa.Column("secret_ref", sa.String(200), nullable=False),
    sa.Column("dialect", sa.String(40)),
    sa.Column("note", sa.String(500)),
    sa.Column("created_by", sa.String(100)),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# What a source feeds into one canonical table, and how far the last sync got.
source_feed = sa.Table(
    "app_source_feed", metadata,
    sa.Column("source_name", sa.String(40), primary_key=True),
    sa.Column("target", sa.String(40), primary_key=True),
    sa.Column("source_table", sa.String(200)),
    sa.Column("query", sa.Text),
    sa.Column("mapping", sa.Text, nullable=False),          # JSON {canonical column: source column}
    sa.Column("options", sa.Text),                          # JSON: create_missing and ImportOptions fields
    sa.Column("watermark_column", sa.String(100), nullable=False),
    sa.Column("watermark", sa.String(100)),                 # last value read, as text (ISO date-time or number)
    sa.Column("last_sync_at", sa.DateTime),
    sa.Column("last_batch_id", sa.Integer),
    sa.Column("last_rows", sa.BigInteger),
    sa.Column("updated_by", sa.String(100)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# A file imported as is into its own ext_<slug> table, offered to Explore as a dataset.
ext_dataset = sa.Table(
    "app_ext_dataset", metadata,
    sa.Column("table_name", sa.String(63), primary_key=True),
    sa.Column("label_zh", sa.String(200), nullable=False),
    sa.Column("label_en", sa.String(200), nullable=False),
    sa.Column("columns", sa.Text, nullable=False),          # JSON list of {name, label, type, role}
    sa.Column("time_column", sa.String(63), nullable=False),
    sa.Column("source", sa.String(300)),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("created_by", sa.String(100)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)


def create_tables(conn: sa.Connection) -> None:
    """Create the tables (idempotent); migration 8 of ``lib.core.store``."""
    metadata.create_all(conn, checkfirst=True)
