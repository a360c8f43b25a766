"""绩效考核 / Scorecards: finance evaluates, tries weights and pool, publishes; everyone reads published runs
(dept heads: their own units' lines and the ranking, named or anonymised as the template says)."""
import streamlit as st

from lib.access import auth
from lib.core.errors import WorkbenchError
from lib.performance.scorecards import center as scorecard
from lib.performance.scorecards.defs import parse_period
from pages import _scorecard_admin as admin
from pages import _scorecard_parts as parts
from pages import _shared as sh

t = parts.t
lang = sh.lang()
user = sh.current_user()
can_edit = auth.may(user, "edit_scorecards")


def _run_label(r) -> str:
    status = t(f"sc.status.{r.status}") + (f" · {t('sc.effective')}" if r.effective else "")
    return t("sc.run.label", id=r.id, template=r.template_name, period=r.period, version=r.version, status=status)


def show_run(run_id: int) -> None:
    """A stored run as this user may see it: frozen ranking and bonus, and how each KPI scored."""
    try:
        v = scorecard.run_view(sh.engine(), user, run_id, lang)
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    r = v.run
    published = f"{r['published_by']} {r['published_at']:%Y-%m-%d %H:%M}" if r["published_at"] else "—"
    computed = f"{r['computed_at']:%Y-%m-%d %H:%M}" if r.get("computed_at") else "—"
    st.caption(t("sc.run.meta", version=r["version"], status=t(f"sc.status.{r['status']}"), created_by=r["created_by"],
                 created_at=f"{r['created_at']:%Y-%m-%d %H:%M}", computed_at=computed, published=published))
    if r["reason"]:
        # typed by finance: shown as text
        st.caption(t("sc.run.reason", reason=sh.plain(r["reason"])))
    if r["status"] == "published" and not v.effective:
        st.warning(t("sc.superseded"))
    if can_edit and r["status"] == "draft":
        parts.unscored_warning(scorecard.unscored(v.lines, lang), v.template)
    if can_edit and r["status"] == "draft" and st.button(t("sc.publish", run=run_id), key="sc_publish", type="primary"):
        try:
            scorecard.publish(sh.engine(), user, run_id)
            st.success(t("sc.published", run=run_id))
            st.rerun()
        except WorkbenchError as exc:
            sh.show_error(exc)
    st.subheader(t("sc.tab.ranking"))
    if v.template.ranking.value == "anonymised" and not can_edit:
        st.caption(t("sc.ranking.anonymised"))
    parts.ranking_table(v.totals, key=f"sc_run_ranking_{run_id}")
    own = v.totals[v.totals["org_unit_id"].isin(v.own)]
    if own.empty:
        st.info(t("sc.own.none"))
        return
    names = dict(zip(own["org_unit_id"], own["unit"]))
    uid = st.selectbox(t("sc.unit"), list(names), format_func=lambda u: names.get(u, str(u)), key="sc_run_unit")
    st.subheader(t("sc.detail", unit=sh.plain(names.get(uid, ""))))
    parts.lines_table(v.lines[v.lines["org_unit_id"] == uid], v.template, parse_period(r["period"]),
                      key=f"sc_run_lines_{run_id}", units=tuple(v.lines["unit"].unique()), hidden=v.hidden)


def _in_force(df) -> int | None:
    """The latest published run in force (not superseded), the one people read; None without one."""
    eff = df[(df["status"] == "published") & df["effective"]] if not df.empty else df
    return None if eff.empty else int(eff.sort_values(["published_at", "id"]).iloc[-1]["id"])


def runs_tab(template_id: str | None) -> None:
    """Pick a run (default: the latest published run in force, else the newest the user may see) and show it."""
    df = scorecard.runs(sh.engine(), user, template_id)
    if df.empty:
        st.info(t("sc.runs.none"))
        return
    labels = {int(r.id): _run_label(r) for r in df.itertuples()}
    if st.session_state.get("sc_run") not in labels:
        st.session_state.pop("sc_run", None)
    ids = list(labels)
    in_force = _in_force(df)
    run_id = st.selectbox(t("sc.run.pick"), ids, index=ids.index(in_force) if in_force in ids else 0,
                          format_func=lambda i: labels.get(i, str(i)), key="sc_run")
    show_run(run_id)


st.title(t("sc.title"))
st.caption(t("sc.caption"))
sh.as_of_caption()
try:
    templates = scorecard.templates(sh.engine())
except WorkbenchError as exc:
    sh.show_error(exc)
    st.stop()

if not can_edit:  # dept heads and viewers: published runs only, scoped by lib
    runs_tab(None)
    st.stop()

if not templates:
    st.info(t("sc.runs.none"))
    st.stop()
by_id = {x.id: x for x in templates}
a, b = st.columns(2)
tid = a.selectbox(t("sc.template"), list(by_id), format_func=lambda i: by_id[i].name(lang), key="sc_template")
periods = scorecard.period_choices(sh.engine())
period = b.selectbox(t("sc.period"), periods, key="sc_period", help=t("sc.period.help"))
tpl = by_id[tid]
tab_labels = [t(f"sc.tab.{x}") for x in ("evaluate", "runs", "manual", "template")]
# With a published run in force the page opens on it (what people come to read); else on evaluating one.
published = _in_force(scorecard.runs(sh.engine(), user, tid)) is not None
evaluate, runs, manual, definition = st.tabs(tab_labels, default=tab_labels[1] if published else None)
with evaluate:
    admin.evaluate_tab(tpl, period)
with runs:
    runs_tab(tid)
with manual:
    admin.manual_tab(tpl, period)
with definition:
    parts.template_table(tpl)
