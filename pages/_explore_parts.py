"""Streamlit glue of the Explore page: its session state, shelves (drag and pickers), options and filters.

The chart spec in ``st.session_state["_ex_spec"]`` is the one truth. Every widget is set from it before
it is drawn and writes back to it in its callback; the drag shelves are re-mounted (a new key) when a
picker changes them, because the component keeps its own order once mounted.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import streamlit as st

from lib.access import auth
from lib.core import clock, i18n
from lib.core.errors import WorkbenchError
from lib.explore import evaluate as explore
from lib.explore.evaluate import Preset, Shelves
from lib.explore.state import EMPTY
from lib.semantic import model as semantic
from lib.semantic import query
from lib.semantic.spec import Calc, ChartSpec, FilterSpec, Mark, Sort, TimeRange
from pages import _shared as sh
from pages import _why_parts as why_parts

ss = st.session_state
PICKER = "shelf_{}"
CUSTOM = "custom"
COMPONENT = Path(__file__).parent / "_components" / "field_shelves"
MARK_SHELVES = ("color", "size", "facet", "tooltip")  # drawn side by side, as a Marks card
PANE_HEIGHT = 230  # px: the field pane scrolls inside it, so the chart starts on the first screen


def begin() -> str:
    """Start a run of the page: its language, model and the metrics the user may see, kept for this session
    (each sh.model() call asks the store for its version, so it is looked up once per run)."""
    mdl, user = sh.model(), sh.current_user()
    ss["_ex_run"] = {"lang": sh.lang(), "model": mdl,
                     "metrics": [m.id for m in mdl.metrics.values()
                                 if m.status is not semantic.Status.DEPRECATED and user.may_see_metric(m.id, mdl)]}
    return ss["_ex_run"]["lang"]


def model() -> semantic.SemanticModel:
    return ss["_ex_run"]["model"]


def t(key: str, **kw: object) -> str:
    return i18n.t(key, ss["_ex_run"]["lang"], **kw)


def texts():
    """``t`` bound to this run's language, for format_funcs (AppTest may call them after the run)."""
    lg = ss["_ex_run"]["lang"]
    return lambda key, **kw: i18n.t(key, lg, **kw)


def labeler():
    """Field labels bound to this run's language and model, for format_funcs."""
    lg, mdl = ss["_ex_run"]["lang"], model()
    return lambda name: i18n.t("explore.none", lg) if name == "" else explore.field_label(name, mdl, lg)


def visible_metrics() -> list[str]:
    """Metrics the user may see, deprecated ones left out."""
    return ss["_ex_run"]["metrics"]


def label(name: str) -> str:
    return labeler()(name)


# ---- state -----------------------------------------------------------------------------------

def chart() -> ChartSpec:
    return ss["_ex_spec"]


def grain() -> str:
    return ss.get("_ex_grain", explore.options_of(chart()).grain)


def init_from_link() -> None:
    """First run of the page in this session: the chart of the link, or the default one."""
    if "_ex_spec" in ss:
        return
    parsed = explore.parse_query_params(dict(st.query_params), model())
    ss["_ex_spec"] = parsed.chart
    ss["_ex_grain"] = explore.options_of(parsed.chart).grain
    ss["_ex_ff"] = ()
    ss["_ex_gen"] = 0
    if parsed.problems:
        ss["_ex_flash"] = t("explore.bad_link", problems=sh.plain("; ".join(parsed.problems)))


def set_chart(new: ChartSpec, remount: bool = False) -> None:
    ss["_ex_spec"] = new
    if remount:
        ss["_ex_gen"] = ss.get("_ex_gen", 0) + 1


def shelves() -> Shelves:
    s = explore.shelves_of(chart())
    return replace(s, filters=tuple(dict.fromkeys((*ss.get("_ex_ff", ()), *s.filters))))


def apply_shelves(new: Shelves, remount: bool) -> None:
    """New shelves, keeping the options; filters of fields taken off the Filters shelf are dropped."""
    opts = explore.options_of(chart())
    keep = tuple(f for f in opts.filters if f.dimension in new.filters)
    ss["_ex_ff"] = new.filters
    set_chart(explore.build_chart(new, replace(opts, filters=keep, grain=grain()), model()), remount)


# ---- shelves ---------------------------------------------------------------------------------

def _picker_names() -> list[str]:
    return [grain(), *model().dimensions, *visible_metrics()]


def _from_pickers() -> None:
    got = {}
    for s in explore.SHELVES[1:]:
        v = ss.get(PICKER.format(s))
        got[s] = ((v,) if v else ()) if s in explore.SINGLE else tuple(v or ())
    apply_shelves(Shelves(**got), remount=True)


