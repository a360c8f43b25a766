"""数据接入 / Data: import a file into a canonical table (map, check, preview, confirm), history with
rollback, database sources with "sync now", and any table as an Explore dataset. Logic lives in lib."""
import pandas as pd
import streamlit as st

from lib.access import auth
from lib.core import i18n, schema
from lib.core.errors import WorkbenchError
from lib.ingest import batch as ingest
from lib.ingest import sources
from lib.ingest import sync as source_sync
from lib.ingest import undo as ingest_undo
from lib.ingest.mapping import ImportOptions, fields
from lib.semantic import datasets as reg
from lib.semantic import query
from pages import _shared as sh

lang = sh.lang()
ss = st.session_state
user = sh.current_user()
can_write = auth.may(user, "import_data")
FILE_TYPES = ["csv", "txt", "tsv", "xlsx", "xlsm", "xls"]


def t(key: str, **kw: object) -> str:
    """UI text in this run's language (AppTest may call a format_func outside the run)."""
    return i18n.t(key, lang, **kw)


def _table_label(name: str) -> str:
    return f"{schema.label(name, lang=lang)} · {name}"


def _flash(kind: str, text: str) -> None:
    ss["data_flash"] = (kind, text)


def _attempt(fn, ok_text=None) -> object:
    """Run a store write; a WorkbenchError is shown on the next run instead of raising."""
    try:
        out = fn()
    except WorkbenchError as exc:
        _flash("error", sh.message(exc))
        return None
    if ok_text:
        _flash("success", ok_text(out) if callable(ok_text) else ok_text)
    return out


@st.cache_data(show_spinner=False, max_entries=4)
def _read(data: bytes, filename: str, sheet: str | None) -> ingest.RawTable:
    return ingest.read_file(data, filename, sheet=sheet)


def _reset(prefix: str) -> None:
    for k in [k for k in ss if str(k).startswith(prefix)]:
        del ss[k]


# ---- import a file into a canonical table ------------------------------------------------------

def _mapping(table: str) -> ingest.Mapping:
    cols = {f.name: ss.get(f"data_map_{f.name}") for f in fields(table)}
    return ingest.Mapping(table, {k: v for k, v in cols.items() if v}, {k: "user" for k, v in cols.items() if v})


def _options() -> ImportOptions:
    rate = ss.get("data_opt_tax_rate") or 0.0
    return ImportOptions(tax_rate=rate or None, prices_include_tax=bool(ss.get("data_opt_incl_tax")),
                         allow_negative_quantity=bool(ss.get("data_opt_neg_qty")),
                         org_parent=(ss.get("data_org_parent") or "").strip() or None,
                         new_org_kind=ss.get("data_org_kind") or None)


def _apply_template(raw: ingest.RawTable, table: str) -> None:
    tpl = next((x for x in ingest.templates(sh.engine(), table) if x.name == ss.get("data_template")), None)
    if tpl is not None:
        m = ingest.apply_template(raw, tpl)
        for f in fields(table):
            ss[f"data_map_{f.name}"] = m.columns.get(f.name, "")
        ss.pop("data_prepared", None)


def _inputs(table: str) -> str:
    """What a check depends on besides the file: a changed mapping or option hides an older preview."""
    return repr((_mapping(table).columns, _options(), bool(ss.get("data_create_missing"))))


def _check(raw: ingest.RawTable, table: str) -> None:
    create = bool(ss.get("data_create_missing"))
    prepared = _attempt(lambda: ingest.prepare(sh.engine(), raw, table, _mapping(table), create_missing=create,
                                               options=_options()))
    ss["data_prepared"] = (ss.get("data_sig"), _inputs(table), prepared) if prepared is not None else None


