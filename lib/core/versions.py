"""Fingerprints of what the figures depend on, so a cache or a frozen result can tell that it is stale.

``data`` changes when an import, a rollback, a demo build or a budget change lands; ``metrics`` when a
metric edit is saved or a dataset registered. The pages key their caches on them; a scorecard run
stores them to refuse publishing an evaluation made before the data changed.
"""
from __future__ import annotations

import sqlalchemy as sa

from lib.core.tables import ask as ask_tables
from lib.core.tables import finance as finance_tables
from lib.core.tables import metrics as metric_tables
from lib.core.tables import sources as source_tables
from lib.core.tables.ingest import import_batch


def data(conn: sa.Connection) -> str:
    """Import batches (count, newest, newest rollback) and the newest budget change."""
    b, change = import_batch.c, finance_tables.budget_change.c
    n, last, undone = conn.execute(sa.select(sa.func.count(), sa.func.max(b.created_at),
                                             sa.func.max(b.rolled_back_at))).one()
    changes = conn.execute(sa.select(sa.func.max(change.id))).scalar_one()
    return f"{n}:{last}:{undone}:{changes}"


def metrics(conn: sa.Connection) -> str:
    """Metric edits, registered datasets and taught question words (count and newest of each)."""
    v, x, w = metric_tables.metric_version.c, source_tables.ext_dataset.c, ask_tables.vocabulary_version.c
    n, last = conn.execute(sa.select(sa.func.count(), sa.func.max(v.created_at))).one()
    dn, dlast = conn.execute(sa.select(sa.func.count(), sa.func.max(x.updated_at))).one()
    wn, wlast = conn.execute(sa.select(sa.func.count(), sa.func.max(w.created_at))).one()
    return f"{n}:{last}:{dn}:{dlast}:{wn}:{wlast}"
