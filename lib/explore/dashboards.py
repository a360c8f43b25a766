"""Dashboards (看板): saved chart tiles with dashboard-wide filters and click-to-filter, kept in app_dashboard.

Tiles are chart specs; their figures are always computed by ``lib.semantic.query`` for the person viewing,
so a shared dashboard shows each viewer only the rows of their own scope. Writes check the role
(``own_dashboards``) and ownership here, not only in the page.
"""
from __future__ import annotations

import datetime as dt
import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml

from lib.access import auth
from lib.access.scope import User
from lib.core import clock, config
from lib.core.errors import Forbidden, WorkbenchError
from lib.core.tables.dashboards import dashboard as table
from lib.core.tables.dashboards import dashboard_seq
from lib.semantic import asof, periods, query
from lib.semantic import model as semantic
from lib.semantic.model import SemanticModel
from lib.semantic.spec import ChartSpec, FilterSpec, QuerySpec, TimeRange

DEMO_FILE = config.DATA_DIR / "dashboards.yaml"
ORG_DIMS = ("region", "department")
FILTER_DIMS = ("region", "department", "category")
WIDTHS = (1, 2, 3)
MAX_TITLE = 200
_CHECK_RANGE = TimeRange(dt.date(2000, 1, 1), dt.date(2000, 12, 31))


class DashboardError(WorkbenchError):
    """A dashboard request that can't be done as asked: unknown id, empty title, a tile that no longer fits."""


class TimePreset(enum.StrEnum):
    """Dashboard time ranges, always whole months (budgets are kept by month), up to the latest data month."""

    THIS_MONTH = "this_month"        # 本月
    THIS_QUARTER = "this_quarter"    # 本季度
    YTD = "ytd"                      # 本年至今
    LAST_12M = "last_12m"            # 近12个月
    LAST_YEAR_YTD = "last_year_ytd"  # 去年同期: last year's January to the same month


DEFAULT_PRESET = TimePreset.LAST_12M


def _month_end(d: dt.date) -> dt.date:
    return (pd.Timestamp(d) + pd.offsets.MonthEnd(0)).date()


def _months_back(d: dt.date, n: int) -> dt.date:
    return (pd.Timestamp(d) - pd.DateOffset(months=n)).date()


