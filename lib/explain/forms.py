"""A metric's shape for taking its change apart: a sum of leaves, or a ratio of two such sums.

Every metric of the semantic layer is one of

- **linear**: Σ c_k · leaf_k — a simple metric (c = 1), or a derived metric made of + and − (gross profit =
  revenue − cogs, operating profit = gross profit − opex, budget variance = actual − budget);
- **ratio**: s · N / D with N and D linear — ratio metrics (gross margin, opex ratio, collection rate), and
  derived ``a * b / c`` where ``a`` is a per-period scalar (``max(period_days)``: DSO and inventory days are
  days × balance ÷ flow).

A derived metric over an earlier period (revenue YoY, margin change in pp) is itself a comparison and is
refused with a message that says which metric to explain instead. A running total (revenue YTD) is its
metric over the range extended to the start of its period. Pure: reads the model only.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from lib.core.errors import WorkbenchError
from lib.semantic.model import Metric, MetricType, SemanticModel


class NotExplainable(WorkbenchError):
    """The metric (or the comparison asked) can't be taken apart; the message says what to ask instead."""


@dataclass(frozen=True)
class Linear:
    terms: tuple[tuple[str, float], ...]
    """(leaf metric id, coefficient), each leaf once."""

    def __add__(self, other: Linear) -> Linear:
        out: dict[str, float] = dict(self.terms)
        for leaf, c in other.terms:
            out[leaf] = out.get(leaf, 0.0) + c
        return Linear(tuple((k, v) for k, v in out.items() if v != 0))

    def scaled(self, factor: float) -> Linear:
        return Linear(tuple((k, c * factor) for k, c in self.terms))

    @property
    def leaves(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.terms)


@dataclass(frozen=True)
class Ratio:
    numerator: Linear
    denominator: Linear
    scale: str | None = None
    """A scalar leaf multiplying the ratio (days in the period), taken at the total level of each period."""

    @property
    def leaves(self) -> tuple[str, ...]:
        out = dict.fromkeys([*self.numerator.leaves, *self.denominator.leaves])
        if self.scale:
            out[self.scale] = None
        return tuple(out)


Form = Linear | Ratio


@dataclass(frozen=True)
class Resolved:
    """What is explained: the metric asked, the metric whose values are taken apart, and its form."""

    asked: str
    metric: str
    form: Form
    extend_to: str | None = None
    """A running total: the range starts at the beginning of this period (year, quarter, month)."""


def _is_scalar(m: Metric) -> bool:
    """max/min of a column (the days of the period): the same for every member, a factor of the ratio."""
    return any(isinstance(n, (exp.Max, exp.Min)) for n in sqlglot.parse_one(m.expr or "").walk())


def _refuse_offsets(model: SemanticModel, m: Metric) -> None:
    if m.inputs and any(i.offset for i in m.inputs.values()):
        base = next(iter(dict.fromkeys(i.metric for i in m.inputs.values())))
        b = model.metric(base)
        raise NotExplainable(
            f"'{m.label_en}' is itself a comparison with an earlier period: explain '{b.label_en}' ({base}) "
            "against that period instead.",
            f"“{m.label_zh}”本身就是与前期的对比：请改为解释“{b.label_zh}”（{base}）与该期的变动。")


def form(model: SemanticModel, metric_id: str, _seen: frozenset = frozenset()) -> Form:
    """The metric as a linear form or a ratio of linear forms over simple metrics."""
    m = model.metric(metric_id)
    if metric_id in _seen:
        raise NotExplainable(f"'{metric_id}' refers to itself.", f"“{m.label_zh}”引用了自身。")
    seen = _seen | {metric_id}
    if m.type is MetricType.SIMPLE:
        return Linear(((m.id, 1.0),))
    if m.type is MetricType.RATIO:
        n, d = form(model, m.numerator, seen), form(model, m.denominator, seen)
        if not isinstance(n, Linear) or not isinstance(d, Linear):
            raise NotExplainable(f"'{m.label_en}' divides a ratio: it can't be taken apart into rate and mix.",
                                 f"“{m.label_zh}”的分子或分母本身是比率，无法分解为结构与水平。")
        return Ratio(n, d)
    if m.type is MetricType.DERIVED:
        _refuse_offsets(model, m)
        return _expr_form(model, m, sqlglot.parse_one(m.expr or ""), seen)
    if m.type is MetricType.CUMULATIVE:
        return form(model, m.metric, seen)
    raise AssertionError(m.type)


def _scalar(model: SemanticModel, f: Form) -> str | None:
    if isinstance(f, Linear) and len(f.terms) == 1 and f.terms[0][1] == 1.0:
        leaf = model.metric(f.terms[0][0])
        if _is_scalar(leaf):
            return leaf.id
    return None


def _expr_form(model: SemanticModel, m: Metric, node: exp.Expression, seen: frozenset) -> Form:
    def bad() -> NotExplainable:
        return NotExplainable(
            f"'{m.label_en}' ({m.expr}) is not a sum, a difference or a ratio of sums: it can't be taken apart.",
            f"“{m.label_zh}”（{m.expr}）不是和、差或比率，无法分解。")

    if isinstance(node, exp.Paren):
        return _expr_form(model, m, node.this, seen)
    if isinstance(node, exp.Column):
        return form(model, node.name, seen)
    if isinstance(node, exp.Neg):
        inner = _expr_form(model, m, node.this, seen)
        if isinstance(inner, Linear):
            return inner.scaled(-1.0)
        return Ratio(inner.numerator.scaled(-1.0), inner.denominator, inner.scale)
    if isinstance(node, (exp.Add, exp.Sub)):
        a, b = _expr_form(model, m, node.this, seen), _expr_form(model, m, node.expression, seen)
        if isinstance(a, Linear) and isinstance(b, Linear):
            return a + (b if isinstance(node, exp.Add) else b.scaled(-1.0))
        raise bad()
    if isinstance(node, exp.Mul):
        a, b = _expr_form(model, m, node.this, seen), _expr_form(model, m, node.expression, seen)
        if isinstance(a, Linear) and isinstance(b, Linear):
            sa_, sb = _scalar(model, a), _scalar(model, b)
            if sa_ and not sb:
                return Ratio(b, Linear(()), sa_)  # a product waiting for its divisor (days × balance ÷ flow)
            if sb and not sa_:
                return Ratio(a, Linear(()), sb)
        raise bad()
    if isinstance(node, exp.Div):
        a, b = _expr_form(model, m, node.this, seen), _expr_form(model, m, node.expression, seen)
        if isinstance(b, Linear) and b.terms:
            if isinstance(a, Linear):
                return Ratio(a, b)
            if isinstance(a, Ratio) and not a.denominator.terms:
                return Ratio(a.numerator, b, a.scale)
        raise bad()
    raise bad()


def resolve(model: SemanticModel, metric_id: str) -> Resolved:
    """The metric to take apart and its form; a product without a divisor is refused."""
    m = model.metric(metric_id)
    target, extend_to = metric_id, None
    if m.type is MetricType.CUMULATIVE:
        target, extend_to = m.metric, m.period
    f = form(model, target)
    if isinstance(f, Ratio) and not f.denominator.terms:
        raise NotExplainable(f"'{m.label_en}' multiplies two figures: it can't be taken apart.",
                             f"“{m.label_zh}”是两个数的乘积，无法分解。")
    return Resolved(metric_id, target, f, extend_to)
