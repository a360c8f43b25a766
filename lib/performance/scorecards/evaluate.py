"""Evaluating a scorecard template for a period: actuals and targets through the semantic layer, then scores.

Every figure is read with ``lib.semantic.query.run`` at the units' grain (region = level-1 units, stores,
departments and cost centers = level-2 units) over the whole period, so ratios are divided after
aggregation and balances (DSO, inventory days) are taken as the metric defines them. Scores do not
depend on weights: ``totals`` recomputes totals, ranks and the bonus split for any weights and pool
(the what-if) without asking the data again, and ``with_points`` shows how each KPI adds to a total.

A KPI that can't be scored (no actual, no usable target, a rule that doesn't fit the unit's target)
is left out of its unit's total, which is re-normalised over the KPIs that were scored.

``data_version`` fingerprints what an evaluation read (imports and their rollbacks, budget changes,
metric definitions, the template's manual entries for the period), so a stale evaluation is refused
when it is saved or published.
"""
from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

from lib.access.scope import User
from lib.core import clock, i18n, schema, versions
from lib.core.errors import InvalidArgument
from lib.core.tables import scorecards as tb
from lib.explore import link as explore_link
from lib.performance.scorecards import scoring
from lib.performance.scorecards.defs import Kpi, Period, Target, TargetSource, Template, to_dict
from lib.performance.scorecards.scoring import BonusMethod, RuleKind
from lib.semantic import query
from lib.semantic.spec import ChartSpec, Field, FilterSpec, Mark, QuerySpec, TimeRange

LINE_COLUMNS = ["org_unit_id", "code", "unit", "unit_en", "kpi_id", "metric", "actual", "target", "threshold",
                "stretch", "score", "weight", "note"]
NO_ACTUAL, NO_TARGET, RULE_ORDER = "no_actual", "no_target", "rule_order"
UNSCORED = (NO_ACTUAL, NO_TARGET, RULE_ORDER)
"""Notes of a line left out of its unit's total, and why."""


@dataclass(frozen=True)
class Evaluation:
    """A template evaluated for a period: one line per unit and KPI (not yet stored)."""
    template: Template
    period: Period
    lines: pd.DataFrame
    computed_at: dt.datetime
    data_version: str             # ``data_version`` when it was computed: saving refuses it once that changes


def units(conn: sa.Connection, template: Template) -> pd.DataFrame:
    """The org units the template evaluates: id, code, name, name_en (by code)."""
    ou = schema.org_unit.c
    rows = conn.execute(sa.select(ou.id, ou.code, ou.name, ou.name_en).where(ou.kind == template.unit_kind)
                        .order_by(ou.code)).all()
    df = pd.DataFrame(rows, columns=["id", "code", "name", "name_en"])
    twins = sorted(df.loc[df["name"].duplicated(), "name"])
    if twins:  # the semantic layer names units: two of the same name can't be told apart
        raise InvalidArgument(f"Org units of kind {template.unit_kind} share a name: {twins}; rename them to evaluate.",
                              f"类型为 {template.unit_kind} 的组织有重名：{twins}；请改名后再考核。")
    return df


def data_version(conn: sa.Connection, template_id: str, period: str) -> str:
    """A fingerprint of the data an evaluation of ``template_id`` for ``period`` reads: import batches
    (count, newest, newest rollback), budget changes, metric and dataset definitions, and the manual
    entries of that template and period. Equal fingerprints: the evaluation would come out the same."""
    m = tb.manual.c
    manual = conn.execute(sa.select(sa.func.max(m.id)).where(m.template_id == template_id, m.period == period)).scalar()
    return f"{versions.data(conn)}|{versions.metrics(conn)}|{'' if manual is None else manual}"


def _by_unit(engine: sa.Engine, user: User, metric: str, dim: str, names: list[str],
             filters: tuple[FilterSpec, ...], tr: TimeRange) -> dict[str, float]:
    spec = QuerySpec((metric,), (dim,), (FilterSpec(dim, "in", tuple(names)), *filters), tr)
    df = query.run(engine, spec, user)
    return {str(k): float(v) for k, v in zip(df[dim], df[metric]) if pd.notna(k) and pd.notna(v)}


def _targets(engine: sa.Engine, user: User, kpi: Kpi, target: Target, dim: str, names: list[str],
             period: Period) -> dict[str, float]:
    if target.source is TargetSource.FIXED:
        return {n: float(target.value) for n in names}
    if target.source is TargetSource.LAST_YEAR:
        ly = _by_unit(engine, user, kpi.metric, dim, names, kpi.filters, period.last_year())
        return {n: v * (1 + target.change) for n, v in ly.items()}
    return _by_unit(engine, user, "budget", dim, names, budget_filters(kpi, target), period.time_range)


def budget_filters(kpi: Kpi, target: Target) -> tuple[FilterSpec, ...]:
    """The filters of a budget target's query: the KPI's own (they narrow its budget as they narrow its actual,
    e.g. one expense type), its account type and its budget version."""
    extra = [FilterSpec("account_type", "in", (target.account_type,))] if target.account_type else []
    if target.version:
        extra.append(FilterSpec("budget_version", "in", (target.version,)))
    return (*kpi.filters, *extra)


