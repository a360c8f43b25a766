"""Evaluating the alert rules and storing the outcome (``lib.performance.alerts.center.run_all`` / ``run_now``).

Every enabled rule is judged through the semantic layer (unscoped: the system evaluates for everyone);
then, under a lock, each breach updates, reopens or creates its alert (one row per rule row, and period
for anomalies), new and reopened alerts are routed to the owners of their org unit (by id) and queued in
the outbox in the same transaction, and open alerts whose row was judged and no longer breaches are
resolved. Rows without data are not judged: their alerts are left as they are.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock, config, i18n, schema
from lib.core.tables.alerts import (
    ACTIVE,
    RUN_LOCK,
    Status,
    alert,
    alert_comment,
    alert_lock,
    alert_rule,
    alert_run,
    create_tables,
)
from lib.performance.alerts import rules as ar
from lib.performance.alerts.text import format_value, link, message
from lib.performance.notify import outbox as notify
from lib.semantic import metric_store, query
from lib.semantic import model as semantic
from lib.semantic.model import Format, SemanticModel


@dataclass(frozen=True)
class RunSummary:
    """What one evaluation did (``preview_only``: what it would have done; nothing was written)."""

    as_of: dt.date
    rules: int
    new: int
    still_open: int
    resolved: int
    notifications: int
    seconds: float
    errors: tuple[str, ...] = ()
    reopened: int = 0                # resolved alerts whose row breached again
    unreachable: int = 0             # owners of new or reopened alerts who have no e-mail address
    preview_only: bool = False


def _now() -> dt.datetime:
    return clock.now()


# ---- rules in the store ------------------------------------------------------------------------------

def rules(engine: sa.Engine, enabled_only: bool = False) -> list[ar.Rule]:
    """Every stored rule, by id."""
    stmt = sa.select(alert_rule).order_by(alert_rule.c.id)
    if enabled_only:
        stmt = stmt.where(alert_rule.c.enabled.is_(True))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for r in rows:
        raw = json.loads(r.spec)
        raw["enabled"] = bool(r.enabled)
        out.append(ar.Rule.from_dict(raw, rule_id=int(r.id)))
    return out


def _model(engine: sa.Engine) -> SemanticModel:
    return metric_store.load_model(engine)[0]


# ---- routing ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Routing:
    unit_ids: dict[tuple[str, str], frozenset[int]]  # (dimension, member name) -> the org units of that name
    heads: dict[str, frozenset[int]]                # dept_head username -> org units in scope
    fallback: tuple[str, ...]                       # finance users (admins when there is none)

    def _ids(self, rule: ar.Rule, member: str | None) -> frozenset[int]:
        if rule.dimension in ar.ORG_DIMENSIONS and member is not None:
            return self.unit_ids.get((rule.dimension, member), frozenset())
        for f in rule.filters:   # a rule about one unit (region = 华北大区) belongs to that unit
            if f.dimension in ar.ORG_DIMENSIONS and f.op in ("in", "eq") and len(f.values) == 1:
                return self.unit_ids.get((f.dimension, str(f.values[0])), frozenset())
        return frozenset()

    def unit(self, rule: ar.Rule, member: str | None) -> int | None:
        """The org unit of the breaching row, by id; None when there is none or the name is not unique
        (then only unscoped users, finance, see the alert)."""
        ids = self._ids(rule, member)
        return next(iter(ids)) if len(ids) == 1 else None

    def ambiguous(self, rule: ar.Rule, member: str | None) -> bool:
        """Whether the row's name belongs to more than one org unit."""
        return len(self._ids(rule, member)) > 1

    def owners(self, unit_id: int | None) -> tuple[str, ...]:
        heads = tuple(sorted(u for u, ids in self.heads.items() if unit_id is not None and unit_id in ids))
        return heads or self.fallback


def unit_index(flat) -> dict[tuple[str, str], frozenset[int]]:
    """(dimension, name) -> ids of the org units with that name, from ``org_flat`` rows (l1/l2 id and name).

    >>> Row = __import__("collections").namedtuple("Row", "l1_id l1_name l2_id l2_name")
    >>> idx = unit_index([Row(1, "华北", 11, "市场部"), Row(2, "西部", 21, "市场部"), Row(2, "西部", 22, "财务部")])
    >>> sorted(idx[("department", "市场部")]), sorted(idx[("region", "西部")])
    ([11, 21], [2])
    """
    names: dict[tuple[str, str], set[int]] = {}
    for r in flat:
        if r.l1_name is not None:
            names.setdefault(("region", r.l1_name), set()).add(int(r.l1_id))
        if r.l2_name is not None and r.l2_id is not None:
            names.setdefault(("department", r.l2_name), set()).add(int(r.l2_id))
    return {k: frozenset(v) for k, v in names.items()}


