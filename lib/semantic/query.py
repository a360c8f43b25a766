"""The one read path: ``compile(spec, user)`` turns a QuerySpec into one SQLAlchemy Select.

How it stays correct:
- each (dataset, time column, offset) is aggregated in its own subquery to the requested keys
  (time bucket + dimensions); subqueries are joined on those keys, never fact row to fact row,
  so metrics from different tables cannot double count;
- ratios divide the aggregated numerator by the aggregated denominator, NULL on zero;
- balances (receivables, inventory) are taken at period dates (closing, or the mean of opening
  and closing) and summed over the other dimensions only;
- offsets (YoY, MoM) aggregate the shifted period with the same filters and move its buckets forward;
- values are bound parameters; expressions come from parsed, validated declarations.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
import sqlglot

from lib.access.scope import User
from lib.core import db, schema, warehouse
from lib.core.errors import Forbidden
from lib.semantic import expressions as xp
from lib.semantic import model as semantic
from lib.semantic import periods
from lib.semantic.expressions import TIME
from lib.semantic.model import DatasetKind, Metric, MetricType, SemanticModel, TimeAgg
from lib.semantic.periods import (
    CUMULATIVE_GRAINS,
    GRAIN_MONTHS,
    NO_OFFSET,
    Offset,
    bucket_start,
    check_offset,
    next_bucket,
)
from lib.semantic.spec import Comparison, InvalidSpec, QuerySpec, Sort

NULL_KEY = "\u2205"
"""Stands for NULL in join keys inside the query, so units join with plain (hashable) equality;
the final select turns it back into NULL."""


def _key(col: sa.ColumnElement) -> sa.ColumnElement:
    # A literal we own, not a bound value: DuckDB can't GROUP BY an expression holding a parameter.
    return sa.func.coalesce(sa.cast(col, sa.String), sa.literal_column(f"'{NULL_KEY}'", sa.String))


@lru_cache(maxsize=1)
def default_model() -> SemanticModel:
    """The declarations from data/semantic, loaded once per process."""
    return semantic.load()


@dataclass(frozen=True)
class Leaf:
    """A simple metric at an offset: one aggregated column of one unit."""

    metric: str
    offset: Offset

    @property
    def label(self) -> str:
        return f"m_{self.metric}" + (f"__o{self.offset[0]}_{self.offset[1]}" if self.offset != NO_OFFSET else "")


@dataclass
class _Unit:
    dataset: semantic.Dataset
    time_column: str | None
    offset: Offset
    extend_to: str | None  # cumulative: also aggregate from the start of this period
    leaves: dict[str, Metric] = field(default_factory=dict)


class _Compiler:
    def __init__(self, spec: QuerySpec, user: User | None, model: SemanticModel) -> None:
        self.spec, self.user, self.model = spec, user, model
        if not spec.metrics:
            raise InvalidSpec("Choose at least one metric.", "请至少选择一个指标。")
        if len(set(spec.metrics)) != len(spec.metrics):
            raise InvalidSpec("A metric is listed twice.", "指标重复。")
        for mid in spec.metrics:
            model.metric(mid)
            if user is not None and not user.may_see_metric(mid, model):
                raise _denied_metric(user, model, mid)
        grains = [d for d in spec.dimensions if d in semantic.TIME_GRAINS]
        if len(grains) > 1:
            raise InvalidSpec(f"Use one time grain, not {', '.join(grains)}.", f"只能选择一个时间粒度，而不是 {'、'.join(grains)}。")
        self.grain = grains[0] if grains else None
        self.dims = [d for d in spec.dimensions if d not in semantic.TIME_GRAINS]
        for d in self.dims:
            model.dimension(d)
        if len(set(spec.dimensions)) != len(spec.dimensions):
            raise InvalidSpec("A dimension is listed twice.", "维度重复。")
        self.units: dict[tuple, _Unit] = {}
        self.cumulative = False
        self.extend_to: str | None = None

    # -- metric expressions over the joined units --------------------------------------------
    def expr(self, mid: str, off: Offset, extend_to: str | None = None) -> sa.ColumnElement:
        m = self.model.metric(mid)
        check_offset(off, self.grain, f"'{mid}'")
        if m.type is MetricType.SIMPLE:
            return self._leaf(m, off, extend_to)
        if m.type is MetricType.RATIO:
            return xp.div(self.expr(m.numerator, off, extend_to), self.expr(m.denominator, off, extend_to))
        if m.type is MetricType.DERIVED:
            names = {name: (inp.metric, periods.add(off, periods.offset(inp.offset))) for name, inp in m.inputs.items()}
            return xp.arith(_tree(m.expr), lambda n: self.expr(*names[n], extend_to) if n in names
                          else self.expr(n, off, extend_to))
        if m.type is MetricType.CUMULATIVE:
            allowed = CUMULATIVE_GRAINS[m.period]
            if self.grain not in allowed:
                raise InvalidSpec(f"'{mid}' accumulates within a {m.period}: use a time grain of {', '.join(allowed)}.",
                                  f"“{m.label_zh}”按{m.period}累计：时间粒度请选 {'、'.join(allowed)}。")
            if off[1] or off[0] % GRAIN_MONTHS[m.period]:
                raise InvalidSpec(f"'{mid}' can only be compared with whole {m.period}s earlier (e.g. last year).",
                                  f"“{m.label_zh}”只能与整{m.period}之前的同期对比（如去年同期）。")
            if self.spec.time_range is None:
                raise InvalidSpec(f"'{mid}' needs a time range.", f"“{m.label_zh}”需要选择时间范围。")
            self.cumulative = True
            self.extend_to = periods.coarsest(self.extend_to, m.period)
            return xp.Window(self.expr(m.metric, off, m.period), m.period)
        raise AssertionError(m.type)

    def _leaf(self, m: Metric, off: Offset, extend_to: str | None) -> sa.ColumnElement:
        ds = self.model.datasets[m.dataset]
        time_col = m.time_column or ds.time
        key = (ds.id, time_col, off, extend_to)
        unit = self.units.setdefault(key, _Unit(ds, time_col, off, extend_to))
        unit.leaves[m.id] = m
        return xp.LeafRef(key, Leaf(m.id, off).label)

    # -- units -------------------------------------------------------------------------------
    def unit_select(self, unit: _Unit, name: str) -> sa.CTE:
        ds = unit.dataset
        missing = [d for d in self.dims if d not in ds.dimensions]
        missing += [f.dimension for f in self.spec.filters if f.dimension not in ds.dimensions]
        if missing:
            metrics = ", ".join(unit.leaves)
            raise InvalidSpec(
                f"{metrics} ({ds.label_en}) can't be broken down or filtered by {', '.join(dict.fromkeys(missing))}. "
                f"Its dimensions: {', '.join(ds.dimensions)}.",
                f"{metrics}（{ds.label_zh}）不能按 {'、'.join(dict.fromkeys(missing))} 拆分或筛选。可用维度：{'、'.join(ds.dimensions)}。")
        self._check_sources(ds)
        if ds.period_grain == "month":
            tr = self.spec.time_range
            if self.grain in ("day", "week") or (tr is not None and (
                    tr.start.day != 1 or (tr.end + dt.timedelta(days=1)).day != 1)):
                raise InvalidSpec(f"{', '.join(unit.leaves)} ({ds.label_en}) is kept by month: choose whole months "
                                  "and a month, quarter or year grain.",
                                  f"{'、'.join(unit.leaves)}（{ds.label_zh}）按月编制：请选择整月范围和月/季/年粒度。")
        if ds.kind is DatasetKind.FLOW:
            return self._flow_unit(unit, name)
        return self._balance_unit(unit, name)

    def _check_sources(self, ds: semantic.Dataset) -> None:
        """Refuse a breakdown or filter that reads a source the role denies, and a dataset whose denied rows
        can't be told apart; the leaves were checked with the metrics (``User.may_see_metric``)."""
        user = self.user
        if user is None or not user.denied_sources:
            return
        refs = [ds.dimensions[d] for d in self.dims] + [ds.dimensions[f.dimension] for f in self.spec.filters]
        denial = user.denial(semantic.reads(ds, refs))
        if denial is not None:
            raise _forbidden_source(denial)
        for d in user.row_denials(ds.table):
            if d.dimension not in ds.dimensions:
                raise _forbidden_source(d)
            for f in self.spec.filters:
                if f.dimension == d.dimension and f.op in ("eq", "in") and any(str(v) in d.values for v in f.values):
                    raise _forbidden_source(d)

    def _tables(self, ds: semantic.Dataset, needed: set[str],
                base: sa.FromClause | None = None) -> tuple[sa.FromClause, dict]:
        base = semantic.base_table(ds).alias("b") if base is None else base
        aliases: dict[str | None, sa.FromClause] = {None: base}
        joins = {j.alias: j for j in ds.joins}
        order: list[str] = []

        def need(alias: str | None) -> None:
            if alias is None or alias in order:
                return
            for left, _right in joins[alias].on:
                for part in (left.coalesce or (left,)):
                    need(part.alias)
            order.append(alias)
        for a in needed:
            need(a)
        src: sa.FromClause = base
        for alias in order:
            j = joins[alias]
            t = schema.metadata.tables[j.table].alias(alias)
            aliases[alias] = t
            cond = sa.and_(*[xp.column(aliases, left) == t.c[right] for left, right in j.on])
            src = src.outerjoin(t, cond)
        return src, aliases

    def _where(self, ds: semantic.Dataset, aliases: dict) -> list[sa.ColumnElement]:
        out = [xp.condition(xp.column(aliases, ds.dimensions[f.dimension]), f.op, f.values) for f in self.spec.filters]
        if self.user is not None:
            for d in self.user.row_denials(ds.table):  # denied rows, and rows that can't be told apart, left out
                col = xp.column(aliases, ds.dimensions[d.dimension])
                out.append(sa.and_(col.is_not(None), col.not_in(sorted(d.values))))
        scope = self.user.scope if self.user is not None else None
        if scope is not None:
            if scope.org_unit_ids is not None:
                if not ds.org_column:
                    raise Forbidden(f"{ds.label_en} has no org unit to scope by.", f"{ds.label_zh}无法按组织限定范围。")
                out.append(aliases[None].c[ds.org_column].in_(sorted(scope.org_unit_ids)))
            if scope.categories is not None:
                if "category" not in ds.dimensions:
                    raise Forbidden(f"Your data scope is limited to categories; {ds.label_en} has no category.",
                                    f"您的数据范围限定在品类内；{ds.label_zh}没有品类维度。")
                out.append(xp.column(aliases, ds.dimensions["category"]).in_(sorted(scope.categories)))
        return out

    def _needed_aliases(self, unit: _Unit) -> set[str]:
        out = set()
        for r in self._refs(unit):
            for part in (r.coalesce or (r,)):
                if part.alias:
                    out.add(part.alias)
        return out

    def _refs(self, unit: _Unit) -> list[semantic.ColumnRef]:
        """Every column the unit reads outside its aggregates: breakdowns, filters, metric filters, scope."""
        ds = unit.dataset
        refs = [ds.dimensions[d] for d in self.dims] + [ds.dimensions[f.dimension] for f in self.spec.filters]
        for m in unit.leaves.values():
            for f in m.filters:
                refs.append(f.column or ds.dimensions[f.dimension])
        scope = self.user.scope if self.user is not None else None
        if scope is not None and scope.categories is not None and "category" in ds.dimensions:
            refs.append(ds.dimensions["category"])
        if self.user is not None:
            refs += [ds.dimensions[d.dimension] for d in self.user.row_denials(ds.table)]
        return refs

    def _range(self, unit: _Unit) -> tuple[dt.date, dt.date] | None:
        tr = self.spec.time_range
        if tr is None:
            return None
        off = periods.for_grain(unit.offset, self.grain)
        start = periods.shift_date(tr.start, off, -1)
        if unit.extend_to:  # a running total needs everything since its period began
            start = bucket_start(start, unit.extend_to)
        return start, periods.shift_end(tr.end, off, -1)

    def _flow_unit(self, unit: _Unit, name: str) -> sa.CTE:
        ds = unit.dataset
        needed = self._needed_aliases(unit)
        if needed and all(xp.decomposable(_tree(m.expr)) for m in unit.leaves.values()):
            return self._grouped_flow_unit(unit, name, needed)
        src, aliases = self._tables(ds, needed)
        b = aliases[None]
        tcol = b.c[unit.time_column]
        off = periods.for_grain(unit.offset, self.grain)
        cols, group, late = [], [], False
        if self.grain:
            key, late = periods.bucket_key(self.grain, tcol, off)
            t = key.label(TIME)
            cols.append(t)
            group.append(t)
        for d in self.dims:
            c = _key(xp.column(aliases, ds.dimensions[d])).label(f"d_{d}")
            cols.append(c)
            group.append(c)
        base_cols = {n: b.c[n] for n in b.c.keys()}
        for m in unit.leaves.values():
            cond = xp.metric_condition(m, ds, aliases)
            cols.append(xp.aggregate(_tree(m.expr), base_cols, cond).label(Leaf(m.id, unit.offset).label))
        where = self._where(ds, aliases) + _rows_any_metric_uses(unit, ds, aliases)
        rng = self._range(unit)
        if rng:
            where.append(tcol.between(rng[0], rng[1]))
        elif self.grain:
            where.append(tcol.is_not(None))  # e.g. unpaid invoices have no payment month
        stmt = sa.select(*cols).select_from(src).where(*where)
        if group:
            stmt = stmt.group_by(*group)
        if late:  # the offset moves the buckets, once each, after grouping
            g = stmt.subquery("g")
            stmt = sa.select(periods.shift_bucket(g.c[TIME], off).label(TIME), *[c for c in g.c if c.key != TIME])
        return stmt.cte(name)

    def _grouped_flow_unit(self, unit: _Unit, name: str, needed: set[str]) -> sa.CTE:
        """A flow unit whose dimensions come from joined tables, aggregated in two steps: the facts in the
        range by the fact-table columns the rest of the query reads (join keys, own breakdowns, filter and
        scope columns, the time bucket), then those groups joined to the dimension tables and combined. The
        joins then see one row per key instead of one per fact; the figures are the same (sums of sums,
        counts of counts, min of mins, max of maxes; a NULL key stays one group and finds no dimension row,
        as before). Distinct counts and averages keep the one-step path."""
        ds = unit.dataset
        fact = semantic.base_table(ds).alias("f")
        joins = {j.alias: j for j in ds.joins}
        keys: dict[str, None] = {}

        def base_parts(ref: semantic.ColumnRef) -> None:
            for part in (ref.coalesce or (ref,)):
                if part.alias is None:
                    keys.setdefault(part.column)
        for r in self._refs(unit):
            base_parts(r)
        todo, seen = list(needed), set()
        while todo:
            alias = todo.pop()
            if alias in seen:
                continue
            seen.add(alias)
            for left, _right in joins[alias].on:
                base_parts(left)
                todo += [p.alias for p in (left.coalesce or (left,)) if p.alias]
        scope = self.user.scope if self.user is not None else None
        if scope is not None and scope.org_unit_ids is not None and ds.org_column:
            keys.setdefault(ds.org_column)
        tcol = fact.c[unit.time_column]
        off = periods.for_grain(unit.offset, self.grain)
        group, late = [fact.c[k].label(k) for k in keys], False
        if self.grain:
            t, late = periods.bucket_key(self.grain, tcol, off)
            group.append(t.label(TIME))
        fact_cols = {n: fact.c[n] for n in fact.c.keys()}
        parts, leaf_parts = [], {}
        for m in unit.leaves.values():
            names = []
            for p in xp.partials(_tree(m.expr), fact_cols):
                names.append(f"p{len(parts)}")
                parts.append(p.label(names[-1]))
            leaf_parts[m.id] = names
        rng = self._range(unit)
        inner = sa.select(*group, *parts).select_from(fact).where(*self._semi_joins(unit, fact, joins))
        if rng:
            inner = inner.where(tcol.between(rng[0], rng[1]))
        elif self.grain:
            inner = inner.where(tcol.is_not(None))
        if group:
            inner = inner.group_by(*[c.element for c in group])
        grouped = inner.subquery("b")
        src, aliases = self._tables(ds, needed, grouped)
        cols, outer_group = [], []
        if self.grain:
            t = periods.shift_bucket(grouped.c[TIME], off) if late else grouped.c[TIME]
            cols.append(t.label(TIME))
            outer_group.append(t)
        for d in self.dims:
            c = _key(xp.column(aliases, ds.dimensions[d])).label(f"d_{d}")
            cols.append(c)
            outer_group.append(c)
        for m in unit.leaves.values():
            cond = xp.metric_condition(m, ds, aliases)
            cols.append(xp.reaggregate(_tree(m.expr), [grouped.c[n] for n in leaf_parts[m.id]], cond)
                        .label(Leaf(m.id, unit.offset).label))
        where = self._where(ds, aliases) + _rows_any_metric_uses(unit, ds, aliases)
        stmt = sa.select(*cols).select_from(src).where(*where)
        if outer_group:
            stmt = stmt.group_by(*outer_group)
        return stmt.cte(name)

    def _semi_joins(self, unit: _Unit, fact: sa.FromClause, joins: dict) -> list[sa.ColumnElement]:
        """Filters on a joined table's column, as key IN (the dimension's matching keys), so the facts are grouped
        after filtering: the query's filters, and the rows the unit's metrics use when each has its own filter (opex
        reads only opex accounts). Only where that is the same rows: a one-column join from a fact column, and a
        match that can't be met by a missing value (in/eq without the empty value, comparisons); "not these"
        filters, which keep rows without a value, stay after the join. The filters themselves apply there too."""
        ds = unit.dataset

        def semi(ref: semantic.ColumnRef, op: str, values) -> sa.ColumnElement | None:
            j = joins.get(ref.alias) if ref.alias else None
            if j is None or ref.coalesce or len(j.on) != 1 or op in ("not_in", "ne") \
                    or None in xp.filter_values(values):   # a single value may come bare, not in a tuple
                return None
            left, right = j.on[0]
            if left.alias is not None or left.coalesce:
                return None
            dim = schema.metadata.tables[j.table]
            return fact.c[left.column].in_(sa.select(dim.c[right]).where(xp.condition(dim.c[ref.column], op, values)))
        out = [c for f in self.spec.filters if (c := semi(ds.dimensions[f.dimension], f.op, f.values)) is not None]
        uses = []
        for m in unit.leaves.values():
            conds = [semi(f.column or ds.dimensions[f.dimension], f.op, f.values) for f in m.filters]
            if not conds or any(c is None for c in conds):
                return out
            uses.append(sa.and_(*conds))
        return [*out, sa.or_(*uses)] if uses else out

    def _periods(self, unit: _Unit) -> list[tuple]:
        """(bucket label, snapshot date, role, days) rows: each bucket's opening and closing dates."""
        tr = self.spec.time_range
        if tr is None:
            raise InvalidSpec("Balances (AR, inventory) need a time range.", "余额类指标（应收、库存）需要选择时间范围。")
        off = periods.for_grain(unit.offset, self.grain)
        rows = []
        if self.grain is None:
            buckets = [(None, tr.start, tr.end)]
        else:
            buckets, b = [], bucket_start(tr.start, self.grain)
            while b <= tr.end:
                nb = next_bucket(b, self.grain)
                buckets.append((b, max(b, tr.start), min(nb - dt.timedelta(days=1), tr.end)))
                b = nb
        for label, start, end in buckets:
            s, e = periods.shift_date(start, off, -1), periods.shift_end(end, off, -1)
            days = (e - s).days + 1
            rows.append((label, s - dt.timedelta(days=1), "open", days))
            rows.append((label, e, "close", days))
        return rows

    def _balance_unit(self, unit: _Unit, name: str) -> sa.CTE:
        ds = unit.dataset
        src, aliases = self._tables(ds, self._needed_aliases(unit))
        b = aliases[None]
        snapshots = sa.values(sa.column("p_t", sa.Date), sa.column("p_at", sa.Date), sa.column("p_role", sa.String),
                              sa.column("p_days", sa.Integer), name=f"{name}_periods").data(self._periods(unit))
        at = snapshots.c.p_at
        if ds.kind is DatasetKind.RECEIVABLE:
            r = {k: b.c[v] for k, v in ds.receivable.items()}
            paid_by_then = sa.case((sa.and_(r["paid"].is_not(None), r["paid"] <= at), r["paid_amount"]), else_=0)
            open_amount = r["amount"] - paid_by_then
            virtual = {"open_amount": open_amount,
                       "overdue_amount": sa.case((r["due"] < at, open_amount), else_=0),
                       "period_days": snapshots.c.p_days}
            valid = sa.and_(r["issued"] <= at, sa.or_(r["paid"].is_(None), r["paid"] > at, r["paid_amount"] < r["amount"]))
        else:  # snapshot: the latest snapshot on or before the date
            # Found per period date by a grouped join, not a correlated subquery: the same answer, and one
            # every engine plans (Spark refuses a correlated scalar subquery in a join condition).
            inner = semantic.base_table(ds).alias("s")
            dates = sa.values(sa.column("p_at", sa.Date), name=f"{name}_dates").data(
                sorted({(r[1],) for r in self._periods(unit)}))
            latest_q = (sa.select(dates.c.p_at.label("l_at"), sa.func.max(inner.c[ds.time]).label("l_t"))
                        .select_from(dates.join(inner, inner.c[ds.time] <= dates.c.p_at)).group_by(dates.c.p_at))
            scope = self.user.scope if self.user is not None else None
            if scope is not None and scope.org_unit_ids is not None and ds.org_column:
                # Another unit's later count must not decide which count this user sees.
                latest_q = latest_q.where(inner.c[ds.org_column].in_(sorted(scope.org_unit_ids)))
            latest = latest_q.subquery(f"{name}_latest")
            src = src.join(latest, b.c[ds.time] == latest.c.l_t)
            virtual = {"period_days": snapshots.c.p_days}
            valid = at == latest.c.l_at
        src = src.join(snapshots, valid)
        cols = [snapshots.c.p_t.label(TIME), snapshots.c.p_role.label("p_role")]
        group = [snapshots.c.p_t, snapshots.c.p_role]
        for d in self.dims:
            c = _key(xp.column(aliases, ds.dimensions[d])).label(f"d_{d}")
            cols.append(c)
            group.append(c)
        base_cols = {**{n: b.c[n] for n in b.c.keys()}, **virtual}
        for m in unit.leaves.values():
            cond = xp.metric_condition(m, ds, aliases)
            cols.append(xp.aggregate(_tree(m.expr), base_cols, cond).label(Leaf(m.id, unit.offset).label))
        where = self._where(ds, aliases) + _rows_any_metric_uses(unit, ds, aliases)
        inner_q = sa.select(*cols).select_from(src).where(*where).group_by(*group).subquery(f"{name}_at")
        outer_cols, outer_group = [], []
        if self.grain:
            outer_cols.append(inner_q.c[TIME])
            outer_group.append(inner_q.c[TIME])
        for d in self.dims:
            outer_cols.append(inner_q.c[f"d_{d}"])
            outer_group.append(inner_q.c[f"d_{d}"])
        for m in unit.leaves.values():
            v = inner_q.c[Leaf(m.id, unit.offset).label]
            is_open, is_close = inner_q.c.p_role == "open", inner_q.c.p_role == "close"
            if "period_days" in (m.expr or "") and not m.time_agg:
                agg = sa.func.max(v)
            elif m.time_agg is TimeAgg.AVERAGE:
                opening, closing = sa.func.sum(sa.case((is_open, v))), sa.func.sum(sa.case((is_close, v)))
                agg = sa.case((sa.or_(opening.is_not(None), closing.is_not(None)),
                               sa.cast(sa.func.coalesce(opening, 0) + sa.func.coalesce(closing, 0), sa.Double) / 2.0))
            else:
                agg = sa.func.sum(sa.case((is_close, v)))
            outer_cols.append(agg.label(Leaf(m.id, unit.offset).label))
        stmt = sa.select(*outer_cols)
        if outer_group:
            stmt = stmt.group_by(*outer_group)
        return stmt.cte(name)

    # -- assembly ----------------------------------------------------------------------------
    def build(self, place: _Placement | None = None) -> sa.Select:
        cmp_off = self._comparison_offset()
        outputs: list[tuple[str, sa.ColumnElement]] = []
        for mid in self.spec.metrics:
            outputs.append((mid, self.expr(mid, NO_OFFSET)))
            if cmp_off:
                prev = self.expr(mid, cmp_off)
                outputs.append((f"{mid}__cmp", prev))
                m = self.model.metric(mid)
                if m.format in (semantic.Format.PERCENT, semantic.Format.PERCENT_POINTS):
                    outputs.append((f"{mid}__chg", xp.Binary("-", outputs[-2][1], prev)))
                else:
                    outputs.append((f"{mid}__chg", xp.div(xp.Binary("-", outputs[-2][1], prev), xp.Abs(prev))))
        subs = {key: self.unit_select(u, f"u{i}") for i, (key, u) in enumerate(self.units.items())}
        if place is not None:
            subs = place(self.units, subs)
        keys = ([TIME] if self.grain else []) + [f"d_{d}" for d in self.dims]
        first = next(iter(subs.values()))
        if self.cumulative:
            # Every bucket from the period's start, so months without activity still carry the total.
            tr = self.spec.time_range
            b, labels = bucket_start(bucket_start(tr.start, self.extend_to), self.grain), []
            while b <= tr.end:
                labels.append((b,))
                b = next_bucket(b, self.grain)
            times = sa.values(sa.column(TIME, sa.Date), name="tspine").data(labels)
            if self.dims:
                dim_keys = [f"d_{d}" for d in self.dims]
                parts = [sa.select(*[s.c[k] for k in dim_keys]).distinct() for s in subs.values()]
                combos = (sa.union(*parts) if len(parts) > 1 else parts[0]).subquery("dspine")
                spine = sa.select(times.c[TIME], *[combos.c[k] for k in dim_keys]).select_from(
                    times.join(combos, sa.true())).subquery("spine")
            else:
                spine = sa.select(times.c[TIME]).subquery("spine")
            src = spine
            for s in subs.values():
                src = src.outerjoin(s, sa.and_(*[spine.c[k] == s.c[k] for k in keys]))
            key_cols = {k: spine.c[k] for k in keys}
        elif len(subs) == 1:
            src: sa.FromClause = first
            key_cols = {k: first.c[k] for k in keys}
        elif keys:
            spine = sa.union(*[sa.select(*[s.c[k] for k in keys]) for s in subs.values()]).subquery("spine")
            src = spine
            for s in subs.values():
                src = src.outerjoin(s, sa.and_(*[spine.c[k] == s.c[k] for k in keys]))
            key_cols = {k: spine.c[k] for k in keys}
        else:
            src = first
            for s in list(subs.values())[1:]:
                src = src.join(s, sa.true())
            key_cols = {}
        render = xp.Renderer(subs, key_cols, self.dims)
        out_cols = []
        if self.grain:
            out_cols.append(key_cols[TIME].label(self.grain))
        for d in self.dims:
            out_cols.append(sa.func.nullif(key_cols[f"d_{d}"], sa.literal_column(f"'{NULL_KEY}'", sa.String)).label(d))
        out_cols += [render(e).label(name) for name, e in outputs]
        stmt = sa.select(*out_cols).select_from(src)
        if self.cumulative and self.spec.time_range is not None:
            inner = stmt.subquery("q")
            stmt = sa.select(*inner.c).where(inner.c[self.grain] >= bucket_start(self.spec.time_range.start, self.grain))
            stmt = stmt.where(sa.or_(*[inner.c[name].is_not(None) for name, _ in outputs]))
            cols = inner.c
        else:
            cols = {c.name: c for c in out_cols}
            cols = stmt.selected_columns
        order = []
        names = set(cols.keys())
        for s in self.spec.sort:
            if s.field not in names:
                raise InvalidSpec(f"Can't sort by '{s.field}': it is not in the result ({', '.join(sorted(names))}).",
                                  f"无法按“{s.field}”排序：结果中没有该列。")
            order.append(sa.desc(cols[s.field]).nulls_last() if s.descending else sa.asc(cols[s.field]).nulls_last())
        if not order:
            order = [cols[k] for k in ([self.grain] if self.grain else []) + self.dims]
        if order:
            stmt = stmt.order_by(*order)
        if self.spec.limit is not None:
            if not (isinstance(self.spec.limit, int) and self.spec.limit > 0):
                raise InvalidSpec("limit must be a positive whole number.", "行数上限须为正整数。")
            stmt = stmt.limit(self.spec.limit)
        return stmt

    def _comparison_offset(self) -> Offset | None:
        c = self.spec.comparison
        if c is None:
            return None
        if c is Comparison.YOY:
            return (12, 0)
        if c is Comparison.MOM:
            return (1, 0)
        grain = self.grain
        if grain is None:
            tr = self.spec.time_range
            if tr is None:
                raise InvalidSpec("Comparing with the previous period needs a time range or a time grain.",
                                  "与上期对比需要时间范围或时间粒度。")
            if tr.start.day == 1 and (tr.end + dt.timedelta(days=1)).day == 1:  # whole months: the months before
                return ((tr.end.year - tr.start.year) * 12 + tr.end.month - tr.start.month + 1, 0)
            return (0, (tr.end - tr.start).days + 1)
        return {"day": (0, 1), "week": (0, 7), "month": (1, 0), "quarter": (3, 0), "year": (12, 0)}[grain]


