"""Scorecards (绩效考核): templates, manual KPIs, evaluation runs (draft → published, frozen), views by role.

Who may do what (checked here, not only in the page):
- finance/admin (``edit_scorecards``): edit templates, enter manual KPIs, run, publish; see every run.
- everyone else: published runs of templates that evaluate one of their org units; the KPI lines of
  their own units only; the ranking with the other units named or anonymised as the template says;
  nothing to work out another unit's bonus from. Figures of metrics their role is denied are blanked.

A run stores its lines (with the run's weights) and totals once; nothing rewrites them. Re-running
a template and period makes the next version and needs a reason; the latest published version is
the one that counts.
An evaluation is saved or published only while the data it read is unchanged
(``scorecard_eval.data_version``). What a reader sees of runs: ``lib.performance.scorecards.view``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import replace

import pandas as pd
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock, schema
from lib.core.errors import InvalidArgument, WorkbenchError
from lib.core.tables import scorecards as tb
from lib.explore import state as explore_state
from lib.performance.scorecards import scoring
from lib.performance.scorecards.defs import (
    Period,
    Template,
    load_file,
    parse_period,
    parse_template,
    periods_before,
    to_dict,
)
from lib.performance.scorecards.evaluate import (
    Evaluation,
    allocated,
    data_version,
    definition_json,
    evaluate,
    manual_latest,
    totals,
    units,
    unscored,
    with_points,
)
from lib.performance.scorecards.scoring import BonusMethod
from lib.performance.scorecards.view import EDIT, Ranking, RunView, Status, latest_ranking, run_view, runs
from lib.semantic import query

SYSTEM = User("system", "admin")


class StaleEvaluation(WorkbenchError):
    """The data changed after the evaluation was computed: evaluate again before saving or publishing."""

    def __init__(self, what: str) -> None:
        super().__init__(f"The data changed after the evaluation ({what}): evaluate again.",
                         f"数据在评估后已变化，请重新评估（{what}）。")


class SaveConflict(WorkbenchError):
    """Another run of the same template and period was saved at the same moment."""


def _now() -> dt.datetime:
    return clock.now()


# ---- templates ---------------------------------------------------------------------------------

def templates(engine: sa.Engine) -> list[Template]:
    """The stored templates (seeded from data/scorecards.yaml), in the file's order then by id."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tb.template.c.id, tb.template.c.definition)).all()
    order = {t.id: i for i, t in enumerate(load_file())}
    out = [parse_template(json.loads(r.definition)) for r in rows]
    return sorted(out, key=lambda t: (order.get(t.id, len(order)), t.id))


def template(engine: sa.Engine, template_id: str) -> Template:
    """One stored template; InvalidArgument naming the valid ids when unknown."""
    found = {t.id: t for t in templates(engine)}
    if template_id not in found:
        raise InvalidArgument(f"Unknown scorecard template {template_id!r}; valid: {sorted(found)}.",
                              f"未知的考核模板 {template_id!r}；可用：{sorted(found)}。")
    return found[template_id]


def _upsert(conn: sa.Connection, t: Template, by: str) -> None:
    values = dict(name_zh=t.name_zh, name_en=t.name_en, unit_kind=t.unit_kind, definition=definition_json(t),
                  updated_by=by, updated_at=_now())
    # Looked up rather than trusting an UPDATE's rowcount, which DuckDB doesn't report.
    if conn.execute(sa.select(tb.template.c.id).where(tb.template.c.id == t.id)).first():
        conn.execute(tb.template.update().where(tb.template.c.id == t.id).values(**values))
    else:
        conn.execute(tb.template.insert().values(id=t.id, **values))


def save_template(engine: sa.Engine, user: User, t: Template | dict) -> Template:
    """Create or replace a template (finance/admin); validated, audited as scorecard_edit."""
    auth.require(user, EDIT)
    t = parse_template(t if isinstance(t, dict) else to_dict(t))
    with engine.begin() as conn:
        _upsert(conn, t, user.username)
        audit.record(conn, user.username, "scorecard_edit", t.id, {"weights": {k.id: k.weight for k in t.kpis}})
    return t


