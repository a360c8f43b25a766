"""Links a user can paste: Explore's ChartSpec as short URL parameters and back, and a dashboard's
``?dash=ID&present=1&tile=N``. Parsed into typed values, robust to tampering: nothing raises, and what was
dropped is listed."""
from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from lib.core.errors import WorkbenchError
from lib.semantic import model as semantic
from lib.semantic.model import SemanticModel
from lib.semantic.spec import Calc, ChartSpec, Field, FilterSpec, Mark, QuerySpec, Sort, TimeRange

RANGE_OPS = ("gte", "lte", "between")
"""Filters a metric may carry: a range on its aggregated values."""
MAX_FILTER_VALUES = 1000
_ONE_VALUE = ("eq", "ne", "gt", "gte", "lt", "lte")


def param_text(params: Mapping[str, object], key: str) -> str:
    """One URL parameter as text ('' when absent); of a repeated one, the last."""
    v = params.get(key)
    if isinstance(v, (list, tuple)):
        v = v[-1] if v else ""
    return str(v)[:2000] if v is not None else ""


def whole_number(text: str, lo: int, hi: int) -> int | None:
    """``text`` as a whole number within [lo, hi], else None. ASCII digits only: '²' and '١' are digits to
    str.isdigit() but not to int().

    >>> whole_number("12", 0, 99), whole_number("²", 0, 99), whole_number("-1", 0, 99), whole_number("", 0, 9)
    (12, None, None, None)
    """
    if not re.fullmatch(r"[0-9]{1,9}", text or ""):
        return None
    n = int(text)
    return n if lo <= n <= hi else None


def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def clean_filter(name: object, op: object, values: object, model: SemanticModel) -> FilterSpec | str:
    """One filter of a link as a FilterSpec, or the reason it can't be one: a known dimension with an operator
    and as many values as it takes (values are text, numbers or empty), or a metric range with numbers."""
    if not isinstance(name, str) or not isinstance(op, str) or not isinstance(values, list):
        return f"bad filter {name!r}"
    if not values or len(values) > MAX_FILTER_VALUES:
        return f"filter on {name!r} has {len(values)} values"
    if name in model.metrics:
        nums = [_number(v) for v in values]
        need = {"gte": 1, "lte": 1, "between": 2}.get(op)
        if need is None or len(nums) != need or any(x is None for x in nums):
            return f"bad range on {name!r}: {op} {values!r}"
        if op == "between" and nums[0] > nums[1]:
            return f"range on {name!r} ends before it starts"
        return FilterSpec(name, op, tuple(nums))
    if name not in model.dimensions or op not in semantic.FILTER_OPS:
        return f"bad filter on {name!r}"
    if any(isinstance(v, (list, dict)) for v in values):
        return f"filter on {name!r} holds a list"
    if (op in _ONE_VALUE and len(values) != 1) or (op == "between" and len(values) != 2):
        return f"filter {op!r} on {name!r} has {len(values)} values"
    if op not in ("eq", "ne", "in", "not_in") and any(v is None for v in values):
        return f"filter {op!r} on {name!r} compares with an empty value"
    return FilterSpec(name, op, tuple(v if v is None or _number(v) is not None else str(v) for v in values))


@dataclass(frozen=True)
class DashboardLink:
    """What ``dashboards?dash=ID&present=1&tile=N`` asks for; None where it asks for nothing usable."""

    dashboard: int | None
    present: bool
    tile: int
    problems: tuple[str, ...]


def parse_dashboard_link(params: Mapping[str, object], ids: Collection[int]) -> DashboardLink:
    """The dashboard (one of ``ids``, the reader's), meeting mode and tile a link opens. Unknown or malformed
    values are dropped and listed; nothing raises.

    >>> parse_dashboard_link({"dash": "²", "present": "1", "tile": "¹"}, [1, 2])
    DashboardLink(dashboard=None, present=True, tile=0, problems=("unknown dashboard '²'", "bad tile '¹'"))
    """
    problems = []
    want = param_text(params, "dash")
    dash = whole_number(want, 1, 10**9)
    if want and (dash is None or dash not in ids):
        problems.append(f"unknown dashboard {want!r}")
        dash = None
    tile_text = param_text(params, "tile")
    tile = whole_number(tile_text, 0, 10_000)
    if tile_text and tile is None:
        problems.append(f"bad tile {tile_text!r}")
    return DashboardLink(dash, param_text(params, "present") == "1", tile or 0, tuple(problems))


def to_query_params(chart: ChartSpec) -> dict[str, str]:
    """The chart as short URL parameters, e.g. ``{"c": "region", "r": "revenue,gross_margin:yoy"}``."""
    fl = lambda fs: ",".join(f.name + (f":{f.calc.value}" if f.calc else "") for f in fs)  # noqa: E731
    out: dict[str, str] = {}
    if chart.mark is not Mark.AUTO:
        out["mk"] = chart.mark.value
    for key, fields in (("c", chart.columns), ("r", chart.rows), ("tt", chart.tooltip)):
        if fields:
            out[key] = fl(fields)
    for key, x in (("co", chart.color), ("sz", chart.size), ("fa", chart.facet)):
        if x is not None:
            out[key] = fl((x,))
    q = chart.query
    if q.filters:
        out["fl"] = json.dumps([[f.dimension, f.op, list(f.values)] for f in q.filters], ensure_ascii=False,
                               separators=(",", ":"))
    if q.time_range:
        out["tr"] = f"{q.time_range.start}~{q.time_range.end}"
    if q.sort:
        out["so"] = ",".join(("-" if s.descending else "") + s.field for s in q.sort)
    if chart.top_n:
        out["top"] = str(chart.top_n)
    return out


