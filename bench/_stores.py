"""Where a benchmark builds its store: a temporary DuckDB file, or a throw-away PostgreSQL database."""
from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator

import sqlalchemy as sa


@contextlib.contextmanager
def bench_store(admin_url: str | None) -> Iterator[str]:
    """A store URL that is removed afterwards: DuckDB when ``admin_url`` is None, else a new database on that server."""
    if admin_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"duckdb:///{tmp}/bench.duckdb"
        return
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"wbbench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