def preset_range(preset: TimePreset, as_of: dt.date) -> TimeRange:
    """The whole months a preset covers when the latest data falls in the month of ``as_of``.

    >>> preset_range(TimePreset.LAST_12M, dt.date(2026, 11, 24))
    TimeRange(start=datetime.date(2025, 12, 1), end=datetime.date(2026, 11, 30))
    >>> preset_range(TimePreset.LAST_YEAR_YTD, dt.date(2026, 11, 24))
    TimeRange(start=datetime.date(2025, 1, 1), end=datetime.date(2025, 11, 30))
    """
    month = as_of.replace(day=1)
    end = _month_end(month)
    match preset:
        case TimePreset.THIS_MONTH:
            return TimeRange(month, end)
        case TimePreset.THIS_QUARTER:
            q = month.replace(month=(month.month - 1) // 3 * 3 + 1)
            return TimeRange(q, _month_end(_months_back(q, -2)))
        case TimePreset.YTD:
            return TimeRange(month.replace(month=1), end)
        case TimePreset.LAST_12M:
            return TimeRange(_months_back(month, 11), end)
        case TimePreset.LAST_YEAR_YTD:
            ly = _months_back(month, 12)
            return TimeRange(ly.replace(month=1), _month_end(ly))
    raise AssertionError(preset)


def latest_month(run: Callable[[QuerySpec], pd.DataFrame]) -> dt.date | None:
    """First day of the latest month with sales before today, as the reader sees them (``run`` applies
    their scope); the month may still be running (presets like "this month" show it so far)."""
    end = asof.data_end(run)
    return None if end is None else end.replace(day=1)


@dataclass(frozen=True)
class DashboardFilters:
    """Dashboard-wide filters: a time preset (resolved to ``time_range`` when shown) and org/category values."""

    preset: TimePreset = DEFAULT_PRESET
    region: tuple[str, ...] = ()
    department: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    time_range: TimeRange | None = None

    def resolved(self, as_of: dt.date | None) -> DashboardFilters:
        """A copy with the preset turned into dates (no dates without data)."""
        return replace(self, time_range=preset_range(self.preset, as_of) if as_of else None)

    def values(self) -> dict[str, tuple[str, ...]]:
        """The org/category filters that are set, by dimension."""
        return {d: getattr(self, d) for d in FILTER_DIMS if getattr(self, d)}

    def to_dict(self) -> dict:
        return {"preset": self.preset.value, **{d: list(v) for d, v in self.values().items()}}

    @staticmethod
    def from_dict(raw: Mapping | None) -> DashboardFilters:
        raw = raw or {}
        try:
            preset = TimePreset(raw.get("preset") or DEFAULT_PRESET)
        except ValueError:
            known = ", ".join(p.value for p in TimePreset)
            raise DashboardError(f"Unknown time preset {raw.get('preset')!r}. Known: {known}.",
                                 f"未知的时间范围 {raw.get('preset')!r}。可用：{known}。") from None
        vals = {d: tuple(str(v) for v in raw.get(d) or ()) for d in FILTER_DIMS}
        return DashboardFilters(preset, **vals)


@dataclass(frozen=True)
class Tile:
    chart: ChartSpec
    width: int = 1
    note: str = ""

    def to_dict(self) -> dict:
        return {"chart": self.chart.to_dict(), "width": self.width, "note": self.note}

    @staticmethod
    def from_dict(raw: Mapping) -> Tile:
        if not isinstance(raw, Mapping) or "chart" not in raw:
            raise DashboardError("A tile needs a chart.", "看板卡片需要一个图表。")
        return Tile(ChartSpec.from_dict(raw["chart"]), _width(raw.get("width", 1)), str(raw.get("note") or ""))


@dataclass(frozen=True)
class Dashboard:
    id: int
    title: str
    owner: str
    shared: bool
    filters: DashboardFilters
    tiles: tuple[Tile, ...]
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- checks --------------------------------------------------------------------------------------

def _width(w) -> int:
    if isinstance(w, bool) or w not in WIDTHS:
        raise DashboardError(f"Tile width must be 1, 2 or 3 grid columns, got {w!r}.", f"卡片宽度须为 1、2 或 3 列，收到 {w!r}。")
    return int(w)


def _title(title) -> str:
    text = (title or "").strip() if isinstance(title, str) or title is None else None
    if not text:
        raise DashboardError("A dashboard needs a title.", "看板需要标题。")
    if len(text) > MAX_TITLE:
        raise DashboardError(f"Titles are at most {MAX_TITLE} characters.", f"标题最多 {MAX_TITLE} 个字符。")
    return text


def check_chart(chart: ChartSpec, model: SemanticModel | None = None) -> None:
    """Raise DashboardError when the chart no longer fits the metric model (compiled, never run)."""
    model = model or query.default_model()
    if not isinstance(chart, ChartSpec):
        raise DashboardError("A tile holds a chart spec.", "看板卡片须为图表定义。")
    names = {*chart.query.metrics, *chart.query.dimensions}
    stray = [f.name for f in chart.fields() if f.name not in names]
    try:
        if stray:
            raise DashboardError(f"Fields {', '.join(stray)} are on a shelf but not in the chart's query.",
                                 f"字段 {'、'.join(stray)} 在货架上但不在图表的查询中。")
        # Dashboards always give a time range (balances need one): check as they will be run.
        q = chart.query if chart.query.time_range else replace(chart.query, time_range=_CHECK_RANGE)
        query.compile(q, None, model)
    except WorkbenchError as exc:
        what = chart.title or ", ".join(chart.query.metrics)
        raise DashboardError(f"The chart '{what}' does not fit the metric model: {exc.message('en')}",
                             f"图表“{what}”与指标口径不符：{exc.message('zh')}") from exc


def _index(d: Dashboard, i) -> int:
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(d.tiles):
        raise DashboardError(f"No tile {i!r} on '{d.title}': it has tiles 0 to {len(d.tiles) - 1}.",
                             f"看板“{d.title}”没有第 {i!r} 张卡片：共 {len(d.tiles)} 张（0 至 {len(d.tiles) - 1}）。")
    return i


def may_view(user: User, d: Dashboard) -> bool:
    return d.shared or d.owner == user.username or user.role == auth.Role.ADMIN


def may_edit(user: User, d: Dashboard) -> bool:
    """Owners with the own_dashboards right, and admins, edit a dashboard; everyone else only views it."""
    return auth.may(user, "own_dashboards") and (d.owner == user.username or user.role == auth.Role.ADMIN)


def _require_edit(user: User, d: Dashboard) -> None:
    auth.require(user, "own_dashboards")
    if not may_edit(user, d):
        raise Forbidden(f"'{d.title}' belongs to {d.owner}: duplicate it to change your own copy.",
                        f"看板“{d.title}”属于 {d.owner}：请复制一份到自己名下再修改。")


# ---- store ---------------------------------------------------------------------------------------

def _now() -> dt.datetime:
    return clock.now()


def _from_row(row) -> Dashboard:
    try:
        tiles = tuple(Tile.from_dict(t) for t in json.loads(row.tiles or "[]"))
        filters = DashboardFilters.from_dict(json.loads(row.filters or "{}"))
    except (ValueError, TypeError, WorkbenchError) as exc:
        en, zh = (exc.message("en"), exc.message("zh")) if isinstance(exc, WorkbenchError) else (str(exc), str(exc))
        raise DashboardError(f"Dashboard {row.id} is stored damaged: {en}", f"看板 {row.id} 的存储内容已损坏：{zh}") from exc
    return Dashboard(int(row.id), row.title, row.owner, bool(row.shared), filters, tiles, row.created_at, row.updated_at)


def _load(conn: sa.Connection, dashboard_id) -> Dashboard:
    if isinstance(dashboard_id, bool) or not isinstance(dashboard_id, int):
        raise DashboardError(f"A dashboard id is a whole number, got {dashboard_id!r}.", f"看板编号须为整数，收到 {dashboard_id!r}。")
    row = conn.execute(sa.select(table).where(table.c.id == dashboard_id)).first()
    if row is None:
        raise DashboardError(f"No dashboard {dashboard_id}.", f"没有编号为 {dashboard_id} 的看板。")
    return _from_row(row)


def _tiles_json(tiles) -> str:
    return json.dumps([t.to_dict() for t in tiles], ensure_ascii=False, sort_keys=True)


def _insert(conn: sa.Connection, title: str, owner: str, shared: bool, filters: DashboardFilters, tiles) -> int:
    new_id = int(conn.execute(sa.select(dashboard_seq.next_value())).scalar_one())
    now = _now()
    conn.execute(table.insert().values(id=new_id, title=title, owner=owner, shared=shared,
                                       filters=json.dumps(filters.to_dict(), ensure_ascii=False, sort_keys=True),
                                       tiles=_tiles_json(tiles), created_at=now, updated_at=now))
    return new_id


def get(engine: sa.Engine, user: User, dashboard_id: int) -> Dashboard:
    """One dashboard the user may see: their own, a shared one, or any for admins."""
    with engine.connect() as conn:
        d = _load(conn, dashboard_id)
    if not may_view(user, d):
        raise Forbidden(f"Dashboard {dashboard_id} is private to its owner.", f"看板 {dashboard_id} 仅其所有者可见。")
    return d


def list_dashboards(engine: sa.Engine, user: User) -> list[Dashboard]:
    """The user's own dashboards and the shared ones (all, for admins), by title."""
    stmt = sa.select(table).order_by(table.c.title, table.c.id)
    if user.role != auth.Role.ADMIN:
        stmt = stmt.where(sa.or_(table.c.shared.is_(True), table.c.owner == user.username))
    with engine.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def create(engine: sa.Engine, user: User, title: str, tiles=(), filters: DashboardFilters | None = None,
           shared: bool = False, model: SemanticModel | None = None) -> int:
    """A new dashboard owned by ``user``; returns its id."""
    auth.require(user, "own_dashboards")
    title = _title(title)
    for t in tiles:
        check_chart(t.chart, model)
    with engine.begin() as conn:
        return _insert(conn, title, user.username, shared, filters or DashboardFilters(), tuple(tiles))


def save_chart(engine: sa.Engine, user: User, dashboard_id: int | None, title: str, chart: ChartSpec,
               model: SemanticModel | None = None, width: int = 1) -> int:
    """Save a chart: to a new dashboard called ``title`` when ``dashboard_id`` is None, else appended
    as a tile of that dashboard (``title`` is then not used). Returns the dashboard id."""
    check_chart(chart, model)
    tile = Tile(chart, _width(width), "")
    if dashboard_id is None:
        return create(engine, user, title, (tile,), model=model)
    return update(engine, user, dashboard_id, lambda d: {"tiles": (*d.tiles, tile)})


def update(engine: sa.Engine, user: User, dashboard_id: int, change, model: SemanticModel | None = None) -> int:
    """Apply ``change`` to a dashboard in one transaction. ``change`` is a dict of new values
    (title, shared, filters, tiles) or a function of the current Dashboard returning one."""
    with engine.begin() as conn:
        d = _load(conn, dashboard_id)
        _require_edit(user, d)
        new = change(d) if callable(change) else dict(change)
        unknown = set(new) - {"title", "shared", "filters", "tiles"}
        if unknown:
            raise DashboardError(f"Can't change {', '.join(sorted(unknown))}: title, shared, filters or tiles.",
                                 f"无法修改 {'、'.join(sorted(unknown))}：只能修改标题、共享、筛选或卡片。")
        values: dict = {"updated_at": _now()}
        if "title" in new:
            values["title"] = _title(new["title"])
        if "shared" in new:
            values["shared"] = bool(new["shared"])
        if "filters" in new:
            f = new["filters"]
            f = f if isinstance(f, DashboardFilters) else DashboardFilters.from_dict(f)
            values["filters"] = json.dumps(f.to_dict(), ensure_ascii=False, sort_keys=True)
        if "tiles" in new:
            old = set(d.tiles)
            for t in new["tiles"]:
                _width(t.width)
                if t not in old:  # only what changed is checked: a stored tile broken by a metric edit can still be removed
                    check_chart(t.chart, model)
            values["tiles"] = _tiles_json(new["tiles"])
        conn.execute(table.update().where(table.c.id == d.id).values(**values))
    return d.id


def move_tile(engine: sa.Engine, user: User, dashboard_id: int, index: int, new_index: int) -> None:
    """Move tile ``index`` to position ``new_index`` (both 0-based)."""
    def change(d: Dashboard) -> dict:
        tiles = list(d.tiles)
        tile = tiles.pop(_index(d, index))
        tiles.insert(_index(d, new_index), tile)
        return {"tiles": tuple(tiles)}
    update(engine, user, dashboard_id, change)


def _edit_tile(engine: sa.Engine, user: User, dashboard_id: int, index: int, edit) -> None:
    """Replace tile ``index`` by ``edit(tile)``, or drop it when that returns None."""
    def change(d: Dashboard) -> dict:
        i = _index(d, index)
        new = edit(d.tiles[i])
        return {"tiles": (*d.tiles[:i], *((new,) if new is not None else ()), *d.tiles[i + 1:])}
    update(engine, user, dashboard_id, change)


def resize_tile(engine: sa.Engine, user: User, dashboard_id: int, index: int, width: int) -> None:
    """Set a tile's width in grid columns (1–3)."""
    _edit_tile(engine, user, dashboard_id, index, lambda t: replace(t, width=_width(width)))


def set_note(engine: sa.Engine, user: User, dashboard_id: int, index: int, note: str) -> None:
    """Set the note shown under a tile and in presentation mode."""
    _edit_tile(engine, user, dashboard_id, index, lambda t: replace(t, note=str(note or "").strip()))


def remove_tile(engine: sa.Engine, user: User, dashboard_id: int, index: int) -> None:
    _edit_tile(engine, user, dashboard_id, index, lambda t: None)


def rename(engine: sa.Engine, user: User, dashboard_id: int, title: str) -> None:
    update(engine, user, dashboard_id, {"title": title})


def duplicate(engine: sa.Engine, user: User, dashboard_id: int, new_title: str) -> int:
    """A private copy owned by ``user`` of a dashboard they may see; returns the new id."""
    auth.require(user, "own_dashboards")
    title = _title(new_title)
    d = get(engine, user, dashboard_id)
    with engine.begin() as conn:
        return _insert(conn, title, user.username, False, d.filters, d.tiles)


def delete(engine: sa.Engine, user: User, dashboard_id: int) -> None:
    with engine.begin() as conn:
        _require_edit(user, _load(conn, dashboard_id))
        conn.execute(table.delete().where(table.c.id == dashboard_id))


# ---- filters -------------------------------------------------------------------------------------

def chart_dimensions(chart: ChartSpec, model: SemanticModel) -> set[str]:
    """Dimensions (and time grains) every metric of the chart can be filtered by."""
    sets = [set(model.dimensions_of(m)) for m in chart.query.metrics]
    return set.intersection(*sets) if sets else set()


def ignored_filters(chart: ChartSpec, filters: DashboardFilters, model: SemanticModel) -> tuple[str, ...]:
    """Dimensions of the dashboard filters this tile can't apply (its metrics lack them)."""
    dims = chart_dimensions(chart, model)
    return tuple(d for d in filters.values() if d not in dims)


def _add_filter(q: QuerySpec, dim: str, values: tuple) -> QuerySpec:
    f = FilterSpec(dim, "in", tuple(values))
    return q if f in q.filters else replace(q, filters=(*q.filters, f))


def apply_filters(chart: ChartSpec, filters: DashboardFilters, model: SemanticModel) -> ChartSpec:
    """The tile's chart under the dashboard filters: the dashboard's time range replaces the tile's, and
    region/department/category values are added (AND) where the tile's metrics have that dimension."""
    dims = chart_dimensions(chart, model)
    q = chart.query
    if filters.time_range is not None and dims & set(semantic.TIME_GRAINS):
        q = replace(q, time_range=filters.time_range)
    for dim, values in filters.values().items():
        if dim in dims:
            q = _add_filter(q, dim, values)
    return replace(chart, query=q)


def selection_values(event) -> dict[str, tuple]:
    """The clicked values by field from a Streamlit chart event ``{"selection": {name: [{field: value}]}}``."""
    out: dict[str, list] = {}
    sel = (event or {}).get("selection", {}) if isinstance(event, Mapping) else {}
    for points in sel.values() if isinstance(sel, Mapping) else ():
        for point in points if isinstance(points, list) else ():
            for k, v in point.items() if isinstance(point, Mapping) else ():
                if v is not None and v not in out.setdefault(k, []):
                    out[k].append(v)
    return {k: tuple(v) for k, v in out.items() if v}


def _bucket(value, grain: str) -> TimeRange | None:
    """The days of a clicked time bucket: epoch milliseconds, a date, or a label ("2025-03", "2025-Q2", "2025")."""
    quarter = re.fullmatch(r"(\d{4})-Q([1-4])", value) if isinstance(value, str) else None
    try:
        if quarter:
            ts = pd.Timestamp(int(quarter[1]), 3 * int(quarter[2]) - 2, 1)
        else:
            ts = pd.Timestamp(value, unit="ms") if isinstance(value, (int, float)) else pd.Timestamp(str(value))
    except (ValueError, TypeError):
        return None
    start = periods.bucket_start(ts.date(), grain)
    return TimeRange(start, periods.next_bucket(start, grain) - dt.timedelta(days=1))


def cross_filter(chart: ChartSpec, selection: Mapping, model: SemanticModel) -> ChartSpec:
    """The chart filtered by a click elsewhere: ``{dimension: value or values}``; dimensions the chart's
    metrics lack are ignored, and a clicked time bucket (one value) becomes the time range."""
    dims = chart_dimensions(chart, model)
    q = chart.query
    for dim, raw in selection.items():
        values = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
        if dim not in dims or not values:
            continue
        if dim in semantic.TIME_GRAINS:
            tr = _bucket(values[0], dim) if len(values) == 1 else None
            q = replace(q, time_range=tr) if tr else q
        elif dim in model.dimensions:
            q = _add_filter(q, dim, tuple(str(v) for v in values))
    return replace(chart, query=q)


def tile_title(tile: Tile, model: SemanticModel, lang: str = "zh") -> str:
    """The chart's own title, else its metrics and dimensions in words."""
    if tile.chart.title:
        return tile.chart.title
    q = tile.chart.query
    sep = "、" if lang == "zh" else ", "
    text = sep.join(model.metric(m).label(lang) for m in q.metrics if m in model.metrics)
    dims = [model.dimensions[d].label(lang) for d in q.dimensions if d in model.dimensions]
    return text + ((" · 按 " if lang == "zh" else " · by ") + sep.join(dims) if dims else "")


# ---- demo ----------------------------------------------------------------------------------------

def load_demo(path: Path = DEMO_FILE) -> list[dict]:
    """The demo dashboards as declared (title, shared, filters, tiles)."""
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)["dashboards"]


def seed_demo(engine: sa.Engine, owner: str = "demo_finance", model: SemanticModel | None = None,
              path: Path = DEMO_FILE) -> list[int]:
    """Store the demo dashboards that are missing (matched by title and owner); every tile is checked
    against the model first, all or nothing. Returns the ids of all of them, in file order."""
    declared = load_demo(path)
    parsed = []
    for raw in declared:
        tiles = tuple(Tile.from_dict(t) for t in raw["tiles"])
        for t in tiles:
            check_chart(t.chart, model)
        parsed.append((_title(raw["title"]), bool(raw.get("shared", True)), DashboardFilters.from_dict(raw.get("filters")), tiles))
    ids = []
    with engine.begin() as conn:
        for title, shared, filters, tiles in parsed:
            found = conn.execute(sa.select(table.c.id).where(table.c.title == title, table.c.owner == owner)
                                 .order_by(table.c.id)).first()
            ids.append(int(found.id) if found else _insert(conn, title, owner, shared, filters, tiles))
    return ids