def _commit(prepared: ingest.Prepared) -> None:
    """Write in one transaction, with a progress bar while it runs; the outcome shows after a rerun."""
    replace = prepared.previous_batch if ss.get("data_replace") else None
    bar = st.progress(0.05, text=t("data.committing"))
    batch = _attempt(lambda: ingest.commit(sh.engine(), user, prepared, filename=prepared.filename,
                                           file_hash=prepared.file_hash, replace_batch=replace),
                     lambda b: t("data.committed", rows=len(prepared.frame), batch=b))
    bar.progress(1.0, text=t("data.committing"))
    if batch is not None:
        for k in ("data_prepared", "data_sig", "data_replace"):
            ss.pop(k, None)
    st.rerun()


def _import_tab() -> None:
    table = st.selectbox(t("data.table"), ingest.TABLES, key="data_table", format_func=_table_label)
    up = st.file_uploader(t("data.upload"), type=FILE_TYPES, key="data_upload")
    if up is None:
        return
    data = up.getvalue()
    try:
        raw = _read(data, up.name, None)
        if raw.sheets:  # a workbook: its first sheet, or the one chosen (a choice from another file is dropped)
            if ss.get("data_sheet") not in raw.sheets:
                ss.pop("data_sheet", None)
            sheet = st.selectbox(t("data.sheet"), raw.sheets, key="data_sheet")
            raw = raw if sheet == raw.sheet else _read(data, up.name, sheet)
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    st.caption(t("data.file_info", rows=len(raw.frame), encoding=raw.encoding or "xlsx", header=raw.header_row + 1))
    if raw.title:
        st.caption(t("data.title_rows", text=sh.plain(" / ".join(raw.title))))
    sig = f"{table}:{raw.sha256}:{raw.sheet}"
    if ss.get("data_sig") != sig:  # a new file, sheet or table: start from the suggestions
        _reset("data_map_")
        ss.pop("data_prepared", None)
        ss["data_sig"] = sig
        for f, col in ingest.suggest_mapping(raw, table).columns.items():
            ss[f"data_map_{f}"] = col
    names = [x.name for x in ingest.templates(sh.engine(), table)]
    a, b = st.columns([3, 1])
    a.selectbox(t("data.template"), ["", *names], key="data_template",
                format_func=lambda x: x or t("data.template.none"))
    b.button(t("data.template.apply"), key="data_template_apply", on_click=_apply_template, args=(raw, table),
             disabled=not names)
    st.markdown(f"**{t('data.mapping')}**")
    st.caption(t("data.mapping.help"))
    cols = st.columns(3)
    for i, f in enumerate(fields(table)):
        cols[i % 3].selectbox(f"{f.label_zh if lang == 'zh' else f.label_en}{' *' if f.required else ''}",
                              ["", *raw.columns], key=f"data_map_{f.name}",
                              format_func=lambda c: c or t("data.unmapped"))
    with st.expander(t("data.options")):
        st.number_input(t("data.opt.tax_rate"), 0.0, 1.0, step=0.01, key="data_opt_tax_rate")
        st.checkbox(t("data.opt.incl_tax"), key="data_opt_incl_tax")
        st.checkbox(t("data.opt.neg_qty"), key="data_opt_neg_qty")
        st.checkbox(t("data.opt.create_missing"), key="data_create_missing")
        st.selectbox(t("data.opt.org_parent"), ["", *_org_names()], key="data_org_parent", accept_new_options=True)
        st.selectbox(t("data.opt.org_kind"), ["", "region", "department", "store", "cost_center"], key="data_org_kind",
                     format_func=lambda k: t(f"data.org_kind.{k or 'header'}"))
    if can_write:
        a, b = st.columns([3, 1])
        a.text_input(t("data.template.name"), key="data_template_name")
        b.button(t("data.template.save"), key="data_template_save", disabled=not ss.get("data_template_name"),
                 on_click=lambda: _attempt(lambda: ingest.save_template(
                     sh.engine(), user, ss["data_template_name"], table, _mapping(table)),
                     t("data.template.saved", name=ss.get("data_template_name"))))
    st.button(t("data.check"), key="data_check", type="primary", on_click=_check, args=(raw, table))
    held = ss.get("data_prepared")
    if held and held[:2] == (sig, _inputs(table)):
        _show_prepared(held[2])


