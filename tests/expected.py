"""Independent pandas computations over raw tables: what the app's figures must equal."""
from __future__ import annotations

import pandas as pd


def pnl_month(tables: dict[str, pd.DataFrame], period: pd.Period) -> dict[str, float]:
    s = tables["sales_line"]
    s = s[s["order_date"].dt.to_period("M") == period]
    gl = tables["journal_line"].merge(tables["account"], left_on="account_code", right_on="code")
    gl = gl[(gl["type"] == "opex") & (gl["posting_date"].dt.to_period("M") == period)]
    revenue, cogs, opex = s["net_revenue"].sum(), s["cost_amount"].sum(), gl["amount"].sum()
    return {"revenue": revenue, "gross_profit": revenue - cogs, "gross_margin": (revenue - cogs) / revenue,
            "opex": opex, "operating_profit": revenue - cogs - opex}


def overview(tables: dict[str, pd.DataFrame]) -> tuple[pd.Period, dict, dict, dict]:
    """(latest complete month, its figures, previous month's, same month last year's)."""
    last = tables["sales_line"]["order_date"].max()
    month = last.to_period("M") if last.is_month_end else last.to_period("M") - 1
    return month, pnl_month(tables, month), pnl_month(tables, month - 1), pnl_month(tables, month - 12)