def save_settings(engine: sa.Engine, user: User, template_id: str, weights: dict[str, float],
                  pool: float | str | None = None, method: BonusMethod | str | None = None) -> Template:
    """Store new KPI weights (and bonus pool and method) on a template, e.g. after a what-if."""
    t = template(engine, template_id).with_weights(weights)
    bonus = replace(t.bonus, pool=float(t.bonus.pool if pool is None else pool),
                    method=BonusMethod(method) if method else t.bonus.method)
    return save_template(engine, user, replace(t, bonus=bonus))


def template_units(engine: sa.Engine, t: Template) -> pd.DataFrame:
    """The org units a template evaluates: id, code, name, name_en."""
    with engine.connect() as conn:
        return units(conn, t)


def period_choices(engine: sa.Engine) -> list[str]:
    """Periods to offer: the last complete quarters, year to date and months before the data's last day."""
    last = explore_state.last_date(lambda spec: query.run(engine, spec, SYSTEM))
    return periods_before((last or clock.today()) + dt.timedelta(days=1))


# ---- manual KPIs -------------------------------------------------------------------------------

def enter_manual(engine: sa.Engine, user: User, template_id: str, kpi_id: str, org_unit_id: int, period: str,
                 value: float, note: str | None = None) -> None:
    """Record a manual KPI value of a unit for a period, with who and when (finance/admin)."""
    auth.require(user, EDIT)
    t, p = template(engine, template_id), parse_period(period)
    manual_ids = [k.id for k in t.kpis if k.manual]
    if kpi_id not in manual_ids:
        raise InvalidArgument(f"KPI {kpi_id!r} of {t.id} is not entered by hand; manual KPIs: {manual_ids}.",
                              f"{t.id} 的指标 {kpi_id!r} 不是手工录入指标；手工指标：{manual_ids}。")
    with engine.begin() as conn:
        ids = [int(x) for x in units(conn, t)["id"]]
        if int(org_unit_id) not in ids:
            raise InvalidArgument(f"Org unit {org_unit_id} is not evaluated by {t.id}; valid: {ids}.",
                                  f"组织 {org_unit_id} 不在模板 {t.id} 的考核范围内；可用：{ids}。")
        conn.execute(tb.manual.insert().values(template_id=t.id, kpi_id=kpi_id, org_unit_id=int(org_unit_id),
                                               period=p.label, value=float(value), note=note,
                                               entered_by=user.username, entered_at=_now()))
        audit.record(conn, user.username, "kpi_entry", f"{t.id}/{kpi_id}/{org_unit_id}/{p.label}", {"value": value})


def manual_entries(engine: sa.Engine, template_id: str, period: str) -> pd.DataFrame:
    """Every manual entry of a template and period, newest first (the latest per unit and KPI counts)."""
    m = tb.manual.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(m.kpi_id, m.org_unit_id, schema.org_unit.c.name.label("unit"), m.value,
                                      m.note, m.entered_by, m.entered_at)
                            .join_from(tb.manual, schema.org_unit, schema.org_unit.c.id == m.org_unit_id)
                            .where(m.template_id == template_id, m.period == parse_period(period).label)
                            .order_by(m.id.desc())).all()
    return pd.DataFrame(rows, columns=["kpi_id", "org_unit_id", "unit", "value", "note", "entered_by", "entered_at"])


# ---- runs --------------------------------------------------------------------------------------

def run_evaluation(engine: sa.Engine, user: User, template_id: str, period: str) -> Evaluation:
    """Evaluate a template for a period from today's data (not stored; finance/admin)."""
    auth.require(user, EDIT)
    return evaluate(engine, user, template(engine, template_id), parse_period(period))