def _org_names() -> list[str]:
    try:
        return [*query.dimension_values(sh.engine(), "region", user, sh.model()),
                *query.dimension_values(sh.engine(), "department", user, sh.model())]
    except WorkbenchError:
        return []


def _show_prepared(p: ingest.Prepared) -> None:
    if len(p.unknown_members):
        st.warning(t("data.unknown"))
        st.dataframe(p.unknown_members, hide_index=True, key="data_unknown_table")
    units = ingest.new_org_units(sh.engine(), p, lang)
    if len(units):
        st.info(t("data.new_units"))
        st.dataframe(units.set_axis([t("data.col.unit"), t("data.col.level"), t("data.col.parent")], axis=1),
                     hide_index=True, key="data_new_units")
    if p.problem_count:
        st.error(t("data.problems", n=p.problem_count))
        shown = p.problems[["row", "column", "value", f"problem_{'en' if lang == 'en' else 'zh'}"]]
        st.dataframe(shown.head(200), hide_index=True, key="data_problems_table")
        st.download_button(t("data.report"), ingest.problems_report(p, lang), file_name="import_problems.csv",
                           mime="text/csv", key="data_report")
    st.caption(t("data.preview", n=min(20, len(p.frame)), total=len(p.frame)))
    st.dataframe(p.frame.head(20), hide_index=True, key="data_preview")
    if not p.ok:
        return
    st.success(t("data.ok", rows=len(p.frame)))
    if p.previous_batch is not None:
        st.checkbox(t("data.replace", batch=p.previous_batch), key="data_replace")
    if can_write and st.button(t("data.commit"), key="data_commit", type="primary"):
        _commit(p)


# ---- history and rollback ----------------------------------------------------------------------

def _history_tab() -> None:
    hist = ingest.history(sh.engine())
    if hist.empty:
        st.info(t("data.history.empty"))
        return
    st.dataframe(hist, hide_index=True, key="data_history_table")
    live = hist[(hist["status"] == "committed") & (hist["kind"] != "demo")]
    if not can_write or live.empty:
        return
    pending = ss.get("data_rb_pending")
    if pending is None:
        a, b = st.columns([3, 1])
        a.selectbox(t("data.rollback.pick"), live["batch_id"].tolist(), key="data_rb_batch",
                    format_func=lambda b: f"{b} · {live.set_index('batch_id').loc[b, 'file']}")
        b.button(t("data.rollback"), key="data_rb", on_click=lambda: ss.update(data_rb_pending=ss["data_rb_batch"]))
        return
    rows = int(hist.set_index("batch_id").loc[pending, "rows"] or 0)
    st.warning(t("data.rollback.confirm_text", batch=pending, rows=rows))
    a, b = st.columns(2)
    a.button(t("data.rollback.confirm"), key="data_rb_confirm", type="primary", on_click=_rollback, args=(pending,))
    b.button(t("data.rollback.cancel"), key="data_rb_cancel", on_click=lambda: ss.pop("data_rb_pending", None))


def _rollback(batch: int) -> None:
    ss.pop("data_rb_pending", None)
    _attempt(lambda: ingest_undo.rollback(sh.engine(), user, int(batch)), t("data.rolled_back", batch=batch))


# ---- database sources --------------------------------------------------------------------------

def _save_source() -> None:
    _attempt(lambda: sources.register(sh.engine(), user, ss.get("data_src_name") or "", ss.get("data_src_url") or None,
                                      ss.get("data_src_note") or ""),
             lambda s: t("data.src.saved", name=s.name, dialect=s.dialect))
    ss["data_src_url"] = ""  # never keep a password in the session longer than needed


