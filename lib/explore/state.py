"""Explore state as data: shelves ⇄ ChartSpec, time presets, drill paths and click filters (links: lib.explore.link)."""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from lib.core.i18n import MESSAGES, t
from lib.semantic import asof
from lib.semantic import model as semantic
from lib.semantic.model import SemanticModel
from lib.semantic.spec import Calc, ChartSpec, Field, FilterSpec, InvalidSpec, Mark, QuerySpec, Sort, TimeRange

SHELVES = ("fields", "columns", "rows", "color", "size", "facet", "tooltip", "filters")
SINGLE = ("color", "size", "facet")
TIME_ITEM = "__time__"
"""The one time field of the field list; on a shelf it stands for the chosen grain."""
DEFAULT_GRAIN = "month"
EMPTY = "—"


class Preset(enum.StrEnum):
    """Time range presets, relative to the data's last date."""

    THIS_MONTH = "this_month"        # 本月: the whole month holding the last date
    THIS_QUARTER = "this_quarter"    # 本季度: the whole quarter holding the last date
    YTD = "ytd"                      # 本年至今: 1 January to the last date
    LAST_12M = "last_12m"            # 近12个月: the 12 whole months ending with the last date's month
    LAST_YEAR_SAME = "last_year_ytd"  # 去年同期: 本年至今, one year earlier
    ALL = "all"                      # no time range


def _month_end(d: dt.date) -> dt.date:
    return (pd.Timestamp(d) + pd.offsets.MonthEnd(0)).date()