def manual_latest(conn: sa.Connection, template_id: str, period: str) -> dict[tuple[str, int], tuple]:
    """(kpi_id, org_unit_id) -> (value, entered_by, entered_at): the latest entry of each key."""
    m = tb.manual.c
    rows = conn.execute(sa.select(m.kpi_id, m.org_unit_id, m.value, m.entered_by, m.entered_at)
                        .where(m.template_id == template_id, m.period == period).order_by(m.id)).all()
    return {(r.kpi_id, r.org_unit_id): (r.value, r.entered_by, r.entered_at) for r in rows}


def evaluate(engine: sa.Engine, user: User, template: Template, period: Period) -> Evaluation:
    """Actual, target and score of every KPI for every unit of the template (read as ``user``)."""
    with engine.connect() as conn:  # the fingerprint first: a change while we read makes it stale, not lost
        version = data_version(conn, template.id, period.label)
        us = units(conn, template)
        manual = manual_latest(conn, template.id, period.label)
    if us.empty:
        raise InvalidArgument(f"No org units of kind {template.unit_kind!r} to evaluate with {template.id}.",
                              f"没有类型为 {template.unit_kind!r} 的组织可用模板 {template.id} 考核。")
    names, dim = list(us["name"]), template.dimension
    rows = []
    for kpi in template.kpis:
        if kpi.manual:
            actual = {n: manual[(kpi.id, i)][0] for n, i in zip(us["name"], us["id"]) if (kpi.id, i) in manual}
            notes = {n: f"{manual[(kpi.id, i)][1]} {manual[(kpi.id, i)][2]:%Y-%m-%d %H:%M}"
                     for n, i in zip(us["name"], us["id"]) if (kpi.id, i) in manual}
        else:
            actual, notes = _by_unit(engine, user, kpi.metric, dim, names, kpi.filters, period.time_range), {}
        target = _targets(engine, user, kpi, kpi.target, dim, names, period)
        for u in us.itertuples():
            a, g = actual.get(u.name), target.get(u.name)
            lo = hi = None
            if kpi.rule.kind is RuleKind.LINEAR and g is not None:
                lo, hi = kpi.rule.points(g)
            if lo is not None and not kpi.rule.relative and not scoring.in_order(lo, g, hi, kpi.direction):
                s, why = None, RULE_ORDER   # an absolute rule that doesn't fit this unit's target: not scored
            else:
                s = scoring.score(kpi.rule, a, g, kpi.direction)
                why = NO_ACTUAL if a is None else NO_TARGET if s is None else None
            note = why or notes.get(u.name)
            rows.append((int(u.id), u.code, u.name, u.name_en, kpi.id, kpi.metric, a, g, lo, hi, s, kpi.weight, note))
    now = clock.now()
    return Evaluation(template, period, pd.DataFrame(rows, columns=LINE_COLUMNS), now, version)


def totals(lines: pd.DataFrame, template: Template, weights: dict[str, float] | None = None,
           pool: float | Decimal | str | None = None, method: BonusMethod | str | None = None) -> pd.DataFrame:
    """Per unit: weighted total over its scored KPIs (None when none was scored), rank, base and bonus,
    for the template's weights and pool or those given."""
    weights = {k.id: k.weight for k in template.kpis} | (weights or {})
    pool = scoring.parse_pool(template.bonus.pool if pool is None else pool)
    method = BonusMethod(method or template.bonus.method)
    cols = ["org_unit_id", "code", "unit", "unit_en", "total", "rank", "base", "bonus"]
    if lines.empty:
        return pd.DataFrame(columns=cols)
    out = []
    # dropna=False: a unit without an English name (unit_en None) must not drop out of the ranking
    for (uid, code, unit, unit_en), g in lines.groupby(["org_unit_id", "code", "unit", "unit_en"], sort=False,
                                                       dropna=False):
        s = [None if pd.isna(x) else float(x) for x in g["score"]]
        out.append((int(uid), code, unit, unit_en, scoring.weighted_total(s, [weights[k] for k in g["kpi_id"]])))
    df = pd.DataFrame(out, columns=cols[:5])
    df["total"] = df["total"].astype(float)
    bases = template.bonus.bases
    missing = sorted(set(df["code"]) - set(bases)) if bases else []
    if missing:  # a forgotten base must not quietly become 1
        raise InvalidArgument(f"Template {template.id} sets bonus bases but none for {missing}: give every unit "
                              "a base, or none.",
                              f"模板 {template.id} 设置了奖金基数，但 {missing} 没有：请为每个单位设置基数，或全部不设。")
    tot = {u: None if pd.isna(t) else float(t) for u, t in zip(df["org_unit_id"], df["total"])}
    df["rank"] = df["org_unit_id"].map(scoring.ranks(tot))
    df["base"] = [float(bases[c]) if bases else 1.0 for c in df["code"]]
    claim = scoring.bonus_weights(tot, dict(zip(df["org_unit_id"], df["base"])), method, template.bonus.bands)
    # Nobody reached a bonus band: nothing is paid out (the page shows 0 of the pool), rather than an error.
    split = scoring.allocate(pool, claim) if sum(claim.values()) > 0 else {k: Decimal("0.00") for k in claim}
    df["bonus"] = df["org_unit_id"].map(split)
    return df.sort_values(["rank", "code"], ignore_index=True)


