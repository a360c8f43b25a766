"""指标中心 / Metric center: find a metric, read its 口径, formula and lineage, see its trend, edit it with history."""
import dataclasses
import datetime as dt

import pandas as pd
import streamlit as st

from lib.access import auth
from lib.core import i18n
from lib.core.errors import WorkbenchError
from lib.semantic import asof, metric_store
from lib.semantic import metric_view as mv
from lib.semantic.model import Direction, Format, MetricType, SemanticError, Status, TimeAgg
from pages import _shared as sh
from pages import _vocabulary_view

lang = sh.lang()
ss = st.session_state
can_edit = auth.may(sh.current_user(), "edit_metrics")
FIELDS = ("label_zh", "label_en", "description", "owner", "status", "format", "decimals", "direction", "synonyms")


def t(key: str, **kw: object) -> str:
    """UI text in this run's language (AppTest may call a format_func outside the run)."""
    return i18n.t(key, lang, **kw)


def _subject(s: str) -> str:
    return t(f"metrics.subject.{s}") if s in mv.SUBJECTS else s


def _action(a: str) -> str:  # actions written by other tools (the CLI) show as they are
    return t(f"metrics.action.{a}") if f"metrics.action.{a}" in i18n.MESSAGES else a


def _clear(prefix: str, keep: tuple[str, ...] = ()) -> None:
    for k in [k for k in ss if str(k).startswith(prefix) and not str(k).endswith(keep)]:
        del ss[k]


def _write(do, mid: str, prefix: str) -> bool:
    """Run a store write from a callback; the outcome is shown on the next run."""
    try:
        v = do()
    except SemanticError as exc:
        ss["metrics_flash"] = ("error", [f"{i.item}: {i.message}" for i in exc.issues])
        return False
    except WorkbenchError as exc:
        ss["metrics_flash"] = ("error", [sh.message(exc)])
        return False
    ss["metrics_flash"] = ("success", [t("metrics.saved", metric=mid, version=v.version)])
    _clear(prefix, keep=("_author",))
    return True


def _save(mid: str) -> None:
    m = sh.model().metric(mid)
    p = f"metrics_edit_{mid}_"
    new = mv.definition({**m.to_dict(), "subject": m.subject},
                        {f: ss.get(p + f) for f in (*FIELDS, *mv.FORMULA_FIELDS[m.type])})
    _write(lambda: metric_store.save(sh.engine(), new, ss.get(p + "author") or "", ss.get(p + "note") or "",
                                     model=sh.model(), user=sh.current_user()), mid, p)


def _restore(mid: str, version: int) -> None:
    _write(lambda: metric_store.restore(sh.engine(), mid, version, ss.get("metrics_restore_author") or "",
                                        model=sh.model(), user=sh.current_user()), mid, f"metrics_edit_{mid}_")


def _create() -> None:
    p, mtype = "metrics_new_", MetricType(ss["metrics_new_type"])
    mid = (ss.get(p + "id") or "").strip()
    if mid in sh.model().metrics:
        ss["metrics_flash"] = ("error", [t("metrics.exists", metric=mid)])
        return
    extra = ("dataset", "expr", "time_agg") if mtype is MetricType.SIMPLE else mv.FORMULA_FIELDS[mtype]
    new = mv.definition({"id": mid, "type": mtype.value, "subject": ss.get(p + "subject")},
                        {f: ss.get(p + f) for f in (*FIELDS, *extra)})
    ok = _write(lambda: metric_store.save(sh.engine(), new, ss.get(p + "author") or "", ss.get(p + "note") or "",
                                          model=sh.model(), action="create", user=sh.current_user()), mid, p)
    if ok:
        ss.update(metrics_pick=mid, metrics_search="", metrics_subject="", metrics_owner="", metrics_status="")


def _common_fields(p: str, d: dict) -> None:
    """The fields every metric has, as form widgets keyed ``p + field``, filled from definition ``d``."""
    a, b = st.columns(2)
    a.text_input(t("metrics.field.label_zh"), d.get("label_zh", ""), key=p + "label_zh")
    b.text_input(t("metrics.field.label_en"), d.get("label_en", ""), key=p + "label_en")
    st.text_area(t("metrics.field.description"), d.get("description", ""), key=p + "description")
    st.text_input(t("metrics.field.synonyms"), ", ".join(d.get("synonyms", [])), key=p + "synonyms")
    a, b, c = st.columns(3)
    a.text_input(t("metrics.field.owner"), d.get("owner", ""), key=p + "owner")
    for col, f, enum_ in ((b, "status", Status), (c, "format", Format)):
        opts = [x.value for x in enum_]
        col.selectbox(t(f"metrics.field.{f}"), opts, index=opts.index(d.get(f, opts[0])),
                      format_func=lambda x, f=f: t(f"metrics.{f}.{x}"), key=p + f)
    a, b = st.columns(2)
    a.number_input(t("metrics.field.decimals"), 0, 6, int(d.get("decimals", 2)), step=1, key=p + "decimals")
    dirs = [x.value for x in Direction]
    b.selectbox(t("metrics.field.direction"), dirs, index=dirs.index(d.get("direction", "neutral")),
                format_func=lambda x: t(f"metrics.direction.{x}"), key=p + "direction")


