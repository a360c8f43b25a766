"""看板 / Dashboards: saved charts in a grid with dashboard-wide and click filters, editing, PDF, and 会议模式."""
import streamlit as st

from lib.access import auth
from lib.core.errors import WorkbenchError
from lib.explore import dashboards as dash
from lib.explore.link import parse_dashboard_link
from pages import _dashboard_parts as parts
from pages import _shared as sh

lang, t, ss, qp = sh.lang(), parts.t, st.session_state, st.query_params
user, engine = sh.current_user(), sh.engine()


def _write(fn, *args, msg: str = "dash.saved", **kw) -> None:
    """Run a dashboard write from a callback; the outcome shows on the next run."""
    try:
        fn(engine, user, *args, **kw)
    except WorkbenchError as exc:
        ss["dash_flash"] = ("error", sh.message(exc))
        return
    ss["dash_flash"] = ("success", t(msg))
    for k in [k for k in ss if str(k).startswith("dash_edit_")]:  # tile widgets follow the new order
        del ss[k]


def _duplicate(dashboard_id: int) -> None:
    title = ss.get("dash_dup_title") or ""
    try:
        ss["dash_current"] = dash.duplicate(engine, user, dashboard_id, title)
    except WorkbenchError as exc:
        ss["dash_flash"] = ("error", sh.message(exc))
        return
    ss["dash_flash"] = ("success", t("dash.duplicated", title=sh.plain(title.strip())))
    ss.pop("dash_pick", None)


def _delete(dashboard_id: int) -> None:
    _write(dash.delete, dashboard_id, msg="dash.deleted")
    ss.pop("dash_current", None)
    ss.pop("dash_pick", None)


def _step(delta: int, n: int) -> None:
    ss["dash_slide"] = max(0, min(n - 1, ss.get("dash_slide", 0) + delta))


try:
    boards = {d.id: d for d in dash.list_dashboards(engine, user)}
except WorkbenchError as exc:
    sh.show_error(exc)
    st.stop()
if not boards:
    st.title(t("dash.title"))
    st.info(t("dash.none"))
    st.stop()

# A link opens a dashboard (and a presentation page): ?dash=ID&present=1&tile=N
if ss.get("dash_current") not in boards:
    link = parse_dashboard_link(qp.to_dict(), boards)
    ss["dash_current"] = link.dashboard if link.dashboard is not None else next(iter(boards))
    ss["dash_presenting"] = link.present
    ss["dash_slide"] = link.tile
    if link.problems:
        ss["dash_flash"] = ("warning", t("dash.link.ignored", problems=sh.plain("; ".join(link.problems))))
if ss.get("dash_pick") != ss["dash_current"]:
    ss["dash_pick"] = ss["dash_current"]
d = boards[ss["dash_current"]]
editable = dash.may_edit(user, d)
# Meeting mode is our own session key, switched by the toggles' callbacks: a toggle's widget state is
# dropped when a click (an arrow key) reaches the server before the browser has drawn the toggle, and
# the meeting must not end because of that.
present = bool(ss.get("dash_presenting"))


def _presenting(key: str) -> None:
    ss["dash_presenting"] = ss[key]

flash = ss.pop("dash_flash", None)

if not present:
    a, b = st.columns([3, 1])
    a.selectbox(t("dash.pick"), list(boards), format_func=lambda i: boards[i].title, key="dash_pick",
                on_change=lambda: ss.update(dash_current=ss["dash_pick"], dash_slide=0))
    b.toggle(t("dash.present"), value=False, key="dash_present_on", on_change=_presenting, args=("dash_present_on",))
    st.title(sh.plain(d.title))
    st.caption(t("dash.owner", owner=d.owner, updated=f"{d.updated_at:%Y-%m-%d %H:%M}") + " · "
               + t("dash.shared" if d.shared else "dash.private"))
if flash:
    {"error": st.error, "warning": st.warning}.get(flash[0], st.success)(flash[1])

fkey = f"dash_filters_{d.id}"
filters = ss.get(fkey, d.filters) if present else parts.filter_widgets(d, ss.get(fkey, d.filters))
ss[fkey] = filters
try:
    as_of = dash.latest_month(sh.run)
except WorkbenchError as exc:
    sh.show_error(exc)
    st.stop()