def _routing(engine: sa.Engine) -> _Routing:
    with engine.connect() as conn:
        flat = conn.execute(sa.select(schema.org_flat.c.l1_id, schema.org_flat.c.l1_name, schema.org_flat.c.l2_id,
                                      schema.org_flat.c.l2_name)).all()
    users = [u for u in auth.list_users(engine) if u["active"]]
    heads = {}
    for u in users:
        if u["role"] == "dept_head":
            scope = auth.load_user(engine, u["username"]).scope
            heads[u["username"]] = scope.org_unit_ids or frozenset() if scope else frozenset()
    fallback = tuple(u["username"] for u in users if u["role"] == "finance") or \
        tuple(u["username"] for u in users if u["role"] == "admin")
    return _Routing(unit_index(flat), heads, fallback)


# ---- evaluation ---------------------------------------------------------------------------------------

# A persisting alert's value moving by more than this share of itself is written into its history.
MATERIAL_CHANGE = 0.10
_ready: set[str] = set()


def _ensure_tables(engine: sa.Engine) -> None:
    """Tables added to migration 10 after a store had it (the run lock): created once per store and process."""
    key = engine.url.render_as_string(hide_password=True)
    if key not in _ready:
        with engine.begin() as conn:
            create_tables(conn)
        _ready.add(key)


def _take_lock(conn: sa.Connection, by: str, now: dt.datetime) -> None:
    """Serialise writing evaluations: the second waits here (PostgreSQL) or fails on the conflict (DuckDB,
    one writer per process) instead of inserting the same alerts again."""
    stmt = sa.select(alert_lock.c.name).where(alert_lock.c.name == RUN_LOCK)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    if conn.execute(stmt).first() is None:
        conn.execute(alert_lock.insert().values(name=RUN_LOCK, locked_at=now, locked_by=by))
    else:
        conn.execute(alert_lock.update().where(alert_lock.c.name == RUN_LOCK).values(locked_at=now, locked_by=by))


def _evaluate(engine: sa.Engine, as_of: dt.date, model: SemanticModel, active_rules: list[ar.Rule]):
    run = lambda spec: query.run(engine, spec, None, model)  # noqa: E731
    ends: dict[str, dt.date | None] = {}     # the last day with data, once per metric
    results: list[tuple[ar.Rule, ar.Evaluation]] = []
    errors: list[str] = []
    for rule in active_rules:
        try:
            ar.validate(rule, model)
            end = None
            if rule.kind in (ar.Kind.ANOMALY, ar.Kind.BUDGET_EXECUTION):
                if rule.metric not in ends:
                    ends[rule.metric] = ar.data_end(run, rule.metric, as_of)
                end = ends[rule.metric]
                if end is None:      # no data at all: nothing judged, nothing resolved
                    results.append((rule, ar.Evaluation((), frozenset(), None)))
                    continue
            results.append((rule, ar.judge(rule, run, as_of, end=end, additive=semantic.additive(model, rule.metric))))
        except Exception as exc:  # noqa: BLE001  (one broken rule (a deleted metric, a bad filter) must not stop the others)
            errors.append(f"{rule.name}: {getattr(exc, 'message_en', None) or exc}")
    return results, errors


def run_all(engine: sa.Engine, *, as_of: dt.date | None = None, by: str = "system") -> RunSummary:
    """Evaluate every enabled rule at ``as_of`` (default today; data up to the day before) and store the outcome.

    New breaches become open alerts routed to the owners of their row and notified (outbox) in the
    same transaction; a breach already open is updated, not repeated; a row that breaches again after
    its alert was resolved reopens that alert (and notifies again); a resolved anomaly stays resolved;
    an open alert whose row was judged and no longer breaches is resolved, one whose row has no data is
    left alone. A rule that can't be evaluated is reported and its alerts left alone. Writing runs take
    a lock, so two at once don't duplicate alerts. The system entry (hooks, demo, cron); people use
    :func:`run_now`.
    """
    return _run(engine, as_of or clock.today(), by, write=True)