def save_run(engine: sa.Engine, user: User, ev: Evaluation, *, weights: dict[str, float] | None = None,
             pool: float | str | None = None, method: BonusMethod | str | None = None, publish: bool = False,
             reason: str | None = None) -> int:
    """Store an evaluation as the next version of its template and period; returns the run id.

    The weights, pool and method (defaults: the template's) are stored with it. A second run of
    the same template and period needs a reason. ``publish`` freezes it at once (``scorecard_publish``).
    """
    auth.require(user, EDIT)
    t = ev.template.with_weights(weights or {})
    method = BonusMethod(method) if method else t.bonus.method
    pool = scoring.parse_pool(t.bonus.pool if pool is None else pool)
    tot = totals(ev.lines, t, pool=pool, method=method)  # validates the pool and weights before writing
    # stored with the run's weights, so the published points add up to the published totals
    lines = with_points(ev.lines, {k.id: k.weight for k in t.kpis}).drop(columns=["code", "unit_en", "points"])
    r, version = tb.run.c, None
    try:
        with engine.begin() as conn:
            if data_version(conn, t.id, ev.period.label) != ev.data_version:
                raise StaleEvaluation(f"{t.id} {ev.period.label} @ {ev.computed_at:%Y-%m-%d %H:%M:%S}")
            last = _last_version(conn, t.id, ev.period.label)
            if last and not (reason or "").strip():
                raise InvalidArgument(f"{t.id} {ev.period.label} already has {last} run(s): give a reason for "
                                      "re-running.", f"{t.name_zh} {ev.period.label} 已有 {last} 次考核：重新考核须填写原因。")
            now, version = _now(), (last or 0) + 1
            run_id = conn.execute(tb.run.insert().values(
                template_id=t.id, template_name=t.name_zh, period=ev.period.label, version=version,
                status=Status.PUBLISHED if publish else Status.DRAFT, reason=(reason or "").strip() or None,
                definition=definition_json(t), pool=pool, bonus_method=method.value, created_by=user.username,
                created_at=now, published_by=user.username if publish else None,
                published_at=now if publish else None, computed_at=ev.computed_at,
                data_version=ev.data_version).returning(r.id)).scalar_one()
            conn.execute(tb.line.insert(), [{k: (None if pd.isna(v) else v) for k, v in row.items()}
                                            for row in lines.assign(run_id=run_id).to_dict("records")])
            conn.execute(tb.total.insert(), [dict(run_id=run_id, org_unit_id=int(x.org_unit_id), unit=x.unit,
                                                  unit_en=x.unit_en, total=None if pd.isna(x.total) else float(x.total),
                                                  rank=int(x.rank), base=float(x.base), bonus=x.bonus)
                                             for x in tot.itertuples()])
            detail = {"template": t.id, "period": ev.period.label, "version": version, "pool": str(pool),
                      "reason": reason}
            audit.record(conn, user.username, "scorecard_run", str(run_id), detail)
            if publish:
                audit.record(conn, user.username, "scorecard_publish", str(run_id), detail)
    except sa.exc.DBAPIError:
        # uq_scorecard_run_version (PostgreSQL), or a write-write conflict (DuckDB): another save of this
        # period took our version first. Anything else is not a conflict and goes on up.
        with engine.connect() as conn:
            taken = conn.execute(sa.select(sa.func.max(r.version)).where(
                r.template_id == t.id, r.period == ev.period.label)).scalar() or 0
        if version is None or taken < version:
            raise
        raise SaveConflict(f"Another run of {t.id} {ev.period.label} was saved at the same moment: look at the runs "
                           "and save again (with a reason) if this one is still needed.",
                           f"{t.name_zh} {ev.period.label} 刚有另一次考核同时保存：请查看考核记录，如仍需保存请"
                           "填写原因后重试。") from None
    return int(run_id)


def _last_version(conn: sa.Connection, template_id: str, period: str) -> int | None:
    """The highest stored version of a template and period (None: never run)."""
    r = tb.run.c
    return conn.execute(sa.select(sa.func.max(r.version)).where(r.template_id == template_id,
                                                                r.period == period)).scalar()


def is_stale(engine: sa.Engine, ev: Evaluation) -> bool:
    """True when the data the evaluation read has changed since (it can no longer be saved)."""
    with engine.connect() as conn:
        return data_version(conn, ev.template.id, ev.period.label) != ev.data_version


