"""App tables of the scorecards (绩效考核): templates, manual KPI values, evaluation runs and their results.

A run's lines and totals are written once, when the run is saved; nothing updates them afterwards
(a published run is frozen: a re-run is a new version of the same template and period, with a reason).
Created by a migration of ``lib.core.store``.
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
MONEY = sa.Numeric(18, 2)

template = sa.Table(
    "app_scorecard_template", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name_zh", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(100), nullable=False),
    sa.Column("unit_kind", sa.String(20), nullable=False),
    sa.Column("definition", sa.Text, nullable=False),      # JSON: lib.performance.scorecards.defs.to_dict
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

manual_seq = sa.Sequence("app_scorecard_manual_id_seq", metadata=metadata)
manual = sa.Table(
    "app_scorecard_manual", metadata,   # append-only: the latest entry of a key counts, earlier ones are its history
    sa.Column("id", sa.BigInteger, manual_seq, server_default=manual_seq.next_value(), primary_key=True),
    sa.Column("template_id", sa.String(64), nullable=False),
    sa.Column("kpi_id", sa.String(64), nullable=False),
    sa.Column("org_unit_id", sa.Integer, nullable=False),
    sa.Column("period", sa.String(16), nullable=False),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("note", sa.String(500)),
    sa.Column("entered_by", sa.String(100), nullable=False),
    sa.Column("entered_at", sa.DateTime, nullable=False),
)

run_seq = sa.Sequence("app_scorecard_run_id_seq", metadata=metadata)
run = sa.Table(
    "app_scorecard_run", metadata,
    sa.Column("id", sa.BigInteger, run_seq, server_default=run_seq.next_value(), primary_key=True),
    sa.Column("template_id", sa.String(64), nullable=False),
    sa.Column("template_name", sa.String(100), nullable=False),
    sa.Column("period", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),    # draft | published
    sa.Column("reason", sa.String(500)),
    sa.Column("definition", sa.Text, nullable=False),      # the template as used, weights included (JSON)
    sa.Column("pool", MONEY, nullable=False),
    sa.Column("bonus_method", sa.String(16), nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("published_by", sa.String(100)),
    sa.Column("published_at", sa.DateTime),
    sa.Column("computed_at", sa.DateTime),                 # when the evaluation read the data
    sa.Column("data_version", sa.String(200)),             # lib.performance.scorecards.evaluate.data_version then: publishing
                                                           # refuses the run once the data has changed
    sa.UniqueConstraint("template_id", "period", "version", name="uq_scorecard_run_version"),
)

line = sa.Table(
    "app_scorecard_line", metadata,
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("org_unit_id", sa.Integer, nullable=False),
    sa.Column("kpi_id", sa.String(64), nullable=False),
    sa.Column("unit", sa.String(100), nullable=False),
    sa.Column("metric", sa.String(64)),
    sa.Column("actual", sa.Double),
    sa.Column("target", sa.Double),
    sa.Column("threshold", sa.Double),
    sa.Column("stretch", sa.Double),
    sa.Column("score", sa.Double),
    sa.Column("weight", sa.Double, nullable=False),
    sa.Column("note", sa.String(300)),                     # manual: who/when; otherwise why a KPI is unscored
    sa.PrimaryKeyConstraint("run_id", "org_unit_id", "kpi_id"),
)

total = sa.Table(
    "app_scorecard_total", metadata,
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("org_unit_id", sa.Integer, nullable=False),
    sa.Column("unit", sa.String(100), nullable=False),
    sa.Column("unit_en", sa.String(100)),
    sa.Column("total", sa.Double),                         # NULL: no KPI of the unit could be scored
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("base", sa.Double, nullable=False),
    sa.Column("bonus", MONEY, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "org_unit_id"),
)


def create_tables(conn: sa.Connection) -> None:
    """Create the tables (idempotent)."""
    metadata.create_all(conn, checkfirst=True)