def run_now(engine: sa.Engine, user: User, as_of: dt.date | None = None, source: str = "app") -> RunSummary:
    """Evaluate now on behalf of ``user`` (finance/admin), audited.

    An ``as_of`` earlier than the last evaluation's would rewrite alert history (resolve today's alerts
    with old data): such a run is a preview, nothing is written (``RunSummary.preview_only``).
    """
    auth.require(user, "edit_alert_rules")
    as_of = as_of or clock.today()
    last = last_run(engine)
    preview_only = last is not None and as_of < _as_date(last["as_of"])
    summary = _run(engine, as_of, user.username, write=not preview_only)
    if not preview_only:
        with engine.begin() as conn:
            audit.record(conn, user.username, "alert_update", "alerts:run",
                         {"as_of": as_of.isoformat(), "new": summary.new, "reopened": summary.reopened,
                          "resolved": summary.resolved}, source)
    return summary


def _as_date(v) -> dt.date:
    return v.date() if isinstance(v, dt.datetime) else v if isinstance(v, dt.date) else pd.Timestamp(v).date()


@dataclass
class _Counts:
    new: int = 0
    kept: int = 0
    resolved: int = 0
    reopened: int = 0
    sent: int = 0
    unreachable: int = 0


def _run(engine: sa.Engine, as_of: dt.date, by: str, *, write: bool) -> RunSummary:
    t0 = time.perf_counter()
    _ensure_tables(engine)
    model = _model(engine)
    routing = _routing(engine)
    active_rules = rules(engine, enabled_only=True)
    results, errors = _evaluate(engine, as_of, model, active_rules)
    n, now = _Counts(), _now()
    with (engine.begin() if write else engine.connect()) as conn:
        if write:
            _take_lock(conn, by, now)     # then read the alerts: a run that held the lock has committed its own
        for rule, ev in results:
            _apply(conn, rule, ev, model, routing, as_of, by, now, n, write)
        seconds = time.perf_counter() - t0
        if write:
            conn.execute(alert_run.insert().values(
                started_at=now, as_of=as_of, run_by=by, rules=len(active_rules), new=n.new, still_open=n.kept,
                resolved=n.resolved, errors="\n".join(errors), seconds=round(seconds, 3)))
    return RunSummary(as_of, len(active_rules), n.new, n.kept, n.resolved, n.sent, time.perf_counter() - t0,
                      tuple(errors), n.reopened, n.unreachable, not write)


def _current_rows(conn: sa.Connection, rule_id: int) -> dict[str, sa.Row]:
    """The rule's alert per key: the open/acknowledged one, else the latest."""
    rows = conn.execute(sa.select(alert.c.id, alert.c.dedup_key, alert.c.status, alert.c.value, alert.c.period)
                        .where(alert.c.rule_id == rule_id).order_by(alert.c.id)).all()
    out: dict[str, sa.Row] = {}
    for r in rows:
        cur = out.get(r.dedup_key)
        if cur is None or r.status in ACTIVE or cur.status not in ACTIVE:
            out[r.dedup_key] = r
    return out


