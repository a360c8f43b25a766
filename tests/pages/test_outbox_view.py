"""AppTest of the outbox and contacts views (``pages/_outbox_view.py``) per role and language.

The views are drawn by a two-line script as the alerts and admin pages draw them, with the user put
in the session as the log-in gate does; the store is this module's own (no demo data needed: the
views read only the outbox and the users).
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from lib.access import auth
from lib.core import config, store
from lib.core.tables.notify import outbox
from lib.performance.notify import channels as notify_channels
from lib.performance.notify import outbox as notify
from tests.conftest import BACKENDS, _new_url
from tests.pages.conftest import shown

T0 = dt.datetime(2026, 11, 24, 9, 0)
USERS = [("demo_admin", "admin"), ("demo_finance", "finance"), ("demo_east", "dept_head"),
         ("demo_viewer", "viewer"), ("demo_west", "dept_head")]


@pytest.fixture(scope="module", params=BACKENDS)
def url(request, tmp_path_factory):
    u = _new_url(request.param, tmp_path_factory, request)
    engine = store.get_engine(u)
    store.init_schema(engine)
    with engine.begin() as conn:
        auth.replace_demo_users(conn, [{"username": n, "role": r} for n, r in USERS], "not-a-real-password-1")
    notify.seed_demo(engine)
    with engine.begin() as conn:   # demo_viewer has no e-mail: nothing reaches them
        conn.execute(sa.text("UPDATE app_user SET email = NULL WHERE username = 'demo_viewer'"))
    engine.dispose()
    return u


@pytest.fixture
def eng(url, monkeypatch, tmp_path):
    """The store with three messages: one sent to east, one failed to west, one pending for the group robot;
    no channel configured (neither env nor a secrets file)."""
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    monkeypatch.setattr(config, "SECRETS_FILE", tmp_path / "secrets.toml")
    for key in notify_channels.KEYS:
        monkeypatch.delenv(notify_channels.ENV_PREFIX + key.upper(), raising=False)
    engine = store.get_engine(url)
    with engine.begin() as conn:
        conn.execute(outbox.delete())
        ids = [notify.enqueue(conn, channel=c, recipient=r, subject=s, body="b", now=T0) for c, r, s in (
            ("email", "demo.east@yecai.example", "华东 DSO"), ("email", "demo.west@yecai.example", "西部 逾期"),
            ("webhook", "group", "华北 费用"))]
        conn.execute(outbox.update().where(outbox.c.id == ids[0]).values(status="sent", attempts=1, sent_at=T0))
        conn.execute(outbox.update().where(outbox.c.id == ids[1]).values(status="failed", attempts=5,
                                                                         last_error="HTTP 500"))
    yield engine, ids
    engine.dispose()


def _views():
    from pages import _outbox_view as view
    view.render()
    view.render_contacts()


def _open(engine, username: str, lang: str) -> AppTest:
    at = AppTest.from_function(_views, default_timeout=30)
    at.session_state["lang"] = lang
    at.session_state["_user"] = auth.load_user(engine, username)
    return at.run()


def _status(engine, oid):
    with engine.connect() as conn:
        return conn.execute(sa.select(outbox.c.status, outbox.c.attempts).where(outbox.c.id == oid)).one()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("username, rows, buttons", [
    ("demo_finance", 3, {"nt_deliver", "nt_retry"}),
    ("demo_admin", 3, {"nt_deliver", "nt_retry", "nt_contact_save"}),
    ("demo_east", 1, set()),
    ("demo_viewer", 0, set()),
])
def test_each_role_sees_its_part(eng, username, lang, rows, buttons):
    engine, _ = eng
    at = _open(engine, username, lang)
    assert not at.exception, at.exception
    assert {b.key for b in at.button} == buttons
    if rows:
        assert len(at.dataframe[0].value) == rows           # the outbox comes first
    else:
        assert len(at.dataframe) == 0 and len(at.info) == 2  # empty outbox; contacts are admin-only
    if username in ("demo_finance", "demo_admin"):          # the failed message is called out
        assert len(at.warning) == 1 and "1" in at.warning[0].value


def test_finance_retries_a_failed_message_and_delivery_waits_for_a_channel(eng):
    engine, (sent, failed, pending) = eng
    at = _open(engine, "demo_finance", "en")
    assert set(at.selectbox(key="nt_retry_id").options) == {f"#{failed} · Failed · demo.west@yecai.example · 西部 逾期",
                                                            f"#{pending} · Pending · group · 华北 费用"}
    at.selectbox(key="nt_retry_id").set_value(failed)
    at.button(key="nt_retry").click().run()
    assert not at.exception and at.success and str(failed) in at.success[0].value
    assert tuple(_status(engine, failed)) == ("pending", 0)
    at.button(key="nt_deliver").click().run()
    assert "waiting for an unconfigured channel 2" in at.success[0].value   # kept pending, not dropped
    at.selectbox(key="nt_status").set_value("sent").run()
    assert at.dataframe[0].value["ID"].tolist() == [sent]


def test_admin_sets_a_contact_and_a_bad_address_is_refused(eng):
    engine, _ = eng
    at = _open(engine, "demo_admin", "zh")
    at.selectbox(key="nt_contact_user").set_value("demo_viewer").run()
    at.text_input(key="nt_contact_email_demo_viewer").input("viewer-at-home")
    at.button(key="nt_contact_save").click().run()
    assert at.error and "viewer-at-home" in shown(at.error[0].value)
    assert notify.contact_email(engine, "demo_viewer") is None
    at.text_input(key="nt_contact_email_demo_viewer").input("viewer@yecai.example")
    at.button(key="nt_contact_save").click().run()
    assert not at.error and notify.contact_email(engine, "demo_viewer") == "viewer@yecai.example"
    notify.set_email(engine, auth.load_user(engine, "demo_admin"), "demo_viewer", "")   # as the module found it


def test_deliver_button_records_any_sender_error_and_an_unreached_user_sees_why(eng, monkeypatch):
    """A sender raising ValueError shows as a retry in the report and the outbox, never as a traceback; a
    message that reached nobody is shown to finance and to the user it was meant for, with the reason."""
    engine, _ = eng
    monkeypatch.setenv(notify_channels.ENV_PREFIX + "SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv(notify_channels.ENV_PREFIX + "SMTP_SENDER", "wb@yecai.example")

    def boom(cfg, to, subject, body):
        raise ValueError(f"header refused for {to}")

    monkeypatch.setattr(notify, "send_email", boom)
    with engine.begin() as conn:
        mail = notify.enqueue(conn, channel="email", recipient="demo.east@yecai.example", subject="华东 存货",
                              body="b", now=T0)
        unreached = notify.enqueue_unreachable(conn, username="demo_viewer", subject="华南 DSO", body="b", now=T0)
    at = _open(engine, "demo_finance", "en")
    at.button(key="nt_deliver").click().run()
    assert not at.exception and "retrying 1" in at.success[0].value
    table = at.dataframe[0].value.set_index("ID")
    assert table.loc[mail, "Last error"] == "ValueError: header refused for demo.east@yecai.example"
    assert table.loc[unreached, "Recipient"] == "@demo_viewer" and table.loc[unreached, "Status"] == "Failed"
    at = _open(engine, "demo_viewer", "zh")
    assert not at.exception
    shown = at.dataframe[0].value
    assert shown["编号"].tolist() == [unreached] and "没有邮箱地址" in shown["最近错误"].iloc[0]