def preset_range(preset: Preset | str, last: dt.date) -> TimeRange | None:
    """The dates of a preset given the data's last date.

    >>> preset_range("ytd", dt.date(2026, 11, 24))
    TimeRange(start=datetime.date(2026, 1, 1), end=datetime.date(2026, 11, 24))
    >>> preset_range("last_12m", dt.date(2026, 11, 24))
    TimeRange(start=datetime.date(2025, 12, 1), end=datetime.date(2026, 11, 30))
    """
    p = Preset(preset)
    if p is Preset.ALL:
        return None
    if p is Preset.THIS_MONTH:
        return TimeRange(last.replace(day=1), _month_end(last))
    if p is Preset.THIS_QUARTER:
        start = last.replace(month=(last.month - 1) // 3 * 3 + 1, day=1)
        return TimeRange(start, _month_end(start.replace(month=start.month + 2)))
    if p is Preset.YTD:
        return TimeRange(last.replace(month=1, day=1), last)
    if p is Preset.LAST_12M:
        start = (pd.Timestamp(last.replace(day=1)) - pd.DateOffset(months=11)).date()
        return TimeRange(start, _month_end(last))
    ly = (pd.Timestamp(last) - pd.DateOffset(years=1)).date()
    return TimeRange(ly.replace(month=1, day=1), ly)


def last_date(run: Callable[[QuerySpec], pd.DataFrame], metric: str = "revenue") -> dt.date | None:
    """The data's last date: the latest day before today with a value of ``metric``, asked through the read path."""
    return asof.data_end(run, metric)


# ---- shelves --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shelves:
    """What lies on each shelf, as field names (metric ids, dimension ids, a time grain)."""

    columns: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    color: tuple[str, ...] = ()
    size: tuple[str, ...] = ()
    facet: tuple[str, ...] = ()
    tooltip: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()

    def placed(self) -> tuple[str, ...]:
        return tuple(n for s in SHELVES[1:] for n in getattr(self, s))


@dataclass(frozen=True)
class Options:
    """Everything on the page beside the shelves that goes into the chart spec."""

    mark: Mark = Mark.AUTO
    grain: str = DEFAULT_GRAIN
    time_range: TimeRange | None = None
    sort: tuple[Sort, ...] = ()
    top_n: int | None = None
    calcs: Mapping[str, Calc] = None  # metric id -> quick calc
    filters: tuple[FilterSpec, ...] = ()  # dimension filters (values) and metric ranges

    def __post_init__(self) -> None:
        if self.calcs is None:
            object.__setattr__(self, "calcs", {})


def is_metric(name: str, model: SemanticModel) -> bool:
    return name in model.metrics


def field_label(name: str, model: SemanticModel, lang: str) -> str:
    """A field as a person reads it: the metric or dimension label, or 时间 (grain) for time."""
    if name in semantic.TIME_GRAINS or name == TIME_ITEM:
        return t("explore.time", lang)
    if name in model.metrics:
        return model.metrics[name].label(lang)
    return model.dimension(name).label(lang)


def _field_names(model: SemanticModel, metrics: Sequence[str]) -> list[str]:
    return [TIME_ITEM, *model.dimensions, *metrics]


def _group_label(key: str, fallback: str, lang: str) -> str:
    return t(key, lang) if key in MESSAGES else fallback


def pane(model: SemanticModel, lang: str, metrics: Sequence[str]) -> list[dict]:
    """The field pane: time and dimensions first, then the metrics the user may see, each with its group
    (dimension group or metric subject), both labels for search and its 口径 for the hover text.

    A field is ``{"id", "kind": "time"|"dimension"|"metric", "label", "label_zh", "label_en", "group",
    "group_label", "help"}``; the order is the pane's order.
    """
    out = [{"id": TIME_ITEM, "kind": "time", "label": t("explore.time", lang), "label_zh": t("explore.time", "zh"),
            "label_en": t("explore.time", "en"), "group": "time", "group_label": t("explore.group.time", lang),
            "help": t("explore.time.help", lang)}]
    dims = list(model.dimensions.values())
    groups = list(dict.fromkeys(d.group for d in dims))
    for d in sorted(dims, key=lambda d: groups.index(d.group)):
        out.append({"id": d.id, "kind": "dimension", "label": d.label(lang), "label_zh": d.label_zh,
                    "label_en": d.label_en, "group": d.group,
                    "group_label": _group_label(f"explore.group.{d.group}", d.group, lang),
                    "help": " → ".join(x.label(lang) for x in _hierarchy(d.id, model))})
    ms = [model.metrics[m] for m in metrics if m in model.metrics]
    subjects = list(dict.fromkeys(m.subject for m in ms))
    for m in sorted(ms, key=lambda m: subjects.index(m.subject)):
        out.append({"id": m.id, "kind": "metric", "label": m.label(lang), "label_zh": m.label_zh,
                    "label_en": m.label_en, "group": m.subject,
                    "group_label": _group_label(f"metrics.subject.{m.subject}", m.subject, lang),
                    "help": m.description})
    return out


def _hierarchy(dim: str, model: SemanticModel) -> list:
    """The dimension's hierarchy from its top to its lowest level (区域 → 部门 → …)."""
    top = dim
    while (p := model.dimension(top).parent) and p in model.dimensions:
        top = p
    chain = [model.dimension(top)]
    while kids := children(chain[-1].id, model):
        chain.append(model.dimension(kids[0]))
    return chain


def to_value(shelves: Shelves) -> dict[str, list[str]]:
    """The shelves as the field-shelves component holds them: shelf -> field ids (time as one item)."""
    item = lambda n: TIME_ITEM if n in semantic.TIME_GRAINS else n  # noqa: E731
    return {s: [item(n) for n in getattr(shelves, s)] for s in SHELVES[1:]}


def from_value(value: object, model: SemanticModel, metrics: Sequence[str], grain: str = DEFAULT_GRAIN) -> Shelves:
    """Shelves from the component's value (shelf -> field ids). Unknown shelves and fields, metrics the user may
    not see and repeats are dropped; a single-field shelf keeps its first field; time takes the chosen grain."""
    known = set(_field_names(model, metrics))
    found: dict[str, tuple[str, ...]] = {}
    value = value if isinstance(value, Mapping) else {}
    for s in SHELVES[1:]:
        got = value.get(s)
        names = [grain if str(n) == TIME_ITEM else str(n) for n in (got if isinstance(got, (list, tuple)) else ())
                 if str(n) in known]
        names = list(dict.fromkeys(names))
        found[s] = tuple(names[:1] if s in SINGLE else names)
    return Shelves(**found)


def build_chart(shelves: Shelves, options: Options, model: SemanticModel) -> ChartSpec:
    """The chart spec for the shelves: metrics and dimensions in shelf order, the filters, range, sort, top N."""
    calcs = options.calcs or {}

    def f(n: str) -> Field:
        return Field(n, calcs.get(n) if n in model.metrics else None)
    drawn = (*shelves.columns, *shelves.rows, *shelves.color, *shelves.size, *shelves.facet, *shelves.tooltip)
    metrics = tuple(dict.fromkeys(n for n in drawn if n in model.metrics))
    dims = tuple(dict.fromkeys(n for n in drawn if n not in model.metrics))
    have = set(metrics) | set(dims)
    sort = tuple(s for s in options.sort if s.field in have)
    query = QuerySpec(metrics=metrics, dimensions=dims, filters=tuple(options.filters),
                      time_range=options.time_range, sort=sort)
    one = lambda shelf: f(getattr(shelves, shelf)[0]) if getattr(shelves, shelf) else None  # noqa: E731
    return ChartSpec(query=query, mark=options.mark, columns=tuple(f(n) for n in shelves.columns),
                     rows=tuple(f(n) for n in shelves.rows), color=one("color"), size=one("size"),
                     facet=one("facet"), tooltip=tuple(f(n) for n in shelves.tooltip), top_n=options.top_n)


def shelves_of(chart: ChartSpec) -> Shelves:
    """The shelves a chart spec was built from (the Filters shelf holds the filtered fields)."""
    single = lambda x: (x.name,) if x is not None else ()  # noqa: E731
    return Shelves(columns=tuple(x.name for x in chart.columns), rows=tuple(x.name for x in chart.rows),
                   color=single(chart.color), size=single(chart.size), facet=single(chart.facet),
                   tooltip=tuple(x.name for x in chart.tooltip),
                   filters=tuple(dict.fromkeys(x.dimension for x in chart.query.filters)))


def options_of(chart: ChartSpec) -> Options:
    grain = next((d for d in chart.query.dimensions if d in semantic.TIME_GRAINS), DEFAULT_GRAIN)
    return Options(mark=chart.mark, grain=grain, time_range=chart.query.time_range, sort=chart.query.sort,
                   top_n=chart.top_n, calcs={x.name: x.calc for x in chart.fields() if x.calc},
                   filters=chart.query.filters)


def with_grain(chart: ChartSpec, grain: str) -> ChartSpec:
    """The chart with its time field at another grain."""
    if grain not in semantic.TIME_GRAINS:
        raise InvalidSpec(f"Unknown time grain '{grain}'. Known: {', '.join(semantic.TIME_GRAINS)}",
                          f"未知的时间粒度“{grain}”。可用：{'、'.join(semantic.TIME_GRAINS)}")
    swap = lambda n: grain if n in semantic.TIME_GRAINS else n  # noqa: E731
    return _rename(chart, swap)


def _rename(chart: ChartSpec, swap: Callable[[str], str]) -> ChartSpec:
    fld = lambda x: replace(x, name=swap(x.name)) if x is not None else None  # noqa: E731
    q = chart.query
    query = replace(q, dimensions=tuple(dict.fromkeys(swap(d) for d in q.dimensions)),
                    sort=tuple(replace(s, field=swap(s.field)) for s in q.sort))
    return replace(chart, query=query, columns=tuple(map(fld, chart.columns)), rows=tuple(map(fld, chart.rows)),
                   color=fld(chart.color), size=fld(chart.size), facet=fld(chart.facet),
                   tooltip=tuple(map(fld, chart.tooltip)))


# ---- filters from a click, drill down and up ---------------------------------------------------

def set_filter(chart: ChartSpec, flt: FilterSpec) -> ChartSpec:
    """The chart with ``flt`` replacing any filter on the same field."""
    rest = tuple(f for f in chart.query.filters if f.dimension != flt.dimension)
    return replace(chart, query=replace(chart.query, filters=(*rest, flt)))


def remove_filter(chart: ChartSpec, name: str) -> ChartSpec:
    return replace(chart, query=replace(chart.query, filters=tuple(f for f in chart.query.filters
                                                                   if f.dimension != name)))


def picked(selection: object) -> dict[str, list]:
    """``{field: [values]}`` from an Altair point selection ``{"selection": {"pick": [{field: value}]}}``."""
    from lib.explore import charts  # the selection's name is the chart module's to choose
    try:
        points = selection["selection"][getattr(charts, "SELECTION", "pick")]  # type: ignore[index]
    except (KeyError, TypeError):
        return {}
    out: dict[str, list] = {}
    for p in points if isinstance(points, list) else ():
        if isinstance(p, Mapping):
            for k, v in p.items():
                if v is not None and v not in out.setdefault(str(k), []):
                    out[str(k)].append(v)
    return out


def apply_selection(chart: ChartSpec, selection: object, model: SemanticModel, other: Sequence[str] = ()) -> ChartSpec:
    """Filters from the clicked marks: a dimension gets an ``in`` filter, a time bucket narrows the range.
    Metrics and the 其他/Other bucket (``other`` labels) are not filters and are ignored."""
    for name, values in picked(selection).items():
        if name in model.dimensions:
            # "—" is how a chart writes a member without a value: it filters on the empty value
            vals = tuple(None if str(v) == EMPTY else str(v) for v in values if str(v) not in other)
            if vals:
                chart = set_filter(chart, FilterSpec(name, "in", vals))
        elif name in semantic.TIME_GRAINS and len(values) == 1:
            chart = _narrow_time(chart, name, values[0])
    return chart


def _narrow_time(chart: ChartSpec, grain: str, value: object) -> ChartSpec:
    from lib.semantic.periods import bucket_start, next_bucket
    text = str(value)
    try:
        if isinstance(value, (int, float)):
            ts = pd.Timestamp(value, unit="ms")
        elif len(text) == 7 and text[4:6] == "-Q" and text[6] in "1234":  # 2025-Q2, as bucket_label writes it
            ts = pd.Timestamp(int(text[:4]), (int(text[6]) - 1) * 3 + 1, 1)
        else:
            ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        return chart
    start = bucket_start(ts.date(), grain)
    end = next_bucket(start, grain) - dt.timedelta(days=1)
    return replace(chart, query=replace(chart.query, time_range=TimeRange(start, end)))


def children(dim: str, model: SemanticModel) -> tuple[str, ...]:
    """The dimensions one level below ``dim`` in its hierarchy (region → department)."""
    return tuple(d.id for d in model.dimensions.values() if d.parent == dim)


@dataclass(frozen=True)
class Step:
    """One level of a drill path: the dimension drilled from and the member chosen."""

    dimension: str
    value: str


def drill_down(chart: ChartSpec, dim: str, value: str, model: SemanticModel) -> ChartSpec:
    """Replace ``dim`` on the shelves by its child and keep only ``value`` of it."""
    kids = children(dim, model)
    if not kids:
        raise InvalidSpec(f"'{dim}' has no level below it to drill into.", f"“{model.dimension(dim).label_zh}”没有下一级可下钻。")
    child = kids[0]
    chart = _rename(chart, lambda n: child if n == dim else n)
    return set_filter(chart, FilterSpec(dim, "in", (str(value),)))


def drill_path(chart: ChartSpec, model: SemanticModel) -> tuple[Step, ...]:
    """The breadcrumb: ancestors of a shelf dimension that are filtered to one member, top first."""
    one = {f.dimension: f.values[0] for f in chart.query.filters if f.op in ("in", "eq") and len(f.values) == 1}
    for d in chart.query.dimensions:
        if d not in model.dimensions:
            continue
        path, p = [], model.dimensions[d].parent
        while p is not None and p in one:
            path.append(Step(p, str(one[p])))
            p = model.dimensions[p].parent
        if path:
            return tuple(reversed(path))
    return ()


def drill_up(chart: ChartSpec, level: int, model: SemanticModel) -> ChartSpec:
    """Back to breadcrumb level ``level`` (0 = the top): that level's dimension returns to the shelf and
    the filters from it down are removed."""
    path = drill_path(chart, model)
    if not 0 <= level < len(path):
        return chart
    target = path[level].dimension
    below = {s.dimension for s in path[level:]}
    current = next(d for d in chart.query.dimensions if d in model.dimensions and model.dimensions[d].parent
                   == path[-1].dimension)
    chart = _rename(chart, lambda n: target if n == current else n)
    for d in below:
        chart = remove_filter(chart, d)
    return chart
