"""Budget vs actual (预算执行) and the full-year outlook (全年展望), from ``lib.semantic.query`` specs.

Every figure is read through specs run by the caller's ``run`` callable (pages pass ``sh.run``,
tests ``lambda s: query.run(engine, s)``), so the reader's row scope applies. Actual and budget
come from two specs (the GL has no budget version to filter by) aggregated to the same keys and
joined here on those keys; ratios are divided after aggregation.

Favourability follows the account type: revenue above budget helps profit (favourable), cogs,
opex and other expenses above budget hurt it (unfavourable). ``impact`` is the variance signed by
that direction, so impacts add up to the effect on operating profit.
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.core.errors import InvalidArgument
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange

Runner = Callable[[QuerySpec], pd.DataFrame]
Forecaster = Callable[[dict[str, pd.Series], int], Mapping[str, object]]
"""(monthly histories by key, horizon) -> per key the next ``horizon`` monthly values (a Series,
an array, or anything with a ``.forecast["value"]`` column such as ``lib.finance.forecast.Forecast``)."""

TYPES = ("revenue", "cogs", "opex", "other")
COMPARE_COLUMNS = ("actual", "budget", "variance", "variance_pct", "execution", "impact", "favourable", "material")
_MISSING = "\u2205"  # stands for a NULL dimension value while joining (region-level postings have no department)


class Direction(enum.StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


def direction(account_type: str) -> Direction:
    """Revenue: higher is better; cogs, opex and other expenses: lower is better.

    >>> direction("revenue"), direction("opex")
    (<Direction.HIGHER_IS_BETTER: 'higher_is_better'>, <Direction.LOWER_IS_BETTER: 'lower_is_better'>)
    """
    return Direction.HIGHER_IS_BETTER if account_type == "revenue" else Direction.LOWER_IS_BETTER


class Level(enum.StrEnum):
    """The drill path: company → region → department → account."""

    COMPANY = "company"
    REGION = "region"
    DEPARTMENT = "department"
    ACCOUNT = "account"


class Rank(enum.StrEnum):
    AMOUNT = "amount"    # by the unfavourable amount (元)
    PERCENT = "percent"  # by the unfavourable share of budget (%)


@dataclass(frozen=True)
class Materiality:
    """A variance matters when |amount| ≥ ``amount`` 元 AND |variance %| ≥ ``pct`` (a fraction);
    a line without budget passes the % test (any spend against nothing is 100% off)."""

    amount: float = 0.0
    pct: float = 0.0

    def __post_init__(self) -> None:
        if not (self.amount >= 0 and self.pct >= 0):
            raise InvalidArgument(f"Materiality thresholds must be zero or more, got {self.amount}, {self.pct}.",
                                  f"重要性阈值须大于等于0，收到 {self.amount}、{self.pct}。")


def drill(level: Level, region: str | None = None, department: str | None = None,
          detail: str = "account") -> tuple[tuple[str, ...], tuple[FilterSpec, ...]]:
    """The dimensions and filters of one drill step (``detail``: account or expense_type).

    >>> drill(Level.DEPARTMENT, region="华北大区")
    (('department',), (FilterSpec(dimension='region', op='in', values=('华北大区',)),))
    """
    if detail not in ("account", "expense_type"):
        raise InvalidArgument(f"Unknown detail {detail!r}; use account or expense_type.",
                              f"未知的明细维度“{detail}”；可选 account、expense_type。")
    filters = []
    if level in (Level.DEPARTMENT, Level.ACCOUNT) and region is not None:
        filters.append(FilterSpec("region", "in", (region,)))
    if level is Level.ACCOUNT and region is not None:
        filters.append(FilterSpec("department", "in", (department,)))  # None: the region's own postings
    by = {Level.COMPANY: (), Level.REGION: ("region",), Level.DEPARTMENT: ("department",),
          Level.ACCOUNT: (detail,)}[level]
    if region is None and level in (Level.DEPARTMENT, Level.ACCOUNT):
        by = {Level.DEPARTMENT: ("region", "department"), Level.ACCOUNT: ("region", "department", detail)}[level]
    return by, tuple(filters)


def dimension_spec(dimension: str, region: str | None = None) -> QuerySpec:
    """The spec listing a drill dimension's values with GL postings (within ``region``), for pickers."""
    filters = (FilterSpec("region", "in", (region,)),) if region else ()
    return QuerySpec(("actual",), (dimension,), filters)


