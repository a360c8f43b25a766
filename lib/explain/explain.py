"""归因: why a metric changed between two periods, or against the budget, within the reader's scope.

``explain`` reads the metric's leaves (the simple metrics it is computed from) through ``run`` — the one
read path, bound to the reader, so a department head's explanation covers their scope only — once at the
total level and once per dimension, for each of the two periods; ``lib.explain.decompose`` does the
arithmetic. ``drill`` follows the top member down (a decomposition tree of up to three levels).

Periods are whole months asked by the user. A month not over yet is read to yesterday by the clock, and the
base period to the same day (like for like). Against the budget, each leaf is compared with the approved
budget of its account type (revenue, cogs, opex; ``actual`` with the budget under the same filters), by
whole months only.
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import pandas as pd

from lib.core import clock
from lib.explain import decompose as dc
from lib.explain.forms import Linear, NotExplainable, Ratio, Resolved, resolve
from lib.semantic import periods
from lib.semantic.model import TIME_GRAINS, SemanticModel
from lib.semantic.spec import Comparison, FilterSpec, QuerySpec, TimeRange

Runner = Callable[[QuerySpec], pd.DataFrame]

TECHNICAL = ("org_unit", "account_code", "budget_version")
"""Keys, not breakdowns a person reads: never offered as a dimension of an explanation."""
BUDGET_OF: Mapping[str, tuple[str, ...]] = {"actual": (), "revenue": ("revenue",), "cogs": ("cogs",),
                                            "opex": ("opex",)}
"""The budget a leaf is compared with: the budget lines of these account types (() = the same filters only),
as the cockpit's targets are built."""
MAX_DEPTH = 3


class Vs(enum.StrEnum):
    PREVIOUS = "previous"
    YOY = "yoy"
    BUDGET = "budget"


@dataclass(frozen=True)
class Ask:
    metric: str
    start: dt.date
    """First day of the first month."""
    end: dt.date
    """Last day of the last month."""
    vs: Vs
    filters: tuple[FilterSpec, ...] = ()

    @staticmethod
    def months(metric: str, first: str, last: str, vs: str, filters: tuple[FilterSpec, ...] = ()) -> Ask:
        """From 'YYYY-MM' texts; a bad month or order gets a message naming it."""
        def month(text: str) -> dt.date:
            try:
                return dt.datetime.strptime(text.strip(), "%Y-%m").date()
            except ValueError:
                raise NotExplainable(f"'{text}' is not a month: write it as YYYY-MM (e.g. 2026-03).",
                                     f"“{text}”不是月份：请写成 YYYY-MM（如 2026-03）。") from None
        a, b = month(first), month(last)
        if b < a:
            raise NotExplainable(f"The range ends ({last}) before it starts ({first}).",
                                 f"结束月份（{last}）早于开始月份（{first}）。")
        try:
            v = Vs(vs)
        except ValueError:
            raise NotExplainable(f"Compare with previous, yoy or budget, not '{vs}'.",
                                 f"对比对象应为 previous（上期）、yoy（去年同期）或 budget（预算），而不是“{vs}”。") from None
        return Ask(metric, a, (pd.Timestamp(b) + pd.offsets.MonthEnd(0)).date(), v, filters)


@dataclass(frozen=True)
class Part:
    metric: str
    role: str
    """term (of a sum), numerator, denominator, both, scale."""
    contribution: float
    current: float | None
    base: float | None


@dataclass(frozen=True)
class Split:
    dimension: str
    score: float
    explained: float
    causes: tuple[object, ...]
    qualified: bool
    members: tuple[dc.Member, ...]
    """Grouped: the members that matter by absolute contribution, then OTHER, then OVERLAP."""


@dataclass(frozen=True)
class Step:
    dimension: str
    member: object
    contribution: float
    explanation: Explanation
    """The explanation within this member (its ``filters`` add the member)."""