# ---- what a role may not read ----------------------------------------------------------------

def _forbidden_source(d) -> Forbidden:
    return Forbidden(f"Your role may not read {d.label('en')}.", f"您的角色无权读取{d.label('zh')}。")


def over_denied_rows(metrics: tuple[str, ...], filters: tuple, user: User | None,
                     model: SemanticModel | None = None) -> bool:
    """Whether a figure of ``metrics`` under ``filters`` that somebody else computed (an alert's value, a
    scorecard's actual or target) may include rows ``user`` is denied: a metric reads a table with a row
    denial, and the filters don't keep that dimension to allowed values (``eq``/``in`` of allowed ones only).
    The compiler leaves such rows out of the user's own queries; a stored figure can't be re-filtered, so it
    is not theirs to see."""
    if user is None or not user.denied_sources:
        return False
    model = model or default_model()
    for mid in metrics:
        for leaf in model.leaf_metrics(mid):
            for d in user.row_denials(model.datasets[leaf.dataset].table):
                kept = [f for f in filters if f.dimension == d.dimension and f.op in ("eq", "in")
                        and f.values and not any(v is None or str(v) in d.values for v in f.values)]
                if not kept:
                    return True
    return False


def _denied_metric(user: User, model: SemanticModel, mid: str) -> Forbidden:
    m = model.metric(mid)
    for leaf in model.leaf_metrics(mid):
        d = user.denial(model.reads_of(leaf))
        if d is not None:
            return Forbidden(f"Your role may not see {m.label_en} ({mid}): it reads {d.label('en')}.",
                             f"您的角色无权查看“{m.label_zh}”（{mid}）：它读取{d.label('zh')}。")
    return Forbidden(f"Your role may not see the metric {m.label_en} ({mid}).", f"您的角色无权查看指标“{m.label_zh}”（{mid}）。")


