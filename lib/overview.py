"""The Overview's figures: P&L headlines of the latest complete month, with MoM and YoY.

A small query helper over the canonical tables, built with SQLAlchemy Core and bound
parameters; the metric-center issue replaces it with metrics compiled by ``lib.query``.
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from lib import db
from lib.schema import AccountType, account, journal_line, sales_line


class Kind(enum.StrEnum):
    MONEY = "money"
    PERCENT = "percent"


@dataclass(frozen=True)
class Kpi:
    """One headline figure. ``mom``/``yoy`` are relative changes for money, differences (pp) for percents."""

    key: str
    value: float | None
    mom: float | None
    yoy: float | None
    kind: Kind
    higher_is_better: bool = True


@dataclass(frozen=True)
class Overview:
    month: dt.date
    kpis: tuple[Kpi, ...]
    trend: pd.DataFrame
    """One row per month: month, revenue, gross_margin (24 months up to ``month``)."""


def _month(col: sa.ColumnElement) -> sa.ColumnElement:
    # The unit as a literal: a bound 'month' breaks GROUP BY on DuckDB.
    return sa.cast(sa.func.date_trunc(sa.literal_column("'month'"), col), sa.Date)


def latest_complete_month(engine: sa.Engine) -> dt.date | None:
    """First day of the latest month whose sales run to its last day; None without sales."""
    last = db.run(engine, sa.select(sa.func.max(sales_line.c.order_date).label("d"))).iloc[0, 0]
    if pd.isna(last):
        return None
    last = pd.Timestamp(last).date()
    month = last.replace(day=1)
    if (last + dt.timedelta(days=1)).month == last.month:  # not the month's last day: incomplete
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


def monthly_pnl(engine: sa.Engine, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Revenue, COGS and operating expenses per month for months in [start, end] (first days)."""
    until = (end.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    m = _month(sales_line.c.order_date).label("month")
    sales = sa.select(m, sa.func.sum(sales_line.c.net_revenue).label("revenue"),
                      sa.func.sum(sales_line.c.cost_amount).label("cogs")) \
        .where(sales_line.c.order_date >= start, sales_line.c.order_date < until).group_by(m)
    g = _month(journal_line.c.posting_date).label("month")
    opex = sa.select(g, sa.func.sum(journal_line.c.amount).label("opex")) \
        .join_from(journal_line, account, journal_line.c.account_code == account.c.code) \
        .where(account.c.type == AccountType.OPEX.value,
               journal_line.c.posting_date >= start, journal_line.c.posting_date < until).group_by(g)
    months = pd.DataFrame({"month": pd.date_range(start, end, freq="MS")})
    out = months.merge(db.run(engine, sales), on="month", how="left") \
        .merge(db.run(engine, opex), on="month", how="left")
    return out


def _rel(cur: float | None, base: float | None) -> float | None:
    if cur is None or base is None or pd.isna(cur) or pd.isna(base) or base == 0:
        return None
    return (cur - base) / abs(base)


def _diff(cur: float | None, base: float | None) -> float | None:
    if cur is None or base is None or pd.isna(cur) or pd.isna(base):
        return None
    return cur - base


def build(engine: sa.Engine) -> Overview | None:
    """The Overview for the latest complete month; None when the store has no sales."""
    month = latest_complete_month(engine)
    if month is None:
        return None
    start = (pd.Timestamp(month) - pd.DateOffset(months=24)).date()
    pnl = monthly_pnl(engine, start, month)
    pnl["gross_profit"] = pnl["revenue"] - pnl["cogs"]
    pnl["gross_margin"] = pnl["gross_profit"] / pnl["revenue"].where(pnl["revenue"] != 0)
    pnl["operating_profit"] = pnl["gross_profit"] - pnl["opex"].fillna(0.0)
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
        change = _rel if kind is Kind.MONEY else _diff
        cur = at(key, month)
        kpis.append(Kpi(key, cur, change(cur, at(key, prev)), change(cur, at(key, ly)), kind, hib))
    trend = pnl.loc[pnl["month"] > pd.Timestamp(start), ["month", "revenue", "gross_margin"]].reset_index(drop=True)
    return Overview(month=month, kpis=tuple(kpis), trend=trend)
