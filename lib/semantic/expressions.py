"""How metric declarations become SQL: derived metrics as small expression trees, rendered once the unit
subqueries exist (``Renderer``); column references, filters and aggregates of simple metrics, with a metric's
filters inside each aggregate. Only parsed, validated expressions get here; values are bound parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlglot import exp

from lib.semantic import model as semantic
from lib.semantic import periods
from lib.semantic.model import Metric
from lib.semantic.spec import InvalidSpec

TIME = "__t"
"""The label of the time bucket among a query's key columns."""


@dataclass(frozen=True)
class LeafRef:
    unit: tuple
    label: str


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Abs:
    value: object


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Neg:
    value: object


@dataclass(frozen=True)
class Window:
    value: object
    period: str


def div(a, b):
    return Binary("/", a, b)


def arith(node: exp.Expression, name_to_expr):
    if isinstance(node, exp.Paren):
        return arith(node.this, name_to_expr)
    if isinstance(node, exp.Column):
        return name_to_expr(node.name)
    if isinstance(node, exp.Literal):
        return Const(float(node.this))
    if isinstance(node, exp.Neg):
        return Neg(arith(node.this, name_to_expr))
    ops = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}
    for cls, op in ops.items():
        if isinstance(node, cls):
            return Binary(op, arith(node.this, name_to_expr), arith(node.expression, name_to_expr))
    raise InvalidSpec(f"'{node.sql()}' is not allowed in a derived metric", f"派生指标中不允许“{node.sql()}”")


class Renderer:
    def __init__(self, subs: dict, key_cols: dict, dims: list[str]) -> None:
        self.subs, self.key_cols, self.dims = subs, key_cols, dims

    def __call__(self, e) -> sa.ColumnElement:
        if isinstance(e, LeafRef):
            return self.subs[e.unit].c[e.label]
        if isinstance(e, Const):
            return sa.literal(e.value, sa.Double)
        if isinstance(e, Neg):
            return -self(e.value)
        if isinstance(e, Abs):
            return sa.func.abs(self(e.value))
        if isinstance(e, Window):
            t = self.key_cols[TIME]
            parts = [self.key_cols[f"d_{d}"] for d in self.dims] + [periods.trunc(e.period, t)]
            return sa.func.sum(self(e.value)).over(partition_by=parts, order_by=t)
        if isinstance(e, Binary):
            a, b = self(e.left), self(e.right)
            if e.op == "/":
                # Divide as floating point after aggregation; zero denominators give NULL.
                return sa.cast(a, sa.Double) / sa.func.nullif(sa.cast(b, sa.Double), 0, type_=sa.Double)
            return {"+": a + b, "-": a - b, "*": a * b}[e.op]
        raise AssertionError(e)


def column(aliases: dict, ref: semantic.ColumnRef) -> sa.ColumnElement:
    if ref.coalesce:
        return sa.func.coalesce(*[column(aliases, p) for p in ref.coalesce])
    return aliases[ref.alias].c[ref.column]


def filter_values(values) -> list:
    out = []
    for v in values if isinstance(values, (list, tuple)) else (values,):
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(str(v))  # dimension values are text
        else:
            raise InvalidSpec(f"Filter values must be text, got {v!r}.", f"筛选值必须是文本，收到 {v!r}。")
    return out


def condition(col: sa.ColumnElement, op: str, values: tuple) -> sa.ColumnElement:
    v = filter_values(values)
    if op in ("in", "not_in", "eq", "ne"):
        present = [x for x in v if x is not None]
        has_null = len(present) != len(v)
        if op in ("in", "eq"):
            if op == "eq" and len(v) != 1:
                raise InvalidSpec(f"Filter 'eq' takes one value, got {len(v)}.", f"筛选“eq”只接受一个值，收到 {len(v)} 个。")
            match = col.in_(present) if present else sa.false()
            return sa.or_(match, col.is_(None)) if has_null else match
        if op == "ne" and len(v) != 1:
            raise InvalidSpec(f"Filter 'ne' takes one value, got {len(v)}.", f"筛选“ne”只接受一个值，收到 {len(v)} 个。")
        # "not these values" keeps rows without a value (e.g. postings at region level have no department)
        keep = sa.or_(col.not_in(present), col.is_(None)) if present else sa.true()
        return sa.and_(keep, col.is_not(None)) if has_null else keep
    if any(x is None for x in v):
        raise InvalidSpec(f"Filter '{op}' can't compare with an empty value.", f"筛选“{op}”不能与空值比较。")
    if op in ("eq", "ne", "gt", "gte", "lt", "lte") and len(v) != 1:
        raise InvalidSpec(f"Filter '{op}' takes one value, got {len(v)}.", f"筛选“{op}”只接受一个值，收到 {len(v)} 个。")
    if op == "between" and len(v) != 2:
        raise InvalidSpec("Filter 'between' takes two values.", "筛选“between”需要两个值。")
    match op:
        case "gt":
            return col > v[0]
        case "gte":
            return col >= v[0]
        case "lt":
            return col < v[0]
        case "lte":
            return col <= v[0]
        case "between":
            return col.between(v[0], v[1])
    raise InvalidSpec(f"Unknown filter '{op}'. Known: {', '.join(semantic.FILTER_OPS)}",
                      f"未知的筛选方式“{op}”。可用：{', '.join(semantic.FILTER_OPS)}")


