"""Alert rule management (finance/admin): save, enable, delete, the 12-month preview, and the demo rules.

The preview answers "this rule would have fired N times in the last 12 months": the rule evaluated at
the first of each of the last 12 months (anomaly rules: every period of the 12 months in one pass),
counting a row once per stretch of consecutive breaches, as de-duplication would.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock, config
from lib.core.errors import InvalidArgument
from lib.core.tables.alerts import ACTIVE, Status, alert, alert_comment, alert_rule
from lib.performance.alerts import rules as ar
from lib.semantic import metric_store, query

DEMO_RULES = config.DATA_DIR / "alerts.yaml"


def _now() -> dt.datetime:
    return clock.now()


def save_rule(engine: sa.Engine, user: User, rule: ar.Rule, source: str = "app") -> int:
    """Create the rule (``rule.id`` None) or replace rule ``rule.id``; validated, audited; returns the id."""
    auth.require(user, "edit_alert_rules")
    ar.validate(rule, metric_store.load_model(engine)[0])
    spec = json.dumps(rule.to_dict(), ensure_ascii=False, sort_keys=True)
    now = _now()
    with engine.begin() as conn:
        clash = conn.execute(sa.select(alert_rule.c.id).where(alert_rule.c.name == rule.name)).scalar()
        if clash is not None and clash != rule.id:
            raise InvalidArgument(f"An alert rule named {rule.name!r} exists already.", f"已存在名为 {rule.name!r} 的预警规则。")
        values = dict(name=rule.name, kind=rule.kind.value, metric=rule.metric, spec=spec, enabled=rule.enabled,
                      updated_by=user.username, updated_at=now)
        if rule.id is None:
            rule_id = int(conn.execute(alert_rule.insert().values(created_by=user.username, created_at=now, **values)
                                       .returning(alert_rule.c.id)).scalar_one())
        else:
            if not rule.enabled:
                _resolve_alerts_of(conn, rule.id, user.username, now)
            # checked with a SELECT: DuckDB does not report an UPDATE's row count
            if conn.execute(sa.select(alert_rule.c.id).where(alert_rule.c.id == rule.id)).first() is None:
                raise InvalidArgument(f"No alert rule {rule.id}.", f"没有编号为 {rule.id} 的预警规则。")
            conn.execute(alert_rule.update().where(alert_rule.c.id == rule.id).values(**values))
            rule_id = rule.id
        audit.record(conn, user.username, "alert_rule_edit", f"alert_rule:{rule_id}",
                     {"action": "create" if rule.id is None else "update", **rule.to_dict()}, source)
    return rule_id


def set_enabled(engine: sa.Engine, user: User, rule_id: int, enabled: bool, source: str = "app") -> None:
    """Switch a rule on or off; switching it off resolves its open alerts (nothing would ever resolve them)."""
    auth.require(user, "edit_alert_rules")
    with engine.begin() as conn:
        if not enabled:
            _resolve_alerts_of(conn, rule_id, user.username, _now())
        row = conn.execute(sa.select(alert_rule.c.spec).where(alert_rule.c.id == rule_id)).first()
        if row is None:
            raise InvalidArgument(f"No alert rule {rule_id}.", f"没有编号为 {rule_id} 的预警规则。")
        spec = {**json.loads(row.spec), "enabled": bool(enabled)}
        conn.execute(alert_rule.update().where(alert_rule.c.id == rule_id).values(
            enabled=bool(enabled), spec=json.dumps(spec, ensure_ascii=False, sort_keys=True),
            updated_by=user.username, updated_at=_now()))
        audit.record(conn, user.username, "alert_rule_edit", f"alert_rule:{rule_id}", {"enabled": bool(enabled)}, source)


def _resolve_alerts_of(conn: sa.Connection, rule_id: int, by: str, now: dt.datetime) -> int:
    """Resolve the open and acknowledged alerts of a rule being switched off, each with a history line."""
    ids = conn.execute(sa.select(alert.c.id).where(alert.c.rule_id == rule_id, alert.c.status.in_(ACTIVE))).scalars().all()
    for alert_id in ids:
        conn.execute(alert.update().where(alert.c.id == alert_id).values(
            status=Status.RESOLVED.value, resolved_at=now, resolved_by=by))
        conn.execute(alert_comment.insert().values(alert_id=alert_id, created_at=now, username=by, kind="status",
                                                   body="规则已停用，预警关闭 / rule switched off: alert resolved"))
    return len(ids)


@dataclass(frozen=True)
class Preview:
    """How often a rule would have fired in the last ``months`` months."""

    fired: int                       # alerts it would have raised (a persisting breach counts once)
    evaluations: int
    firings: pd.DataFrame            # as_of, member, period, value, measure


def preview(engine: sa.Engine, user: User, rule: ar.Rule, as_of: dt.date, months: int = 12) -> Preview:
    """Evaluate ``rule`` over the last ``months`` months without storing anything (finance/admin: the
    figures are company-wide, unscoped)."""
    auth.require(user, "edit_alert_rules")
    model = metric_store.load_model(engine)[0]
    ar.validate(rule, model)
    run = lambda spec: query.run(engine, spec, None, model)  # noqa: E731
    rows: list[dict] = []
    start = (pd.Timestamp(as_of) - pd.DateOffset(months=months)).date()
    if rule.kind is ar.Kind.ANOMALY:
        for b in ar.anomalies_since(rule, run, as_of, start):
            rows.append(dict(as_of=b.time_range.end + dt.timedelta(days=1), member=b.member, period=b.period,
                             value=b.value, measure=b.measure))
        evaluations = 1
    else:
        dates = [(pd.Timestamp(as_of.replace(day=1)) - pd.DateOffset(months=k)).date() for k in range(months - 1, -1, -1)]
        evaluations = len(dates)
        before: set = set()
        for d in dates:
            breaches = ar.evaluate(rule, run, d)
            keys = {b.key for b in breaches}
            rows += [dict(as_of=d, member=b.member, period=b.period, value=b.value, measure=b.measure)
                     for b in breaches if b.key not in before]
            before = keys
    firings = pd.DataFrame(rows, columns=["as_of", "member", "period", "value", "measure"])
    return Preview(len(firings), evaluations, firings)


def load_rules_file(path: Path = DEMO_RULES) -> list[ar.Rule]:
    """Rules declared in YAML (``rules: [...]``), every problem reported together with its item."""
    with Path(path).open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    model = query.default_model()
    out, problems = [], []
    for i, item in enumerate(raw.get("rules") or []):
        try:
            rule = ar.Rule.from_dict(item)
            ar.validate(rule, model)
            out.append(rule)
        except InvalidArgument as exc:
            problems.append((f"{Path(path).name} rules[{i}]: {exc.message_en}", f"{Path(path).name} 第 {i + 1} 条：{exc.message_zh}"))
    if problems:
        raise InvalidArgument("; ".join(p[0] for p in problems), "；".join(p[1] for p in problems))
    return out


def seed_demo(engine: sa.Engine, path: Path = DEMO_RULES) -> int:
    """Store the demo rules of ``data/alerts.yaml`` that are not there yet (by name); returns how many were added."""
    declared = load_rules_file(path)
    now = _now()
    added = 0
    with engine.begin() as conn:
        have = set(conn.execute(sa.select(alert_rule.c.name)).scalars())
        for rule in declared:
            if rule.name in have:
                continue
            conn.execute(alert_rule.insert().values(
                name=rule.name, kind=rule.kind.value, metric=rule.metric, enabled=rule.enabled,
                spec=json.dumps(rule.to_dict(), ensure_ascii=False, sort_keys=True),
                created_by="system", created_at=now, updated_by="system", updated_at=now))
            added += 1
    return added