def allocated(totals_frame: pd.DataFrame) -> Decimal:
    """The bonus paid out in a ``totals`` frame, exact to the fen (the pool, unless nobody earned a share)."""
    return sum((Decimal(str(b)) for b in totals_frame["bonus"] if b is not None and not pd.isna(b)),
               Decimal("0.00"))


def with_points(lines: pd.DataFrame, weights: dict[str, float] | None = None) -> pd.DataFrame:
    """The lines with ``weight`` set from ``weights`` (KPI id -> weight; default: as they are) and
    ``points`` = score × weight / Σ weight over the unit's scored KPIs: the points of a unit add up
    to its total, and an unscored line has none."""
    out = lines.copy()
    if weights:
        out["weight"] = [float(weights.get(k, w)) for k, w in zip(out["kpi_id"], out["weight"])]
    out["points"] = pd.Series(dtype=float) if out.empty else None
    for _, g in out.groupby("org_unit_id", sort=False):
        pts = scoring.points([None if pd.isna(x) else float(x) for x in g["score"]], list(g["weight"].astype(float)))
        out.loc[g.index, "points"] = pts
    out["points"] = out["points"].astype(float)
    return out


def unscored(lines: pd.DataFrame, lang: str = "zh") -> dict[str, list[str]]:
    """Units with KPIs left out of their total: unit name (in ``lang``) -> KPI ids, in line order."""
    out: dict[str, list[str]] = {}
    for x in lines[lines["score"].isna()].itertuples():
        en = getattr(x, "unit_en", None)
        out.setdefault(en if lang == "en" and isinstance(en, str) else x.unit, []).append(x.kpi_id)
    return out


def metric_link(metric: str | None) -> str | None:
    """The metric center opened on one metric (page ``metrics``)."""
    return f"metrics?{urllib.parse.urlencode({'metric': metric})}" if metric else None


def explore_url(template: Template, kpi: Kpi, period: Period, units: tuple[str, ...] = ()) -> str | None:
    """The Explore chart behind a KPI: the metric by unit over the period, with the KPI's filters
    (and only ``units`` when given)."""
    if kpi.manual:
        return None
    dim = template.dimension
    only = (FilterSpec(dim, "in", tuple(units)),) if units else ()
    spec = QuerySpec((kpi.metric,), (dim,), (*only, *kpi.filters), period.time_range)
    chart = ChartSpec(spec, Mark.BAR, columns=(Field(dim),), rows=(Field(kpi.metric),))
    return "explore?" + urllib.parse.urlencode(explore_link.to_query_params(chart))


def _num(v: float) -> str:
    return f"{v:,.4g}" if abs(v) < 10 else f"{v:,.0f}"


def describe_rule(kpi: Kpi, lang: str = "zh") -> str:
    """The scoring rule in words, e.g. '线性：门槛 90% × 目标 = 0 分，目标 = 100 分，挑战 110% × 目标 = 120 分（封顶）'."""
    r, key = kpi.rule, "sc.rule.lower" if kpi.direction.value == "lower_is_better" else "sc.rule.higher"
    direction = i18n.t(key, lang)
    if r.kind is RuleKind.BANDS:
        basis = i18n.t(f"sc.rule.basis.{r.basis.value}", lang)
        bands = "; ".join(f"{'≥' if kpi.direction.value == 'higher_is_better' else '≤'}{_num(b)} → {s:g}"
                          for b, s in r.bands)
        return i18n.t("sc.rule.bands", lang, direction=direction, basis=basis, bands=bands)
    fmt_p = (lambda x: f"{x:.0%} × {i18n.t('sc.col.target', lang)}") if r.relative else (lambda x: _num(x))
    return i18n.t("sc.rule.linear", lang, direction=direction, threshold=fmt_p(r.threshold),
                  stretch=fmt_p(r.stretch), cap=f"{r.cap:g}")


def describe_target(kpi: Kpi, lang: str = "zh") -> str:
    """Where the target comes from, in words."""
    t = kpi.target
    if t.source is TargetSource.FIXED:
        return i18n.t("sc.target.fixed", lang, value=_num(t.value))
    if t.source is TargetSource.LAST_YEAR:
        return i18n.t("sc.target.last_year", lang, change=f"{t.change:+.1%}")
    types = {"revenue", "cogs", "opex", "other"}   # named as the budget page names them, not by their codes
    account_type = (i18n.t(f"budget.type.{t.account_type}", lang) if t.account_type in types
                    else t.account_type or "—")
    return i18n.t("sc.target.budget", lang, version=t.version or i18n.t("sc.target.current_version", lang),
                  account_type=account_type)


def definition_json(template: Template) -> str:
    """The template as stored with a run (JSON)."""
    return json.dumps(to_dict(template), ensure_ascii=False, sort_keys=True)
