"""Alert rules as typed data, and their evaluation into breaches (no store writes; reads through a runner).

A rule watches one metric, optionally per value of one dimension (each breach names its row), within
filters. Kinds: ``threshold`` (above/below a value), ``change`` (vs the previous period or the same
period last year beyond x%), ``budget_execution`` (actual year to date through the last closed month /
the budget phased to that month, beyond x%), ``balance`` (a balance such as DSO or the overdue AR ratio above/below a
value, never summed over time) and ``anomaly`` (robust z-score on the de-seasonalised series, see
:mod:`lib.performance.alerts.anomaly`). Every figure is asked of ``run(QuerySpec)``: the semantic layer.
"""
from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from lib.core.errors import InvalidArgument, WorkbenchError
from lib.performance.alerts import anomaly
from lib.performance.alerts.periods import (
    Compare,
    Window,
    _month_add,
    _month_end,
    closed_through,
    label,
    last_day,
    shifted,
    window_range,
)
from lib.semantic import model as semantic
from lib.semantic.spec import FilterSpec, QuerySpec, Sort, TimeRange

Runner = Callable[[QuerySpec], pd.DataFrame]
ORG_DIMENSIONS = ("region", "department")


class Kind(enum.StrEnum):
    THRESHOLD = "threshold"
    CHANGE = "change"
    BUDGET_EXECUTION = "budget_execution"
    BALANCE = "balance"
    ANOMALY = "anomaly"


class Severity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Op(enum.StrEnum):
    ABOVE = "above"
    BELOW = "below"
    BOTH = "both"                    # change and anomaly rules: either way


def _enum(cls, value, what: str):
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join(v.value for v in cls)
        raise InvalidArgument(f"Unknown {what} {value!r}. Valid: {valid}.", f"未知的{what} {value!r}。可选：{valid}。") from None


@dataclass(frozen=True)
class Rule:
    """One alert rule. ``value`` is the threshold (threshold/balance), the % (change), the tolerance %
    over the phased budget to date (budget_execution) or the |z| limit (anomaly)."""

    name: str
    kind: Kind
    metric: str
    value: float
    dimension: str | None = None
    filters: tuple[FilterSpec, ...] = ()
    op: Op = Op.ABOVE
    window: Window = Window.LAST_MONTH
    compare: Compare = Compare.LAST_YEAR
    grain: str = "month"             # anomaly: day or month
    lookback: int = 3                # anomaly: periods before as_of that are judged
    severity: Severity = Severity.MEDIUM
    enabled: bool = True
    id: int | None = None
    budget_metric: str = "budget"    # budget_execution: the plan side (``metric`` is the actual side)

    def to_dict(self) -> dict:
        """Plain data (YAML/JSON) without the id."""
        out = {"name": self.name, "kind": self.kind.value, "metric": self.metric, "value": self.value,
               "dimension": self.dimension, "filters": [f.to_dict() for f in self.filters], "op": self.op.value,
               "window": self.window.value, "compare": self.compare.value, "grain": self.grain,
               "lookback": self.lookback, "severity": self.severity.value, "enabled": self.enabled}
        if self.kind is Kind.BUDGET_EXECUTION:
            out["budget_metric"] = self.budget_metric
        return out

    @staticmethod
    def from_dict(raw: Mapping, rule_id: int | None = None) -> Rule:
        """A rule from plain data; unknown kinds, windows, ops and missing fields raise InvalidArgument."""
        if not isinstance(raw, Mapping):
            raise InvalidArgument("An alert rule is a mapping of fields.", "预警规则须为字段映射。")
        for req in ("name", "kind", "metric", "value"):
            if raw.get(req) in (None, ""):
                raise InvalidArgument(f"Alert rule {raw.get('name', '?')!r} lacks {req!r}.",
                                      f"预警规则 {raw.get('name', '?')!r} 缺少 {req!r}。")
        try:
            value = float(raw["value"])
            lookback = int(raw.get("lookback", 3))
        except (TypeError, ValueError):
            raise InvalidArgument(f"Alert rule {raw['name']!r}: value and lookback must be numbers.",
                                  f"预警规则 {raw['name']!r}：value 与 lookback 须为数字。") from None
        filters = tuple(FilterSpec(f["dimension"], f.get("op", "in"), tuple(f.get("values", ())))
                        for f in raw.get("filters") or ())
        return Rule(name=str(raw["name"]).strip(), kind=_enum(Kind, raw["kind"], "rule kind"), metric=str(raw["metric"]),
                    value=value, dimension=raw.get("dimension") or None, filters=filters,
                    op=_enum(Op, raw.get("op", "above"), "operator"),
                    window=_enum(Window, raw.get("window", "last_month"), "window"),
                    compare=_enum(Compare, raw.get("compare", "last_year"), "comparison"),
                    grain=str(raw.get("grain", "month")), lookback=lookback,
                    severity=_enum(Severity, raw.get("severity", "medium"), "severity"),
                    enabled=bool(raw.get("enabled", True)), id=rule_id,
                    budget_metric=str(raw.get("budget_metric", "budget")))