def _preview_feed() -> None:
    by_table = ss.get("data_feed_mode") == "table"
    feed = sources.Feed(ss["data_feed_source"], ss["data_feed_target"],
                        source_table=(ss.get("data_feed_table") or None) if by_table else None,
                        query=None if by_table else (ss.get("data_feed_query") or None), mapping={},
                        watermark_column=ss.get("data_feed_wm") or "")
    inc = _attempt(lambda: source_sync.read_increment(sh.engine(), feed, limit=20))
    ss["data_feed_sample"] = inc.raw if inc is not None else None
    if inc is not None:
        _reset("data_feed_map_")
        for f, col in ingest.suggest_mapping(inc.raw, feed.target).columns.items():
            ss[f"data_feed_map_{f}"] = col


def _save_feed() -> None:
    target = ss["data_feed_target"]
    mapping = {f.name: ss.get(f"data_feed_map_{f.name}") for f in fields(target)}
    _attempt(lambda: sources.set_feed(
        sh.engine(), user, ss["data_feed_source"], target, mapping, ss.get("data_feed_wm") or "",
        source_table=ss.get("data_feed_table") if ss.get("data_feed_mode") == "table" else None,
        query=ss.get("data_feed_query") if ss.get("data_feed_mode") != "table" else None,
        options={"create_missing": bool(ss.get("data_feed_create")), **_options().to_dict()}),
        t("data.feed.saved"))


def _sync(name: str, target: str) -> None:
    _attempt(lambda: source_sync.sync(sh.engine(), user, name, target),
             lambda r: t("data.synced", rows=r.rows, replaced=r.replaced, batch=r.batch_id) if r.batch_id
             else t("data.synced.none"))


def _sources_tab() -> None:
    st.caption(t("data.src.caption"))
    known = sources.sources(sh.engine())
    if known:
        st.dataframe(pd.DataFrame([{"name": s.name, "dialect": s.dialect, "secret": s.secret_ref, "note": s.note}
                                   for s in known]), hide_index=True, key="data_src_table")
    else:
        st.info(t("data.src.none"))
    if can_write:
        with st.expander(t("data.src.new")):
            st.text_input(t("data.src.name"), key="data_src_name")
            st.text_input(t("data.src.url"), type="password", key="data_src_url")
            st.text_input(t("data.src.note"), key="data_src_note")
            st.button(t("data.src.save"), key="data_src_save", on_click=_save_source)
    st.subheader(t("data.feed.title"))
    for f in sources.feeds(sh.engine()):
        a, b = st.columns([3, 1])
        a.markdown(f"**{f.source_name} → {f.target}** · {f.source_table or f.query} · "
                   f"{t('data.feed.col.watermark')} `{f.watermark_column}` = {f.watermark or '—'} · "
                   f"{t('data.feed.col.last_sync')} {f.last_sync_at or '—'} · {t('data.feed.col.rows')} {f.last_rows or 0}")
        if can_write:
            b.button(t("data.sync", source=f.source_name, target=f.target), key=f"data_sync_{f.source_name}_{f.target}",
                     on_click=_sync, args=(f.source_name, f.target))
    if not (can_write and known):
        return
    with st.expander(t("data.feed.title")):
        st.selectbox(t("data.feed.source"), [s.name for s in known], key="data_feed_source")
        target = st.selectbox(t("data.feed.target"), list(sources.FEED_KEYS), key="data_feed_target",
                              format_func=_table_label)
        st.caption(t("data.feed.key", fields=" + ".join(sources.key_columns(target))))
        mode = st.radio(t("data.feed.mode"), ["table", "query"], key="data_feed_mode", horizontal=True,
                        format_func=lambda m: t(f"data.feed.mode.{m}"))
        if mode == "table":
            st.text_input(t("data.feed.table"), key="data_feed_table")
        else:
            st.text_area(t("data.feed.query"), key="data_feed_query")
        st.text_input(t("data.feed.wm"), key="data_feed_wm")
        st.checkbox(t("data.opt.create_missing"), key="data_feed_create")
        st.button(t("data.feed.preview"), key="data_feed_preview", on_click=_preview_feed)
        sample = ss.get("data_feed_sample")
        if sample is not None:
            st.dataframe(sample.frame.head(5), hide_index=True, key="data_feed_sample_table")
            cols = st.columns(3)
            for i, fld in enumerate(fields(target)):
                cols[i % 3].selectbox(fld.label_zh if lang == "zh" else fld.label_en, ["", *sample.columns],
                                      key=f"data_feed_map_{fld.name}", format_func=lambda c: c or t("data.unmapped"))
            st.button(t("data.feed.save"), key="data_feed_save", type="primary", on_click=_save_feed)


