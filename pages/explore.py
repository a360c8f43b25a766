"""自助分析 / Explore: drag fields onto shelves, see the chart, click to filter or drill, export and save it."""
from __future__ import annotations

import json
from dataclasses import replace

import streamlit as st

from lib.access import audit, auth
from lib.core import clock
from lib.core.errors import ResultTooLarge, WorkbenchError
from lib.explore import charts
from lib.explore import evaluate as explore
from lib.semantic.spec import Mark
from pages import _ask_parts as ask_box
from pages import _explore_parts as ex
from pages import _shared as sh
from pages import _why_parts as why_parts

lang, user = ex.begin(), sh.current_user()
model = ex.model()
ss = st.session_state
t = ex.t

st.title(t("explore.title"))
st.caption(t("explore.caption"))
ask_box.box("explore")
ex.init_from_link()
if ss.get("_ex_flash"):
    st.warning(ss.pop("_ex_flash"))
try:
    a = sh.as_of_caption()
    last = a.data_end or a.today
except WorkbenchError:
    last = clock.today()

ex.apply_click(explore.other_label(lang))  # a click since the last run, before any widget is drawn
ex.shelves_ui()
ex.options_ui(last)
ex.filters_ui()
ex.breadcrumb_ui()
ex.chips_ui()

chart = ex.chart()
params = explore.to_query_params(chart)
if st.query_params.to_dict() != params:  # the link reproduces the chart
    st.query_params.from_dict(params)
if not chart.query.metrics:
    st.info(t("explore.empty"))
    ex.pickers_ui()
    st.stop()

try:
    data = explore.evaluate(chart, sh.run, model, lang)
    mark = chart.mark if chart.mark is not Mark.AUTO else charts.suggest_mark(chart, model)
    shown = replace(chart, mark=mark)
    if chart.mark is Mark.AUTO:
        st.caption(t("explore.mark.suggested", mark=t(f"explore.mark.{mark.value}")))
    picture = None
    if mark is Mark.TABLE:
        st.dataframe(charts.table(shown, data, model, lang), hide_index=True)
    elif mark is Mark.PIVOT:
        totals = explore.pivot_totals(shown, sh.run, model)
        st.dataframe(charts.pivot(shown, data, model, lang, totals=totals), hide_index=True)
    elif mark is Mark.KPI:
        tiles = charts.kpi(shown, data, model, lang)
        for col, k in zip(st.columns(max(1, len(tiles))), tiles):
            col.metric(k.label, k.value_text, delta=f"{k.change_text} {k.change_label}" if k.change_text else None,
                       delta_color=charts.delta_color(k))
    else:
        picture = charts.render(shown, data, model, lang)
        selectable = f'"{charts.SELECTION}"' in json.dumps(picture.to_dict(validate=False))
        st.altair_chart(picture, key=ex.chart_key(), on_select="rerun" if selectable else "ignore")
except ResultTooLarge as exc:
    st.warning(explore.too_large_message(exc, lang))
    ex.pickers_ui()
    st.stop()
except WorkbenchError as exc:
    sh.show_error(exc)
    ex.pickers_ui()
    st.stop()

st.caption(sh.plain(explore.caption(chart, model, lang)))
st.caption(t("explore.link"))
why_parts.section("explore")
with st.expander(t("explore.view_data"), key="explore_data_box"):
    formatted = charts.table(shown, data, model, lang)
    if len(formatted) <= 100:  # a plain table: read by screen readers, found by browser tests
        st.table(formatted.set_index(formatted.columns[0]) if len(formatted.columns) > 1 else formatted)
    else:
        st.dataframe(formatted, hide_index=True)
    st.caption(t("explore.data_rows", n=len(data)))
sh.explain(replace(chart.query, filters=tuple(f for f in chart.query.filters if f.dimension not in model.metrics)),
           key="explore_sql_box")

if auth.may(user, "export"):
    try:
        from lib.explore import export
    except ImportError:
        export = None
    engine, stamp = sh.engine(), clock.now()
    plain = explore.without_metric_ranges(shown, model)  # the data is already filtered; the caption says how

    def deferred(kind: str, make):
        """The file is made when the button is clicked, and the export is audited then."""
        def go() -> bytes:
            audit.record(engine, user.username, "export", kind, {"chart": chart.to_dict()}, "explore")
            return make()
        return go
    if export is None:
        st.caption(t("explore.export.unavailable"))
    else:
        cols = st.columns(4)
        files = [("png", "image/png", lambda: export.chart_png(picture)),
                 ("svg", "image/svg+xml", lambda: export.chart_svg(picture)),
                 ("csv", "text/csv", lambda: export.data_csv(plain, data, model, lang)),
                 ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  lambda: export.data_xlsx(plain, data, model, lang, stamp, explore.caption(chart, model, lang)))]
        for col, (kind, mime, make) in zip(cols, files):
            if picture is None and kind in ("png", "svg"):
                continue
            col.download_button(t(f"explore.export.{kind}"), deferred(kind, make), file_name=f"explore.{kind}",
                                mime=mime, key=f"explore_export_{kind}", on_click="ignore")

if auth.may(user, "own_dashboards"):
    from lib.explore import dashboards

    def save() -> None:
        """A callback, so the dashboard list drawn after it already holds the new dashboard."""
        target = ss.get("explore_save_target")
        title = ss.get("explore_save_title") or explore.caption(chart, model, lang)[:80]
        try:
            kept = explore.without_metric_ranges(chart, model)
            ss["_ex_saved"] = ("ok", dashboards.save_chart(sh.engine(), user, target, title, kept, model=model))
        except WorkbenchError as exc:
            ss["_ex_saved"] = ("error", exc)
    with st.expander(t("explore.save"), key="explore_save_box"):
        try:
            mine = [d for d in dashboards.list_dashboards(sh.engine(), user) if dashboards.may_edit(user, d)]
        except WorkbenchError as exc:
            sh.show_error(exc)
            mine = []
        titles = {d.id: d.title for d in mine}
        target = st.selectbox(t("explore.save.target"), [None, *titles], key="explore_save_target",
                              format_func=lambda i, tt=ex.texts(): tt("explore.save.new") if i is None
                              else titles.get(i, str(i)))
        if target is None:
            st.text_input(t("explore.save.title"), key="explore_save_title")
        if explore.has_metric_ranges(chart, model):
            st.caption(t("explore.save.no_ranges"))
        st.button(t("explore.save.button"), key="explore_save_button", on_click=save)
        outcome = ss.pop("_ex_saved", None)
        if outcome and outcome[0] == "ok":
            st.success(t("explore.save.done", id=outcome[1]))
        elif outcome:
            sh.show_error(outcome[1])

ex.pickers_ui()  # the keyboard's way to the shelves, at the bottom
