"""The Overview's figures: P&L headlines of the latest complete month, with MoM and YoY.

Every number comes from metrics compiled by ``lib.semantic.query``; the caller passes how to run a spec
(so pages can cache it and tests can run it directly).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from lib.core.kpi import Kind, Kpi
from lib.semantic import asof
from lib.semantic.spec import QuerySpec, TimeRange

Runner = Callable[[QuerySpec], pd.DataFrame]
KPIS = ("revenue", "gross_profit", "gross_margin", "opex", "operating_profit")


@dataclass(frozen=True)
class Overview:
    month: dt.date
    kpis: tuple[Kpi, ...]
    trend: pd.DataFrame
    """One row per month: month, revenue, gross_margin if allowed (24 months up to ``month``)."""
    spec: QuerySpec
    """The question behind every figure, for "explain this number"."""


def _month_end(m: dt.date) -> dt.date:
    return (pd.Timestamp(m) + pd.offsets.MonthEnd(0)).date()


def latest_complete_month(run: Runner, today: dt.date | None = None) -> dt.date | None:
    """First day of the latest month that is over by the clock and whose sales run to its last day
    (:mod:`lib.semantic.asof`); None without such a month."""
    return asof.read(run, "revenue", today).month


def _rel(cur: float | None, base: float | None) -> float | None:
    if cur is None or base is None or pd.isna(cur) or pd.isna(base) or base == 0:
        return None
    return (cur - base) / abs(base)


def _diff(cur: float | None, base: float | None) -> float | None:
    if cur is None or base is None or pd.isna(cur) or pd.isna(base):
        return None
    return cur - base


def build(run: Runner, allowed: Callable[[str], bool] = lambda _: True) -> Overview | None:
    """The Overview for the latest complete month; None when the store has no complete month of sales.

    ``allowed`` says which metrics the reader may see: the others are left out, not shown as errors.
    """
    month = latest_complete_month(run)
    if month is None:
        return None
    start = (pd.Timestamp(month) - pd.DateOffset(months=24)).date()
    shown = tuple(k for k in KPIS if allowed(k))
    spec = QuerySpec(metrics=shown, dimensions=("month",), time_range=TimeRange(start, _month_end(month)))
    pnl = run(spec)
    by = pnl.set_index(pnl["month"].dt.date)
    prev = (pd.Timestamp(month) - pd.DateOffset(months=1)).date()
    ly = (pd.Timestamp(month) - pd.DateOffset(years=1)).date()

    def at(col: str, d: dt.date) -> float | None:
        v = by[col].get(d)
        return None if v is None or pd.isna(v) else float(v)

    kpis = []
    for key, kind, hib in (("revenue", Kind.MONEY, True), ("gross_profit", Kind.MONEY, True),
                           ("gross_margin", Kind.PERCENT, True), ("opex", Kind.MONEY, False),
                           ("operating_profit", Kind.MONEY, True)):
        if key not in shown:
            continue
        change = _rel if kind is Kind.MONEY else _diff
        cur = at(key, month)
        kpis.append(Kpi(key, cur, change(cur, at(key, prev)), change(cur, at(key, ly)), kind, hib))
    cols = ["month", *(c for c in ("revenue", "gross_margin") if c in shown)]
    trend = pnl.loc[pnl["month"] > pd.Timestamp(start), cols].reset_index(drop=True)
    return Overview(month=month, kpis=tuple(kpis), trend=trend, spec=spec)