_FIELD_SHELVES = None


def _field_shelves():
    """The field pane and shelves, declared once per process (a page module runs again on every rerun)."""
    global _FIELD_SHELVES
    if _FIELD_SHELVES is None:
        from streamlit.components import v1 as components
        _FIELD_SHELVES = components.declare_component("field_shelves", path=str(COMPONENT))
    return _FIELD_SHELVES


def shelves_ui() -> None:
    """The field pane and the drag shelves, one component: the fields by kind and group on the left (searchable,
    口径 on hover), Columns and Rows as a row each, the mark shelves side by side, Filters below."""
    mdl, lang, metrics = model(), ss["_ex_run"]["lang"], visible_metrics()
    placed = explore.to_value(shelves())
    shelf_rows = [{"id": s, "label": t(f"explore.shelf.{s}"), "single": s in explore.SINGLE, "mark": s in MARK_SHELVES}
                  for s in explore.SHELVES[1:]]
    texts_ = {"search": t("explore.pane.search"), "no_match": t("explore.pane.no_match"), "drop": t("explore.pane.drop"),
              "remove": t("explore.pane.remove"), "dimension": t("explore.dimensions"), "metric": t("explore.metrics")}
    gen = ss.get("_ex_gen", 0)
    key = "shelves" if gen == 0 else f"shelves_{gen}"
    _field_shelves()(fields=explore.pane(mdl, lang, metrics), shelves=shelf_rows, placed=placed, texts=texts_,
                     height=PANE_HEIGHT, lang=lang, default=None, key=key, on_change=lambda: _dragged(key))
    if _dragged(key):  # a value the callback did not see (set by a test): the component must draw it again
        st.rerun()


def _dragged(key: str) -> bool:
    """Apply what the component sent, before the run draws anything (its callback), so this run's shelves,
    pickers and chart, and the component's own next drawing, all show it."""
    value = ss.get(key)
    if not isinstance(value, dict) or value == explore.to_value(shelves()):
        return False
    dragged = explore.from_value(value, model(), visible_metrics(), grain=grain())
    if dragged == shelves():
        return False
    apply_shelves(dragged, remount=False)
    return True


def pickers_ui() -> None:
    """A picker per shelf, the keyboard's way to the same shelves (at the bottom of the page)."""
    current, names = shelves(), _picker_names()
    with st.expander(t("explore.pickers"), expanded=False, key="explore_pickers_box"):
        cols = st.columns(4)
        for i, s in enumerate(explore.SHELVES[1:]):
            key = PICKER.format(s)
            values = [n for n in getattr(current, s) if n in names]
            box = cols[i % 4]
            if s in explore.SINGLE:
                ss[key] = values[0] if values else ""
                box.selectbox(t(f"explore.shelf.{s}"), ["", *names], format_func=labeler(), key=key, on_change=_from_pickers)
            else:
                ss[key] = values
                box.multiselect(t(f"explore.shelf.{s}"), names, format_func=labeler(), key=key, on_change=_from_pickers)


# ---- options ---------------------------------------------------------------------------------

def _set_option(**changes) -> None:
    opts = replace(explore.options_of(chart()), **changes)
    set_chart(explore.build_chart(shelves(), opts, model()))


def _on_mark() -> None:
    _set_option(mark=Mark(ss["explore_mark"]))


def _on_grain() -> None:
    ss["_ex_grain"] = ss["explore_grain"]
    set_chart(explore.with_grain(chart(), ss["explore_grain"]), remount=False)


def _on_range(last: dt.date) -> None:
    preset = ss["explore_preset"]
    ss["_ex_preset"] = preset
    if preset == CUSTOM:
        tr = chart().query.time_range or explore.preset_range(Preset.LAST_12M, last)
    else:
        tr = explore.preset_range(preset, last)
    _set_option(time_range=tr)


def _on_dates() -> None:
    v = ss.get("explore_dates")
    if isinstance(v, (tuple, list)) and len(v) == 2:
        _set_option(time_range=TimeRange(v[0], v[1]))


def _on_sort() -> None:
    v = ss.get("explore_sort") or ""
    _set_option(sort=(Sort(v.lstrip("-"), v.startswith("-")),) if v else ())


def _on_top() -> None:
    n = int(ss.get("explore_top_n") or 0)
    _set_option(top_n=n if n > 0 else None)


def _on_calc(metric: str) -> None:
    calcs = dict(explore.options_of(chart()).calcs)
    v = ss.get(f"explore_calc_{metric}") or ""
    calcs.pop(metric, None)
    if v:
        calcs[metric] = Calc(v)
    _set_option(calcs=calcs)


