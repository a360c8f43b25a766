"""What a reader sees of stored scorecard runs: the list of runs, one run, and the cockpit's ranking.

Finance/admin (``edit_scorecards``) see every run as stored. Anyone else sees published runs of
templates that evaluate one of their org units, the KPI lines of their own units only, and of the
others only what the ranking needs: name (or an anonymised label, with no org-unit id, when the
template says so), total and rank. Nothing that would let them work out another unit's bonus: the
pool, the other units' bases and bonuses are blanked, and so are the bases in the template.
Figures of metrics their role is denied are blanked too.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, replace

import pandas as pd
import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core import schema
from lib.core.errors import Forbidden, InvalidArgument
from lib.core.tables import scorecards as tb
from lib.performance.scorecards.defs import Ranking as RankingMode
from lib.performance.scorecards.defs import TargetSource, Template, parse_template
from lib.performance.scorecards.evaluate import budget_filters, with_points
from lib.semantic import query

EDIT = "edit_scorecards"


class Status(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


@dataclass(frozen=True)
class Ranking:
    """The cockpit's view of the latest ranking (contract): unit is a name or an anonymised label."""
    template: str
    period: str
    run_id: int
    status: str
    frame: pd.DataFrame  # org_unit_id (None for anonymised others), unit, total, rank, is_own
    scoped: bool = False  # the reader sees their own units only (a dept head): their rows are marked

    def shown(self, limit: int = 10) -> pd.DataFrame:
        """The first ``limit`` places and, under them, the reader's own rows that rank lower: a reader always
        finds their own row."""
        f = self.frame.sort_values(["rank", "unit"], kind="stable").reset_index(drop=True)
        rest = f.iloc[limit:]
        return pd.concat([f.head(limit), rest[rest["is_own"]]], ignore_index=True)

    def own(self) -> pd.DataFrame:
        """The reader's own rows (empty for a reader who sees every unit, or whose units were not scored)."""
        return self.frame[self.frame["is_own"]].sort_values("rank", kind="stable")


@dataclass(frozen=True)
class RunView:
    """One stored run as ``user`` may see it."""
    run: dict                 # id, template_id, template_name, period, version, status, reason, pool (None when
                              # scoped), computed_at, data_version, ...
    template: Template        # as used by the run (weights included; bonus pool and bases blanked when scoped)
    lines: pd.DataFrame       # the KPI lines the user may see, with points (score × w / Σ scored w)
    totals: pd.DataFrame      # every unit: org_unit_id, unit (maybe anonymised), total, rank, base, bonus, is_own
    own: frozenset[int]       # org units of the user among the run's units (all for finance)
    effective: bool           # the latest published version of its template and period
    hidden: frozenset[str] = frozenset()
    """KPIs whose metric the user may not see: their lines carry no actual, target, threshold, stretch, score or
    points (a score next to its rule solves back to the figure), and the page shows no rule or target source."""


def sees_all(user: User) -> bool:
    """Finance/admin, or a reader without a scope: nothing is blanked."""
    return auth.may(user, EDIT) or user.scope is None or user.scope.org_unit_ids is None


def _own(user: User, unit_ids) -> frozenset[int]:
    if sees_all(user):
        return frozenset(int(u) for u in unit_ids)
    return frozenset(int(u) for u in unit_ids if int(u) in user.scope.org_unit_ids)


def _visible_template_ids(conn: sa.Connection, user: User) -> set[str] | None:
    """Templates with at least one of the user's units among the evaluated (None: all)."""
    if sees_all(user):
        return None
    kinds = {r.kind for r in conn.execute(sa.select(schema.org_unit.c.kind).where(
        schema.org_unit.c.id.in_(sorted(user.scope.org_unit_ids))))}
    return {r.id for r in conn.execute(sa.select(tb.template.c.id, tb.template.c.unit_kind))
            if r.unit_kind in kinds}


def runs(engine: sa.Engine, user: User, template_id: str | None = None) -> pd.DataFrame:
    """Runs the user may see, newest first, with ``effective`` = the latest published version of its period
    (the pool blanked for scoped readers)."""
    r = tb.run.c
    cols = [r.id, r.template_id, r.template_name, r.period, r.version, r.status, r.reason, r.pool, r.bonus_method,
            r.created_by, r.created_at, r.published_by, r.published_at, r.computed_at]
    q = sa.select(*cols).order_by(r.id.desc())
    if template_id:
        q = q.where(r.template_id == template_id)
    with engine.connect() as conn:
        visible = _visible_template_ids(conn, user)
        if not auth.may(user, EDIT):
            q = q.where(r.status == Status.PUBLISHED)
        if visible is not None:
            q = q.where(r.template_id.in_(sorted(visible)))
        df = pd.DataFrame(conn.execute(q).all(), columns=[c.name for c in cols])
    pub = df[df["status"] == Status.PUBLISHED]
    latest = set(pub.groupby(["template_id", "period"])["id"].max()) if not pub.empty else set()
    df["effective"] = df["id"].isin(latest)
    if not sees_all(user):
        df["pool"] = None
    return df


