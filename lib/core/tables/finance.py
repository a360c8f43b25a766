"""App tables of the finance analyses: budget version changes, saved forecasts, scenarios.

Defined here, apart from the logic in ``lib.finance.budget``, ``lib.finance.forecast`` and ``lib.finance.scenario``, so a
migration can create them without importing the analyses.
"""
from __future__ import annotations

import sqlalchemy as sa

from lib.core import schema

metadata = sa.MetaData()

change_seq = sa.Sequence("app_budget_change_id_seq", metadata=metadata)
# One row per saved change to a budget version (create, copy, grid edit, upload, status change).
budget_change = sa.Table(
    "app_budget_change", metadata,
    sa.Column("id", sa.BigInteger, change_seq, server_default=change_seq.next_value(), primary_key=True),
    sa.Column("version_id", sa.Integer, nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("detail", sa.Text),
)

run_seq = sa.Sequence("app_forecast_run_id_seq", metadata=metadata)
# A saved forecast: made in month ``made_in`` (the last month of actuals it saw) for a metric,
# per value of ``dimension`` (NULL: the total).
forecast_run = sa.Table(
    "app_forecast_run", metadata,
    sa.Column("id", sa.BigInteger, run_seq, server_default=run_seq.next_value(), primary_key=True),
    sa.Column("made_at", sa.DateTime, nullable=False),
    sa.Column("made_in", sa.Date, nullable=False),
    sa.Column("made_by", sa.String(100), nullable=False),
    sa.Column("metric", sa.String(100), nullable=False),
    sa.Column("dimension", sa.String(100)),
    sa.Column("horizon", sa.Integer, nullable=False),
    sa.Column("data_version", sa.String(100)),
    sa.Column("note", sa.String(500)),
)

forecast_line = sa.Table(
    "app_forecast_line", metadata,
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("series", sa.String(200), nullable=False),   # the dimension value, '' for the total
    sa.Column("period", sa.Date, nullable=False),          # first day of the month
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("lo80", sa.Float), sa.Column("hi80", sa.Float),
    sa.Column("lo95", sa.Float), sa.Column("hi95", sa.Float),
    sa.PrimaryKeyConstraint("run_id", "series", "period"),
)

scenario_seq = sa.Sequence("app_scenario_id_seq", metadata=metadata)
# A what-if scenario: its drivers as JSON; ``version_id`` is the scenario budget version it was
# saved as (NULL until saved).
scenario = sa.Table(
    "app_scenario", metadata,
    sa.Column("id", sa.BigInteger, scenario_seq, server_default=scenario_seq.next_value(), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("base", sa.String(100), nullable=False),
    sa.Column("drivers", sa.Text, nullable=False),
    sa.Column("version_id", sa.Integer),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Columns added to the canonical budget_version (who made and last changed a version).
BUDGET_VERSION_COLUMNS = (
    ("created_by", sa.String(100)),
    ("updated_at", sa.DateTime()),
    ("updated_by", sa.String(100)),
)


# Columns added by migration 13: a version drafted from a forecast records the method and the data's last month.
BUDGET_SOURCE_COLUMNS = (
    ("method", sa.String(200)),
    ("data_date", sa.Date()),
)


def add_budget_source(conn: sa.Connection) -> None:
    schema.add_missing_columns(conn, schema.budget_version, list(BUDGET_SOURCE_COLUMNS))


def create_tables(conn: sa.Connection) -> None:
    # Columns added to the canonical table after version 1 (superseded_by), then the app's own.
    schema.add_missing_columns(conn, schema.budget_version,
                               [*((c.name, c.type) for c in schema.budget_version.columns), *BUDGET_VERSION_COLUMNS])
    metadata.create_all(conn, checkfirst=True)