def _preset_of(tr: TimeRange | None, last: dt.date) -> str:
    for p in Preset:
        if explore.preset_range(p, last) == tr:
            return p.value
    return CUSTOM


def options_ui(last: dt.date) -> None:
    """One slim toolbar: chart type, time grain and range, sort, top N, a quick calc per metric on the shelves,
    and what a click on the chart does."""
    c, mdl = chart(), model()
    calcs = explore.options_of(c).calcs
    widths = [1.1, 0.9, 1.3, 1.5, 0.7, *[1.2] * len(c.query.metrics[:3]), 2.4]
    cols = st.columns(widths, vertical_alignment="bottom")
    a, b, cc, d, e, last_col = cols[0], cols[1], cols[2], cols[3], cols[4], cols[-1]
    ss["explore_mark"] = c.mark.value
    a.selectbox(t("explore.mark"), [m.value for m in Mark], format_func=lambda m, tt=texts(): tt(f"explore.mark.{m}"),
                key="explore_mark", on_change=_on_mark)
    ss["explore_grain"] = grain()
    b.selectbox(t("explore.grain"), list(semantic.TIME_GRAINS), format_func=lambda g, tt=texts(): tt(f"explore.grain.{g}"),
                key="explore_grain", on_change=_on_grain)
    preset = ss.get("_ex_preset") if ss.get("_ex_preset") == CUSTOM else _preset_of(c.query.time_range, last)
    ss["explore_preset"] = preset
    cc.selectbox(t("explore.range"), [p.value for p in Preset] + [CUSTOM],
                 format_func=lambda p, tt=texts(): tt(f"explore.preset.{p}"), key="explore_preset", on_change=_on_range,
                 args=(last,), help=t("explore.range.help", last=last))
    names = [*c.query.metrics, *c.query.dimensions]
    sorts = ["", *[p + n for n in names for p in ("-", "")]]
    ss["explore_sort"] = next((("-" if s.descending else "") + s.field for s in c.query.sort), "")
    d.selectbox(t("explore.sort"), sorts, key="explore_sort", on_change=_on_sort,
                format_func=lambda v, tt=texts(), lb=labeler(): tt("explore.sort.none") if not v else
                tt("explore.sort.desc" if v.startswith("-") else "explore.sort.asc", field=lb(v.lstrip("-"))))
    ss["explore_top_n"] = c.top_n or 0
    e.number_input(t("explore.top_n"), 0, 1000, step=1, key="explore_top_n", on_change=_on_top,
                   help=t("explore.top_n.help"))
    more = st.columns(4) if len(c.query.metrics) > 3 else []
    for i, m in enumerate(c.query.metrics):
        key = f"explore_calc_{m}"
        ss[key] = calcs[m].value if m in calcs else ""
        box = cols[5 + i] if i < 3 else more[(i - 3) % 4]
        box.selectbox(t("explore.calc", metric=mdl.metric(m).label(ss["_ex_run"]["lang"])),
                      ["", *[x.value for x in Calc]], key=key, on_change=_on_calc, args=(m,),
                      format_func=lambda v, tt=texts(): tt(f"explore.calc.{v or 'none'}"), help=t("explore.calc.help"))
    last_col.radio(t("explore.click_mode"), ["filter", "drill", "why"], key="explore_click_mode", horizontal=True,
                   format_func=lambda v, tt=texts(): tt(f"explore.click.{v}"), help=t("explore.click.help"))
    if preset == CUSTOM and c.query.time_range:
        ss["explore_dates"] = (c.query.time_range.start, c.query.time_range.end)
        st.date_input(t("explore.dates"), key="explore_dates", on_change=_on_dates)


# ---- filters ---------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=128)
def _values(url: str, dim: str, username: str, data: str, metrics: str, users: str) -> list:
    return query.dimension_values(sh.engine(), dim, auth.load_user(sh.engine(), username), model())


def dimension_values(dim: str) -> list:
    """The values the user may pick for ``dim`` (scoped), cached per data and user version."""
    from lib.core import config
    return _values(config.store_url(), dim, sh.current_user().username, sh.data_version(), sh.metrics_version(),
                   sh.users_version())


def _on_filter(name: str) -> None:
    c = chart()
    if name in model().metrics:
        lo, hi = ss.get(f"explore_min_{name}"), ss.get(f"explore_max_{name}")
        flt = (FilterSpec(name, "between", (lo, hi)) if lo is not None and hi is not None else
               FilterSpec(name, "gte", (lo,)) if lo is not None else
               FilterSpec(name, "lte", (hi,)) if hi is not None else None)
    else:
        vals = tuple(None if v == EMPTY else v for v in ss.get(f"explore_filter_{name}") or ())
        flt = FilterSpec(name, "in", vals) if vals else None
    set_chart(explore.set_filter(c, flt) if flt else explore.remove_filter(c, name))


