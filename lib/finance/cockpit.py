"""The management cockpit (经营驾驶舱): year-to-date KPI tiles against their targets, with a status,
a 12-month sparkline and the question behind each figure, and the full-year outlook against budget.

Every number comes from metrics compiled by ``lib.semantic.query`` (the caller passes how to run a spec, so
pages can cache it and tests run it directly). Targets are the budget for money and margin, 100 %
for opex execution, and the same period last year for DSO and inventory days (there is no budget of
days); how close counts as "watch" is declared once, in ``TILES``.
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from lib.finance import budget
from lib.finance.overview import Runner, latest_complete_month
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange


class Kind(enum.StrEnum):
    MONEY = "money"
    PERCENT = "percent"
    DAYS = "days"


class Basis(enum.StrEnum):
    """What a tile's target is."""

    BUDGET = "budget"          # the approved budget of the same months
    FULL = "full"              # 100 % of the budget (an execution rate)
    LAST_YEAR = "last_year"    # the same months a year earlier


class Status(enum.StrEnum):
    GOOD = "good"      # at or better than target
    WATCH = "watch"    # worse, within the tile's tolerance
    BAD = "bad"        # worse beyond the tolerance
    NONE = "none"      # no target to compare with


@dataclass(frozen=True)
class TileDef:
    key: str
    metric: str
    kind: Kind
    basis: Basis
    tolerance: float
    """How far worse than target is still "watch": relative for money and days, absolute for percents."""
    higher_is_better: bool = True
    filters: tuple[FilterSpec, ...] = ()
    needs: tuple[str, ...] = ()
    """Metrics the reader must be allowed to see besides ``metric`` (the target's)."""
    page: str = "overview"


OPEX = (FilterSpec("account_type", "in", ("opex",)),)
TILES: tuple[TileDef, ...] = (
    TileDef("revenue", "revenue", Kind.MONEY, Basis.BUDGET, 0.05, needs=("budget",), page="margin"),
    TileDef("gross_margin", "gross_margin", Kind.PERCENT, Basis.BUDGET, 0.01, needs=("budget",), page="margin"),
    TileDef("operating_profit", "operating_profit", Kind.MONEY, Basis.BUDGET, 0.05, needs=("budget",),
            page="margin"),
    TileDef("opex_execution", "budget_execution", Kind.PERCENT, Basis.FULL, 0.03, higher_is_better=False,
            filters=OPEX, page="budget"),
    TileDef("dso", "dso", Kind.DAYS, Basis.LAST_YEAR, 0.05, higher_is_better=False, page="explore"),
    TileDef("inventory_days", "inventory_days", Kind.DAYS, Basis.LAST_YEAR, 0.05, higher_is_better=False,
            page="explore"),
)
SPARK_MONTHS = 12


@dataclass(frozen=True)
class Tile:
    """One KPI, year to date through the cockpit's month."""

    definition: TileDef
    value: float | None
    target: float | None
    status: Status
    gap: float | None
    """value − target: relative (÷ |target|) for money and days, in percentage points for percents."""
    spark: tuple[float | None, ...]
    """The KPI month by month, the last ``SPARK_MONTHS`` months up to the cockpit's month."""
    spec: QuerySpec
    """The question behind ``value``, for "explain this number" and the Explore link."""

    @property
    def key(self) -> str:
        return self.definition.key


@dataclass(frozen=True)
class Cockpit:
    month: dt.date
    """First day of the latest complete month: the tiles run from January of its year to its end."""
    tiles: tuple[Tile, ...]
    outlook: budget.Outlook | None
    """Actual to ``month`` plus a seasonal-naive forecast to December, against the full-year budget;
    None when the reader may not see the GL actuals it is built on."""


def status(value: float | None, target: float | None, d: TileDef) -> tuple[Status, float | None]:
    """The tile's status and its gap to target.

    >>> d = TILES[0]  # revenue: higher is better, 5 % tolerance
    >>> status(97.0, 100.0, d)
    (<Status.WATCH: 'watch'>, -0.03)
    >>> status(None, 100.0, d)
    (<Status.NONE: 'none'>, None)
    """
    if value is None or target is None or pd.isna(value) or pd.isna(target):
        return Status.NONE, None
    if d.kind is Kind.PERCENT:
        gap = value - target
        worse = -gap if d.higher_is_better else gap
    else:
        if target == 0:
            return Status.NONE, None
        gap = (value - target) / abs(target)
        worse = -gap if d.higher_is_better else gap
    gap = round(gap, 12)
    if worse <= 0:
        return Status.GOOD, gap
    return (Status.WATCH if worse <= d.tolerance + 1e-12 else Status.BAD), gap


