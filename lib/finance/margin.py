"""Margin analysis: gross profit by dimension, the price-volume-mix bridge, the profit waterfall, margin leakage.

Pure functions over DataFrames read through ``lib.semantic.query`` (loaders take ``run(spec)``, so pages pass
their cached, scoped ``sh.run`` and tests run the query directly). Every ratio is divided after
aggregation; the bridge reconciles to the change in gross profit (or revenue) or raises.
"""
from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.core.errors import InvalidArgument, WorkbenchError
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange

Runner = Callable[[QuerySpec], pd.DataFrame]
DIMENSIONS = ("category", "product", "customer", "segment", "region", "department", "channel")
BUDGET_DIMENSIONS = ("region", "department")   # the budget is kept by org unit and account only
BLANK = "—"                                     # an item without a value of the dimension


class Compare(enum.StrEnum):
    PREVIOUS = "previous"   # the period of the same length just before
    YOY = "yoy"             # the same period last year
    BUDGET = "budget"       # an approved budget version (by region / department only)


class Grain(enum.StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    CUSTOM = "custom"


class Unreconciled(WorkbenchError):
    """The bridge bars do not add up to the total change: a bug or non-finite input, never shown as figures."""


# ---- periods ------------------------------------------------------------------------------------

def _months(d: dt.date, n: int) -> dt.date:
    return (pd.Timestamp(d) + pd.DateOffset(months=n)).date()


def period_of(d: dt.date, grain: Grain) -> TimeRange:
    """The month, quarter or year holding ``d``.

    >>> period_of(dt.date(2025, 5, 17), Grain.QUARTER)
    TimeRange(start=datetime.date(2025, 4, 1), end=datetime.date(2025, 6, 30))
    """
    n = {Grain.MONTH: 1, Grain.QUARTER: 3, Grain.YEAR: 12}[grain]
    start = d.replace(day=1, month=1 if grain is Grain.YEAR else (d.month - 1) // n * n + 1)
    return TimeRange(start, _months(start, n) - dt.timedelta(days=1))


def whole_months(tr: TimeRange) -> int | None:
    """How many whole months ``tr`` covers, or None when it starts or ends inside a month."""
    if tr.start.day != 1 or (tr.end + dt.timedelta(days=1)).day != 1:
        return None
    after = tr.end + dt.timedelta(days=1)
    return (after.year - tr.start.year) * 12 + after.month - tr.start.month


def comparison_range(tr: TimeRange, compare: Compare) -> TimeRange:
    """The base period: the same number of months (or days) just before, or the same dates a year back.

    >>> comparison_range(TimeRange(dt.date(2025, 4, 1), dt.date(2025, 6, 30)), Compare.PREVIOUS)
    TimeRange(start=datetime.date(2025, 1, 1), end=datetime.date(2025, 3, 31))
    >>> comparison_range(TimeRange(dt.date(2024, 2, 1), dt.date(2024, 2, 29)), Compare.YOY)
    TimeRange(start=datetime.date(2023, 2, 1), end=datetime.date(2023, 2, 28))
    """
    if compare is Compare.BUDGET:
        return tr
    after = tr.end + dt.timedelta(days=1)
    if compare is Compare.YOY:
        return TimeRange(_months(tr.start, -12), _months(after, -12) - dt.timedelta(days=1))
    n = whole_months(tr)
    if n is not None:
        return TimeRange(_months(tr.start, -n), tr.start - dt.timedelta(days=1))
    days = (after - tr.start).days
    return TimeRange(tr.start - dt.timedelta(days=days), tr.start - dt.timedelta(days=1))


def _items(df: pd.DataFrame, item: str | None, cols: tuple[str, ...]) -> pd.DataFrame:
    """One row per item (blank names as BLANK), numeric columns as floats with missing as 0."""
    keys = df[item] if item is not None and item in df else pd.Series("__all", index=df.index, dtype=object)
    keys = keys.astype(object).where(keys.notna(), BLANK).astype(str).to_numpy()
    vals = {c: (pd.to_numeric(df[c], errors="coerce").astype(float).fillna(0.0).to_numpy() if c in df
                else np.zeros(len(df))) for c in cols}
    out = pd.DataFrame(vals, index=pd.Index(keys, name="item")).groupby(level=0, sort=False).sum()
    return out.reset_index()


def _sums(df: pd.DataFrame, item: str, cols: tuple[str, ...]) -> dict[str, list[float]]:
    """{item: [sum of each col]} in first-seen order; missing values count as 0 (plain Python: fast on small frames)."""
    keys = [BLANK if k is None or (isinstance(k, float) and math.isnan(k)) or k is pd.NA else str(k)
            for k in (df[item].tolist() if len(df) else [])]
    cols_v = [[0.0 if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else float(v)
               for v in (df[c].tolist() if c in df else [0.0] * len(df))] for c in cols]
    out: dict[str, list[float]] = {}
    for i, k in enumerate(keys):
        acc = out.setdefault(k, [0.0] * len(cols))
        for j in range(len(cols)):
            acc[j] += cols_v[j][i]
    return out


def _ratio(num, den):
    """num / den with NaN where den is 0 (a margin of no revenue is unknown, not zero)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


# ---- gross profit by dimension --------------------------------------------------------------------

@dataclass(frozen=True)
class Totals:
    revenue: float
    cogs: float
    gross_profit: float
    gross_margin: float | None
    revenue_cmp: float | None
    gross_profit_cmp: float | None
    gross_margin_cmp: float | None

    @property
    def margin_change_pp(self) -> float | None:
        """Change of gross margin as a fraction of 1 (0.012 = +1.2 pp)."""
        if self.gross_margin is None or self.gross_margin_cmp is None:
            return None
        return self.gross_margin - self.gross_margin_cmp


@dataclass(frozen=True)
class MarginTable:
    """Gross profit and margin per item of ``dimension`` (None: the total only), against a base.

    ``rows`` columns: item, revenue, cogs, gross_profit, gross_margin, revenue_cmp, cogs_cmp,
    gross_profit_cmp, gross_margin_cmp, gross_profit_change, margin_change_pp, revenue_share;
    sorted by gross profit, largest first. Margins are fractions; ``margin_change_pp`` too (0.01 = 1 pp).
    """

    dimension: str | None
    rows: pd.DataFrame
    total: Totals


def _with_margin(df: pd.DataFrame, suffix: str = "") -> pd.DataFrame:
    df[f"gross_profit{suffix}"] = df[f"revenue{suffix}"] - df[f"cogs{suffix}"]
    df[f"gross_margin{suffix}"] = _ratio(df[f"gross_profit{suffix}"], df[f"revenue{suffix}"])
    return df


def _opt(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def margin_table(current: pd.DataFrame, base: pd.DataFrame | None, dimension: str | None) -> MarginTable:
    """Gross profit and margin by ``dimension`` from frames with columns [dimension, revenue, cogs]."""
    cur = _with_margin(_items(current, dimension, ("revenue", "cogs")))
    if base is not None:
        b = _items(base, dimension, ("revenue", "cogs")).rename(columns={"revenue": "revenue_cmp", "cogs": "cogs_cmp"})
        cur = cur.merge(b, on="item", how="outer")
        cur[["revenue", "cogs"]] = cur[["revenue", "cogs"]].fillna(0.0)
        cur = _with_margin(_with_margin(cur), "_cmp")
    else:
        for c in ("revenue_cmp", "cogs_cmp", "gross_profit_cmp", "gross_margin_cmp"):
            cur[c] = np.nan
    cur["gross_profit_change"] = cur["gross_profit"] - cur["gross_profit_cmp"].fillna(0.0)
    cur["margin_change_pp"] = cur["gross_margin"] - cur["gross_margin_cmp"]
    rev = math.fsum(cur["revenue"])
    cur["revenue_share"] = _ratio(cur["revenue"], np.full(len(cur), rev))
    cogs = math.fsum(cur["cogs"])
    has_cmp = base is not None
    rev_c = math.fsum(cur["revenue_cmp"].fillna(0.0)) if has_cmp else None
    gp_c = rev_c - math.fsum(cur["cogs_cmp"].fillna(0.0)) if has_cmp else None
    total = Totals(rev, cogs, rev - cogs, _opt((rev - cogs) / rev) if rev else None, rev_c, gp_c,
                   _opt(gp_c / rev_c) if has_cmp and rev_c else None)
    rows = cur.sort_values("gross_profit", ascending=False, kind="stable").reset_index(drop=True)
    return MarginTable(dimension, rows, total)


def budget_as_margin(budget: pd.DataFrame, dimension: str | None) -> pd.DataFrame:
    """Budget lines [dimension, account_type, budget] as a margin frame [dimension, revenue, cogs]."""
    amount = pd.to_numeric(budget["budget"], errors="coerce").astype(float).fillna(0.0)
    df = pd.DataFrame({"revenue": np.where(budget["account_type"] == "revenue", amount, 0.0),
                       "cogs": np.where(budget["account_type"] == "cogs", amount, 0.0)})
    if dimension is None:
        return pd.DataFrame({"revenue": [math.fsum(df["revenue"])], "cogs": [math.fsum(df["cogs"])]})
    df[dimension] = budget[dimension].to_numpy()
    return df.groupby(dimension, dropna=False, sort=False)[["revenue", "cogs"]].sum().reset_index()


def margin_specs(dimension: str | None, period: TimeRange, compare: Compare | None,
                 filters: tuple[FilterSpec, ...] = (), budget_version: str | None = None) -> tuple[QuerySpec, ...]:
    """The questions behind a margin table: this period, then the base (a period or a budget version; none
    when ``compare`` is None)."""
    dims = (dimension,) if dimension else ()
    cur = QuerySpec(("revenue", "cogs"), dims, filters, period)
    if compare is None:
        return (cur,)
    if compare is not Compare.BUDGET:
        return cur, QuerySpec(("revenue", "cogs"), dims, filters, comparison_range(period, compare))
    if dimension is not None and dimension not in BUDGET_DIMENSIONS:
        raise InvalidArgument(f"The budget is kept by org unit and account: compare '{dimension}' with a period, "
                              f"or compare by {', '.join(BUDGET_DIMENSIONS)}.",
                              "预算按组织和科目编制：该维度请与期间对比，或按区域、部门与预算对比。")
    bf = [f for f in filters if f.dimension in BUDGET_DIMENSIONS]
    bf.append(FilterSpec("account_type", "in", ("revenue", "cogs")))
    if budget_version:
        bf.append(FilterSpec("budget_version", "eq", (budget_version,)))
    return cur, QuerySpec(("budget",), (*dims, "account_type"), tuple(bf), period)


def budget_versions(run: Runner, period: TimeRange) -> list[str]:
    """Names of the approved / locked budget versions with lines in ``period`` (within the reader's scope)."""
    v = run(QuerySpec(("budget",), ("budget_version",), time_range=period))
    return [str(x) for x in v.loc[v["budget"].notna(), "budget_version"].dropna()]


def load_margin(run: Runner, dimension: str | None, period: TimeRange, compare: Compare | None,
                filters: tuple[FilterSpec, ...] = (), budget_version: str | None = None) -> MarginTable:
    """Run the margin questions and build the table (see ``margin_specs``)."""
    specs = margin_specs(dimension, period, compare, filters, budget_version)
    base = run(specs[1]) if len(specs) > 1 else None
    if compare is Compare.BUDGET:
        base = budget_as_margin(base, dimension)
    return margin_table(run(specs[0]), base, dimension)


# ---- price-volume-mix bridge ------------------------------------------------------------------------

class Effect(enum.StrEnum):
    VOLUME = "volume"
    MIX = "mix"
    PRICE = "price"
    COST = "cost"
    NEW = "new"
    DISCONTINUED = "discontinued"
    NO_VOLUME = "no_volume"   # amounts booked in a period where the item's quantity is zero or negative


class BridgeKind(enum.StrEnum):
    GROSS_PROFIT = "gross_profit"
    REVENUE = "revenue"


@dataclass(frozen=True)
class Contributor:
    item: str
    value: float


@dataclass(frozen=True)
class Bar:
    """One bar of the bridge; ``items``: every non-zero contributor, largest (absolute) first; they sum to ``value``."""

    effect: Effect
    value: float
    items: tuple[Contributor, ...]

    def top(self, n: int = 5) -> tuple[Contributor, ...]:
        return self.items[:n]


@dataclass(frozen=True)
class Bridge:
    """base total + Σ bars = current total. ``detail`` has one row per item: q0, q1, amounts and each effect."""

    kind: BridgeKind
    base: float
    current: float
    bars: tuple[Bar, ...]
    detail: pd.DataFrame

    @property
    def change(self) -> float:
        return self.current - self.base

    def bar(self, effect: Effect) -> Bar:
        return next(b for b in self.bars if b.effect is effect)


def pvm_bridge(base: pd.DataFrame, current: pd.DataFrame, item: str,
               kind: BridgeKind = BridgeKind.GROSS_PROFIT) -> Bridge:
    """Price-volume-mix bridge from period 0 (``base``) to period 1 (``current``), per GLOSSARY.md.

    Frames have columns [item, volume, revenue] and, for the gross-profit bridge, cogs. An item is
    *sold* in a period when its quantity is above zero. Items sold in both periods give the volume,
    mix, price and cost effects (Q and the mix shares s run over them only); items sold only in period
    1 are NEW (+ their amount in 1), only in period 0 DISCONTINUED (− their amount in 0). Amounts
    booked in a period where the item's quantity is zero or negative (free-of-volume rebates,
    returns, cost corrections) have no unit price, so they form their own NO_VOLUME bar
    (+ amount in 1, − amount in 0); with it every item's change lands in exactly one place and the
    bars add up to the total change.

    Per item, the mix effect is shown as Q1·(s1 − s0)·(m0 − m̄0), with m̄0 = Σ s0·m0 the average
    unit margin: the same total as Q1·Σ(s1 − s0)·m0 (since Σ(s1 − s0) = 0), but an item gaining share
    at a below-average margin shows as negative mix.
    """
    gp = kind is BridgeKind.GROSS_PROFIT
    cols = ("volume", "revenue", "cogs") if gp else ("volume", "revenue")
    s0, s1 = _sums(base, item, cols), _sums(current, item, cols)
    names = list(s0) + [k for k in s1 if k not in s0]
    z = [0.0] * len(cols)
    m0 = np.array([s0.get(k, z) for k in names], dtype=float).reshape(len(names), len(cols))
    m1 = np.array([s1.get(k, z) for k in names], dtype=float).reshape(len(names), len(cols))
    if not (np.isfinite(m0).all() and np.isfinite(m1).all()):
        raise InvalidArgument("The bridge needs finite amounts; an input has an infinite value.",
                              "价量差分析需要有限数值：输入含无穷值。")
    q0, r0, q1, r1 = m0[:, 0], m0[:, 1], m1[:, 0], m1[:, 1]
    c0, c1 = (m0[:, 2], m1[:, 2]) if gp else (np.zeros(len(names)), np.zeros(len(names)))
    a0, a1 = r0 - c0, r1 - c1
    both, new, gone = (q0 > 0) & (q1 > 0), (q0 <= 0) & (q1 > 0), (q0 > 0) & (q1 <= 0)
    Q0, Q1 = math.fsum(q0[both]), math.fsum(q1[both])
    safe_q0 = np.where(both, q0, 1.0)
    unit0 = np.where(both, a0 / safe_q0, 0.0)            # m0 (or p0 for revenue)
    avg0 = math.fsum(a0[both]) / Q0 if Q0 else 0.0      # m̄0 = Σ s0·m0
    eff = {
        Effect.VOLUME: np.where(both, (Q1 - Q0) * a0 / (Q0 or 1.0), 0.0),
        Effect.MIX: np.where(both, (q1 - Q1 * q0 / (Q0 or 1.0)) * (unit0 - avg0), 0.0),
        Effect.PRICE: np.where(both, r1 - q1 * r0 / safe_q0, 0.0),
        Effect.COST: np.where(both, -(c1 - q1 * c0 / safe_q0), 0.0),
        Effect.NEW: np.where(new, a1, 0.0),
        Effect.DISCONTINUED: np.where(gone, -a0, 0.0),
        Effect.NO_VOLUME: np.where(q1 <= 0, a1, 0.0) - np.where(q0 <= 0, a0, 0.0),
    }
    if not gp:
        del eff[Effect.COST]
    bars = []
    for e, v in eff.items():
        order = np.argsort(-np.abs(v), kind="stable")
        bars.append(Bar(e, math.fsum(v), tuple(Contributor(names[i], float(v[i])) for i in order if v[i] != 0)))
    start, end = math.fsum(a0), math.fsum(a1)
    gap = math.fsum([b.value for b in bars]) - (end - start)
    scale = sum(math.fsum(np.abs(v)) for v in eff.values()) + math.fsum(np.abs(a0)) + math.fsum(np.abs(a1))
    if abs(gap) > 1e-9 * max(scale, 1.0):
        raise Unreconciled(f"The bridge bars miss the total change by {gap:.6g}.",
                           f"价量差各项之和与总变动相差 {gap:.6g}。")
    d = pd.DataFrame({"item": names, "volume0": q0, "volume1": q1, "revenue0": r0, "revenue1": r1,
                      "cogs0": c0, "cogs1": c1, "amount0": a0, "amount1": a1, "unit0": unit0,
                      "status": np.select([both, new, gone], ["both", "new", "discontinued"], "no_volume"),
                      **{e.value: v for e, v in eff.items()}})
    return Bridge(kind, start, end, tuple(bars), d)


@dataclass(frozen=True)
class PvmFrames:
    base: pd.DataFrame
    current: pd.DataFrame
    specs: tuple[QuerySpec, QuerySpec]   # (base, current)


def pvm_specs(dimension: str, current: TimeRange, base: TimeRange, filters: tuple[FilterSpec, ...] = (),
              with_cogs: bool = True) -> tuple[QuerySpec, QuerySpec]:
    """(base, current) questions: quantity, revenue (and cogs) per item of ``dimension``."""
    metrics = ("volume", "revenue", "cogs") if with_cogs else ("volume", "revenue")
    return (QuerySpec(metrics, (dimension,), tuple(filters), base),
            QuerySpec(metrics, (dimension,), tuple(filters), current))


def load_pvm(run: Runner, dimension: str, current: TimeRange, base: TimeRange,
             filters: tuple[FilterSpec, ...] = (), with_cogs: bool = True) -> PvmFrames:
    """Read the bridge's inputs for both periods (e.g. ``filters`` = one category to drill into it)."""
    specs = pvm_specs(dimension, current, base, filters, with_cogs)
    return PvmFrames(run(specs[0]), run(specs[1]), specs)


# ---- profit waterfall ---------------------------------------------------------------------------------

class StepKind(enum.StrEnum):
    TOTAL = "total"          # a level: gross sales, net revenue, gross profit, operating profit
    DECREASE = "decrease"
    INCREASE = "increase"


@dataclass(frozen=True)
class Step:
    """``key`` names the step (gross_sales, discount, other, revenue, cogs, gross_profit, opex, operating_profit);
    ``label`` is the expense type for opex steps. ``value`` is the level (TOTAL) or the size of the move (≥ 0 shown)."""

    key: str
    value: float
    kind: StepKind
    label: str | None = None


@dataclass(frozen=True)
class ProfitWaterfall:
    steps: tuple[Step, ...]
    revenue: float
    gross_profit: float
    opex: float
    operating_profit: float
    has_opex: bool


def waterfall_specs(period: TimeRange) -> tuple[QuerySpec, QuerySpec]:
    """(sales, expenses) questions of the profit waterfall."""
    return (QuerySpec(("gross_sales", "discount", "revenue", "cogs"), (), (), period),
            QuerySpec(("opex",), ("expense_type",), (), period))


def profit_waterfall(sales: pd.DataFrame, opex: pd.DataFrame) -> ProfitWaterfall:
    """Gross sales → discounts → net revenue → COGS → gross profit → each expense type → operating profit.

    ``sales`` has one row [gross_sales, discount, revenue, cogs]; ``opex`` rows [expense_type, opex].
    When gross sales less discounts is not net revenue (imported lines that don't tie), the gap is
    its own step ("other"), so every level is the store's own figure.
    """
    row = {c: (float(sales[c].iloc[0]) if len(sales) and pd.notna(sales[c].iloc[0]) else 0.0)
           for c in ("gross_sales", "discount", "revenue", "cogs")}
    steps = [Step("gross_sales", row["gross_sales"], StepKind.TOTAL),
             Step("discount", row["discount"], StepKind.DECREASE)]
    other = row["revenue"] - (row["gross_sales"] - row["discount"])
    if abs(other) >= 0.005:
        steps.append(Step("other", abs(other), StepKind.INCREASE if other > 0 else StepKind.DECREASE))
    gp = row["revenue"] - row["cogs"]
    steps += [Step("revenue", row["revenue"], StepKind.TOTAL), Step("cogs", row["cogs"], StepKind.DECREASE),
              Step("gross_profit", gp, StepKind.TOTAL)]
    ox = opex.dropna(subset=["opex"]) if len(opex) else opex
    ox = ox[ox["opex"] != 0].sort_values("opex", ascending=False, kind="stable") if len(ox) else ox
    for name, v in zip(ox.get("expense_type", []), ox.get("opex", [])):
        steps.append(Step("opex", abs(float(v)), StepKind.DECREASE if v > 0 else StepKind.INCREASE,
                          BLANK if name is None or pd.isna(name) else str(name)))
    total_opex = math.fsum(float(v) for v in ox.get("opex", []))
    steps.append(Step("operating_profit", gp - total_opex, StepKind.TOTAL))
    return ProfitWaterfall(tuple(steps), row["revenue"], gp, total_opex, gp - total_opex, bool(len(ox)))


def load_profit_waterfall(run: Runner, period: TimeRange) -> ProfitWaterfall:
    s, o = waterfall_specs(period)
    return profit_waterfall(run(s), run(o))


# ---- margin leakage ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Leakage:
    """Where margin leaks, by ``dimension``; margins and rates as fractions, pp changes as fractions.

    ``negative``: gross profit below zero. ``falling``: margin down by at least the threshold vs the
    base, with ``impact`` = (margin now − margin then) × revenue now (the gross profit the fall costs).
    ``discounting``: discount rate at least the threshold above the overall rate. ``quadrant``: every
    item with revenue, margin and gross profit, and its quadrant against the median revenue and the
    overall margin. Items under ``min_share`` of revenue are left out of the lists (not the quadrant).
    """

    dimension: str
    negative: pd.DataFrame
    falling: pd.DataFrame
    discounting: pd.DataFrame
    quadrant: pd.DataFrame
    margin: float | None
    discount_rate: float | None


LEAK_METRICS = ("revenue", "cogs", "gross_sales", "discount")


def leakage_specs(dimension: str, period: TimeRange, base: TimeRange,
                  filters: tuple[FilterSpec, ...] = ()) -> tuple[QuerySpec, QuerySpec]:
    """(current, base) questions of the leakage lists."""
    return (QuerySpec(LEAK_METRICS, (dimension,), tuple(filters), period),
            QuerySpec(("revenue", "cogs"), (dimension,), tuple(filters), base))


FALL_PP = 0.02         # a margin fall of 2 pp or more is listed
DISCOUNT_OVER = 0.03   # a discount rate 3 pp or more above the overall rate is listed
MIN_SHARE = 0.001      # items under 0.1% of revenue are left out of the lists


def leakage(current: pd.DataFrame, base: pd.DataFrame, dimension: str, fall_pp: float = FALL_PP,
            discount_over: float = DISCOUNT_OVER, min_share: float = MIN_SHARE) -> Leakage:
    """Leakage lists from [dimension, revenue, cogs, gross_sales, discount] now, [dimension, revenue, cogs] before."""
    cur = _with_margin(_items(current, dimension, LEAK_METRICS))
    b = _with_margin(_items(base, dimension, ("revenue", "cogs")))[["item", "revenue", "gross_margin"]]
    cur = cur.merge(b.rename(columns={"revenue": "revenue_cmp", "gross_margin": "gross_margin_cmp"}),
                    on="item", how="left")
    cur["margin_change_pp"] = cur["gross_margin"] - cur["gross_margin_cmp"]
    cur["impact"] = cur["margin_change_pp"] * cur["revenue"]
    cur["discount_rate"] = _ratio(cur["discount"], cur["gross_sales"])
    rev, gp = math.fsum(cur["revenue"]), math.fsum(cur["gross_profit"])
    gs, disc = math.fsum(cur["gross_sales"]), math.fsum(cur["discount"])
    margin = gp / rev if rev else None
    rate = disc / gs if gs else None
    material = cur["revenue"] >= min_share * abs(rev)
    negative = cur[cur["gross_profit"] < 0].sort_values("gross_profit", kind="stable")
    falling = cur[material & (cur["margin_change_pp"] <= -fall_pp)].sort_values("impact", kind="stable")
    heavy = cur[material & (cur["discount_rate"] >= (rate or 0.0) + discount_over)]
    heavy = heavy.sort_values("discount", ascending=False, kind="stable")
    q = cur[cur["revenue"] > 0][["item", "revenue", "gross_profit", "gross_margin"]].copy()
    med = float(q["revenue"].median()) if len(q) else 0.0
    hi_rev = q["revenue"] >= med
    hi_m = q["gross_margin"] >= (margin if margin is not None else 0.0)
    q["quadrant"] = np.select([hi_rev & hi_m, hi_rev & ~hi_m, ~hi_rev & hi_m], ["star", "squeeze", "niche"], "tail")
    keep = lambda df: df.reset_index(drop=True)  # noqa: E731
    return Leakage(dimension, keep(negative), keep(falling), keep(heavy), keep(q), margin, rate)


def load_leakage(run: Runner, dimension: str, period: TimeRange, base: TimeRange,
                 filters: tuple[FilterSpec, ...] = (), **thresholds: float) -> Leakage:
    cur_spec, base_spec = leakage_specs(dimension, period, base, filters)
    return leakage(run(cur_spec), run(base_spec), dimension, **thresholds)


def period_options(months: list[dt.date], grain: Grain, last_day: dt.date) -> list[tuple[str, TimeRange]]:
    """The months, quarters or years holding data, newest first, each cut at ``last_day`` (the end of the
    latest complete month), so a year in progress is its year to date and compares like with like.

    >>> [x[0] for x in period_options([dt.date(2025, 12, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1)],
    ...                               Grain.YEAR, dt.date(2026, 1, 31))]
    ['2026 (2026-01-01 – 2026-01-31)', '2025']
    """
    out: dict[dt.date, tuple[str, TimeRange]] = {}
    for m in sorted(months, reverse=True):
        tr = period_of(m, grain)
        if tr.start > last_day or tr.start in out:
            continue
        label = {Grain.MONTH: f"{tr.start:%Y-%m}", Grain.QUARTER: f"{tr.start.year}-Q{(tr.start.month - 1) // 3 + 1}",
                 Grain.YEAR: f"{tr.start.year}"}[grain]
        if tr.end > last_day:
            tr = TimeRange(tr.start, last_day)
            label += f" ({tr.start} – {tr.end})"
        out[tr.start] = (label, tr)
    return list(out.values())
