"""A headline figure as the cockpit, the overview and the admin page show it: value, MoM, YoY and its kind."""
from __future__ import annotations

import enum
from dataclasses import dataclass


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
