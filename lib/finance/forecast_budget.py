"""From forecast to budget (滚动预测 → 预算草案): one action turns a forecast into a draft budget version.

The GL actuals (metric ``actual``) of every org unit × revenue, COGS and opex account — the grain budget lines
are written at — are read by month through ``lib.semantic.query`` (the reader's row scope applies) and forecast
with ``lib.finance.forecast`` (the combination by default). The months of the target become the lines of a new
**draft** version, which finance edits in the budget grid and takes through draft → submitted → approved:

- ``rest_of_year``: the months after the data to the end of this fiscal year, a version of kind ``forecast``
  (a rolling forecast, 滚动预测: approving it does not change what the ``budget`` metric reports);
- ``next_year``: every month of the next fiscal year, a version of kind ``budget`` (the draft annual budget).

Amounts are rounded to the fen so that each series' lines add up exactly to its forecast total rounded to the fen
(the rounding of the running total: line = round(Σ to this month) − round(Σ to last month)); the totals shown are
the sums of the lines. The version records the method and the data date; creating it is logged and audited.
"""
from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock
from lib.core.errors import InvalidArgument
from lib.finance import budget_versions as bv
from lib.finance import forecast as fc
from lib.semantic.spec import FilterSpec, QuerySpec

ACCOUNT_TYPES = ("revenue", "cogs", "opex")
Runner = Callable[[QuerySpec], pd.DataFrame]


class Target(enum.StrEnum):
    REST_OF_YEAR = "rest_of_year"
    NEXT_YEAR = "next_year"


@dataclass(frozen=True)
class Draft:
    """A drafted version: its id, kind and year, the lines written, and the forecasts behind them."""

    version_id: int
    kind: str
    fiscal_year: int
    lines: pd.DataFrame                 # period, org_unit_id, account_code, account_type, amount
    forecasts: dict[str, fc.Forecast]   # key "unit|account"
    method: str
    data_date: dt.date

    def totals(self) -> pd.DataFrame:
        """The lines summed by account type, with the grand total last (what the page shows)."""
        by = self.lines.groupby("account_type")["amount"].sum().reindex(ACCOUNT_TYPES).dropna().round(2).reset_index()
        return pd.concat([by, pd.DataFrame([{"account_type": "total", "amount": round(float(self.lines["amount"].sum()), 2)}])],
                         ignore_index=True)


def months_of(target: Target, data_month: dt.date, today: dt.date) -> tuple[int, list[dt.date]]:
    """(fiscal year, the months the version covers) for ``target``, given the last month of actuals.

    >>> months_of(Target.REST_OF_YEAR, dt.date(2026, 10, 1), dt.date(2026, 11, 24))
    (2026, [datetime.date(2026, 11, 1), datetime.date(2026, 12, 1)])
    >>> fy, months = months_of(Target.NEXT_YEAR, dt.date(2026, 10, 1), dt.date(2026, 11, 24)); fy, len(months)
    (2027, 12)
    """
    target = Target(target)
    year = today.year if target is Target.REST_OF_YEAR else today.year + 1
    first = (pd.Timestamp(data_month) + pd.DateOffset(months=1)).date()
    start = max(first, dt.date(year, 1, 1))
    months = [d.date() for d in pd.date_range(start, dt.date(year, 12, 1), freq="MS")]
    return year, months


def _running_cents(values: np.ndarray) -> np.ndarray:
    """The running total of ``values`` in whole fen (exact integers)."""
    return np.round(np.cumsum(np.asarray(values, float)) * 100).astype(np.int64)


def _cent_lines(values: np.ndarray) -> np.ndarray:
    """Amounts rounded to the fen whose sum is the rounded sum of ``values``.

    >>> _cent_lines(np.array([0.004, 0.004, 0.004])).tolist()
    [0.0, 0.01, 0.0]
    """
    return np.diff(np.r_[0, _running_cents(values)]) / 100