# ---- rows of a unit ------------------------------------------------------------------------

def _rows_any_metric_uses(unit: _Unit, ds: semantic.Dataset, aliases: dict) -> list[sa.ColumnElement]:
    """When every metric of a unit has its own filter, rows none of them use are left out
    (e.g. opex by account does not list revenue accounts with an empty value)."""
    conds = [xp.metric_condition(m, ds, aliases) for m in unit.leaves.values()]
    if not conds or any(c is None for c in conds):
        return []
    return [sa.or_(*conds)]


@lru_cache(maxsize=4096)
def _tree(expr: str):
    """A metric's expression parsed once per process: the compiler only reads the trees (expressions are
    checked when the model loads), and parsing was a third of compiling a query."""
    return sqlglot.parse_one(expr)


# ---- where each part runs ------------------------------------------------------------------------

class _Placement:
    """Decides where a question's parts run when a warehouse is attached, and runs the parts.

    All units on one connection: the whole statement goes there (``target``), compiled in its dialect. Units
    on both: each unit's aggregate runs on its own engine (its row scope inside it), the aggregated rows —
    already at the requested keys, so no fact row leaves the warehouse — are registered as Arrow tables in a
    fresh in-memory DuckDB under the units' names, and the outer statement (joins, ratios, comparisons,
    order, limit) runs there over them, exactly as it would have over the CTEs.
    """

    def __init__(self, store: sa.Engine, wh: sa.Engine, limits=None, execute: bool = True) -> None:
        self.store, self.wh, self.limits, self.execute = store, wh, limits, execute
        self.target: sa.Engine = store
        self.parts: list[tuple[sa.Engine, str, sa.Select]] = []
        self._local: sa.Engine | None = None

    def engine_of(self, unit: _Unit) -> sa.Engine:
        return self.wh if unit.dataset.read_from == "warehouse" else self.store

    def __call__(self, units: dict, subs: dict) -> dict:
        engines = {key: self.engine_of(units[key]) for key in subs}
        if len({id(e) for e in engines.values()}) == 1:
            self.target = next(iter(engines.values()))
            return subs
        self._local = self.target = sa.create_engine("duckdb:///:memory:", poolclass=sa.pool.StaticPool)
        out = {}
        for key, cte in subs.items():
            select, cols = cte.element, list(cte.c)
            self.parts.append((engines[key], cte.name, select))
            if self.execute:
                names, rows = db.fetch(engines[key], select, self.limits)
                with self._local.connect() as conn:
                    conn.connection.driver_connection.register(cte.name, _arrow(names, rows, cols))
            out[key] = sa.table(cte.name, *[sa.column(c.name, c.type) for c in cols])
        return out

    def close(self) -> None:
        if self._local is not None:
            self._local.dispose()