# ---- any table as a dataset --------------------------------------------------------------------

def _ext_import(raw: ingest.RawTable, columns: tuple) -> None:
    roles = {c.name: ss.get(f"data_ext_role_{c.name}", c.role.value) for c in columns}
    _attempt(lambda: reg.import_as_is(sh.engine(), user, raw.frame, ss.get("data_ext_name") or "",
                                      label_zh=ss.get("data_ext_label") or None, columns=reg.with_roles(columns, roles),
                                      source=raw.filename, replace_existing=bool(ss.get("data_ext_replace"))),
             lambda d: t("data.ext.done", table=d.table_name, rows=d.row_count))


def _datasets_tab() -> None:
    st.caption(t("data.ext.caption"))
    known = reg.registered(sh.engine())
    if known:
        st.markdown(f"**{t('data.ext.registered')}**")
        st.dataframe(pd.DataFrame([{"table": d.table_name, "label": d.label_zh, "rows": d.row_count,
                                    "time": d.time_column, "source": d.source, "by": d.created_by} for d in known]),
                     hide_index=True, key="data_ext_table")
        if can_write:
            for d in known:
                st.button(t("data.ext.drop", table=d.table_name), key=f"data_ext_drop_{d.table_name}",
                          on_click=lambda n=d.table_name: _attempt(lambda: reg.drop(sh.engine(), user, n),
                                                                   t("data.ext.dropped", table=n)))
    if not can_write:
        return
    up = st.file_uploader(t("data.ext.upload"), type=FILE_TYPES, key="data_ext_upload")
    if up is None:
        return
    try:
        raw = _read(up.getvalue(), up.name, None)
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    columns = reg.infer_columns(raw.frame)
    a, b = st.columns(2)
    a.text_input(t("data.ext.name"), key="data_ext_name")
    b.text_input(t("data.ext.label"), key="data_ext_label")
    st.markdown(f"**{t('data.ext.roles')}**")
    cols = st.columns(3)
    for i, c in enumerate(columns):
        cols[i % 3].selectbox(f"{c.label} ({c.type.value})", [r.value for r in reg.Role],
                              index=[r.value for r in reg.Role].index(c.role.value), key=f"data_ext_role_{c.name}",
                              format_func=lambda r: t(f"data.ext.role.{r}"))
    st.checkbox(t("data.ext.replace"), key="data_ext_replace")
    st.button(t("data.ext.import"), key="data_ext_import", type="primary", on_click=_ext_import, args=(raw, columns))


# ---- page --------------------------------------------------------------------------------------

st.title(t("data.title"))
st.caption(t("data.caption"))
if not can_write:  # import history, source queries and row counts are store-wide: for importers only
    st.info(t("data.readonly"))
    st.stop()
if "data_flash" in ss:
    kind, text = ss.pop("data_flash")
    (st.success if kind == "success" else st.error)(text)
tabs = st.tabs([t(f"data.tab.{x}") for x in ("import", "history", "sources", "datasets")])
try:
    with tabs[0]:
        _import_tab()
    with tabs[1]:
        _history_tab()
    with tabs[2]:
        _sources_tab()
    with tabs[3]:
        _datasets_tab()
except WorkbenchError as exc:
    sh.show_error(exc)