def read_actuals(run: Runner, end: dt.date) -> tuple[dt.date, dict[str, pd.Series], dict[str, str]]:
    """(last complete month, monthly GL actuals per "unit|account", the account type of each) for the revenue,
    COGS and opex accounts, read through the query layer; months without postings are 0."""
    # account_type follows from account_code, so as a third key it labels the series without splitting them.
    read = fc.monthly_series(run, "actual", ("org_unit", "account_code", "account_type"), end,
                             filters=(FilterSpec("account_type", "in", ACCOUNT_TYPES),))
    series, types = {}, {}
    for key, s in read.items():
        unit, code, kind = key.split("|")
        if fc.NULL_LABEL in (unit, code):
            continue
        series[f"{unit}|{code}"] = s.rename(f"{unit}|{code}")
        types[f"{unit}|{code}"] = kind
    return fc.last_complete_month(end), series, types


def draft_budget(engine: sa.Engine, run: Runner, user: User, *, name: str, target: str, end: dt.date,
                 progress: Callable[[int, int], None] | None = None, workers: int = 1, origins: int = 1) -> Draft:
    """Forecast every unit × revenue/COGS/opex account and save the target months as a new draft version.

    ``end`` is the last day of data (the page's as-of); ``run`` reads actuals as the user. Needs ``edit_budgets``;
    an empty target (the year's months are all actuals already) or no actuals are refused with a message.
    One backtest origin per series by default (``origins``): the draft needs the forecasts, not a full accuracy
    report, and a company has a hundred unit × account series (113 in the demo).
    """
    auth.require(user, "edit_budgets")
    try:
        target_ = Target(target)
    except ValueError:
        raise InvalidArgument(f"Unknown target {target!r}; known: {', '.join(Target)}.",
                              f"未知的预算草案范围“{target}”；可选：{'、'.join(Target)}。") from None
    last, series, types = read_actuals(run, end)
    if not series:
        raise InvalidArgument("There are no GL actuals of revenue, COGS or opex accounts to forecast from.",
                              "没有可用于预测的收入、成本、费用科目总账实际数。")
    year, months = months_of(target_, last, clock.today())
    if not months:
        raise InvalidArgument(f"Fiscal year {year} has no month left after the data ({last:%Y-%m}): choose the next year.",
                              f"{year} 财年在数据月份（{last:%Y-%m}）之后已无剩余月份，请选择下一财年。")
    first = (pd.Timestamp(last) + pd.DateOffset(months=1)).date()
    horizon = (months[-1].year - first.year) * 12 + months[-1].month - first.month + 1
    if horizon > fc.MAX_HORIZON:
        raise InvalidArgument(f"The data end in {last:%Y-%m}: too far before fiscal year {year} to forecast it.",
                              f"数据截至 {last:%Y-%m}，距 {year} 财年太远，无法预测。")
    results = fc.forecast_many(series, horizon, progress=progress, workers=workers, origins=origins)
    rows = []
    for key, f in results.items():
        unit, code = key.split("|", 1)
        window = f.forecast.loc[pd.Timestamp(months[0]):pd.Timestamp(months[-1]), "value"]
        amounts = _cent_lines(window.to_numpy(float))
        rows += [(ts.date(), int(unit), code, types[key], float(a)) for ts, a in zip(window.index, amounts)]
    lines = pd.DataFrame(rows, columns=["period", "org_unit_id", "account_code", "account_type", "amount"])
    models = pd.Series([f.model for f in results.values()]).value_counts()
    method = ("forecast: " + ", ".join(f"{m}×{n}" for m, n in models.items()))[:200]
    kind = "forecast" if target_ is Target.REST_OF_YEAR else "budget"
    with engine.begin() as conn:
        vid = bv.create_version(engine, user, name=name, kind=kind, fiscal_year=year,
                                lines=lines[list(bv.LINE_COLUMNS)], conn=conn, method=method, data_date=last)
        audit.record(conn, user.username, "budget_from_forecast", f"budget_version:{vid}",
                     {"target": target_.value, "series": len(results), "lines": len(lines), "data_date": last,
                      "total": round(float(lines["amount"].sum()), 2)}, "app")
    return Draft(vid, kind, year, lines, results, method, last)


def forecast_total(f: fc.Forecast, months: list[dt.date]) -> float:
    """A series' forecast over ``months`` rounded to the fen: what its lines add up to (the same running sum)."""
    v = f.forecast.loc[pd.Timestamp(months[0]):pd.Timestamp(months[-1]), "value"].to_numpy(float)
    return float(_running_cents(v)[-1] / 100) if len(v) and math.isfinite(v.sum()) else math.nan