def _anonymise(frame: pd.DataFrame, own: frozenset[int], lang: str) -> list[str]:
    """Other units as 单位 A, B, … in rank order (never their names)."""
    letters, out, i = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", [], 0
    for uid, unit in zip(frame["org_unit_id"], frame["unit"]):
        if uid in own:
            out.append(unit)
        else:
            out.append(("Unit " if lang == "en" else "单位 ") + (letters[i] if i < 26 else str(i + 1)))
            i += 1
    return out


def run_view(engine: sa.Engine, user: User, run_id: int, lang: str = "zh") -> RunView:
    """A stored run as the user may see it (Forbidden for drafts and other units' templates)."""
    r = tb.run.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(tb.run).where(r.id == run_id)).mappings().first()
        if row is None:
            raise InvalidArgument(f"No scorecard run {run_id}.", f"没有考核运行 {run_id}。")
        visible = _visible_template_ids(conn, user)
        if (row["status"] != Status.PUBLISHED and not auth.may(user, EDIT)) or \
                (visible is not None and row["template_id"] not in visible):
            raise Forbidden(f"Scorecard run {run_id} is not open to you.", f"您无权查看考核运行 {run_id}。")
        lines = pd.read_sql(sa.select(tb.line).where(tb.line.c.run_id == run_id), conn)
        tots = pd.read_sql(sa.select(tb.total).where(tb.total.c.run_id == run_id).order_by(tb.total.c.rank,
                                                                                             tb.total.c.unit), conn,
                           coerce_float=False)  # bonus stays Decimal: the parts add up to the pool exactly
        newest = conn.execute(sa.select(sa.func.max(r.id)).where(
            r.template_id == row["template_id"], r.period == row["period"], r.status == Status.PUBLISHED)).scalar()
    run, t = dict(row), parse_template(json.loads(row["definition"]))
    tots["total"] = tots["total"].astype(float)
    own = _own(user, tots["org_unit_id"])
    if lang == "en":
        tots["unit"] = tots["unit_en"].fillna(tots["unit"])
    tots["is_own"] = tots["org_unit_id"].isin(own) & (not sees_all(user))
    lines = with_points(lines)
    if not sees_all(user):
        lines = lines[lines["org_unit_id"].isin(own)].reset_index(drop=True)
        if t.ranking is RankingMode.ANONYMISED:
            tots["unit"] = _anonymise(tots, own, lang)
            tots["org_unit_id"] = pd.Series([u if u in own else None for u in tots["org_unit_id"]], dtype=object)
        # with the pool, the bases and the totals one could work out the others' bonuses: blank them
        tots["base"] = [b if u in own else None for u, b in zip(tots["org_unit_id"], tots["base"])]
        tots["bonus"] = [b if u in own else None for u, b in zip(tots["org_unit_id"], tots["bonus"])]
        run["pool"] = None
        t = replace(t, bonus=replace(t.bonus, pool=0.0, bases={}))
    model = query.default_model()
    hidden_kpis = frozenset(k.id for k in t.kpis if k.metric and (k.metric not in model.metrics
                                                                  or not user.may_see_metric(k.metric, model)
                                                                  or _over_denied_rows(k, user, model)))
    hidden = lines["kpi_id"].isin(hidden_kpis) | (lines["metric"].notna() & ~lines["metric"].map(
        lambda m: user.may_see_metric(m, model) if isinstance(m, str) and m in model.metrics else False))
    lines.loc[hidden, ["actual", "target", "threshold", "stretch", "score", "points"]] = None
    lines["hidden"] = hidden
    hidden_kpis |= frozenset(lines.loc[hidden, "kpi_id"])
    return RunView(run, t, lines, tots.drop(columns=["run_id", "unit_en"]), own, newest == run_id, hidden_kpis)


def _over_denied_rows(k, user: User, model) -> bool:
    """Whether the KPI's actual or its budget target, computed at the run over every row, may hold rows the
    reader is denied (see ``query.over_denied_rows``)."""
    if query.over_denied_rows((k.metric,), k.filters, user, model):
        return True
    return k.target.source is TargetSource.BUDGET and query.over_denied_rows(
        ("budget",), budget_filters(k, k.target), user, model)


def latest_ranking(engine: sa.Engine, user: User, lang: str = "zh") -> Ranking | None:
    """The ranking of the latest published run in force (not superseded by a newer version of its
    template and period) that the user may see (contract of the cockpit), or None."""
    df = runs(engine, user)
    df = df[(df["status"] == Status.PUBLISHED) & df["effective"]]
    if df.empty:
        return None
    best = df.sort_values(["published_at", "id"], ascending=False).iloc[0]
    v = run_view(engine, user, int(best["id"]), lang)
    frame = v.totals[["org_unit_id", "unit", "total", "rank", "is_own"]].reset_index(drop=True)
    return Ranking(v.template.name(lang), str(best["period"]), int(best["id"]), str(best["status"]), frame,
                   scoped=not sees_all(user))
