"""Streamlit glue of the dashboards page: filter widgets, one tile, presentation chrome, PDF export."""
from __future__ import annotations

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from lib.access import audit, auth
from lib.core import clock, config, i18n
from lib.core.errors import WorkbenchError
from lib.explore import charts, export
from lib.explore import dashboards as dash
from lib.explore import evaluate as explore
from lib.semantic import model as semantic
from lib.semantic import query
from lib.semantic.spec import ChartSpec, Mark
from pages import _shared as sh

ss = st.session_state
OTHER = set(explore.OTHER.values())  # the top-N rest bucket is not a member to filter by


def t(key: str, **kw: object) -> str:
    return i18n.t(key, sh.lang(), **kw)


def tile_key(dashboard_id: int, i: int) -> str:
    return f"dash_tile_{dashboard_id}_{i}"


@st.cache_data(show_spinner=False, max_entries=64)
def _dimension_values(url: str, dim: str, data: str, metrics: str, username: str, users: str) -> list:
    return query.dimension_values(sh.engine(), dim, auth.load_user(sh.engine(), username), sh.model())


def dimension_values(dim: str) -> list:
    """Values of ``dim`` the logged-in user may pick (scoped), cached per data and user version."""
    try:
        return _dimension_values(config.store_url(), dim, sh.data_version(), sh.metrics_version(),
                                 sh.current_user().username, sh.users_version())
    except WorkbenchError:
        return []


def filter_widgets(d: dash.Dashboard, current: dash.DashboardFilters) -> dash.DashboardFilters:
    """The dashboard-wide filter row, keyed per dashboard; starts from ``current`` (stored or last chosen)."""
    p = f"dash_{d.id}_"
    presets = list(dash.TimePreset)
    cols = st.columns(4)
    preset = cols[0].selectbox(t("dash.filter.time"), presets, index=presets.index(current.preset),
                               format_func=lambda x, lang=sh.lang(): i18n.t(f"dash.preset.{x.value}", lang), key=p + "preset")
    chosen = {}
    for col, dim in zip(cols[1:], dash.FILTER_DIMS):
        options = dimension_values(dim)
        default = [v for v in getattr(current, dim) if v in options]
        chosen[dim] = tuple(col.multiselect(t(f"dash.filter.{dim}"), options, default=default,
                                            placeholder=t("dash.filter.all"), key=p + dim))
    return dash.DashboardFilters(preset, **chosen)


def subtitle(f: dash.DashboardFilters, sep: str = " · ") -> str:
    """The filters in words: shown under the title, in presentation mode and on the PDF cover (one per line)."""
    parts = [t(f"dash.preset.{f.preset.value}")]
    if f.time_range:
        parts[0] += " (" + t("dash.subtitle.time", start=f"{f.time_range.start:%Y-%m}", end=f"{f.time_range.end:%Y-%m}") + ")"
    vsep = "、" if sh.lang() == "zh" else ", "
    parts += [f"{t(f'dash.filter.{dim}')}: {vsep.join(v)}" for dim, v in f.values().items()]
    return sep.join(parts)


def selections(d: dash.Dashboard) -> dict[int, dict]:
    """Clicked values per tile index, from each tile chart's selection state."""
    out = {}
    for i in range(len(d.tiles)):
        vals = dash.selection_values(ss.get(tile_key(d.id, i)))
        if vals:
            out[i] = vals
    return out


def others(sel: dict[int, dict], i: int) -> dict[str, tuple]:
    """The click filters tile ``i`` receives: every other tile's selection (a tile is not filtered by its own)."""
    merged: dict[str, list] = {}
    for j, vals in sel.items():
        if j != i:
            for dim, v in vals.items():
                merged.setdefault(dim, []).extend(x for x in v if x not in merged[dim] and x not in OTHER)
    return {k: tuple(v) for k, v in merged.items()}


def _clear_selection(key: str) -> None:
    ss.pop(key, None)


def chips(d: dash.Dashboard, sel: dict[int, dict]) -> None:
    """The active click filters as removable chips."""
    if not sel:
        return
    model, sep = sh.model(), "、" if sh.lang() == "zh" else ", "
    st.caption(t("dash.xfilter"))
    cols = st.columns(min(len(sel), 4) + 1)
    for n, (i, vals) in enumerate(sel.items()):
        label = " · ".join(t("dash.xfilter.chip", dim=_dim_label(dim, model), values=sep.join(map(_value_label, v)))
                           for dim, v in vals.items())
        cols[n % 4].button(label, key=f"dash_chip_{d.id}_{i}", on_click=_clear_selection, args=(tile_key(d.id, i),))


def _dim_label(dim: str, model: semantic.SemanticModel) -> str:
    return model.dimensions[dim].label(sh.lang()) if dim in model.dimensions else dim


def _value_label(v) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 1e11:  # a clicked time bucket, epoch ms
        return f"{pd.Timestamp(v, unit='ms'):%Y-%m}"
    return str(v)


# ---- one tile -------------------------------------------------------------------------------------

