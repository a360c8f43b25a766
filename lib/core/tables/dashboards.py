"""App table of the dashboards (看板): title, owner, dashboard filters and tiles as chart specs (JSON)."""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
dashboard_seq = sa.Sequence("app_dashboard_id_seq", metadata=metadata)
dashboard = sa.Table(
    "app_dashboard", metadata,
    sa.Column("id", sa.BigInteger, dashboard_seq, server_default=dashboard_seq.next_value(), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("filters", sa.Text, nullable=False, server_default="{}"),   # dashboard-wide filters, JSON
    sa.Column("tiles", sa.Text, nullable=False, server_default="[]"),     # [{chart: ChartSpec JSON, width, note}]
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)


def create_tables(conn: sa.Connection) -> None:
    metadata.create_all(conn, checkfirst=True)