def _first(df: pd.DataFrame, col: str) -> float | None:
    if df.empty or col not in df.columns:
        return None
    v = df[col].iloc[0]
    return None if pd.isna(v) else float(v)


_BUDGET_TYPES = {"revenue": ("revenue",), "gross_margin": ("revenue", "cogs"),
                 "operating_profit": ("revenue", "cogs", "opex")}
"""The account types each budget-based tile's target is computed from."""


def _budget_targets(run: Runner, tr: TimeRange, keys: Iterable[str]) -> dict[str, float | None]:
    """Budget revenue, gross margin and operating profit of the months in ``tr``, for the tiles ``keys``
    (only their account types are read: a reader denied the cost budget still gets the revenue target)."""
    types = tuple(dict.fromkeys(x for k in keys for x in _BUDGET_TYPES.get(k, ())))
    if not types:
        return {}
    df = run(QuerySpec(("budget",), ("account_type",), (FilterSpec("account_type", "in", types),), tr))
    b = {r.account_type: float(r.budget) for r in df.itertuples() if not pd.isna(r.budget)}
    rev, cogs, opex = b.get("revenue"), b.get("cogs"), b.get("opex")
    return {
        "revenue": rev,
        "gross_margin": (rev - cogs) / rev if rev and cogs is not None else None,
        "operating_profit": rev - cogs - opex if rev is not None and cogs is not None and opex is not None else None,
    }


def build(run: Runner, allowed: Callable[[str], bool] = lambda _: True,
          forecaster: budget.Forecaster = budget.seasonal_naive) -> Cockpit | None:
    """The cockpit for the latest complete month; None when the store has no complete month of sales.

    ``allowed`` says which metrics the reader may see: a tile needing another is left out, not shown
    as an error.
    """
    month = latest_complete_month(run)
    if month is None:
        return None
    end = budget.month_end(month)
    ytd = TimeRange(dt.date(month.year, 1, 1), end)
    ly = TimeRange(dt.date(month.year - 1, 1, 1), budget.month_end(dt.date(month.year - 1, month.month, 1)))
    spark_range = TimeRange((pd.Timestamp(month) - pd.DateOffset(months=SPARK_MONTHS - 1)).date(), end)
    shown = [d for d in TILES if allowed(d.metric) and all(allowed(m) for m in d.needs)]
    targets = _budget_targets(run, ytd, [d.key for d in shown if d.basis is Basis.BUDGET])
    months = pd.date_range(pd.Timestamp(spark_range.start), pd.Timestamp(month), freq="MS")
    tiles = []
    for filters in dict.fromkeys(d.filters for d in shown):   # one query per filter set, not per tile
        group = [d for d in shown if d.filters == filters]
        metrics = tuple(dict.fromkeys(d.metric for d in group))
        spec = QuerySpec(metrics, (), filters, ytd)
        now = run(spec)
        last = run(QuerySpec(metrics, (), filters, ly)) if any(d.basis is Basis.LAST_YEAR for d in group) else None
        by_month = run(QuerySpec(metrics, ("month",), filters, spark_range))
        by_month = by_month.set_index(pd.to_datetime(by_month["month"])).reindex(months)
        for d in group:
            value = _first(now, d.metric)
            if d.basis is Basis.BUDGET:
                target = targets.get(d.key)
            elif d.basis is Basis.FULL:
                target = 1.0
            else:
                target = _first(last, d.metric)
            st, gap = status(value, target, d)
            spark = tuple(None if pd.isna(v) else float(v) for v in by_month[d.metric])
            tiles.append(Tile(d, value, target, st, gap, spark, spec))
    order = {d.key: i for i, d in enumerate(TILES)}
    tiles.sort(key=lambda t: order[t.key])
    outlook = None
    if allowed("actual") and allowed("budget"):
        outlook = budget.outlook(run, month, forecaster, by=None, account_types=("revenue", "cogs", "opex"))
    return Cockpit(month, tuple(tiles), outlook)


def outlook_summary(o: budget.Outlook) -> pd.DataFrame:
    """The outlook's totals per account type plus operating profit (revenue − COGS − opex), in that order:
    account_type, ytd_actual, forecast, outlook, budget, variance, execution."""
    t = o.totals.set_index("account_type")
    cols = ["ytd_actual", "forecast", "outlook", "budget"]
    rows = [t.loc[a, cols].astype(float).rename(a) for a in ("revenue", "cogs", "opex") if a in t.index]
    out = pd.DataFrame(rows)
    if {"revenue", "cogs", "opex"} <= set(out.index):
        out.loc["operating_profit"] = out.loc["revenue"] - out.loc["cogs"] - out.loc["opex"]
    out["variance"] = out["outlook"] - out["budget"]
    out["execution"] = out["outlook"] / out["budget"].where(out["budget"] != 0)
    return out.rename_axis("account_type").reset_index()