def _formula_fields(p: str, mtype: MetricType, d: dict, others: list[str]) -> None:
    """The formula widgets of a metric type; ``others`` are the metrics a formula may refer to."""
    def pick(f: str) -> None:
        st.selectbox(t(f"metrics.field.{f}"), others, index=others.index(d[f]) if d.get(f) in others else 0,
                     format_func=lambda x: mv.name(model, x, lang), key=p + f)
    if mtype in (MetricType.SIMPLE, MetricType.DERIVED):
        st.text_input(t("metrics.field.expr"), d.get("expr", ""), key=p + "expr")
    elif mtype is MetricType.RATIO:
        pick("numerator")
        pick("denominator")
    else:
        pick("metric")
        periods = ["month", "quarter", "year"]
        st.selectbox(t("metrics.field.period"), periods, index=periods.index(d.get("period", "year")),
                     format_func=lambda x: t(f"metrics.period.{x}"), key=p + "period")


def _author_fields(p: str) -> None:
    a, b = st.columns([1, 2])
    a.text_input(t("metrics.field.author"), key=p + "author")
    b.text_input(t("metrics.field.note"), key=p + "note")


def _create_section() -> None:
    if not can_edit:
        return
    with st.expander(t("metrics.new.title")):
        types = [x.value for x in MetricType]
        mtype = MetricType(st.selectbox(t("metrics.field.type"), types, key="metrics_new_type",
                                        format_func=lambda x: t(f"metrics.type.{x}")))
        p = "metrics_new_"
        with st.form("metrics_new_form"):
            a, b = st.columns(2)
            a.text_input(t("metrics.field.id"), key=p + "id")
            b.selectbox(t("metrics.field.subject"), mv.SUBJECTS, format_func=_subject, key=p + "subject")
            _common_fields(p, {"status": "draft"})
            if mtype is MetricType.SIMPLE:
                a, b = st.columns(2)
                a.selectbox(t("metrics.field.dataset"), list(model.datasets), key=p + "dataset",
                            format_func=lambda x: mv.dataset_name(model, x, lang))
                b.selectbox(t("metrics.field.time_agg"), ["", *(x.value for x in TimeAgg)], key=p + "time_agg",
                            format_func=lambda x: t(f"metrics.time_agg.{x or 'none'}"))
            _formula_fields(p, mtype, {}, list(model.metrics))
            _author_fields(p)
            st.form_submit_button(t("metrics.new.submit"), key="metrics_new_submit", on_click=_create)


st.title(t("metrics.title"))
st.caption(t("metrics.caption"))
try:
    model = sh.model()
except WorkbenchError as exc:
    sh.show_error(exc)
    st.stop()

if "metrics_flash" in ss:
    kind, lines = ss.pop("metrics_flash")
    if kind == "success":
        st.success(lines[0])
    else:
        st.error("\n".join([t("metrics.invalid"), "", *(f"- {sh.plain(x)}" for x in lines)]))

deep = st.query_params.get("metric")  # metrics?metric=<id> (from a scorecard line): open on that metric, once
if deep and ss.get("metrics_deep") != deep:
    ss["metrics_deep"] = deep
    if deep in model.metrics and sh.current_user().may_see_metric(deep, model):
        ss.update(metrics_pick=deep, metrics_search="", metrics_subject="", metrics_owner="", metrics_status="")
metrics = [x for x in model.metrics.values() if sh.current_user().may_see_metric(x.id, model)]  # denied: not listed
c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
text = c1.text_input(t("metrics.search"), key="metrics_search")
subjects = [s for s in mv.SUBJECTS if any(m.subject == s for m in metrics)]
subjects += sorted({m.subject for m in metrics} - set(subjects))
all_ = t("metrics.all")
subject = c2.selectbox(t("metrics.field.subject"), ["", *subjects], key="metrics_subject",
                       format_func=lambda s: _subject(s) if s else all_)
owner = c3.selectbox(t("metrics.field.owner"), ["", *sorted({m.owner for m in metrics})], key="metrics_owner",
                     format_func=lambda s: s or all_)
status = c4.selectbox(t("metrics.field.status"), ["", *(s.value for s in Status)], key="metrics_status",
                      format_func=lambda s: t(f"metrics.status.{s}") if s else all_)
found = mv.search(metrics, text or "", subject or "", owner or "", status or "")
st.caption(t("metrics.count", n=len(found)))
if not found:
    st.info(t("metrics.none_found"))
    _create_section()
    st.stop()
st.dataframe(pd.DataFrame({t("metrics.col.id"): [m.id for m in found],
                           t("metrics.col.label"): [m.label(lang) for m in found],
                           t("metrics.field.subject"): [_subject(m.subject) for m in found],
                           t("metrics.field.owner"): [m.owner for m in found],
                           t("metrics.field.status"): [t(f"metrics.status.{m.status.value}") for m in found],
                           t("metrics.field.description"): [m.description for m in found]}),
             hide_index=True, height=min(38 + 35 * len(found), 300))
_create_section()