def validate(rule: Rule, model: semantic.SemanticModel) -> None:
    """Raise InvalidArgument naming what is wrong with ``rule`` against the metric catalogue."""
    def bad(en: str, zh: str) -> None:
        raise InvalidArgument(f"Alert rule {rule.name!r}: {en}", f"预警规则 {rule.name!r}：{zh}")
    if not rule.name:
        bad("a name is required.", "须填写名称。")
    if rule.metric not in model.metrics:
        bad(f"unknown metric {rule.metric!r}. Known: {', '.join(sorted(model.metrics))}.",
            f"未知指标 {rule.metric!r}。可选：{', '.join(sorted(model.metrics))}。")
    if rule.dimension and rule.dimension not in model.dimensions:
        bad(f"unknown dimension {rule.dimension!r}. Known: {', '.join(sorted(model.dimensions))}.",
            f"未知维度 {rule.dimension!r}。可选：{', '.join(sorted(model.dimensions))}。")
    if rule.kind in (Kind.THRESHOLD, Kind.BALANCE, Kind.BUDGET_EXECUTION) and rule.op is Op.BOTH:
        bad("this kind needs op 'above' or 'below'.", "此类规则的方向须为 above 或 below。")
    if rule.kind is Kind.BALANCE and semantic.additive(model, rule.metric):
        bad(f"{rule.metric!r} sums over time; a balance rule watches a balance or ratio (dso, overdue_ar_ratio …).",
            f"{rule.metric!r} 可跨期相加；余额类规则只用于余额或比率（dso、overdue_ar_ratio 等）。")
    if rule.kind is Kind.BUDGET_EXECUTION and rule.budget_metric not in model.metrics:
        bad(f"unknown budget metric {rule.budget_metric!r}.", f"未知预算指标 {rule.budget_metric!r}。")
    if rule.kind is Kind.ANOMALY:
        if rule.grain not in ("day", "month"):
            bad(f"grain must be day or month, got {rule.grain!r}.", f"粒度须为 day 或 month，收到 {rule.grain!r}。")
        if not 1 <= rule.lookback <= 366:
            bad("lookback must be 1 to 366 periods.", "回看期数须为 1 到 366。")
    if rule.value < 0 and rule.kind in (Kind.CHANGE, Kind.BUDGET_EXECUTION, Kind.ANOMALY):
        bad("the limit must not be negative.", "阈值不能为负数。")


# ---- breaches ----------------------------------------------------------------------------------------

def dedup_key(member: str | None, period: str, distinct_period: bool) -> str:
    """De-duplication key within a rule: the row (and, for anomalies, the period)."""
    return f"{member if member is not None else '*'}|{period if distinct_period else ''}"


@dataclass(frozen=True)
class Breach:
    """One row that breaches a rule at one evaluation."""

    rule_name: str
    member: str | None               # the dimension value, None for a rule without dimension
    period: str                      # label of the period judged
    value: float
    reference: float                 # the threshold, the comparison base, the budget share to date, the expected value
    measure: float                   # what was compared with the limit: the value, the change, the execution ratio, z
    time_range: TimeRange            # for the link to the chart
    distinct_period: bool = False    # anomalies: each period is its own alert
    detail: dict = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """De-duplication key within a rule: the row (and, for anomalies, the period)."""
        return dedup_key(self.member, self.period, self.distinct_period)