def publish(engine: sa.Engine, user: User, run_id: int) -> None:
    """Publish a draft run as it was stored (its figures are not recomputed); finance/admin only."""
    auth.require(user, EDIT)
    r = tb.run.c
    with engine.begin() as conn:
        row = conn.execute(sa.select(r.status, r.template_id, r.period, r.data_version).where(r.id == run_id)).first()
        if row is None:
            raise InvalidArgument(f"No scorecard run {run_id}.", f"没有考核运行 {run_id}。")
        if row.status != Status.DRAFT:
            raise InvalidArgument(f"Run {run_id} is already published: re-run the period to change it.",
                                  f"考核运行 {run_id} 已发布：如需变更请重新考核该期间。")
        if data_version(conn, row.template_id, row.period) != row.data_version:
            raise StaleEvaluation(f"run {run_id}, {row.template_id} {row.period}")
        conn.execute(tb.run.update().where(r.id == run_id, r.status == Status.DRAFT)
                     .values(status=Status.PUBLISHED, published_by=user.username, published_at=_now()))
        audit.record(conn, user.username, "scorecard_publish", str(run_id), None)


# ---- demo --------------------------------------------------------------------------------------

def _demo_score(code: str, kpi: str, period: str) -> float:
    """A reproducible satisfaction score in 68–97 for the demo (no randomness: same store, same values)."""
    h = int.from_bytes(hashlib.sha256(f"{code}/{kpi}/{period}".encode()).digest()[:4], "big")
    return float(68 + h % 30)


def seed_demo(engine: sa.Engine, publish_period: str | None = None) -> int | None:
    """Templates from data/scorecards.yaml (kept if already stored), demo manual KPIs for recent periods,
    and the sales-region scorecard of the last complete quarter published with its bonus split.

    Idempotent by key: a template, a manual value (template, KPI, unit, period) or a run of the
    region template for that period that already exists is left alone, so a rebuilt demo keeps
    earlier (frozen) runs and gets what its new dates need. Returns the run it published, or None.
    """
    with engine.begin() as conn:
        stored = {r.id for r in conn.execute(sa.select(tb.template.c.id))}
        for t in load_file():
            if t.id not in stored:
                _upsert(conn, t, SYSTEM.username)
    last = explore_state.last_date(lambda spec: query.run(engine, spec, SYSTEM))
    if last is None:
        return None
    labels = periods_before(last + dt.timedelta(days=1))
    ts = templates(engine)
    m = tb.manual.c
    with engine.begin() as conn:
        have = {tuple(r) for r in conn.execute(sa.select(m.template_id, m.kpi_id, m.org_unit_id, m.period))}
        rows = []
        for t in ts:
            us = units(conn, t)
            for k in (k for k in t.kpis if k.manual):
                rows += [dict(template_id=t.id, kpi_id=k.id, org_unit_id=int(u.id), period=p,
                              value=_demo_score(u.code, k.id, p), note="demo", entered_by=SYSTEM.username,
                              entered_at=_now())
                         for p in labels for u in us.itertuples() if (t.id, k.id, int(u.id), p) not in have]
        if rows:
            conn.execute(tb.manual.insert(), rows)
    period = parse_period(publish_period or labels[0])
    region = next((t for t in ts if t.unit_kind == "region"), None)
    if region is None:
        return None
    with engine.connect() as conn:
        done = conn.execute(sa.select(tb.run.c.id).where(tb.run.c.template_id == region.id,
                                                          tb.run.c.period == period.label)).first()
    if done:
        return None
    return save_run(engine, SYSTEM, evaluate(engine, SYSTEM, region, period), publish=True)


__all__ = ["Evaluation", "Period", "Ranking", "RunView", "SaveConflict", "StaleEvaluation", "Status", "allocated",
           "enter_manual", "is_stale", "latest_ranking", "manual_entries", "manual_latest", "parse_period", "publish",
           "run_evaluation", "run_view", "runs", "save_run", "save_settings", "save_template", "seed_demo",
           "template", "template_units", "templates", "totals", "unscored", "with_points"]
