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

from lib.core.errors import WorkbenchError


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


# -- chart specs ------------------------------------------------------------------------------

class Mark(enum.StrEnum):
    AUTO = "auto"                # chosen from the shelves (Show-Me), see lib.explore.charts.suggest_mark
    BAR = "bar"                  # grouped when a color field is set
    BAR_STACKED = "bar_stacked"
    LINE = "line"
    AREA = "area"
    SCATTER = "scatter"
    HEATMAP = "heatmap"
    PIE = "pie"
    DONUT = "donut"
    KPI = "kpi"
    TABLE = "table"
    PIVOT = "pivot"              # with row/column totals and subtotals


class Calc(enum.StrEnum):
    """Quick calculations on a metric; the result column is ``f"{metric}__{calc}"``."""

    YOY = "yoy"                  # change vs the same period last year (%; pp for percent metrics)
    MOM = "mom"                  # change vs the previous period of the time grain
    PCT_TOTAL = "pct_total"      # share of the total over the chart's rows
    RUNNING_TOTAL = "running_total"
    RANK = "rank"
    VS_BUDGET = "vs_budget"      # actual − budget, for metrics that have a budget counterpart


@dataclass(frozen=True)
class Field:
    """One field on a shelf: a metric id, a dimension id or a time grain (day … year)."""

    name: str
    calc: Calc | None = None     # metrics only

    def to_dict(self) -> dict:
        return {"name": self.name, **({"calc": self.calc.value} if self.calc else {})}

    @staticmethod
    def from_dict(raw) -> Field:
        if isinstance(raw, str):
            return Field(raw)
        return Field(raw["name"], Calc(raw["calc"]) if raw.get("calc") else None)


class NegativeStyle(enum.StrEnum):
    RED = "red"
    BRACKETS = "brackets"


class MoneyScale(enum.StrEnum):
    AUTO = "auto"
    YUAN = "yuan"
    WAN = "wan"
    YI = "yi"


@dataclass(frozen=True)
class ChartSpec:
    """A chart as data: the question (``query``), the shelves and the mark.

    ``query`` holds every metric and dimension on the shelves, the filters (the Filters shelf),
    the time range, sort and limit; the shelves say where each field is drawn.
    """

    query: QuerySpec
    mark: Mark = Mark.AUTO
    columns: tuple[Field, ...] = ()      # Columns / X shelf
    rows: tuple[Field, ...] = ()         # Rows / Y shelf
    color: Field | None = None
    size: Field | None = None
    facet: Field | None = None
    tooltip: tuple[Field, ...] = ()
    top_n: int | None = None             # keep the top N members of the first dimension, the rest as 其他/Other
    title: str | None = None
    note: str | None = None              # shown under the chart, and in presentation mode
    negative: NegativeStyle = NegativeStyle.RED
    scale: MoneyScale = MoneyScale.AUTO

    def __post_init__(self) -> None:
        if not isinstance(self.query, QuerySpec):
            raise InvalidSpec("A chart needs a query spec.", "图表需要查询定义。")
        if self.top_n is not None and (isinstance(self.top_n, bool) or not isinstance(self.top_n, int)
                                       or not 1 <= self.top_n <= 1000):
            raise InvalidSpec(f"top N must be a whole number from 1 to 1000, got {self.top_n!r}.",
                              f"前N项须为 1 到 1000 的整数，收到 {self.top_n!r}。")

    def fields(self) -> tuple[Field, ...]:
        """Every field on a shelf, in shelf order (columns, rows, color, size, facet, tooltip)."""
        single = tuple(f for f in (self.color, self.size, self.facet) if f is not None)
        return (*self.columns, *self.rows, *single, *self.tooltip)

    def to_dict(self) -> dict:
        out: dict = {"query": self.query.to_dict(), "mark": self.mark.value,
                     "columns": [f.to_dict() for f in self.columns], "rows": [f.to_dict() for f in self.rows]}
        for name in ("color", "size", "facet"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name).to_dict()
        if self.tooltip:
            out["tooltip"] = [f.to_dict() for f in self.tooltip]
        for name in ("top_n", "title", "note"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.negative is not NegativeStyle.RED:
            out["negative"] = self.negative.value
        if self.scale is not MoneyScale.AUTO:
            out["scale"] = self.scale.value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @staticmethod
    def from_dict(raw: dict) -> ChartSpec:
        if not isinstance(raw, dict):
            raise InvalidSpec("A chart spec is a JSON object.", "图表定义须为 JSON 对象。")
        try:
            one = lambda k: Field.from_dict(raw[k]) if raw.get(k) else None  # noqa: E731
            return ChartSpec(
                query=QuerySpec.from_dict(raw["query"]),
                mark=Mark(raw.get("mark", "auto")),
                columns=tuple(Field.from_dict(f) for f in raw.get("columns", ())),
                rows=tuple(Field.from_dict(f) for f in raw.get("rows", ())),
                color=one("color"), size=one("size"), facet=one("facet"),
                tooltip=tuple(Field.from_dict(f) for f in raw.get("tooltip", ())),
                top_n=raw.get("top_n"), title=raw.get("title"), note=raw.get("note"),
                negative=NegativeStyle(raw.get("negative", "red")),
                scale=MoneyScale(raw.get("scale", "auto")),
            )
        except InvalidSpec:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidSpec(f"Not a valid chart spec: {exc!r}", f"图表定义无效：{exc!r}") from exc

    @staticmethod
    def from_json(text: str) -> ChartSpec:
        try:
            return ChartSpec.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InvalidSpec(f"Not valid JSON: {exc}", f"不是有效的 JSON：{exc}") from exc
