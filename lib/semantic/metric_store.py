"""Metric edits with history: the YAML is the seed (version 0), the store holds every later version.

A save validates the edited metric together with the whole model first, so a bad edit never
replaces a good definition. Restoring an old version writes it again as a new version.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa

from lib.access import audit
from lib.core import clock
from lib.core.errors import WorkbenchError
from lib.core.tables.metrics import metric_version
from lib.semantic import model as semantic
from lib.semantic.model import Issue, SemanticError, SemanticModel


@dataclass(frozen=True)
class Version:
    metric_id: str
    version: int
    definition: dict
    action: str
    author: str
    note: str | None
    created_at: dt.datetime | None


def overrides(engine: sa.Engine) -> list[dict]:
    """The latest stored definition of every edited metric."""
    latest = (sa.select(metric_version.c.metric_id, sa.func.max(metric_version.c.version).label("v"))
              .group_by(metric_version.c.metric_id).subquery())
    stmt = sa.select(metric_version.c.definition).join(
        latest, sa.and_(latest.c.metric_id == metric_version.c.metric_id, latest.c.v == metric_version.c.version))
    with engine.connect() as conn:
        return [json.loads(d) for d in conn.execute(stmt).scalars()]


def load_model(engine: sa.Engine) -> tuple[SemanticModel, list[Issue]]:
    """The YAML seed with the stored edits applied; edits that no longer validate are left out and reported.

    Datasets registered from files (``lib.semantic.datasets``) are loaded with the YAML.
    """
    from lib.semantic import datasets as datasets_registry  # imports this module's neighbours; keep the import local
    docs, tables = datasets_registry.valid_documents(engine)
    edits = overrides(engine)
    try:
        return semantic.load(overrides=edits, documents=docs, tables=tables), []
    except SemanticError:
        model, skipped = semantic.load(documents=docs, tables=tables), []
        for raw in edits:
            try:
                model = model.with_metric(_metric(raw, model))
            except SemanticError as exc:
                skipped += exc.issues
        return model, skipped


def _metric(raw: dict, model: SemanticModel) -> semantic.Metric:
    issues: list[Issue] = []
    subject = raw.get("subject") or (model.metrics[raw["id"]].subject if raw.get("id") in model.metrics else "edits")
    m = semantic.metric_from_dict(raw, subject=subject, file="(edit)", issues=issues)
    if m is None:
        raise SemanticError(issues)
    return m


def history(engine: sa.Engine, metric_id: str, model: SemanticModel | None = None) -> list[Version]:
    """Every version of a metric, newest first; version 0 is the YAML seed."""
    stmt = (sa.select(metric_version).where(metric_version.c.metric_id == metric_id)
            .order_by(metric_version.c.version.desc()))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = [Version(r.metric_id, r.version, json.loads(r.definition), r.action, r.author, r.note, r.created_at) for r in rows]
    seed = semantic.load().metrics.get(metric_id)
    if seed is not None:
        out.append(Version(metric_id, 0, {**seed.to_dict(), "subject": seed.subject}, "seed", "data/semantic", None, None))
    return out


def save(engine: sa.Engine, definition: dict, author: str, note: str = "", model: SemanticModel | None = None,
         action: str = "edit", user=None) -> Version:
    """Validate ``definition`` with the whole model and store it as the metric's next version.

    Raises :class:`SemanticError` listing every problem; nothing is written then. With ``user``
    (the app passes the logged-in one), the role must allow editing metrics.
    """
    if user is not None:  # re-read from the store: a role taken away a moment ago counts
        from lib.access import auth
        auth.require(auth.load_user(engine, user.username), "edit_metrics")
    if not author.strip():
        raise WorkbenchError("An edit needs its author.", "修改需要注明修改人。")
    model = model or load_model(engine)[0]
    metric = _metric(definition, model)
    model.with_metric(metric)  # raises SemanticError with every problem
    stored = {**metric.to_dict(), "subject": metric.subject}
    with engine.begin() as conn:
        current = conn.execute(sa.select(sa.func.max(metric_version.c.version))
                               .where(metric_version.c.metric_id == metric.id)).scalar()
        version = (current or 0) + 1
        now = clock.now()
        conn.execute(metric_version.insert().values(
            metric_id=metric.id, version=version, definition=json.dumps(stored, ensure_ascii=False, sort_keys=True),
            action=action, author=author.strip(), note=note.strip() or None, created_at=now))
        audit.record(conn, user.username if user is not None else author.strip(),
                     f"metric_{action}" if action in ("edit", "restore", "create") else "metric_edit",
                     metric.id, {"version": version, "author": author.strip(), "note": note.strip() or None},
                     "metric center" if user is not None else "cli")
    return Version(metric.id, version, stored, action, author.strip(), note.strip() or None, now)


def restore(engine: sa.Engine, metric_id: str, version: int, author: str, model: SemanticModel | None = None,
            user=None) -> Version:
    """Make an earlier version current again, as a new version."""
    old = next((v for v in history(engine, metric_id) if v.version == version), None)
    if old is None:
        raise WorkbenchError(f"Metric '{metric_id}' has no version {version}.", f"指标“{metric_id}”没有版本 {version}。")
    return save(engine, old.definition, author, note=f"restore version {version}", model=model, action="restore",
                user=user)


def changes(old: dict, new: dict) -> list[tuple[str, object, object]]:
    """Fields that differ between two definitions: (field, old, new).

    >>> changes({"expr": "sum(a)", "owner": "x"}, {"expr": "sum(b)", "owner": "x"})
    [('expr', 'sum(a)', 'sum(b)')]
    """
    keys = [k for k in dict.fromkeys([*old, *new]) if k != "subject"]
    return [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]