ids = [m.id for m in found]
if ss.get("metrics_pick") not in ids:
    ss.pop("metrics_pick", None)
mid = st.selectbox(t("metrics.pick"), ids, key="metrics_pick", format_func=lambda x: mv.name(model, x, lang))
m = model.metric(mid)
hist = metric_store.history(sh.engine(), mid)

st.subheader(sh.plain(f"{m.label(lang)} · {m.id}"))
detail, lineage_tab, trend, edit, history = st.tabs(
    [t(f"metrics.tab.{x}") for x in ("detail", "lineage", "trend", "edit", "history")])

with detail:
    st.markdown(f"**{t('metrics.field.description')}**：{sh.plain(m.description)}")
    f = mv.formula(m, model, lang)
    st.markdown(f"**{t('metrics.field.formula')}**")
    st.code(f.text, language=None, wrap_lines=True)
    for line in f.details:
        st.caption(sh.plain(line))
    last = hist[0] if hist else None
    changed = (t("metrics.never_changed") if last is None or last.version == 0 else
               f"{last.created_at:%Y-%m-%d %H:%M} · {last.author} · {last.note or ''}")
    facts = [("type", t(f"metrics.type.{m.type.value}")), ("subject", _subject(m.subject)),
             ("format", f"{t(f'metrics.format.{m.format.value}')} · {m.decimals}"),
             ("direction", t(f"metrics.direction.{m.direction.value}")), ("owner", m.owner),
             ("status", t(f"metrics.status.{m.status.value}")), ("synonyms", "、".join(m.synonyms) or "—"),
             ("version", str(last.version if last else 0)), ("last_change", changed)]
    st.markdown("  \n".join(f"**{t(f'metrics.field.{k}')}**：{sh.plain(v)}" for k, v in facts))

with lineage_tab:
    lin = mv.lineage(model, mid)
    me = sh.current_user()  # metrics this reader may not see are not named either
    lin = dataclasses.replace(lin, used_by=tuple(x for x in lin.used_by if me.may_see_metric(x, model)))
    names = lambda xs: "、".join(mv.name(model, x, lang) for x in xs) or "—"  # noqa: E731
    st.markdown(f"**{t('metrics.lineage.sources')}**")
    st.markdown("\n".join(f"- `{s.table}`（{s.dataset}）：{', '.join(f'`{c}`' for c in s.columns)}"
                          for s in lin.sources))
    st.markdown("  \n".join(f"**{t(f'metrics.lineage.{k}')}**：{sh.plain(names(getattr(lin, k)))}"
                            for k in ("uses", "leaves", "used_by")))

with trend:
    st.markdown(f"**{t('metrics.trend.title')}**")
    options = ["", *mv.breakdowns(model, mid)]
    if ss.get("metrics_trend_by") not in options:
        ss.pop("metrics_trend_by", None)
    by = st.selectbox(t("metrics.trend.breakdown"), options, key="metrics_trend_by",
                      format_func=lambda d: model.dimension(d).label(lang) if d else t("metrics.trend.none"))
    a = sh.as_of_caption()  # the trend ends with the latest complete month of data, not the calendar's
    spec = mv.trend_spec(mid, by or None, asof.month_end(a.month) + dt.timedelta(days=1) if a.month else a.today)
    try:
        df = sh.run(spec)
    except WorkbenchError as exc:
        sh.show_error(exc)
        df = None
    if df is not None and (df.empty or df[mid].isna().all()):
        st.info(t("metrics.trend.empty"))
    elif df is not None:
        title = model.dimension(by).label(lang) if by else ""
        st.altair_chart(mv.trend_chart(df, m, by or None, lang, title), width="stretch", key="metrics_trend")
        if by and df[by].nunique() > mv.TREND_SERIES:
            st.caption(t("metrics.trend.top", n=mv.TREND_SERIES))
    sh.explain(spec, key="metrics_explain")


with edit:
    p, d = f"metrics_edit_{mid}_", m.to_dict()
    if not can_edit:
        st.info(t("metrics.edit.readonly"))
    else:
        with st.form("metrics_edit_form"):
            _common_fields(p, d)
            _formula_fields(p, m.type, d, [x for x in model.metrics if x != mid])
            st.caption(t("metrics.edit.kept"))
            _author_fields(p)
            st.form_submit_button(t("metrics.edit.submit"), key="metrics_edit_submit", on_click=_save, args=(mid,),
                                  type="primary")

with history:
    st.dataframe(pd.DataFrame([{t("metrics.history.version"): r.version,
                                t("metrics.history.action"): _action(r.action),
                                t("metrics.field.author"): r.author, t("metrics.history.time"): r.time,
                                t("metrics.field.note"): r.note, t("metrics.history.changes"): r.fields}
                               for r in mv.history_rows(hist)]), hide_index=True)
    if len(hist) > 1 and can_edit:
        st.text_input(t("metrics.field.author"), key="metrics_restore_author", help=t("metrics.restore.help"))
        for v in hist[1:]:
            st.button(t("metrics.restore", version=v.version), key=f"metrics_restore_{mid}_{v.version}",
                      on_click=_restore, args=(mid, v.version))

_vocabulary_view.section(can_edit)
