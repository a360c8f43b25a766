"""App tables of notifications: the outbox (app_outbox) and the contact e-mail column on app_user.

Created by migration 11 of ``lib.core.store``. A message is written to the outbox inside the transaction
that caused it (an alert run), then delivered later by ``lib.performance.notify.outbox.deliver``; its row keeps every
attempt's outcome, so a delivery failure is shown and retried, never lost.
"""
from __future__ import annotations

import enum

import sqlalchemy as sa

from lib.core import schema
from lib.core.tables import access as access_tables

metadata = sa.MetaData()
outbox_seq = sa.Sequence("app_outbox_id_seq", metadata=metadata)
outbox = sa.Table(
    "app_outbox", metadata,
    sa.Column("id", sa.BigInteger, outbox_seq, server_default=outbox_seq.next_value(), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),       # Channel: email | webhook
    # An e-mail address, or the configured group robot's name; never a webhook URL (it holds the key).
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("ref", sa.String(200)),                          # what caused it, e.g. "alert:42"
    sa.Column("status", sa.String(16), nullable=False),        # Status: pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False),         # attempts since queued or last manual retry
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),  # due time of the next attempt (backoff)
    sa.Column("last_attempt_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", sa.DateTime),
)

# The contact column added to app_user (created earlier by lib.access.auth): the code's constant, never input.
EMAIL_COLUMN = ("email", sa.String(320))
# A lightweight view of app_user with the added column, for reads and updates of contacts here.
user_contact = sa.table("app_user", sa.column("username", sa.String), sa.column("email", sa.String),
                        sa.column("active", sa.Boolean), sa.column("is_demo", sa.Boolean),
                        sa.column("display_name", sa.String), sa.column("role", sa.String))


class Channel(enum.StrEnum):
    """How a message travels."""

    EMAIL = "email"
    WEBHOOK = "webhook"


class Status(enum.StrEnum):
    """Where a message is: waiting for (another) attempt, delivered, or given up after the last attempt."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def create_tables(conn: sa.Connection) -> None:
    """Create the outbox and add the e-mail column to app_user (idempotent)."""
    metadata.create_all(conn, checkfirst=True)
    access_tables.create_tables(conn)  # app_user exists from migration 4; checkfirst keeps this a no-op then
    schema.add_missing_columns(conn, access_tables.users, [EMAIL_COLUMN])