def render_tile(d: dash.Dashboard, i: int, filters: dash.DashboardFilters, clicks: dict, big: bool = False,
                show_note: bool = True):
    """Draw tile ``i`` under the dashboard and click filters; returns (title, chart or DataFrame) for the PDF."""
    tile, model, lang = d.tiles[i], sh.model(), sh.lang()
    title = dash.tile_title(tile, model, lang)
    shown = sh.plain(title)  # titles and notes are user text
    st.markdown(f"## {shown}" if big else f"**{shown}**")
    try:
        chart = dash.cross_filter(dash.apply_filters(tile.chart, filters, model), clicks, model)
        data = explore.evaluate(chart, sh.run, model, lang)
        out = _draw(d, i, chart, data, model, big)
        st.caption(sh.plain(explore.caption(chart, model, lang)))  # describe(spec), plus top N and quick calcs
    except WorkbenchError as exc:
        st.warning(t("dash.tile.error", msg=sh.message(exc)))
        out = None
    dims = dash.chart_dimensions(tile.chart, model)
    ignored = dict.fromkeys([*dash.ignored_filters(tile.chart, filters, model), *(x for x in clicks if x not in dims)])
    if ignored:
        st.caption(t("dash.ignored", dims=("、" if lang == "zh" else ", ").join(_dim_label(x, model) for x in ignored)))
    if show_note and (tile.note or tile.chart.note):
        st.info(sh.plain(tile.note or tile.chart.note))
    return (title, out) if out is not None else None


def _draw(d, i, chart: ChartSpec, data: pd.DataFrame, model, big: bool):
    lang = sh.lang()
    mark = chart.mark if chart.mark is not Mark.AUTO else charts.suggest_mark(chart, model)
    if mark is Mark.KPI:
        tiles = charts.kpi(chart, data, model, lang)
        for col, k in zip(st.columns(max(len(tiles), 1)), tiles):
            col.metric(k.label, k.value_text, delta=f"{k.change_text} {k.change_label}" if k.change_text else None,
                       delta_color=charts.delta_color(k))
        return tiles
    if mark in (Mark.TABLE, Mark.PIVOT):
        if mark is Mark.PIVOT:
            frame = charts.pivot(chart, data, model, lang, totals=explore.pivot_totals(chart, sh.run, model))
        else:
            frame = charts.table(chart, data, model, lang)
        st.dataframe(frame, hide_index=True, key=f"dash_table_{d.id}_{i}")
        return frame
    alt_chart = charts.render(chart, data, model, lang, big=big)
    spec = alt_chart.to_dict()
    clickable = charts.SELECTION in str([spec.get("params"), *(x.get("params") for x in spec.get("layer", ()))])
    st.altair_chart(alt_chart, on_select="rerun" if clickable else "ignore", key=tile_key(d.id, i),
                    width="content" if big else "stretch")
    return alt_chart


def grid_rows(tiles) -> list[list[int]]:
    """Tile indexes in rows of at most three grid columns, in order."""
    rows, row, used = [], [], 0
    for i, tile in enumerate(tiles):
        if row and used + tile.width > 3:
            rows.append(row)
            row, used = [], 0
        row.append(i)
        used += tile.width
    return rows + ([row] if row else [])


# ---- presentation mode -----------------------------------------------------------------------------

PRESENT_CSS = """<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"] {display: none;}
.block-container {padding-top: 1.5rem; max-width: 100%;}
.block-container h2 {font-size: 2.6rem;}
.block-container p, .block-container [data-testid="stCaptionContainer"] {font-size: 1.3rem;}
[data-testid="stMetricValue"] {font-size: 3.5rem;}
</style>"""

# Arrow keys click the Previous/Next buttons (found by their st-key class) in the app's document.
KEYS_JS = """<script>
const doc = window.parent.document;
if (!doc.__dashKeys) {
  doc.__dashKeys = true;
  doc.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || e.altKey || e.ctrlKey || e.metaKey) return;
    const which = e.key === "ArrowRight" ? "next" : e.key === "ArrowLeft" ? "prev" : null;
    const btn = which && doc.querySelector(".st-key-dash_" + which + " button");
    if (btn) { e.preventDefault(); btn.click(); }
  });
}
</script>"""


def present_chrome() -> None:
    st.html(PRESENT_CSS)
    components.html(KEYS_JS, height=0)


# ---- PDF export ------------------------------------------------------------------------------------

def export_pdf(d: dash.Dashboard, filters: dash.DashboardFilters, made: list) -> None:
    """The whole dashboard as a PDF (cover + one page per tile), for roles allowed to export; audited."""
    user = sh.current_user()
    if not auth.may(user, "export"):
        return
    if st.button(t("dash.export.make"), key="dash_pdf_make"):
        try:
            now = clock.now()
            data = export.dashboard_pdf(d.title, subtitle(filters, "\n"), [m for m in made if m], sh.lang(), now)
        except WorkbenchError as exc:
            sh.show_error(exc)
            return
        audit.record(sh.engine(), user.username, "export", f"dashboard:{d.id}",
                     {"format": "pdf", "title": d.title, "tiles": len(made)}, "app")
        st.download_button(t("dash.export.download"), data, file_name=f"dashboard-{d.id}.pdf",
                           mime="application/pdf", key="dash_pdf_download")
