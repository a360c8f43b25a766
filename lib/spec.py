"""Query specs: what a question asks, as plain typed data with a JSON round-trip.

>>> s = QuerySpec(metrics=("revenue",), dimensions=("region", "month"),
...               time_range=TimeRange(dt.date(2025, 1, 1), dt.date(2025, 12, 31)))
>>> QuerySpec.from_json(s.to_json()) == s
True
"""
from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass, field

from lib.errors import WorkbenchError


class InvalidSpec(WorkbenchError):
    """A spec that can't be answered as asked; the message says what to change."""


class Comparison(enum.StrEnum):
    YOY = "yoy"            # same period last year
    MOM = "mom"            # previous month
    PREVIOUS = "previous"  # the previous period of the query's time grain


@dataclass(frozen=True)
class FilterSpec:
    dimension: str
    op: str = "in"
    values: tuple = ()

    def to_dict(self) -> dict:
        return {"dimension": self.dimension, "op": self.op, "values": list(self.values)}


@dataclass(frozen=True)
class TimeRange:
    """Inclusive dates."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        for d in (self.start, self.end):
            if not isinstance(d, dt.date) or not 1900 <= d.year <= 2200:
                raise InvalidSpec(f"Dates must fall between 1900 and 2200, got {d!r}.", f"日期须在1900年至2200年之间，收到 {d!r}。")
        if self.end < self.start:
            raise InvalidSpec(f"The time range ends ({self.end}) before it starts ({self.start}).",
                              f"时间范围的结束日期（{self.end}）早于开始日期（{self.start}）。")


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class QuerySpec:
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...] = ()
    filters: tuple[FilterSpec, ...] = ()
    time_range: TimeRange | None = None
    comparison: Comparison | None = None
    sort: tuple[Sort, ...] = ()
    limit: int | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        def names(values, what: str) -> None:
            if not isinstance(values, tuple) or not all(isinstance(v, str) and v for v in values):
                raise InvalidSpec(f"{what} must be a list of names, got {values!r}.", f"{what}须为名称列表，收到 {values!r}。")
        names(self.metrics, "metrics")
        names(self.dimensions, "dimensions")
        names(tuple(f.dimension for f in self.filters), "filter dimensions")
        names(tuple(s.field for s in self.sort), "sort fields")
        if any(not isinstance(s.descending, bool) for s in self.sort):
            raise InvalidSpec("sort 'descending' must be true or false.", "排序的 descending 须为 true 或 false。")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or not 1 <= self.limit <= 1_000_000):
            raise InvalidSpec(f"limit must be a whole number from 1 to 1,000,000, got {self.limit!r}.",
                              f"行数上限须为 1 到 1,000,000 的整数，收到 {self.limit!r}。")

    def to_dict(self) -> dict:
        out: dict = {"metrics": list(self.metrics), "dimensions": list(self.dimensions)}
        if self.filters:
            out["filters"] = [f.to_dict() for f in self.filters]
        if self.time_range:
            out["time_range"] = {"start": self.time_range.start.isoformat(), "end": self.time_range.end.isoformat()}
        if self.comparison:
            out["comparison"] = self.comparison.value
        if self.sort:
            out["sort"] = [{"field": s.field, "descending": s.descending} for s in self.sort]
        if self.limit is not None:
            out["limit"] = self.limit
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @staticmethod
    def from_dict(raw: dict) -> QuerySpec:
        if not isinstance(raw, dict):
            raise InvalidSpec("A query spec is a JSON object.", "查询定义须为 JSON 对象。")
        try:
            tr = raw.get("time_range")
            return QuerySpec(
                metrics=tuple(raw["metrics"]),
                dimensions=tuple(raw.get("dimensions", ())),
                filters=tuple(FilterSpec(f["dimension"], f.get("op", "in"), tuple(f.get("values", ())))
                              for f in raw.get("filters", ())),
                time_range=TimeRange(dt.date.fromisoformat(tr["start"]), dt.date.fromisoformat(tr["end"])) if tr else None,
                comparison=Comparison(raw["comparison"]) if raw.get("comparison") else None,
                sort=tuple(Sort(s["field"], s.get("descending", False)) for s in raw.get("sort", ())),
                limit=raw.get("limit"),
            )
        except InvalidSpec:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidSpec(f"Not a valid query spec: {exc!r}", f"查询定义无效：{exc!r}") from exc

    @staticmethod
    def from_json(text: str) -> QuerySpec:
        return QuerySpec.from_dict(json.loads(text))
