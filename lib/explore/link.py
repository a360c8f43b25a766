"""Explore links: a ChartSpec as short URL parameters and back, robust to tampering (never raises)."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from lib.core.errors import WorkbenchError
from lib.semantic import model as semantic
from lib.semantic.model import SemanticModel
from lib.semantic.spec import Calc, ChartSpec, Field, FilterSpec, Mark, QuerySpec, Sort, TimeRange

RANGE_OPS = ("gte", "lte", "between")
"""Filters a metric may carry: a range on its aggregated values."""


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
        v = params.get(key)
        if isinstance(v, (list, tuple)):
            v = v[-1] if v else ""
        return str(v)[:2000] if v is not None else ""

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
            for name, op, values in json.loads(text("fl")):
                ok_dim = name in model.dimensions and op in semantic.FILTER_OPS
                ok_metric = name in model.metrics and op in RANGE_OPS
                if not (ok_dim or ok_metric) or not isinstance(values, list):
                    problems.append(f"bad filter on {name!r}")
                    continue
                filters.append(FilterSpec(str(name), op, tuple(v if v is None or isinstance(v, (int, float))
                                                                else str(v) for v in values)))
        except (ValueError, TypeError):
            problems.append("filters are not readable")
    tr = None
    if text("tr"):
        try:
            a, b = text("tr").split("~")
            tr = TimeRange(dt.date.fromisoformat(a), dt.date.fromisoformat(b))
        except (ValueError, WorkbenchError):
            problems.append(f"bad time range {text('tr')!r}")
    top = None
    if text("top"):
        top = int(text("top")) if text("top").isdigit() and 1 <= int(text("top")) <= 1000 else None
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
