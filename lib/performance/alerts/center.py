"""Alerts (预警): evaluate every rule, keep one alert per persisting breach, route it to the row's owner, notify.

``run_all`` is called after every import, at the end of a demo build and by ``alerts run`` (cron);
``run_now`` is the same for a person (finance/admin, audited). Both live in :mod:`lib.performance.alerts.run`. What a
person sees is scoped here in :func:`open_alerts` / :func:`alerts`. Rules are edited, previewed and
seeded in :mod:`lib.performance.alerts.admin` (finance/admin only).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import db, i18n
from lib.core.errors import Forbidden, InvalidArgument, WorkbenchError
from lib.core.tables.alerts import ACTIVE, Status, alert, alert_comment
from lib.performance.alerts import admin as alert_admin
from lib.performance.alerts import rules as ar

# The evaluation's public names are part of this module's API (run_all is the contract with hooks and demo).
from lib.performance.alerts.run import RunSummary, _model, _now, last_run, rules, run_all, run_now, unit_index
from lib.performance.alerts.text import format_value, link, message
from lib.semantic import query
from lib.semantic.model import SemanticModel
from lib.semantic.spec import TimeRange

__all__ = ["RunSummary", "alerts", "assignable", "comments", "format_value", "last_run", "link", "may_act", "message",
           "open_alerts", "rules", "run_all", "run_now", "seed_demo", "unit_index", "update"]


# ---- reading, scoped --------------------------------------------------------------------------------

COLUMNS = ["id", "severity", "rule", "unit", "message", "period", "first_seen", "last_seen", "status", "assignee",
           "link", "metric", "org_unit_id", "rule_id"]
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def alerts(engine: sa.Engine, user: User, status: str | tuple[str, ...] | None = None, lang: str = "zh",
           limit: int | None = None, model: SemanticModel | None = None) -> pd.DataFrame:
    """Alerts the user may see (their org units; unit-less alerts only to unscoped users; none on a metric
    they are denied), most severe and newest first."""
    stmt = sa.select(alert)
    if status:
        stmt = stmt.where(alert.c.status.in_((status,) if isinstance(status, str) else tuple(status)))
    scope = user.scope.org_unit_ids if user.scope else None
    if scope is not None:
        stmt = stmt.where(alert.c.org_unit_id.in_(sorted(scope)) if scope else sa.false())
    df = db.run(engine, stmt.order_by(alert.c.id.desc()))
    model = model or _model(engine)
    if not df.empty:
        df = df[[m not in model.metrics or user.may_see_metric(m, model) for m in df["metric"]]]
    if not df.empty and user.denied_sources:
        asks = _rules_asked(engine, user, model)
        df = df[[asks.get(r, True) for r in df["rule_id"]]]
    out = pd.DataFrame({
        "id": df["id"].astype("int64") if not df.empty else pd.Series(dtype="int64"),
        "severity": df.get("severity"), "rule": df.get("rule_name"),
        "unit": df["member"].fillna(i18n.t("al.msg.all_rows", lang)) if not df.empty else pd.Series(dtype=object),
        "message": df.get("message_zh" if lang == "zh" else "message_en"), "period": df.get("period"),
        "first_seen": df.get("first_seen"), "last_seen": df.get("last_seen"), "status": df.get("status"),
        "assignee": df.get("assignee"), "link": df.get("link"), "metric": df.get("metric"),
        "org_unit_id": df.get("org_unit_id"), "rule_id": df.get("rule_id")}, columns=COLUMNS)
    if not out.empty:
        out = out.assign(_s=out["severity"].map(_SEVERITY_ORDER)).sort_values(
            ["_s", "first_seen", "id"], ascending=[True, False, False]).drop(columns="_s").reset_index(drop=True)
    return out.head(limit) if limit else out


def _rules_asked(engine: sa.Engine, user: User, model: SemanticModel) -> dict[int, bool]:
    """Rule id -> whether ``user`` may ask the rule's question: the compiler refuses a rule over denied rows (e.g.
    the budget of COGS accounts for a viewer), and then its alerts, which quote the figure, are not theirs; nor
    are those of a rule whose figure may include denied rows (a budget not kept to revenue accounts)."""
    month = TimeRange(dt.date(2000, 1, 1), dt.date(2000, 1, 31))
    out = {}
    for rule in rules(engine):
        plan = (rule.budget_metric,) if rule.kind is ar.Kind.BUDGET_EXECUTION else ()
        metrics = tuple(m for m in (rule.metric, *plan) if m in model.metrics)
        if not metrics:
            continue
        try:
            for m in metrics:
                query.compile(ar.question(rule, (m,), month), user, model)
            # the rule ran over every row: a figure that may hold denied ones (e.g. a budget total) is not theirs
            out[rule.id] = not query.over_denied_rows(metrics, rule.filters, user, model)
        except Forbidden:
            out[rule.id] = False
        except WorkbenchError:   # a rule that no longer compiles says nothing about the reader's rights
            out[rule.id] = True
    return out


def open_alerts(engine: sa.Engine, user: User, limit: int | None = None, lang: str = "zh",
                model: SemanticModel | None = None) -> pd.DataFrame:
    """Open and acknowledged alerts within the user's scope (the cockpit's list): id, severity, rule, unit,
    message, period, first_seen, status, assignee, link … (``model``: the page's cached model, saves a load)."""
    return alerts(engine, user, ACTIVE, lang, limit, model)


def _alert_row(conn: sa.Connection, alert_id: int):
    row = conn.execute(sa.select(alert).where(alert.c.id == alert_id)).first()
    if row is None:
        raise InvalidArgument(f"No alert {alert_id}.", f"没有编号为 {alert_id} 的预警。")
    return row


def _may_act(user: User, row) -> bool:
    if auth.may(user, "edit_alert_rules"):
        return True
    scope = user.scope.org_unit_ids if user.scope else None
    return auth.may(user, "comment") and scope is not None and row.org_unit_id in scope


def may_act(engine: sa.Engine, user: User, alert_id: int) -> bool:
    """Whether ``user`` may change or comment on the alert (see :func:`update`)."""
    with engine.connect() as conn:
        return _may_act(user, _alert_row(conn, alert_id))


def assignable(engine: sa.Engine, user: User, alert_id: int) -> list[str]:
    """Who ``user`` may assign the alert to: the users who may act on its rows (finance and admin, and the dept
    heads whose scope holds its unit). A scoped reader is offered only their scoped colleagues on that unit: the
    names of finance and admin users are not theirs to browse."""
    with engine.connect() as conn:
        row = _alert_row(conn, alert_id)
    sees_all = auth.may(user, "edit_alert_rules")
    out = []
    for name, role in auth.users_covering(engine, row.org_unit_id):
        spec = auth.roles()[role]
        if "edit_alert_rules" in spec.actions:
            if sees_all:
                out.append(name)
        elif "comment" in spec.actions:
            out.append(name)
    return out


def comments(engine: sa.Engine, user: User, alert_id: int) -> pd.DataFrame:
    """The alert's history: comments, status changes and assignments, oldest first (if the user may see it)."""
    with engine.connect() as conn:
        row = _alert_row(conn, alert_id)
    scope = user.scope.org_unit_ids if user.scope else None
    if scope is not None and row.org_unit_id not in scope:
        raise Forbidden(f"Alert {alert_id} is outside your scope.", f"预警 {alert_id} 不在您的数据范围内。")
    return db.run(engine, sa.select(alert_comment.c.created_at, alert_comment.c.username, alert_comment.c.kind,
                                    alert_comment.c.body).where(alert_comment.c.alert_id == alert_id)
                  .order_by(alert_comment.c.id))


def update(engine: sa.Engine, user: User, alert_id: int, *, status: str | None = None, assignee: str | None = None,
           comment: str | None = None, source: str = "app") -> None:
    """Acknowledge / resolve / reopen, reassign, or comment on an alert, audited.

    Finance and admin may act on every alert; a dept head on the alerts of their own units; viewers on none.
    """
    with engine.begin() as conn:
        row = _alert_row(conn, alert_id)
        if not _may_act(user, row):
            raise Forbidden(f"Your role ({user.role}) may not change alert {alert_id}.",
                            f"您的角色（{user.role}）无权处理预警 {alert_id}。")
        now, changes = _now(), {}
        if status is not None and status != row.status:
            st_ = ar._enum(Status, status, "status")
            changes["status"] = st_.value
            values = dict(status=st_.value, resolved_at=now if st_ is Status.RESOLVED else None,
                          resolved_by=user.username if st_ is Status.RESOLVED else None)
            conn.execute(alert.update().where(alert.c.id == alert_id).values(**values))
            conn.execute(alert_comment.insert().values(alert_id=alert_id, created_at=now, username=user.username,
                                                       kind="status", body=f"{row.status} → {st_.value}"))
        if assignee is not None and assignee != (row.assignee or ""):
            if assignee not in assignable(engine, user, alert_id):   # never lists the names: they aren't all theirs
                raise InvalidArgument(f"{assignee!r} can't own alert {alert_id}: pick someone who may act on its unit.",
                                      f"{assignee!r} 不能负责预警 {alert_id}：请选择有权处理该单位的人。")
            changes["assignee"] = assignee
            conn.execute(alert.update().where(alert.c.id == alert_id).values(assignee=assignee))
            conn.execute(alert_comment.insert().values(alert_id=alert_id, created_at=now, username=user.username,
                                                       kind="assign", body=f"→ {assignee}"))
        if comment and comment.strip():
            changes["comment"] = comment.strip()[:2000]
            conn.execute(alert_comment.insert().values(alert_id=alert_id, created_at=now, username=user.username,
                                                       kind="comment", body=changes["comment"]))
        if changes:
            audit.record(conn, user.username, "alert_update", f"alert:{alert_id}", changes, source)


def seed_demo(engine: sa.Engine) -> int:
    """The demo company's alert rules (``data/alerts.yaml``), added once; see :func:`lib.performance.alerts.admin.seed_demo`."""
    return alert_admin.seed_demo(engine)


# ---- why did it fire (归因) --------------------------------------------------------------------

def _period_months(period: str) -> tuple[dt.date, dt.date] | None:
    """'2026-01-01~2026-10-31', '2026-09' or '2026-11-23' → the first and last month it covers."""
    try:
        parts = [p.strip() for p in str(period).split("~")]
        days = [dt.date.fromisoformat(p) if len(p) == 10 else dt.date.fromisoformat(p + "-01") for p in parts]
    except ValueError:
        return None
    return days[0].replace(day=1), days[-1].replace(day=1)


def explanation_of(rule: ar.Rule | None, member: str | None, period: str):
    """What explains an alert: its metric over its period, against what its rule compares with (the budget, last
    year, else the period before), within its rule's filters and its row (``lib.explain.explain.Ask``);
    None for a daily anomaly (a day's dip is not split by the month) or a rule no longer stored."""
    from lib.explain.explain import Ask, Vs
    from lib.semantic.spec import FilterSpec

    months = _period_months(period)
    if rule is None or months is None or (rule.kind is ar.Kind.ANOMALY and rule.grain == "day"):
        return None
    vs = (Vs.BUDGET if rule.kind is ar.Kind.BUDGET_EXECUTION else
          Vs.YOY if rule.kind is ar.Kind.CHANGE and rule.compare.value == "last_year" else Vs.PREVIOUS)
    filters = rule.filters
    if rule.dimension and member is not None:
        filters = filters + (FilterSpec(rule.dimension, "in", (member,)),)
    first, last = months
    return Ask(rule.metric, first, (pd.Timestamp(last) + pd.offsets.MonthEnd(0)).date(), vs, filters)