def _apply(conn: sa.Connection, rule: ar.Rule, ev: ar.Evaluation, model: SemanticModel, routing: _Routing,
           as_of: dt.date, by: str, now: dt.datetime, n: _Counts, write: bool) -> None:
    current = _current_rows(conn, rule.id)
    seen = set()
    for b in ev.breaches:
        seen.add(b.key)
        row = current.get(b.key)
        if row is not None and row.status not in ACTIVE and b.distinct_period:
            continue                                   # an anomaly of a past period, resolved: it stays resolved
        unit = routing.unit(rule, b.member)
        values = dict(value=b.value, reference=b.reference, measure=b.measure, period=b.period,
                      message_zh=_message(rule, b, model, "zh", routing), link=link(rule, b),
                      message_en=_message(rule, b, model, "en", routing), last_seen=now, last_as_of=as_of,
                      rule_name=rule.name)
        if row is not None and row.status in ACTIVE:
            n.kept += 1
            if write:
                conn.execute(alert.update().where(alert.c.id == row.id).values(**values))
                change = _material_change(rule, row, b, model)
                if change:
                    _comment(conn, row.id, now, by, "change", change)
            continue
        owners = routing.owners(unit)
        if row is not None:                            # resolved, breaching again: reopen the same alert
            n.reopened += 1
            if write:
                conn.execute(alert.update().where(alert.c.id == row.id).values(
                    status=Status.OPEN.value, resolved_at=None, resolved_by=None, org_unit_id=unit,
                    owners=",".join(owners), **values))
                _comment(conn, row.id, now, by, "status", "再次触发 / breached again")
                _notify(conn, row.id, rule, values, owners, now, by, n)
            continue
        n.new += 1
        if write:
            alert_id = conn.execute(alert.insert().values(
                rule_id=rule.id, dedup_key=b.key, member=ar.subject(rule, b.member), org_unit_id=unit,
                status=Status.OPEN.value, severity=rule.severity.value, metric=rule.metric,
                assignee=owners[0] if owners else None, owners=",".join(owners), first_seen=now, first_as_of=as_of,
                **values).returning(alert.c.id)).scalar_one()
            _notify(conn, alert_id, rule, values, owners, now, by, n)
    for key, row in current.items():
        if row.status in ACTIVE and key not in seen and ev.judges(key):
            n.resolved += 1
            if write:
                conn.execute(alert.update().where(alert.c.id == row.id).values(
                    status=Status.RESOLVED.value, resolved_at=now, resolved_by=by, last_as_of=as_of))
                _comment(conn, row.id, now, by, "status", "resolved: no longer breaching")


def _message(rule: ar.Rule, b: ar.Breach, model: SemanticModel, lang: str, routing: _Routing) -> str:
    text = message(rule, b, model, lang)
    if routing.ambiguous(rule, b.member):
        text += i18n.t("al.msg.ambiguous", lang, name=ar.subject(rule, b.member))
    return text


def _material_change(rule: ar.Rule, row, b: ar.Breach, model: SemanticModel) -> str | None:
    """A history line when a persisting alert's figure moved materially or its period moved (a day
    window moves every day: there only the figure counts); None otherwise."""
    old = row.value
    moved = old is not None and b.value is not None and abs(b.value - old) > MATERIAL_CHANGE * abs(old)
    period_moved = row.period != b.period and rule.window is not ar.Window.DAY and not b.distinct_period
    if not (moved or period_moved):
        return None
    fmt_kind = model.metric(rule.metric).format if rule.kind is not ar.Kind.BUDGET_EXECUTION else Format.PERCENT
    f = lambda v: format_value(v, fmt_kind, "zh")  # noqa: E731
    return f"变化 / changed: {row.period} {f(old)} → {b.period} {f(b.value)}"


def _comment(conn: sa.Connection, alert_id: int, now: dt.datetime, by: str, kind: str, body: str) -> None:
    conn.execute(alert_comment.insert().values(alert_id=alert_id, created_at=now, username=by, kind=kind, body=body))


def _notify(conn: sa.Connection, alert_id: int, rule: ar.Rule, values: dict, owners: tuple[str, ...],
            now: dt.datetime, by: str, n: _Counts) -> None:
    """Queue the alert's messages; an owner without an e-mail address (or a disabled one) is written into
    the alert's history and, as a failed message, into the outbox, so nobody believes they were told."""
    subject = f"[预警/Alert][{rule.severity.value}] {rule.name}"
    base = config.base_url()  # the stored link is relative (the app's own pages); a message leaves the app
    href = f"{base}/{values['link'].lstrip('/')}" if base and values["link"] else values["link"]
    body = f"{values['message_zh']}\n{values['message_en']}\n\n{href}"
    for channel, recipient in notify.recipients_for(conn, owners):
        notify.enqueue(conn, channel=channel, recipient=recipient, subject=subject, body=body, ref=f"alert:{alert_id}")
        n.sent += 1
    for username in notify.missing_contacts(conn, owners):
        n.unreachable += 1
        reason = notify.unreachable_reason(conn, username) or username
        _comment(conn, alert_id, now, by, "notify", f"未通知 / not notified: {reason}")
        notify.enqueue_unreachable(conn, username=username, subject=subject, body=body, ref=f"alert:{alert_id}",
                                   now=now)


def last_run(engine: sa.Engine) -> dict | None:
    """The latest evaluation (when, as of, counts, errors), or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(alert_run).order_by(alert_run.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None
