"""App tables of alert (filled by its owner). Created by a migration of ``lib.store``."""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()


def create_tables(conn: sa.Connection) -> None:
    """Create the tables (idempotent)."""
    metadata.create_all(conn, checkfirst=True)