@dataclass(frozen=True)
class Explanation:
    ask: Ask
    metric: str
    """The metric whose values are taken apart (a running total's metric)."""
    kind: str
    """linear or ratio."""
    current_range: TimeRange
    base_range: TimeRange
    partial: bool
    """The last month is not over: both periods end on the same day of their month."""
    current: float
    base: float
    parts: tuple[Part, ...]
    dimensions: tuple[Split, ...]
    single: tuple[tuple[str, object], ...] = ()
    """Dimensions with one member only in this scope (nothing to split), and that member."""
    path: tuple[Step, ...] = ()
    detail: Explanation | None = None
    """A sum over several datasets (operating profit): its largest input explained by that input's own
    dimensions (opex by expense type and account, which revenue does not have)."""

    @property
    def change(self) -> float:
        return self.current - self.base

    def split(self, dimension: str) -> Split | None:
        return next((s for s in self.dimensions if s.dimension == dimension), None)


def _ranges(model: SemanticModel, r: Resolved, ask: Ask, today: dt.date) -> tuple[TimeRange, TimeRange, bool]:
    start, end = ask.start, ask.end
    partial = end >= today
    if partial:
        end = today - dt.timedelta(days=1)
        if end < start:
            raise NotExplainable(f"No day of {ask.start:%Y-%m} is over yet (today is {today}).",
                                 f"{ask.start:%Y-%m} 还没有过完的一天（今天是 {today}）。")
    if r.extend_to:
        start = periods.bucket_start(end, r.extend_to)
    months = (ask.end.year - ask.start.year) * 12 + ask.end.month - ask.start.month + 1
    if ask.vs is Vs.BUDGET:
        if partial:
            raise NotExplainable(
                f"{ask.end:%Y-%m} is not over: the budget is by whole months, so compare up to the last month.",
                f"{ask.end:%Y-%m} 尚未结束：预算按整月编制，请比较到上一个月为止。")
        return TimeRange(start, end), TimeRange(start, end), False
    if ask.vs is Vs.PREVIOUS and r.extend_to:
        m = model.metric(r.asked)
        raise NotExplainable(f"'{m.label_en}' runs from the start of the {r.extend_to}: compare it with last year.",
                             f"“{m.label_zh}”从期初累计：请与去年同期对比。")
    off = (12, 0) if ask.vs is Vs.YOY else (months, 0)
    base = TimeRange(periods.shift_date(start, off, -1), periods.shift_end(end, off, -1))
    return TimeRange(start, end), base, partial


def _dimensions(model: SemanticModel, leaves: tuple[str, ...], vs: Vs) -> list[str]:
    sets = [set(model.datasets[model.metric(k).dataset].dimensions) for k in leaves]
    if vs is Vs.BUDGET:
        sets.append(set(model.datasets[model.metric("budget").dataset].dimensions))
    common = set.intersection(*sets)
    return [d for d in model.dimensions if d in common and d not in TECHNICAL and d not in TIME_GRAINS]


def _frame(df: pd.DataFrame, dim: str | None, leaves: tuple[str, ...]) -> pd.DataFrame:
    cols = [k for k in leaves if k in df.columns]
    out = df.copy()
    for k in cols:
        out[k] = pd.to_numeric(out[k], errors="coerce").astype(float)
    if dim is None:
        return out[cols]
    out[dim] = out[dim].astype(object).where(out[dim].notna(), None)
    return out.groupby(dim, dropna=False, sort=False)[cols].sum(min_count=1)


def _comparison(ask: Ask, cur: TimeRange, base: TimeRange) -> Comparison | None:
    """The compiler's comparison that reads exactly ``base`` beside ``cur``, if there is one."""
    if ask.vs is Vs.BUDGET:
        return None
    for c, off in ((Comparison.YOY, (12, 0)), (Comparison.MOM, (1, 0))):
        if base == TimeRange(periods.shift_date(cur.start, off, -1), periods.shift_end(cur.end, off, -1)):
            return c
    whole = cur.start.day == 1 and (cur.end + dt.timedelta(days=1)).day == 1
    months = (cur.end.year - cur.start.year) * 12 + cur.end.month - cur.start.month + 1
    if whole and base == TimeRange(periods.shift_date(cur.start, (months, 0), -1),
                                   periods.shift_end(cur.end, (months, 0), -1)):
        return Comparison.PREVIOUS
    return None