@dataclass(frozen=True)
class Evaluation:
    """A rule's breaches at one evaluation and the keys of every row (anomalies: row and period) it judged.

    A row without data is not judged: its open alert is neither resolved nor repeated (``lib.performance.alerts.center``).
    """

    breaches: tuple[Breach, ...]
    judged: frozenset[str]
    data_end: dt.date | None         # the last day with data used (None: no data, nothing judged)
    # Threshold rules on a metric that sums (revenue, opex …) when the window has data: a row missing from
    # it is 0 there, and 0 does not breach; so its open alert is judged (and resolved) too.
    absent_judged: bool = False

    def judges(self, key: str) -> bool:
        """Whether the row (and period) ``key`` was judged at this evaluation."""
        return key in self.judged or (self.absent_judged and key.endswith("|"))


def subject(rule: Rule, member: str | None) -> str | None:
    """What a breach is about: the dimension value, else the one org unit the rule filters on, else None (all)."""
    if member is not None:
        return member
    for f in rule.filters:
        if f.dimension in ORG_DIMENSIONS and f.op in ("in", "eq") and len(f.values) == 1:
            return str(f.values[0])
    return None


def question(rule: Rule, metrics: tuple[str, ...], tr: TimeRange, extra_dims: tuple[str, ...] = ()) -> QuerySpec:
    """The query a rule asks of ``metrics`` over ``tr``: its dimension (plus ``extra_dims``) and its filters."""
    dims = ((rule.dimension,) if rule.dimension else ()) + extra_dims
    return QuerySpec(metrics=metrics, dimensions=dims, filters=rule.filters, time_range=tr)


def _rows(rule: Rule, df: pd.DataFrame, col: str) -> dict[str | None, float]:
    out: dict[str | None, float] = {}
    for _, row in df.iterrows():
        v = row[col]
        if v is None or pd.isna(v):
            continue
        member = row[rule.dimension] if rule.dimension else None
        if rule.dimension and (member is None or pd.isna(member)):
            continue
        out[str(member) if member is not None else None] = float(v)
    return out


def _beyond(op: Op, measure: float, limit: float) -> bool:
    if op is Op.ABOVE:
        return measure > limit
    if op is Op.BELOW:
        return measure < limit
    return abs(measure) > limit


# How far back the last day with data is looked for: anomaly rules read three years of history anyway.
DATA_END_HORIZON = dt.timedelta(days=3 * 366)


def data_end(run: Runner, metric: str, as_of: dt.date) -> dt.date | None:
    """The last day with a value of ``metric`` up to the day before ``as_of`` (None: no data at all).

    Data loaded up to an earlier day (an import hook run today, a cron line before the nightly load, a
    demo built days ago) must not read the missing days as zeros. A metric the store can't give by day
    (budget lines are kept by month) is taken to run to the day before ``as_of``.
    """
    end = last_day(as_of)
    spec = QuerySpec((metric,), ("day",), time_range=TimeRange(end - DATA_END_HORIZON, end),
                     sort=(Sort("day", True),), limit=1)
    try:
        df = run(spec)
    except WorkbenchError:
        return end
    if df.empty or pd.isna(df["day"].iloc[0]):
        return None
    return min(pd.Timestamp(df["day"].iloc[0]).date(), end)


def evaluate(rule: Rule, run: Runner, as_of: dt.date, *, end: dt.date | None = None) -> list[Breach]:
    """Every row breaching ``rule`` at ``as_of`` (data up to the day before); see :func:`judge`."""
    return list(judge(rule, run, as_of, end=end).breaches)


