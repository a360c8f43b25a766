"""App tables of access control: users (app_user), their row scopes (app_user_scope) and the audit log (app_audit).

Created by migration 4 of ``lib.core.store``; ``lib.access.auth`` and ``lib.access.audit`` read and write them.
"""
from __future__ import annotations

import sqlalchemy as sa

users = sa.Table(
    "app_user", sa.MetaData(),
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("password_hash", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("is_demo", sa.Boolean, nullable=False),
    sa.Column("failed_attempts", sa.Integer, nullable=False),
    sa.Column("locked_until", sa.DateTime),
    sa.Column("sessions_valid_after", sa.DateTime),  # sessions and cookies issued before this are void
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
user_scope = sa.Table(
    "app_user_scope", users.metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),   # org | category
    sa.Column("value", sa.String(100), primary_key=True),  # org unit id, or category name
)

# Failed log-ins per client (browser address) and typed user name: the back-off that slows guessing from one
# place without locking the account's owner out, and the last good log-in that marks a client as known.
login_client = sa.Table(
    "app_login_client", users.metadata,
    sa.Column("client", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(64), primary_key=True),   # as typed (lower case): unknown names count too
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failed_at", sa.DateTime),
    sa.Column("wait_until", sa.DateTime),
    sa.Column("last_ok_at", sa.DateTime),
)


def create_login_clients(conn: sa.Connection) -> None:
    login_client.create(conn, checkfirst=True)


audit_seq = sa.Sequence("app_audit_id_seq", metadata=sa.MetaData())
audit = sa.Table(
    "app_audit", audit_seq.metadata,
    sa.Column("id", sa.BigInteger, audit_seq, server_default=audit_seq.next_value(), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("username", sa.String(100)),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("target", sa.String(200)),
    sa.Column("detail", sa.Text),
    sa.Column("source", sa.String(100)),
)


def create_tables(conn: sa.Connection) -> None:
    users.metadata.create_all(conn, checkfirst=True)
    audit_seq.create(conn, checkfirst=True)
    audit.create(conn, checkfirst=True)