class _Reader:
    """The leaves of both periods, through ``run``; one query per period per dimension (and per budget leaf)."""

    def __init__(self, run: Runner, model: SemanticModel, leaves: tuple[str, ...], ask: Ask,
                 cur: TimeRange, base: TimeRange) -> None:
        self.run, self.model, self.leaves, self.ask, self.cur, self.base = run, model, leaves, ask, cur, base
        self.comparison = _comparison(ask, cur, base)
        if ask.vs is Vs.BUDGET:
            missing = [k for k in leaves if k not in BUDGET_OF]
            if missing:
                m = model.metric(ask.metric)
                names = "、".join(model.metric(k).label_zh for k in missing)
                raise NotExplainable(
                    f"'{m.label_en}' has no budget to compare with (no budget for {', '.join(missing)}): "
                    "compare it with the previous period or last year.",
                    f"“{m.label_zh}”没有可对比的预算（{names}没有预算）：请与上期或去年同期对比。")

    def read(self, dims: tuple[str, ...], filters: tuple[FilterSpec, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
        dim = dims[0] if dims else None
        if self.comparison is not None:   # both periods in one query: the compiler shifts the same range
            df = self.run(QuerySpec(self.leaves, dims, filters, self.cur, self.comparison))
            cmp = [f"{k}__cmp" for k in self.leaves]
            base = _frame(df.drop(columns=list(self.leaves)).rename(columns=dict(zip(cmp, self.leaves, strict=True))),
                          dim, self.leaves)
            return _frame(df, dim, self.leaves), base
        cur = _frame(self.run(QuerySpec(self.leaves, dims, filters, self.cur)), dim, self.leaves)
        if self.ask.vs is not Vs.BUDGET:
            base = _frame(self.run(QuerySpec(self.leaves, dims, filters, self.base)), dim, self.leaves)
            return cur, base
        pieces = []
        for k in self.leaves:
            types = BUDGET_OF[k]
            f = filters + ((FilterSpec("account_type", "in", types),) if types else ())
            df = _frame(self.run(QuerySpec(("budget",), dims, f, self.base)), dim, ("budget",))
            pieces.append(df.rename(columns={"budget": k}))
        base = pd.concat(pieces, axis=1) if pieces else pd.DataFrame()
        return cur, base


def _totals(frame: pd.DataFrame, leaves: tuple[str, ...]) -> dict[str, float]:
    if frame.empty:
        return {k: 0.0 for k in leaves}
    row = frame.iloc[0]
    return {k: (0.0 if k not in frame.columns or pd.isna(row[k]) else float(row[k])) for k in leaves}


def _finer_first(model: SemanticModel, splits: list[Split]) -> list[Split]:
    """A dimension just after its parent moves ahead of it when its causes say as much: 销售费用-广告宣传费
    is more to the point than 销售费用 when that one account is where the money went."""
    def said(s: Split) -> float:
        return sum(abs(m.contribution) for m in s.members if m.kind == "member" and m.member in s.causes)
    out = list(splits)
    for i, s in enumerate(out):
        child = next((c for c in out[i + 1:] if model.dimensions[c.dimension].parent == s.dimension and c.qualified), None)
        if s.qualified and child is not None and said(child) >= 0.9 * said(s):
            out.remove(child)
            out.insert(i, child)
            break
    return out


def _lead(s: Split, change: float) -> dc.Member | None:
    """The member to drill into: the dimension's first cause, else its largest contributor in the change's direction."""
    real = [m for m in s.members if m.kind == "member"]
    if s.qualified and s.causes:
        got = next((m for m in real if m.member == s.causes[0]), None)
        if got is not None:
            return got
    best = max(real, key=lambda m: m.contribution * (1 if change > 0 else -1), default=None)
    return best if best is not None and best.contribution * change > 0 else None


def explain(run: Runner, model: SemanticModel, ask: Ask, today: dt.date | None = None,
            depth: int = 1, dimensions: tuple[str, ...] | None = None) -> Explanation:
    """The change of ``ask.metric`` taken apart by its inputs and by every dimension it has.

    ``depth`` > 1 follows the top member of the first dimension down (up to MAX_DEPTH levels).
    ``dimensions`` limits the dimensions looked at (default: all of the metric's, technical keys aside).
    """
    r = resolve(model, ask.metric)
    cur_r, base_r, partial = _ranges(model, r, ask, today or clock.today())
    leaves = r.form.leaves
    reader = _Reader(run, model, leaves, ask, cur_r, base_r)
    e = _explain(reader, r, ask, cur_r, base_r, partial, min(depth, MAX_DEPTH), dimensions)
    if isinstance(r.form, Linear) and len(e.parts) > 1 and e.change:
        top = max(e.parts, key=lambda p: abs(p.contribution))
        own = set(_dimensions(model, (top.metric,), ask.vs)) - {s.dimension for s in e.dimensions} - \
            {d for d, _ in e.single}
        if own:
            sub = replace(ask, metric=top.metric)
            leaf = resolve(model, top.metric)
            child = _explain(_Reader(run, model, leaf.form.leaves, sub, cur_r, base_r), leaf, sub, cur_r, base_r,
                             partial, 1, tuple(sorted(own)))
            e = replace(e, detail=child)
    return e


def _explain(reader: _Reader, r: Resolved, ask: Ask, cur_r: TimeRange, base_r: TimeRange, partial: bool,
             depth: int, only: tuple[str, ...] | None, used: tuple[str, ...] = ()) -> Explanation:
    model, f, leaves = reader.model, r.form, r.form.leaves
    c, b = reader.read((), ask.filters)
    tc, tb = _totals(c, leaves), _totals(b, leaves)
    v1, v0 = dc.value(f, tc), dc.value(f, tb)
    if v1 is None or v0 is None:
        m = model.metric(ask.metric)
        den = " + ".join(model.metric(k).label_zh for k in f.denominator.leaves) if isinstance(f, Ratio) else ""
        raise NotExplainable(f"'{m.label_en}' has no value in one of the periods (its denominator is 0).",
                             f"“{m.label_zh}”在其中一期没有数值（分母{den}为 0）。")
    part_rows = tuple(Part(k, role, x, tc.get(k), tb.get(k)) for k, role, x in dc.parts(f, tc, tb)) \
        if len(leaves) > 1 else ()
    splits, single = [], []
    dims = [d for d in _dimensions(model, leaves, ask.vs) if d not in used and (only is None or d in only)]
    for d in dims:
        cur, base = reader.read((d,), ask.filters)
        members = cur.index.union(base.index, sort=False)
        if len(members) <= 1:
            if len(members) == 1:
                single.append((d, members[0]))
            continue
        ms = dc.split(f, cur, base, tc, tb)
        s = dc.score(ms, v1 - v0)
        splits.append(Split(d, s.score, s.explained, s.causes, s.qualified, tuple(dc.grouped(ms))))
    splits.sort(key=lambda s: dc.rank_key(dc.Score(s.score, s.explained, s.causes, s.qualified)))
    splits = _finer_first(model, splits)
    e = Explanation(ask, r.metric, "ratio" if isinstance(f, Ratio) else "linear", cur_r, base_r, partial,
                    v1, v0, part_rows, tuple(splits), tuple(single))
    if depth > 1 and splits and v1 != v0:
        top = splits[0]
        lead = _lead(top, v1 - v0)
        if lead is not None and lead.member is not None and not (isinstance(lead.member, float)
                                                                 and pd.isna(lead.member)):
            value = lead.member
            sub_ask = replace(ask, filters=ask.filters + (FilterSpec(top.dimension, "in", (value,)),))
            try:
                child = _explain(reader, r, sub_ask, cur_r, base_r, partial, depth - 1, only,
                                 used + (top.dimension,))
            except NotExplainable:
                child = None
            if child is not None:
                e = replace(e, path=(Step(top.dimension, value, lead.contribution, child), *child.path))
    return e