def judge(rule: Rule, run: Runner, as_of: dt.date, *, end: dt.date | None = None,
          additive: bool = False) -> Evaluation:
    """Evaluate ``rule`` at ``as_of``: its breaches and the rows it could judge.

    Threshold, change and balance rules judge the rows that have a value in their window (and, for a
    change, in the comparison window; ``additive``: the metric sums, see :attr:`Evaluation.absent_judged`). Budget and anomaly rules first find the last day with data of
    their metric (``end`` when the caller already knows it) and judge nothing beyond it.
    """
    if rule.kind in (Kind.THRESHOLD, Kind.BALANCE):
        tr = window_range(rule.window, as_of)
        values = _rows(rule, run(question(rule, (rule.metric,), tr)), rule.metric)
        breaches = [Breach(rule.name, m, label(tr), v, rule.value, v, tr) for m, v in values.items()
                    if _beyond(rule.op, v, rule.value)]
        absent = rule.kind is Kind.THRESHOLD and additive and bool(values) and not _beyond(rule.op, 0.0, rule.value)
        return Evaluation(tuple(breaches), frozenset(dedup_key(m, "", False) for m in values), tr.end, absent)
    if rule.kind is Kind.CHANGE:
        return _change(rule, run, as_of)
    end = end or data_end(run, rule.metric, as_of)
    if end is None:
        return Evaluation((), frozenset(), None)
    if rule.kind is Kind.BUDGET_EXECUTION:
        return _budget_execution(rule, run, as_of, end)
    if rule.kind is Kind.ANOMALY:
        return _anomalies(rule, run, as_of, end)
    raise AssertionError(rule.kind)


def _change(rule: Rule, run: Runner, as_of: dt.date) -> Evaluation:
    tr = window_range(rule.window, as_of)
    base_tr = shifted(tr, rule.window, rule.compare)
    now = _rows(rule, run(question(rule, (rule.metric,), tr)), rule.metric)
    base = _rows(rule, run(question(rule, (rule.metric,), base_tr)), rule.metric)
    out, judged = [], set()
    for m, v in now.items():
        b = base.get(m)
        if b is None or b == 0:
            continue
        judged.add(dedup_key(m, "", False))
        change = (v - b) / abs(b)
        limit = rule.value / 100.0
        if (rule.op is Op.ABOVE and change > limit) or (rule.op is Op.BELOW and change < -limit) \
                or (rule.op is Op.BOTH and abs(change) > limit):
            out.append(Breach(rule.name, m, label(tr), v, b, change, tr, detail={"base_range": label(base_tr)}))
    return Evaluation(tuple(out), frozenset(judged), tr.end)


def _budget_execution(rule: Rule, run: Runner, as_of: dt.date, end: dt.date) -> Evaluation:
    """Year-to-date actual against the budget phased to the same closed month (budgets are kept by month)."""
    closed = closed_through(end, as_of)
    ytd = TimeRange(dt.date(closed.year, 1, 1), closed)
    year = TimeRange(dt.date(closed.year, 1, 1), dt.date(closed.year, 12, 31))
    actual = _rows(rule, run(question(rule, (rule.metric,), ytd)), rule.metric)
    plan = run(question(rule, (rule.budget_metric,), year, ("month",)))
    to_date = plan[pd.to_datetime(plan["month"]) <= pd.Timestamp(closed)] if not plan.empty else plan
    full = _sum_by(rule, plan, rule.budget_metric)
    budget = _sum_by(rule, to_date, rule.budget_metric)
    out, judged = [], set()
    for m, b in budget.items():
        if b <= 0:
            continue
        judged.add(dedup_key(m, "", False))
        execution = actual.get(m, 0.0) / b              # 1.0 = spending exactly as phased
        limit = rule.value / 100.0
        if (rule.op is Op.ABOVE and execution > 1 + limit) or (rule.op is Op.BELOW and execution < 1 - limit):
            out.append(Breach(rule.name, m, label(ytd), execution, b / full[m] if full.get(m) else 1.0, execution,
                              ytd, detail={"actual": actual.get(m, 0.0), "budget": b, "full_year": full.get(m)}))
    return Evaluation(tuple(out), frozenset(judged), closed)