@dataclass(frozen=True)
class Parsed:
    chart: ChartSpec
    problems: tuple[str, ...]  # what was ignored, in words (English ids; the page shows a generic message)


def default_chart(model: SemanticModel | None = None) -> ChartSpec:
    """Empty shelves: what the page opens with when the link holds no chart (the page says what to drag)."""
    return ChartSpec(QuerySpec(()))


def parse_query_params(params: Mapping[str, object], model: SemanticModel) -> Parsed:
    """The chart of a link. Whatever is malformed or unknown is dropped and listed; nothing raises.
    With nothing usable left, the default chart."""
    problems: list[str] = []

    def text(key: str) -> str:
        return param_text(params, key)

    def fields(key: str) -> tuple[Field, ...]:
        out = []
        for part in filter(None, text(key).split(",")):
            name, _, calc = part.partition(":")
            if name not in model.metrics and name not in model.dimensions and name not in semantic.TIME_GRAINS:
                problems.append(f"unknown field {name!r}")
                continue
            try:
                c = Calc(calc) if calc and name in model.metrics else None
            except ValueError:
                problems.append(f"unknown calculation {calc!r}")
                c = None
            out.append(Field(name, c))
        return tuple(out)
    if not any(text(k) for k in ("c", "r", "co", "sz", "fa", "tt")):
        return Parsed(default_chart(model), ())
    shelves = {k: fields(k) for k in ("c", "r", "co", "sz", "fa", "tt")}
    grains = [x.name for fs in shelves.values() for x in fs if x.name in semantic.TIME_GRAINS]
    if len(set(grains)) > 1:
        problems.append("more than one time grain")
        shelves = {k: tuple(x for x in fs if x.name not in semantic.TIME_GRAINS or x.name == grains[0])
                   for k, fs in shelves.items()}
    try:
        mark = Mark(text("mk") or "auto")
    except ValueError:
        problems.append(f"unknown mark {text('mk')!r}")
        mark = Mark.AUTO
    filters = []
    if text("fl"):
        try:
            items = json.loads(text("fl"))
            if not isinstance(items, list):
                raise TypeError("filters are not a list")
            for item in items:
                if not isinstance(item, list) or len(item) != 3:
                    problems.append(f"bad filter {item!r}"[:200])
                    continue
                f = clean_filter(*item, model)
                if isinstance(f, str):
                    problems.append(f)
                else:
                    filters.append(f)
        except (ValueError, TypeError, RecursionError):
            problems.append("filters are not readable")
    tr = None
    if text("tr"):
        try:
            a, b = text("tr").split("~")
            if not all(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", x) for x in (a, b)):
                raise ValueError(text("tr"))
            tr = TimeRange(dt.date.fromisoformat(a), dt.date.fromisoformat(b))
        except (ValueError, WorkbenchError):
            problems.append(f"bad time range {text('tr')!r}")
    top = None
    if text("top"):
        top = whole_number(text("top"), 1, 1000)
        if top is None:
            problems.append(f"bad top N {text('top')!r}")
    one = lambda fs: fs[0] if fs else None  # noqa: E731
    all_fields = [x for fs in shelves.values() for x in fs]
    names = {x.name for x in all_fields}
    sort = []
    for part in filter(None, text("so").split(",")):
        name = part.lstrip("-")
        if name in names:
            sort.append(Sort(name, part.startswith("-")))
        else:
            problems.append(f"cannot sort by {name!r}")
    metrics = tuple(dict.fromkeys(x.name for x in all_fields if x.name in model.metrics))
    if not metrics:
        problems.append("no metric")
        return Parsed(default_chart(model), tuple(problems))
    dims = tuple(dict.fromkeys(x.name for x in all_fields if x.name not in model.metrics))
    try:
        chart = ChartSpec(QuerySpec(metrics, dims, tuple(filters), tr, sort=tuple(sort)), mark=mark,
                          columns=shelves["c"], rows=shelves["r"], color=one(shelves["co"]), size=one(shelves["sz"]),
                          facet=one(shelves["fa"]), tooltip=shelves["tt"], top_n=top)
    except WorkbenchError as exc:
        return Parsed(default_chart(model), (*problems, str(exc)))
    return Parsed(chart, tuple(problems))


def from_query_params(params: Mapping[str, object], model: SemanticModel | None = None) -> ChartSpec:
    """The chart of a link; bad parameters give the default chart (see :func:`parse_query_params`)."""
    from lib.semantic.query import default_model
    return parse_query_params(params, model or default_model()).chart