def _arrow(names: list[str], rows: list, cols: list[sa.ColumnElement]):
    """A part's rows as an Arrow table: exact decimals stay decimals; dates a driver sends as text (PyHive)
    become dates; an empty or all-NULL column takes its type from the statement."""
    types = {c.name: c.type for c in cols}
    arrays = []
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        t = types.get(name)
        if isinstance(t, sa.Date) and not isinstance(t, sa.DateTime):
            values = [dt.date.fromisoformat(v[:10]) if isinstance(v, str) else
                      v.date() if isinstance(v, dt.datetime) else v for v in values]
        arr = pa.array(values)
        if arr.type == pa.null():
            arr = pa.array(values, type=_arrow_type(t))
        arrays.append(arr)
    return pa.table(arrays, names=names)


def _arrow_type(t):
    if isinstance(t, sa.Date) and not isinstance(t, sa.DateTime):
        return pa.date32()
    if isinstance(t, sa.String):
        return pa.string()
    if isinstance(t, sa.Integer):
        return pa.int64()
    return pa.float64()


# ---- public API ------------------------------------------------------------------------------

def compile(spec: QuerySpec, user: User | None = None, model: SemanticModel | None = None) -> sa.Select:
    """One SELECT answering ``spec`` within ``user``'s row scope, with every value bound."""
    return _Compiler(spec, user, model or default_model()).build()


