"""预警 / Alerts: the alert center (status, assignee, comments, chart link), rule management, the outbox."""
import urllib.parse

import streamlit as st

from lib.access import auth
from lib.core import clock
from lib.core.errors import WorkbenchError
from lib.core.tables.alerts import Status
from lib.performance.alerts import center as alerts
from pages import _alerts_rules, _outbox_view
from pages import _shared as sh
from pages import _why_parts as why_parts

engine, user, lang = sh.engine(), sh.current_user(), sh.lang()
manager = auth.may(user, "edit_alert_rules")
STATUSES = [s.value for s in Status]
status_label = {s: sh.t(f"al.status.{s}") for s in STATUSES}
severity_label = {s: sh.t(f"al.severity.{s}") for s in ("high", "medium", "low")}

st.title(sh.t("nav.alerts"))
st.caption(sh.t("al.caption"))
sh.as_of_caption()  # rules are judged as of the clock's day, on data up to the day before; days without data are not


def _run_controls() -> None:
    last = alerts.last_run(engine)
    if last:
        st.caption(sh.t("al.last_run", at=last["started_at"], as_of=last["as_of"]))
    if not manager:
        return
    c1, c2 = st.columns([1, 2])
    as_of = c1.date_input(sh.t("al.run.as_of"), value=clock.today(), key="al_as_of")
    if c2.button(sh.t("al.run"), key="al_run", icon=":material/play_arrow:"):
        s = alerts.run_now(engine, user, as_of)
        if s.preview_only:
            st.info(sh.t("al.run.preview_only", as_of=as_of, last=last["as_of"]))
        st.success(sh.t("al.run.done", rules=s.rules, new=s.new, kept=s.still_open, resolved=s.resolved,
                        sent=s.notifications, seconds=s.seconds))
        if s.reopened:
            st.info(sh.t("al.run.reopened", n=s.reopened))
        if s.unreachable:
            st.warning(sh.t("al.run.unreachable", n=s.unreachable))
        if s.errors:
            st.warning(sh.t("al.run.errors", errors="; ".join(s.errors)))


def _detail(row) -> None:
    alert_id = int(row["id"])
    esc = sh.plain   # rule names and units are typed by people: shown, never interpreted
    st.markdown(f"**#{alert_id} · {esc(str(row['rule']))} · {esc(str(row['unit']))}**  \n{esc(str(row['message']))}")
    params = dict(urllib.parse.parse_qsl(row["link"].split("?", 1)[1])) if "?" in row["link"] else {}
    st.page_link("pages/explore.py", label=sh.t("al.open_chart"), icon=":material/monitoring:", query_params=params)
    rule = next((r for r in alerts.rules(engine) if r.id == int(row["rule_id"])), None)
    ask = alerts.explanation_of(rule, row["unit"] if rule is not None and rule.dimension else None, row["period"])
    if ask is not None:
        why_parts.show("alerts", ask, key=str(alert_id))
    st.markdown(f"**{sh.t('al.history')}**")
    hist = alerts.comments(engine, user, alert_id)
    if not hist.empty:
        st.dataframe(hist, key="al_history", hide_index=True, width="stretch",
                     column_config={c: sh.t(f"al.col.{c}") for c in hist.columns})
    if not alerts.may_act(engine, user, alert_id):
        st.caption(sh.t("al.read_only"))
        return
    people = alerts.assignable(engine, user, alert_id)
    current = row["assignee"] if row["assignee"] in people else None
    with st.form(key="al_form"):
        status = st.selectbox(sh.t("al.set_status"), STATUSES, index=STATUSES.index(row["status"]), key="al_set_status",
                              format_func=status_label.get)
        assignee = st.selectbox(sh.t("al.assignee"), people, index=people.index(current) if current else None,
                                key="al_set_assignee")
        comment = st.text_area(sh.t("al.comment"), key="al_comment")
        if st.form_submit_button(sh.t("al.save")):
            alerts.update(engine, user, alert_id, status=status, assignee=assignee, comment=comment)
            st.success(sh.t("al.saved"))
            st.rerun()


def _center() -> None:
    _run_controls()
    picked = st.multiselect(sh.t("al.status"), STATUSES, default=[Status.OPEN.value, Status.ACKNOWLEDGED.value],
                            key="al_status", format_func=status_label.get)
    df = alerts.alerts(engine, user, tuple(picked) or None, lang, model=sh.model())
    if df.empty:
        st.info(sh.t("al.none"))
        return
    shown = df.assign(severity=df["severity"].map(severity_label), status=df["status"].map(status_label))
    cols = ["id", "severity", "rule", "unit", "message", "period", "first_seen", "status", "assignee", "link"]
    st.dataframe(shown[cols], key="al_table", hide_index=True, width="stretch", column_config={
        **{c: sh.t(f"al.col.{c}") for c in cols if c != "link"},
        "link": st.column_config.LinkColumn(sh.t("al.col.link"), display_text=sh.t("al.open_chart"))})
    ids = df["id"].tolist()
    labels = {i: f"#{i} {r} · {u}" for i, r, u in zip(ids, df["rule"], df["unit"])}
    alert_id = st.selectbox(sh.t("al.pick"), ids, key="al_pick", format_func=labels.get)
    if alert_id is not None:
        _detail(df[df["id"] == alert_id].iloc[0])


names = ["al.tab.alerts"] + (["al.tab.rules", "al.tab.outbox"] if manager else [])
tabs = st.tabs([sh.t(n) for n in names])
for name, tab in zip(names, tabs):
    with tab:
        try:
            if name == "al.tab.alerts":
                _center()
            elif name == "al.tab.rules":
                _alerts_rules.render(engine, user, lang)
            else:
                _outbox_view.render()
        except WorkbenchError as exc:
            sh.show_error(exc)