def metric_condition(m: Metric, ds: semantic.Dataset, aliases: dict) -> sa.ColumnElement | None:
    conds = [condition(column(aliases, f.column or ds.dimensions[f.dimension]), f.op, f.values) for f in m.filters]
    return sa.and_(*conds) if conds else None


def _arithmetic(node: exp.Expression, leaf) -> sa.ColumnElement:
    """A metric expression as SQLAlchemy: ``leaf(n, value)`` turns the nodes it knows (columns, aggregates) into
    SQL and returns None for the rest, which are the arithmetic around them."""
    def value(n: exp.Expression) -> sa.ColumnElement:
        got = leaf(n, value)
        if got is not None:
            return got
        if isinstance(n, exp.Paren):
            return value(n.this)
        if isinstance(n, exp.Literal):
            return sa.literal(float(n.this), sa.Double)
        if isinstance(n, exp.Neg):
            return -value(n.this)
        if isinstance(n, exp.Add):
            return value(n.this) + value(n.expression)
        if isinstance(n, exp.Sub):
            return value(n.this) - value(n.expression)
        if isinstance(n, exp.Mul):
            return value(n.this) * value(n.expression)
        if isinstance(n, exp.Div):
            return sa.cast(value(n.this), sa.Double) / sa.func.nullif(sa.cast(value(n.expression), sa.Double), 0,
                                                                        type_=sa.Double)
        raise InvalidSpec(f"'{n.sql()}' is not allowed in a metric expression", f"指标表达式中不允许“{n.sql()}”")
    return value(node)


def aggregate(node: exp.Expression, cols: dict, cond: sa.ColumnElement | None) -> sa.ColumnElement:
    """A validated aggregate expression as SQLAlchemy; a metric's filters go inside each aggregate."""
    def leaf(n: exp.Expression, value) -> sa.ColumnElement | None:
        if isinstance(n, exp.Column):
            return cols[n.name]
        for cls, fname in semantic.ALLOWED_AGGREGATES.items():
            if isinstance(n, cls):
                arg = n.this
                distinct = isinstance(arg, exp.Distinct)
                inner = value(arg.expressions[0] if distinct else arg)
                if cond is not None:
                    inner = sa.case((cond, inner))
                if distinct:
                    inner = sa.distinct(inner)
                return getattr(sa.func, fname)(inner)
        return None
    return _arithmetic(node, leaf)

# ---- aggregating in two steps (facts by their keys first, dimensions joined after) -------------

_REAGGREGATE = {exp.Sum: "sum", exp.Count: "sum", exp.Min: "min", exp.Max: "max"}
"""How the partial aggregates of one group are combined: a count of counts is their sum."""


def aggregates_of(node: exp.Expression) -> list[exp.Expression]:
    """The aggregate calls of a metric expression, in a fixed order (the partials' order)."""
    return [n for n in node.walk() if isinstance(n, tuple(semantic.ALLOWED_AGGREGATES))]


def decomposable(node: exp.Expression) -> bool:
    """True when every aggregate can be computed per group and combined (sum, count, min, max; not distinct,
    not avg)."""
    aggs = aggregates_of(node)
    return bool(aggs) and all(type(a) in _REAGGREGATE and not isinstance(a.this, exp.Distinct) for a in aggs)


def partials(node: exp.Expression, cols: dict) -> list[sa.ColumnElement]:
    """Each aggregate of ``node`` over the fact rows, without the metric's filters (those are applied after
    the join, where their columns are)."""
    return [aggregate(a, cols, None) for a in aggregates_of(node)]


def reaggregate(node: exp.Expression, parts: list[sa.ColumnElement], cond: sa.ColumnElement | None) -> sa.ColumnElement:
    """``node`` over pre-aggregated groups: each aggregate combines its partial column (``parts``, in
    :func:`aggregates_of` order) over the groups that meet ``cond``; arithmetic around them as in :func:`aggregate`.
    A count over no group is 0, as a count over no row is."""
    index = {id(a): i for i, a in enumerate(aggregates_of(node))}

    def leaf(n: exp.Expression, _value) -> sa.ColumnElement | None:
        if id(n) not in index:
            return None
        inner = parts[index[id(n)]]
        if cond is not None:
            inner = sa.case((cond, inner))
        out = getattr(sa.func, _REAGGREGATE[type(n)])(inner)
        return sa.func.coalesce(out, 0) if isinstance(n, exp.Count) else out
    return _arithmetic(node, leaf)
