"""App table of the metric center: every saved edit of a metric (app_metric_version), created by migration 3.

``lib.semantic.metric_store`` writes and reads it; ``lib.core.versions`` fingerprints it.
"""
from __future__ import annotations

import sqlalchemy as sa

metric_version = sa.Table(
    "app_metric_version", sa.MetaData(),
    sa.Column("metric_id", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("note", sa.String(500)),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


def create_table(conn: sa.Connection) -> None:
    metric_version.create(conn, checkfirst=True)