def remove_chip(name: str) -> None:
    ss["_ex_ff"] = tuple(n for n in ss.get("_ex_ff", ()) if n != name)
    set_chart(explore.remove_filter(chart(), name), remount=True)


def filters_ui() -> None:
    """A widget per field on the Filters shelf: values with search, a metric range, or a note for time."""
    c, mdl = chart(), model()
    current = {f.dimension: f for f in c.query.filters}
    for name in shelves().filters:
        if name in semantic.TIME_GRAINS:
            st.caption(t("explore.filter.time"))
        elif name in mdl.metrics:
            f = current.get(name)
            lo = float(f.values[0]) if f and f.op in ("gte", "between") else None
            hi = float(f.values[-1]) if f and f.op in ("lte", "between") else None
            a, b = st.columns(2)
            ss[f"explore_min_{name}"], ss[f"explore_max_{name}"] = lo, hi
            a.number_input(t("explore.filter.min", field=label(name)), value=None, key=f"explore_min_{name}",
                           on_change=_on_filter, args=(name,), help=t("explore.filter.range", field=label(name)))
            b.number_input(t("explore.filter.max", field=label(name)), value=None, key=f"explore_max_{name}",
                           on_change=_on_filter, args=(name,))
        else:
            try:
                options = [str(v) for v in dimension_values(name)]
            except WorkbenchError as exc:
                sh.show_error(exc)
                continue
            chosen = [EMPTY if v is None else str(v) for v in (current[name].values if name in current else ())]
            ss[f"explore_filter_{name}"] = [v for v in chosen if v in options] + [v for v in chosen if v not in options]
            st.multiselect(t("explore.filter.values", field=label(name)), list(dict.fromkeys(options + chosen)),
                           key=f"explore_filter_{name}", on_change=_on_filter, args=(name,))


def chips_ui() -> None:
    """The filters as removable chips (a click removes one)."""
    fs = chart().query.filters
    if not fs:
        return
    st.caption(t("explore.chips"))
    cols = st.columns(min(len(fs), 6))
    for i, f in enumerate(fs):
        text = ", ".join(str(v) for v in f.values)
        cols[i % len(cols)].button(t("explore.chip", field=label(f.dimension), values=text[:60]),
                                   key=f"explore_chip_{f.dimension}", on_click=remove_chip, args=(f.dimension,))


def breadcrumb_ui() -> None:
    path = explore.drill_path(chart(), model())
    if not path:
        return
    cols = st.columns(len(path) + 1)
    cols[0].caption(t("explore.breadcrumb"))
    for i, step in enumerate(path):
        cols[i + 1].button(f"{label(step.dimension)}：{step.value}" if sh.lang() == "zh" else
                           f"{label(step.dimension)}: {step.value}", key=f"explore_crumb_{i}",
                           on_click=lambda i=i: set_chart(explore.drill_up(chart(), i, model()), remount=True))


def chart_key() -> str:
    """The chart's widget key: a new one after each applied click, so the chart starts unselected."""
    n = ss.get("_ex_clicks", 0)
    return "explore_chart" if n == 0 else f"explore_chart_{n}"


def apply_click(other: str) -> None:
    """A click on a mark (the chart's selection) filters, or drills down where the mode says so."""
    sel = ss.get(chart_key())
    c, mdl = chart(), model()
    picks = explore.picked(sel)
    if not picks:
        return
    ss["_ex_clicks"] = ss.get("_ex_clicks", 0) + 1
    if ss.get("explore_click_mode") == "why":   # the clicked mark's figure against its previous period
        q = explore.apply_selection(c, sel, mdl, other=(other,)).query
        if q.metrics:
            day = clock.today() - dt.timedelta(days=1)
            tr = q.time_range or TimeRange(day.replace(day=1), day)
            why_parts.open_on("explore", q.metrics[0], tr.start, tr.end, "previous", q.filters)
        return
    if ss.get("explore_click_mode") == "drill":
        for name, values in picks.items():
            if name in mdl.dimensions and explore.children(name, mdl) and len(values) == 1 \
                    and str(values[0]) != other:
                set_chart(explore.drill_down(c, name, str(values[0]), mdl), remount=True)
                return
    new = explore.apply_selection(c, sel, mdl, other=(other,))
    if new != c:
        set_chart(new, remount=True)