def run(engine: sa.Engine, spec: QuerySpec, user: User | None = None, model: SemanticModel | None = None,
        limits=None) -> pd.DataFrame:
    """Compile and execute: the DataFrame has one column per dimension and per metric id.

    ``engine`` is the store's. With a warehouse attached to it (:mod:`lib.core.warehouse`), a question whose
    datasets are all read from one connection is compiled for that connection's dialect and run there; one
    whose datasets live on both has each part aggregated on its own engine and the parts joined locally.
    """
    compiler = _Compiler(spec, user, model or default_model())
    wh = warehouse.of(engine)
    if wh is None:
        df = db.run(engine, compiler.build(), limits)
    else:
        place = _Placement(engine, wh, limits)
        try:
            stmt = compiler.build(place)
            df = db.run(place.target, stmt, limits)
        finally:
            place.close()
    for grain in semantic.TIME_GRAINS:
        if grain in df.columns:
            df[grain] = pd.to_datetime(df[grain])
    return df


def dimension_values(engine: sa.Engine, dimension: str, user: User | None = None,
                     model: SemanticModel | None = None, limit: int = 10_000) -> list:
    """The values of a dimension a user may pick in a filter: only those with rows in their scope.

    Asked through the compiler (a row count of a dataset that has the dimension), so the scope
    applies exactly as it does to figures.
    """
    model = model or default_model()
    model.dimension(dimension)
    # An unfiltered metric first (every row counts); a filtered one when the role may read no unfiltered one.
    for m in sorted(model.metrics.values(), key=lambda x: bool(x.filters)):
        if (m.type is MetricType.SIMPLE and dimension in model.datasets[m.dataset].dimensions
                and not any(f.dimension == dimension for f in m.filters)
                and model.datasets[m.dataset].kind is DatasetKind.FLOW
                and (user is None or user.may_see_metric(m.id, model))):
            df = run(engine, QuerySpec((m.id,), (dimension,), sort=(Sort(dimension),), limit=limit), user, model)
            return [v for v in df[dimension].tolist() if v is not None and not pd.isna(v)]
    raise InvalidSpec(f"No dataset you may read has the dimension '{dimension}'.", f"没有可读的数据集包含维度“{dimension}”。")


