"""App tables of the alerts (预警): rules, alerts (one row per breach and rule row), comments, evaluation runs
and the lock that serialises evaluations.

Created by migration 10 of ``lib.core.store``. Ids come from sequences (DuckDB has no SERIAL).
"""
from __future__ import annotations

import enum

import sqlalchemy as sa

metadata = sa.MetaData()


class Status(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


ACTIVE = (Status.OPEN.value, Status.ACKNOWLEDGED.value)


def _seq(name: str) -> sa.Sequence:
    return sa.Sequence(name, metadata=metadata)


rule_seq, alert_seq, comment_seq, run_seq = (_seq("app_alert_rule_id_seq"), _seq("app_alert_id_seq"),
                                             _seq("app_alert_comment_id_seq"), _seq("app_alert_run_id_seq"))

alert_rule = sa.Table(
    "app_alert_rule", metadata,
    sa.Column("id", sa.BigInteger, rule_seq, server_default=rule_seq.next_value(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("metric", sa.String(100), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),            # the whole rule as JSON (lib.performance.alerts.rules.Rule.to_dict)
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

alert = sa.Table(
    "app_alert", metadata,
    sa.Column("id", sa.BigInteger, alert_seq, server_default=alert_seq.next_value(), primary_key=True),
    sa.Column("rule_id", sa.BigInteger, nullable=False),
    sa.Column("rule_name", sa.String(200), nullable=False),
    sa.Column("dedup_key", sa.String(400), nullable=False),   # the row (and period for anomalies) within the rule
    sa.Column("member", sa.String(200)),                      # the dimension value that breached
    sa.Column("org_unit_id", sa.Integer),                     # its org unit, when the row is one (routing, scope)
    sa.Column("period", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("metric", sa.String(100), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("reference", sa.Float),
    sa.Column("measure", sa.Float),
    sa.Column("message_zh", sa.Text, nullable=False),
    sa.Column("message_en", sa.Text, nullable=False),
    sa.Column("link", sa.Text, nullable=False),              # Explore URL parameters (query string) of the breach's chart
    sa.Column("assignee", sa.String(100)),
    sa.Column("owners", sa.Text, nullable=False, server_default=""),   # comma-separated usernames it was routed to
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Column("first_as_of", sa.Date, nullable=False),
    sa.Column("last_as_of", sa.Date, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolved_by", sa.String(100)),
)
sa.Index("ix_app_alert_rule_status", alert.c.rule_id, alert.c.status)
# One row per rule row (and period, for anomalies) whatever its status: a breach that comes back reopens
# its row, a resolved anomaly stays resolved; so two evaluations can never both insert the same alert.
sa.Index("uq_app_alert_rule_key", alert.c.rule_id, alert.c.dedup_key, unique=True)

alert_comment = sa.Table(
    "app_alert_comment", metadata,
    sa.Column("id", sa.BigInteger, comment_seq, server_default=comment_seq.next_value(), primary_key=True),
    sa.Column("alert_id", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),         # comment | status | assign
    sa.Column("body", sa.Text, nullable=False),
)

alert_run = sa.Table(
    "app_alert_run", metadata,
    sa.Column("id", sa.BigInteger, run_seq, server_default=run_seq.next_value(), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("run_by", sa.String(100), nullable=False),
    sa.Column("rules", sa.Integer, nullable=False),
    sa.Column("new", sa.Integer, nullable=False),
    sa.Column("still_open", sa.Integer, nullable=False),
    sa.Column("resolved", sa.Integer, nullable=False),
    sa.Column("errors", sa.Text, nullable=False, server_default=""),
    sa.Column("seconds", sa.Float, nullable=False),
)


# One row ("run_all"), locked by every writing evaluation (SELECT … FOR UPDATE on PostgreSQL, an UPDATE
# everywhere): a second evaluation waits, then re-reads the alerts the first one wrote.
alert_lock = sa.Table(
    "app_alert_lock", metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("locked_at", sa.DateTime),
    sa.Column("locked_by", sa.String(100)),
)
RUN_LOCK = "run_all"


def create_tables(conn: sa.Connection) -> None:
    """Create the tables and the lock row (idempotent)."""
    metadata.create_all(conn, checkfirst=True)
    if conn.execute(sa.select(alert_lock.c.name).where(alert_lock.c.name == RUN_LOCK)).first() is None:
        conn.execute(alert_lock.insert().values(name=RUN_LOCK))
