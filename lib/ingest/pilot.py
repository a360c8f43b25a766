"""The pilot path (试点): one sales file → gross margin by product and customer → price-volume-mix bridge.

Each step is ticked from what the store holds, read through ``lib.semantic.query`` like every figure (the
caller passes how to run a spec, so pages can cache it). :func:`missing_data` tells a page that
needs budget, GL, AR or inventory rows which file to import instead of failing.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from lib.core import store
from lib.semantic.spec import QuerySpec

Runner = Callable[[QuerySpec], pd.DataFrame]


class Step(enum.StrEnum):
    IMPORT_SALES = "import_sales"        # sales lines with revenue and cost
    MARGIN = "margin"                    # gross margin by product and customer
    BRIDGE = "bridge"                    # price-volume-mix between two months


STEP_PAGES = {Step.IMPORT_SALES: "pages/data.py", Step.MARGIN: "pages/margin.py", Step.BRIDGE: "pages/margin.py"}

# What each page reads, as canonical tables; a page lacking one says which file to import.
PAGE_NEEDS: dict[str, tuple[str, ...]] = {
    "overview": ("sales_line", "journal_line"),
    "explore": ("sales_line",),
    "margin": ("sales_line",),
    "budget": ("budget_line", "journal_line"),
    "receivables": ("ar_invoice",),
    "inventory": ("inventory_snapshot",),
}


@dataclass(frozen=True)
class StepState:
    step: Step
    done: bool
    page: str
    """The page that does the step."""
    months: tuple[str, ...] = ()
    """For the bridge: the two latest months with sales (YYYY-MM), base first."""
    blocked: bool = False
    """The reader's role may not see costs: the margin steps can't be done by them."""


@dataclass(frozen=True)
class Checklist:
    steps: tuple[StepState, ...]
    sales_months: int
    """Months with sales (revenue)."""

    @property
    def done(self) -> bool:
        return all(s.done for s in self.steps)

    @property
    def next_step(self) -> StepState | None:
        return next((s for s in self.steps if not s.done and not s.blocked), None)


@dataclass(frozen=True)
class Missing:
    page: str
    tables: tuple[str, ...]
    """Canonical tables the page reads that hold no rows."""


def checklist(run: Runner, counts: Mapping[str, int], allowed: Callable[[str], bool] = lambda _: True) -> Checklist:
    """The pilot steps and whether each is done.

    ``counts`` are row counts per canonical table (``lib.core.store.row_counts``); ``allowed`` says which
    metrics the reader may see (a viewer may not see costs, so the margin steps are blocked for them).
    """
    has_cost = allowed("cogs")
    months: list[str] = []
    cost_total = 0.0
    if counts.get("sales_line", 0):
        metrics = ("revenue", "cogs") if has_cost else ("revenue",)
        df = run(QuerySpec(metrics=metrics, dimensions=("month",)))
        df = df[df["revenue"].notna()]
        if has_cost:
            df = df[df["cogs"].notna() & (df["cogs"] != 0)]
            cost_total = float(df["cogs"].sum())
        months = sorted(f"{m:%Y-%m}" for m in df["month"])
    imported = bool(months) and (cost_total > 0 or not has_cost)
    dims = counts.get("product", 0) > 0 and counts.get("customer", 0) > 0
    steps = (
        StepState(Step.IMPORT_SALES, imported, STEP_PAGES[Step.IMPORT_SALES]),
        StepState(Step.MARGIN, imported and dims and has_cost, STEP_PAGES[Step.MARGIN], blocked=not has_cost),
        StepState(Step.BRIDGE, len(months) >= 2 and has_cost, STEP_PAGES[Step.BRIDGE],
                  months=tuple(months[-2:]) if len(months) >= 2 else (), blocked=not has_cost),
    )
    return Checklist(steps, len(months))


def missing_for(counts: Mapping[str, int], pages: tuple[str, ...] | None = None) -> list[Missing]:
    """Pages (all of :data:`PAGE_NEEDS`, or ``pages``) with the tables they read that are empty."""
    out = []
    for page in pages or tuple(PAGE_NEEDS):
        empty = tuple(t for t in PAGE_NEEDS.get(page, ()) if not counts.get(t, 0))
        if empty:
            out.append(Missing(page, empty))
    return out


def missing_data(engine: sa.Engine, pages: tuple[str, ...] | None = None) -> list[Missing]:
    """What is missing per page, from the store's row counts: e.g. the budget page without budget
    lines says to import a budget file (``lib.<package>.texts`` has the words, key ``pilot.need.<table>``)."""
    return missing_for(store.row_counts(engine), pages)