def sql_text(spec: QuerySpec, engine: sa.Engine, user: User | None = None, model: SemanticModel | None = None) -> str:
    """The SQL finance can audit, with values inlined for reading (never executed in this form).

    With a warehouse attached, it is the SQL in the dialect of the connection that runs it; a question on
    both connections shows each part with where it runs, then the local join over the parts.
    """
    compiler = _Compiler(spec, user, model or default_model())
    wh = warehouse.of(engine)
    if wh is None:
        return _readable(compiler.build(), engine)
    place = _Placement(engine, wh, execute=False)
    stmt = compiler.build(place)
    if not place.parts:
        return _readable(stmt, place.target)
    place.close()
    out = [f"-- {name}: {'warehouse' if e is wh else 'store'} ({e.dialect.name})\n{_readable(sel, e)};"
           for e, name, sel in place.parts]
    out.append(f"-- joined locally over {', '.join(n for _e, n, _s in place.parts)} (DuckDB, in memory)\n"
               + _readable(stmt, sa.create_engine("duckdb:///:memory:")) + ";")
    return "\n\n".join(out)


def _readable(stmt: sa.Select, engine: sa.Engine) -> str:
    try:
        return str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    except sa.exc.CompileError:   # a dialect that can't inline some value: shown with its parameters
        return str(stmt.compile(engine))


