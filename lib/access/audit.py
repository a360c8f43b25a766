"""The audit log (app_audit): who did what, when, from where. Append-only from the app."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import sqlalchemy as sa

from lib.core import clock, db
from lib.core.tables.access import audit, audit_seq  # noqa: F401  (callers read the table here)

ACTIONS = ("login", "login_failed", "login_throttled", "logout", "user_create", "user_update", "user_disable", "user_enable",
           "password_reset", "scope_change", "metric_edit", "metric_restore", "metric_create",
           "query_as", "export", "import", "budget_edit", "scorecard_edit", "scorecard_run", "scorecard_publish",
           "kpi_entry", "alert_rule_edit", "alert_update", "notify_config", "budget_from_forecast", "vocabulary_edit")


def record(conn_or_engine, username: str | None, action: str, target: str | None = None,
           detail: dict | None = None, source: str | None = None) -> None:
    """Append one entry; inside the caller's transaction when given a connection."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(ACTIONS)}")
    values = dict(created_at=clock.now(), username=username, action=action, target=target,
                  detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str) if detail else None,
                  source=source)
    if isinstance(conn_or_engine, sa.Engine):
        with conn_or_engine.begin() as conn:
            conn.execute(audit.insert().values(**values))
    else:
        conn_or_engine.execute(audit.insert().values(**values))


def entries(engine: sa.Engine, username: str | None = None, action: str | None = None,
            since: dt.datetime | None = None, limit: int = 1000) -> pd.DataFrame:
    """The newest entries first, filtered by user, action and time."""
    stmt = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
    if username:
        stmt = stmt.where(audit.c.username == username)
    if action:
        stmt = stmt.where(audit.c.action == action)
    if since:
        stmt = stmt.where(audit.c.created_at >= since)
    return db.run(engine, stmt)