def month_end(month: dt.date) -> dt.date:
    return (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def _type_filter(account_types) -> tuple[FilterSpec, ...]:
    if not account_types:
        return ()
    bad = [t for t in account_types if t not in TYPES]
    if bad:
        raise InvalidArgument(f"Unknown account type(s) {', '.join(map(str, bad))}; known: {', '.join(TYPES)}.",
                              f"未知的科目类型：{'、'.join(map(str, bad))}；可选：{'、'.join(TYPES)}。")
    return (FilterSpec("account_type", "in", tuple(account_types)),)


def _version_filter(version: str | None) -> tuple[FilterSpec, ...]:
    return (FilterSpec("budget_version", "in", (version,)),) if version else ()


def _keyed(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = df.copy()
    for k in keys:
        out[k] = out[k].astype(object).where(out[k].notna(), _MISSING)
    return out


def _unkeyed(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    for k in keys:
        df[k] = df[k].where(df[k] != _MISSING, None)
    return df


def compare(frame: pd.DataFrame, materiality: Materiality = Materiality()) -> pd.DataFrame:
    """Add variance, variance %, execution rate, impact, favourable and material to a frame that
    has ``account_type``, ``actual`` and ``budget`` (missing amounts count as zero)."""
    out = frame.copy()
    out["actual"] = pd.to_numeric(out["actual"], errors="coerce").fillna(0.0).astype(float)
    out["budget"] = pd.to_numeric(out["budget"], errors="coerce").fillna(0.0).astype(float)
    out["variance"] = out["actual"] - out["budget"]
    has_budget = out["budget"] != 0
    out["variance_pct"] = (out["variance"] / out["budget"].abs()).where(has_budget)
    out["execution"] = (out["actual"] / out["budget"]).where(has_budget)
    sign = np.where(out["account_type"].map(direction) == Direction.HIGHER_IS_BETTER, 1.0, -1.0)
    out["impact"] = out["variance"] * sign + 0.0  # +0.0: no negative zero
    out["favourable"] = out["impact"] > 0
    pct_ok = ~has_budget | (out["variance_pct"].abs() >= materiality.pct)
    out["material"] = (out["variance"].abs() >= materiality.amount) & pct_ok & (out["variance"] != 0)
    return out


def top_unfavourable(frame: pd.DataFrame, n: int = 5, rank: Rank = Rank.AMOUNT,
                     material_only: bool = True) -> pd.DataFrame:
    """The ``n`` most unfavourable lines, by amount or by share of budget (lines without budget last)."""
    bad = frame[(frame["impact"] < 0) & (frame["material"] if material_only else True)].copy()
    if rank is Rank.AMOUNT:
        bad = bad.sort_values("impact", kind="stable")
    else:
        bad["_key"] = -bad["variance_pct"].abs().fillna(-np.inf)
        bad = bad.sort_values(["_key", "impact"], kind="stable").drop(columns="_key")
    return bad.head(n).reset_index(drop=True)


@dataclass(frozen=True)
class VarianceReport:
    """Budget vs actual for ``month`` and its year to date, at keys ``by`` + account_type."""

    month: dt.date
    version: str | None
    by: tuple[str, ...]
    month_rows: pd.DataFrame
    """keys, actual, budget, variance, variance_pct, execution, impact, favourable, material, fy_budget"""
    ytd_rows: pd.DataFrame
    """the same columns, January to ``month``"""
    actual_spec: QuerySpec
    budget_spec: QuerySpec
    totals: pd.DataFrame = field(default_factory=pd.DataFrame)
    """per account type, for the month (``period`` = month) and year to date (``period`` = ytd)"""

    def rows(self, ytd: bool) -> pd.DataFrame:
        return self.ytd_rows if ytd else self.month_rows

    def impact(self, ytd: bool = False) -> float:
        """Net effect of all variances on operating profit (favourable positive)."""
        return float(self.rows(ytd)["impact"].sum())


def variance(run: Runner, month: dt.date, by: tuple[str, ...] = (), filters: tuple[FilterSpec, ...] = (),
             version: str | None = None, materiality: Materiality = Materiality(),
             account_types: tuple[str, ...] = ()) -> VarianceReport:
    """Budget vs actual for ``month`` (first day) and January–``month``, by ``by`` and account type.

    ``version`` names the budget version to compare with (an approved or locked budget); None
    takes every approved or locked budget version, as the ``budget`` metric does.
    """
    month = month.replace(day=1)
    keys = [*by, *(() if "account_type" in by else ("account_type",))]
    dims = ("month", *keys)
    flt = (*filters, *_type_filter(account_types))
    jan = dt.date(month.year, 1, 1)
    actual_spec = QuerySpec(("actual",), dims, flt, TimeRange(jan, month_end(month)))
    budget_spec = QuerySpec(("budget",), dims, (*flt, *_version_filter(version)),
                            TimeRange(jan, dt.date(month.year, 12, 31)))
    act = _keyed(run(actual_spec), keys)
    bud = _keyed(run(budget_spec), keys)
    both = act.merge(bud, on=["month", *keys], how="outer")
    both["month"] = pd.to_datetime(both["month"]).dt.date

    def period(mask) -> pd.DataFrame:
        part = both[mask].groupby(keys, as_index=False, dropna=False)[["actual", "budget"]].sum(min_count=1)
        return part

    fy = both.groupby(keys, as_index=False, dropna=False)["budget"].sum(min_count=1).rename(
        columns={"budget": "fy_budget"})
    frames = {}
    for name, mask in (("month", both["month"] == month), ("ytd", both["month"] <= month)):
        part = period(mask).merge(fy, on=keys, how="outer")
        part["fy_budget"] = part["fy_budget"].fillna(0.0)
        part = compare(_unkeyed(part, keys), materiality)
        frames[name] = part.sort_values(keys, kind="stable", key=_sort_key).reset_index(drop=True)
    totals = pd.concat([
        compare(frames[p].groupby("account_type", as_index=False)[["actual", "budget", "fy_budget"]].sum(),
                materiality).assign(period=p) for p in ("month", "ytd")], ignore_index=True)
    return VarianceReport(month, version, tuple(by), frames["month"], frames["ytd"], actual_spec, budget_spec,
                          totals)


def _sort_key(s: pd.Series) -> pd.Series:
    if s.name == "account_type":
        return s.map({t: i for i, t in enumerate(TYPES)}).fillna(len(TYPES))
    return s.astype(object).where(s.notna(), "\uffff").astype(str)


# ---- full-year outlook --------------------------------------------------------------------------

def seasonal_naive(history: dict[str, pd.Series], horizon: int) -> dict[str, pd.Series]:
    """A deterministic forecaster: each month as the same month a year earlier (the mean of the last
    three months when a series is shorter than a year). The baseline, and the test forecaster."""
    out = {}
    for key, s in history.items():
        values = s.astype(float).to_numpy()
        start = _add_months(pd.Timestamp(s.index[-1]).date(), 1) if len(s) else None
        idx = pd.DatetimeIndex([pd.Timestamp(_add_months(start, i)) for i in range(horizon)]) if start else []
        if len(values) >= 12:
            fc = [values[len(values) - 12 + (i % 12)] for i in range(horizon)]
        else:
            fc = [float(values[-3:].mean()) if len(values) else 0.0] * horizon
        out[key] = pd.Series(fc, index=idx, dtype=float)
    return out


def lib_forecaster(progress: Callable[[int, int], None] | None = None) -> Forecaster:
    """The statsmodels forecasts of ``lib.finance.forecast`` (auto-chosen model per series) as a Forecaster."""
    def fc(history: dict[str, pd.Series], horizon: int) -> Mapping[str, object]:
        from lib.finance import forecast  # imported on use: the outlook itself does not need statsmodels
        return forecast.forecast_many(history, horizon, progress=progress)
    return fc


def _values(result: object, horizon: int) -> np.ndarray:
    if hasattr(result, "forecast"):
        result = result.forecast["value"]
    arr = np.asarray(result, dtype=float).ravel()
    if len(arr) < horizon:
        raise InvalidArgument(f"The forecaster returned {len(arr)} months, {horizon} were asked for.",
                              f"预测只返回了 {len(arr)} 个月，需要 {horizon} 个月。")
    return arr[:horizon]


@dataclass(frozen=True)
class Outlook:
    """Actual January–``through`` plus forecast for the rest of the year, against the full-year budget."""

    through: dt.date
    version: str | None
    by: str | None
    rows: pd.DataFrame
    """unit (when ``by``), account_type, ytd_actual, forecast, outlook, budget (full year), variance,
    variance_pct, execution (outlook ÷ budget), impact, favourable, material"""
    totals: pd.DataFrame
    """the same per account type, over every unit (the sum of the units' forecasts)"""
    monthly: pd.DataFrame
    """month, account_type, actual, forecast, budget: the company path through the year"""


def _key(unit, account_type: str) -> str:
    return f"{'' if unit is None else unit}\u001f{account_type}"


def outlook(run: Runner, through: dt.date, forecaster: Forecaster, by: str | None = "region",
            version: str | None = None, filters: tuple[FilterSpec, ...] = (),
            account_types: tuple[str, ...] = ("revenue", "cogs", "opex"), history_start: dt.date | None = None,
            materiality: Materiality = Materiality()) -> Outlook:
    """Full-year outlook for ``through``'s year: actual to ``through`` (a complete month) plus the
    forecaster's months to December, per ``by`` unit (None: the company) and account type.

    History for the forecaster runs from ``history_start`` (default: three years before) to ``through``.
    """
    through = through.replace(day=1)
    year = through.year
    start = (history_start or dt.date(year - 3, 1, 1)).replace(day=1)
    unit_dims = (by,) if by else ()
    flt = (*filters, *_type_filter(account_types))
    hist = run(QuerySpec(("actual",), ("month", *unit_dims, "account_type"), flt, TimeRange(start, month_end(through))))
    bud = run(QuerySpec(("budget",), ("month", *unit_dims, "account_type"), (*flt, *_version_filter(version)),
                        TimeRange(dt.date(year, 1, 1), dt.date(year, 12, 31))))
    months = pd.date_range(pd.Timestamp(start), pd.Timestamp(through), freq="MS")
    horizon = 12 - through.month
    future = pd.date_range(pd.Timestamp(_add_months(through, 1)), periods=horizon, freq="MS")
    hist["month"] = pd.to_datetime(hist["month"])
    hist = _keyed(hist.assign(unit=hist[by] if by else None), ["unit"])
    series: dict[str, pd.Series] = {}
    labels: dict[str, tuple] = {}
    for (unit, atype), g in hist.groupby(["unit", "account_type"]):
        unit = None if unit == _MISSING else unit
        s = g.groupby("month")["actual"].sum().astype(float).reindex(months, fill_value=0.0)
        s = s[s.index >= s[s != 0].index.min()] if (s != 0).any() else s.iloc[-1:]
        series[_key(unit, atype)] = s
        labels[_key(unit, atype)] = (unit, atype)
    fc = forecaster(series, horizon) if horizon and series else {}
    path = []
    for key, (unit, atype) in labels.items():
        s = series[key]
        ytd = float(s[s.index >= pd.Timestamp(year, 1, 1)].sum())
        values = _values(fc[key], horizon) if horizon else np.zeros(0)
        this_year = s[s.index >= pd.Timestamp(year, 1, 1)]
        path.append(pd.DataFrame({"month": list(this_year.index) + list(future), "account_type": atype,
                                  "actual": list(this_year) + [np.nan] * horizon,
                                  "forecast": [np.nan] * len(this_year) + list(values), "unit": unit, "ytd": ytd}))
    flows = pd.concat(path, ignore_index=True) if path else pd.DataFrame(
        columns=["month", "account_type", "actual", "forecast", "unit", "ytd"])
    flows["month"] = pd.to_datetime(flows["month"])
    for c in ("actual", "forecast"):
        flows[c] = flows[c].astype(float)
    bud["month"] = pd.to_datetime(bud["month"])
    bud_unit = bud[by] if by else pd.Series([None] * len(bud), index=bud.index, dtype=object)
    bud = bud.assign(unit=bud_unit.astype(object).where(bud_unit.notna(), None))
    keys = ["unit", "account_type"]
    per = flows.groupby(keys, dropna=False, as_index=False).agg(ytd_actual=("actual", "sum"),
                                                               forecast=("forecast", "sum"))
    fy = bud.groupby(keys, dropna=False, as_index=False)["budget"].sum()
    rows = _keyed(per, keys).merge(_keyed(fy, keys), on=keys, how="outer")
    rows = _unkeyed(rows, keys).fillna({"ytd_actual": 0.0, "forecast": 0.0, "budget": 0.0})
    rows["outlook"] = rows["ytd_actual"] + rows["forecast"]
    rows = _outlook_compare(rows, materiality)
    totals = _outlook_compare(rows.groupby("account_type", as_index=False)[["ytd_actual", "forecast", "budget"]].sum()
                              .assign(outlook=lambda d: d["ytd_actual"] + d["forecast"]), materiality)
    monthly = flows.groupby(["month", "account_type"], as_index=False)[["actual", "forecast"]].sum(min_count=1)
    monthly = monthly.merge(bud.groupby(["month", "account_type"], as_index=False)["budget"].sum(),
                            on=["month", "account_type"], how="outer").sort_values(["account_type", "month"])
    if not by:
        rows = rows.drop(columns="unit")
    else:
        rows = rows.rename(columns={"unit": by})
    return Outlook(through, version, by, rows.reset_index(drop=True), totals.reset_index(drop=True),
                   monthly.reset_index(drop=True))


def _outlook_compare(rows: pd.DataFrame, materiality: Materiality) -> pd.DataFrame:
    out = compare(rows.rename(columns={"outlook": "actual"}), materiality).rename(columns={"actual": "outlook"})
    out = out.sort_values([c for c in ("unit", "account_type") if c in out.columns], kind="stable", key=_sort_key)
    return out[[c for c in ("unit", "account_type", "ytd_actual", "forecast", "outlook", "budget", "variance",
                            "variance_pct", "execution", "impact", "favourable", "material") if c in out.columns]]
