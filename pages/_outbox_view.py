"""通知发件箱 / Notification outbox: ``render()`` (outbox with retry) and ``render_contacts()`` (users' e-mails).

Called from the alerts page (outbox tab) and the admin page; widget keys start with "nt_".
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.access import auth
from lib.core.errors import WorkbenchError
from lib.core.tables.notify import Status
from lib.performance.notify import outbox as notify
from pages import _shared as sh

_COLUMNS = ("id", "created_at", "channel", "recipient", "subject", "status", "attempts", "next_attempt_at",
            "last_error", "sent_at", "ref")


def _channels_caption() -> None:
    try:
        ch = notify.channels_from_config()
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    lines = [sh.t("nt.channels.email_on", host=ch.email.host, port=ch.email.port, sender=ch.email.sender)
             if ch.email else sh.t("nt.channels.off", channel=sh.t("nt.channel.email")),
             sh.t("nt.channels.webhook_on", flavor=ch.webhook.flavor.value, name=ch.webhook.name)
             if ch.webhook else sh.t("nt.channels.off", channel=sh.t("nt.channel.webhook"))]
    st.caption(" · ".join(lines), help=sh.t("nt.channels.help"))


def _table(df: pd.DataFrame) -> pd.DataFrame:
    """The outbox as people read it: localised channel and status, labelled headers."""
    out = df[list(_COLUMNS)].copy()
    out["channel"] = [sh.t(f"nt.channel.{c}") for c in out["channel"]]
    out["status"] = [sh.t(f"nt.status.{s}") for s in out["status"]]
    return out.rename(columns={c: sh.t(f"nt.col.{c}") for c in _COLUMNS})


def _manage(engine) -> None:
    """Finance/admin: send what is due now, and queue a failed message again."""
    user = sh.current_user()
    left, right = st.columns([1, 2])
    if left.button(sh.t("nt.deliver"), key="nt_deliver"):
        try:
            report = notify.deliver(engine)
            st.success(sh.t("nt.deliver.done", sent=report.sent, retrying=report.retrying, failed=report.failed,
                            unconfigured=report.unconfigured))
        except WorkbenchError as exc:
            sh.show_error(exc)
    waiting = pd.concat([notify.outbox(engine, status=Status.FAILED.value, limit=100),
                         notify.outbox(engine, status=Status.PENDING.value, limit=100)])
    if waiting.empty:
        right.caption(sh.t("nt.retry.none"))
        return
    labels = {int(r.id): f"#{r.id} · {sh.t('nt.status.' + r.status)} · {r.recipient} · {r.subject}"
              for r in waiting.itertuples()}
    picked = right.selectbox(sh.t("nt.retry.pick"), list(labels), format_func=labels.get, key="nt_retry_id")
    if right.button(sh.t("nt.retry"), key="nt_retry"):
        try:
            notify.retry(engine, user, int(picked))
            st.success(sh.t("nt.retry.done", id=picked))
        except WorkbenchError as exc:
            sh.show_error(exc)


def render() -> None:
    """The outbox: every message for finance/admin (with retry), one's own e-mails for anyone else."""
    st.subheader(sh.t("nt.outbox.title"))
    st.caption(sh.t("nt.outbox.caption", n=notify.MAX_ATTEMPTS))
    engine, user = sh.engine(), sh.current_user()
    manager = auth.may(user, notify.RETRY_ACTION)
    try:
        if manager:
            _channels_caption()
            failed = notify.counts(engine)[Status.FAILED.value]
            if failed:
                st.warning(sh.t("nt.outbox.failed_warning", n=failed))
            _manage(engine)
        else:
            email = notify.contact_email(engine, user.username)
            st.caption(sh.t("nt.outbox.own_only", email=email) if email else sh.t("nt.outbox.no_email"))
        # Labels made now: a format_func that read the language later would outlive this run's session.
        labels = {s: sh.t(f"nt.status.{s or 'all'}") for s in ["", *(s.value for s in Status)]}
        status = st.selectbox(sh.t("nt.status.filter"), list(labels), key="nt_status", format_func=labels.get)
        df = notify.outbox(engine, status=status or None, user=user)
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    if df.empty:
        st.info(sh.t("nt.outbox.empty"))
        return
    st.dataframe(_table(df), key="nt_outbox_table", hide_index=True, width="stretch")


def render_contacts() -> None:
    """Admin: the users' contact e-mails, and a form to set one."""
    st.subheader(sh.t("nt.contacts.title"))
    user = sh.current_user()
    if not auth.may(user, notify.CONTACT_ACTION):
        st.info(sh.t("nt.contacts.admin_only"))
        return
    st.caption(sh.t("nt.contacts.caption"))
    engine = sh.engine()
    df = notify.contacts(engine)
    if df.empty:
        return
    a, b, c = st.columns([1, 2, 1], vertical_alignment="bottom")
    username = a.selectbox(sh.t("nt.contacts.user"), df["username"].tolist(), key="nt_contact_user")
    current = df.loc[df["username"] == username, "email"].iloc[0]
    email = b.text_input(sh.t("nt.contacts.email"), value="" if pd.isna(current) else str(current),
                         key=f"nt_contact_email_{username}")
    if c.button(sh.t("nt.contacts.save"), key="nt_contact_save"):
        try:
            notify.set_email(engine, user, username, email)
            st.success(sh.t("nt.contacts.saved", user=username))
            df = notify.contacts(engine)
        except WorkbenchError as exc:
            sh.show_error(exc)
    cols = ["username", "display_name", "role", "email"]
    st.dataframe(df[cols].rename(columns={k: sh.t(f"nt.contacts.col.{k}") for k in cols}),
                 key="nt_contacts_table", hide_index=True, width="stretch")
