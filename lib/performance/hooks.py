"""What runs once business data has changed by an import, a database sync or a rollback: the alert rules
(预警随导入评估), so a breach shows when the data lands, not at month end."""
from __future__ import annotations

import logging

import sqlalchemy as sa

from lib.core.errors import WorkbenchError

log = logging.getLogger(__name__)


def data_changed(engine: sa.Engine, by: str) -> None:
    """Evaluate every enabled alert rule. The write has committed already: a failure here must neither
    undo it nor pass for an import failure (the user would import again), so it is logged with its
    traceback, and the alert center shows when the rules last ran. A broken rule does not get here:
    ``run_all`` reports it in its summary and evaluates the others."""
    from lib.performance.alerts import (
        center as alerts,  # on use: the import path does not need the alert rules' dependencies otherwise
    )
    try:
        alerts.run_all(engine, by=by)
    except WorkbenchError as exc:
        log.warning("alert rules were not evaluated after a data change by %s: %s", by, exc)
    except Exception:
        log.exception("alert rules failed after a data change by %s", by)
