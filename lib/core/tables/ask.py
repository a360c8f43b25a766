"""App tables of questions in words (问数), created by migration 14.

- ``app_vocabulary_version``: what finance taught the question box about a dimension (its synonyms and its
  members' aliases), every save a new version like a metric edit; ``lib.ask.lexicon`` writes and reads it.
- ``app_ask_recent``: the questions each user asked, newest kept, for the box's "recent" list.
"""
from __future__ import annotations

import sqlalchemy as sa

vocabulary_version = sa.Table(
    "app_vocabulary_version", sa.MetaData(),
    sa.Column("dimension_id", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("definition", sa.Text, nullable=False),  # JSON {"synonyms": [...], "aliases": {member: [...]}}
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("note", sa.String(500)),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

ask_recent = sa.Table(
    "app_ask_recent", sa.MetaData(),
    sa.Column("username", sa.String(100), primary_key=True),
    sa.Column("question", sa.String(500), primary_key=True),
    sa.Column("asked_at", sa.DateTime, nullable=False),
)


def create_tables(conn: sa.Connection) -> None:
    vocabulary_version.create(conn, checkfirst=True)
    ask_recent.create(conn, checkfirst=True)