if as_of is None:
    st.warning(t("dash.filter.no_data"))
elif not present:
    sh.as_of_caption()
resolved = filters.resolved(as_of)
sel = parts.selections(d)

if present:
    parts.present_chrome()
    n = max(len(d.tiles), 1)
    i = ss["dash_slide"] = max(0, min(n - 1, ss.get("dash_slide", 0)))
    st.caption(sh.plain(f"{d.title} · {parts.subtitle(resolved)}"))
    if d.tiles:
        parts.render_tile(d, i, resolved, parts.others(sel, i), big=True)
    else:
        st.info(t("dash.empty"))
    a, b, c, e = st.columns([1, 2, 1, 1])
    a.button(t("dash.present.prev"), key="dash_prev", on_click=_step, args=(-1, n), disabled=i == 0)
    b.caption(t("dash.present.position", n=i + 1, total=n))
    c.button(t("dash.present.next"), key="dash_next", on_click=_step, args=(1, n), disabled=i >= n - 1)
    e.toggle(t("dash.present"), value=True, key="dash_present_off", on_change=_presenting, args=("dash_present_off",))
    qp.update(dash=str(d.id), present="1", tile=str(i))
    st.stop()

qp.update(dash=str(d.id))
for k in ("present", "tile"):
    if k in qp:
        del qp[k]
st.caption(sh.plain(parts.subtitle(resolved)))
editing = editable and st.toggle(t("dash.edit"), key="dash_edit")
if editing and filters != d.filters:
    st.button(t("dash.filter.save"), key="dash_save_filters",
              on_click=_write, args=(dash.update, d.id, {"filters": filters}))
if not editable:
    st.caption(t("dash.view_only"))
parts.chips(d, sel)
if not d.tiles:
    st.info(t("dash.empty"))

made = []
for row in parts.grid_rows(d.tiles):
    widths = [d.tiles[i].width for i in row]
    cols = st.columns(widths + ([3 - sum(widths)] if sum(widths) < 3 else []))
    for col, i in zip(cols, row):
        with col, st.container(border=True):
            made.append(parts.render_tile(d, i, resolved, parts.others(sel, i)))
            if editing:
                p = f"dash_edit_{d.id}_{i}_"
                x, y, z = st.columns(3)
                x.button(t("dash.tile.up"), key=p + "up", disabled=i == 0,
                         on_click=_write, args=(dash.move_tile, d.id, i, i - 1))
                y.button(t("dash.tile.down"), key=p + "down", disabled=i == len(d.tiles) - 1,
                         on_click=_write, args=(dash.move_tile, d.id, i, i + 1))
                z.button(t("dash.tile.remove"), key=p + "remove", on_click=_write, args=(dash.remove_tile, d.id, i))
                st.segmented_control(t("dash.tile.width"), dash.WIDTHS, default=d.tiles[i].width, key=p + "width",
                                     on_change=lambda i=i, p=p: _write(dash.resize_tile, d.id, i, ss[p + "width"] or 1))
                st.text_input(t("dash.tile.note"), d.tiles[i].note, key=p + "note",
                              on_change=lambda i=i, p=p: _write(dash.set_note, d.id, i, ss[p + "note"]))

parts.export_pdf(d, resolved, made)
if editing:
    with st.expander(t("dash.edit"), expanded=False):
        st.text_input(t("dash.rename"), d.title, key="dash_edit_title")
        st.button(t("dash.rename.save"), key="dash_edit_rename",
                  on_click=lambda: _write(dash.rename, d.id, ss.get("dash_edit_title", "")))
        st.checkbox(t("dash.share"), d.shared, key="dash_edit_shared",
                    on_change=lambda: _write(dash.update, d.id, {"shared": ss["dash_edit_shared"]}))
        sure = st.checkbox(t("dash.delete.confirm"), key="dash_edit_delete_sure")
        st.button(t("dash.delete"), key="dash_edit_delete", disabled=not sure, on_click=_delete, args=(d.id,))
if auth.may(user, "own_dashboards"):
    with st.expander(t("dash.duplicate")):
        st.text_input(t("dash.duplicate.title"), t("dash.duplicate.default", title=d.title), key="dash_dup_title")
        st.button(t("dash.duplicate"), key="dash_duplicate", on_click=_duplicate, args=(d.id,))