def describe(spec: QuerySpec, lang: str = "zh", model: SemanticModel | None = None) -> str:
    """The spec in one line of words, e.g. '营业收入、毛利率 · 按 区域、月 · 2025-01-01 至 2025-12-31'."""
    model = model or default_model()
    zh = lang == "zh"
    grain_names = {"day": ("日", "day"), "week": ("周", "week"), "month": ("月", "month"),
                   "quarter": ("季度", "quarter"), "year": ("年", "year")}

    def dim_label(d: str) -> str:
        if d in grain_names:
            return grain_names[d][0 if zh else 1]
        return model.dimension(d).label(lang)
    parts = [("、" if zh else ", ").join(model.metric(m).label(lang) for m in spec.metrics)]
    if spec.dimensions:
        parts.append(("按 " if zh else "by ") + ("、" if zh else ", ").join(dim_label(d) for d in spec.dimensions))
    if spec.time_range:
        tr = spec.time_range
        parts.append(f"{tr.start} 至 {tr.end}" if zh else f"{tr.start} to {tr.end}")
    ops = {"eq": "=", "ne": "≠", "in": "∈" if not zh else "属于", "not_in": "∉" if not zh else "不属于",
           "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "between": "介于" if zh else "between"}
    for f in spec.filters:
        vals = ("、" if zh else ", ").join(str(v) for v in f.values)
        parts.append(f"{dim_label(f.dimension)} {ops.get(f.op, f.op)} {vals}")
    if spec.comparison:
        names = {"yoy": ("对比去年同期", "vs same period last year"), "mom": ("对比上月", "vs previous month"),
                 "previous": ("对比上期", "vs previous period")}
        parts.append(names[spec.comparison.value][0 if zh else 1])
    if spec.limit:
        parts.append(f"前 {spec.limit} 行" if zh else f"top {spec.limit}")
    return " · ".join(parts)