def _sum_by(rule: Rule, df: pd.DataFrame, col: str) -> dict[str | None, float]:
    if df.empty:
        return {}
    if rule.dimension:
        return {str(k): float(v) for k, v in df.groupby(rule.dimension, dropna=True)[col].sum(min_count=1).items()
                if pd.notna(v)}
    total = df[col].sum(min_count=1)
    return {} if pd.isna(total) else {None: float(total)}


def history_range(rule: Rule, as_of: dt.date, years: int = 3, end: dt.date | None = None) -> TimeRange:
    """The history an anomaly rule reads: ``years`` back from the last complete period with data
    (``end``: the last day with data, default the day before ``as_of``)."""
    end = min(end or last_day(as_of), last_day(as_of))
    if rule.grain == "month":
        end = end if end == _month_end(end) else end.replace(day=1) - dt.timedelta(days=1)
    start = dt.date(end.year - years, 1, 1)
    return TimeRange(start, end)


def anomaly_scores(rule: Rule, run: Runner, tr: TimeRange) -> dict[str | None, pd.DataFrame]:
    """:func:`lib.performance.alerts.anomaly.detect` scores of every row of ``rule`` over ``tr``.

    A row's series runs from its own first to its own last period with data: missing days inside are zeros
    (a day without orders), missing days before or after are unknown, not zeros (not judged there).
    """
    df = run(question(rule, (rule.metric,), tr, (rule.grain,)))
    out: dict[str | None, pd.DataFrame] = {}
    if df.empty:
        return out
    groups = df.groupby(rule.dimension, dropna=True) if rule.dimension else [(None, df)]
    for member, part in groups:
        s = part.set_index(rule.grain)[rule.metric].dropna().astype(float)
        if s.empty:
            continue
        first, last = max(pd.Timestamp(s.index.min()), pd.Timestamp(tr.start)), min(pd.Timestamp(s.index.max()),
                                                                                  pd.Timestamp(tr.end))
        s = s.reindex(pd.date_range(first, last, freq="D" if rule.grain == "day" else "MS"), fill_value=0.0)
        out[str(member) if member is not None else None] = anomaly.detect(
            s, rule.grain, threshold=rule.value, direction=anomaly.Direction(rule.op.value))
    return out


def judged_from(rule: Rule, as_of: dt.date, end: dt.date | None = None) -> dt.date:
    """The first period an anomaly rule judges at ``as_of``: ``lookback`` periods up to the last complete one.

    >>> judged_from(Rule("x", Kind.ANOMALY, "orders", 6, grain="day", lookback=3), dt.date(2026, 11, 24))
    datetime.date(2026, 11, 21)
    """
    last = history_range(rule, as_of, end=end).end
    if rule.grain == "day":
        return last - dt.timedelta(days=rule.lookback - 1)
    return _month_add(last.replace(day=1), 1 - rule.lookback)


def _period_range(rule: Rule, d: dt.date) -> TimeRange:
    return TimeRange(d, d) if rule.grain == "day" else TimeRange(d, _month_end(d))


def _anomalies(rule: Rule, run: Runner, as_of: dt.date, end: dt.date, since: dt.date | None = None) -> Evaluation:
    tr = history_range(rule, as_of, end=end)
    since = since or judged_from(rule, as_of, end)
    out, judged = [], set()
    for member, scores in anomaly_scores(rule, run, tr).items():
        recent = scores[scores.index >= pd.Timestamp(since)]
        judged.update(dedup_key(member, label(_period_range(rule, ts.date())), True) for ts in recent.index)
        for ts, row in recent[recent["flagged"]].iterrows():
            period_tr = _period_range(rule, ts.date())
            out.append(Breach(rule.name, member, label(period_tr), float(row["value"]), float(row["expected"]),
                              float(row["z"]) if math.isfinite(row["z"]) else 0.0, period_tr, distinct_period=True))
    return Evaluation(tuple(out), frozenset(judged), tr.end)


def anomalies_since(rule: Rule, run: Runner, as_of: dt.date, since: dt.date) -> list[Breach]:
    """Every anomaly of ``rule`` from ``since`` to ``as_of`` in one pass (the rule preview)."""
    end = data_end(run, rule.metric, as_of)
    return [] if end is None else list(_anomalies(rule, run, as_of, end, since).breaches)
