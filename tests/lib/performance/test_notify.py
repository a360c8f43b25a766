"""Notifications: outbox writes, recipients, delivery by SMTP and webhook against local servers, retries.

The SMTP server (aiosmtpd) and the HTTP server (the robots' stand-in) run in threads of this process on
free local ports; the webhook server answers by path: ``/ok`` accepts, ``/errcode`` answers 200 with a
robot error code, ``/500`` fails, ``/flaky`` fails twice then accepts. One store per backend for the
module; each test starts from an empty outbox, so the order of tests does not matter.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from lib.access import audit, auth
from lib.core import store
from lib.core.errors import Forbidden, InvalidArgument
from lib.core.tables.notify import outbox
from lib.performance.notify import outbox as notify
from lib.performance.notify.channels import (
    Channels,
    Flavor,
    Security,
    SmtpConfig,
    WebhookConfig,
    channels_from_config,
    dingtalk_signed_url,
    webhook_payload,
)
from tests.conftest import BACKENDS, _new_url

T0 = dt.datetime(2026, 11, 24, 9, 0)
USERS = [  # (name, role, email): one hand-checkable set of contacts
    ("n_admin", "admin", "admin@yecai.example"),
    ("n_fin", "finance", "fin@yecai.example"),
    ("n_east", "dept_head", "east@yecai.example"),
    ("n_west", "dept_head", None),
    ("n_gone", "viewer", "gone@yecai.example"),   # disabled below: never a recipient
    ("n_twin", "viewer", "fin@yecai.example"),    # shares finance's address: one message, not two
]


# ---- local servers ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Mailbox:
    """aiosmtpd handler: keeps what it receives; refuses recipients whose address starts with "nobody"."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.rcpts: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.rcpts.extend(envelope.rcpt_tos)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp():
    box = _Mailbox()
    ctl = Controller(box, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    yield SmtpConfig(host="127.0.0.1", port=ctl.port, sender="workbench@yecai.example", timeout_s=5), box
    ctl.stop()


class _Robot(BaseHTTPRequestHandler):
    posts: list[tuple[str, dict]] = []
    flaky_left = [0]

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
        path = self.path.split("?")[0]
        self.posts.append((self.path, body))
        if path == "/flaky" and self.flaky_left[0] > 0:
            self.flaky_left[0] -= 1
            path = "/500"
        if path == "/500":
            self.send_response(500)
            self.end_headers()
            return
        answer = {"errcode": 93000, "errmsg": "invalid webhook url"} if path == "/errcode" else \
            {"errcode": 0, "errmsg": "ok"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def robot():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Robot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _hook(base: str, path: str, flavor: Flavor = Flavor.WECOM, **kw) -> Channels:
    return Channels(webhook=WebhookConfig(url=f"{base}{path}", flavor=flavor, timeout_s=5, **kw))


# ---- the store ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=BACKENDS)
def module_engine(request, tmp_path_factory):
    """An empty store of this module's own per backend, with the users above (written to by the tests)."""
    engine = store.get_engine(_new_url(request.param, tmp_path_factory, request))
    store.init_schema(engine)
    with engine.begin() as conn:
        auth.replace_demo_users(conn, [{"username": n, "role": r} for n, r, _ in USERS], "not-a-real-password-1")
        conn.execute(sa.update(auth.users).where(auth.users.c.username == "n_gone").values(active=False))
    yield engine
    engine.dispose()


@pytest.fixture
def eng(module_engine):
    """The module's store with an empty outbox and the contacts of ``USERS``."""
    with module_engine.begin() as conn:
        conn.execute(outbox.delete())
        for name, _, address in USERS:
            conn.execute(sa.text("UPDATE app_user SET email = :e WHERE username = :u"), {"e": address, "u": name})
    _Robot.posts.clear()
    return module_engine


def _user(eng, name):
    return auth.load_user(eng, name)


def _queue(eng, channel="email", recipient="east@yecai.example", subject="预警：华北费用超支", body="正文 body",
           ref="alert:1") -> int:
    with eng.begin() as conn:
        return notify.enqueue(conn, channel=channel, recipient=recipient, subject=subject, body=body, ref=ref, now=T0)


def _row(eng, oid):
    with eng.connect() as conn:
        return conn.execute(sa.select(outbox).where(outbox.c.id == oid)).one()


# ---- pure functions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("attempts, minutes", [(0, 0), (1, 1), (2, 2), (3, 4), (4, 8), (6, 32), (7, 60), (50, 60)])
def test_backoff_doubles_and_is_capped_at_an_hour(attempts, minutes):
    assert notify.backoff(attempts) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize("flavor, expected", [
    (Flavor.WECOM, {"msgtype": "markdown", "markdown": {"content": "### 预警\n\n华北 opex"}}),
    (Flavor.DINGTALK, {"msgtype": "markdown", "markdown": {"title": "预警", "text": "### 预警\n\n华北 opex"}}),
])
def test_webhook_payload_per_robot(flavor, expected):
    assert webhook_payload(flavor, "预警", "华北 opex") == expected


def test_webhook_payload_cuts_long_text_on_a_character_boundary():
    content = webhook_payload(Flavor.WECOM, "S", "费" * 3000)["markdown"]["content"]
    assert len(content.encode()) <= 4000 and content.endswith("……") and "\ufffd" not in content


def test_dingtalk_signature_follows_the_documented_recipe():
    import base64
    import hashlib
    import hmac
    import urllib.parse
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", "SEC123", 1700000000000)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["access_token"] == ["abc"] and query["timestamp"] == ["1700000000000"]
    expected = base64.b64encode(hmac.new(b"SEC123", b"1700000000000\nSEC123", hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]


def test_channels_from_env_and_secrets_file_env_wins(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[notify]\nsmtp_host = "mail.local"\nsmtp_sender = "wb@x.cn"\nsmtp_port = 2525\n'
                       'webhook_url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"\n', encoding="utf-8")
    ch = channels_from_config(env={"WORKBENCH_NOTIFY_SMTP_PORT": "587", "WORKBENCH_NOTIFY_SMTP_SECURITY": "STARTTLS",
                                   "WORKBENCH_NOTIFY_WEBHOOK_FLAVOR": "dingtalk"}, secrets_path=secrets)
    assert (ch.email.host, ch.email.port, ch.email.sender, ch.email.security) == ("mail.local", 587, "wb@x.cn",
                                                                                  Security.STARTTLS)
    assert ch.webhook.flavor is Flavor.DINGTALK and ch.webhook.name == "group"
    assert "key=K" not in repr(ch)   # the robot's key never shows in logs or errors
    assert channels_from_config(env={}, secrets_path=tmp_path / "none.toml") == Channels()


@pytest.mark.parametrize("env, needle", [
    ({"WORKBENCH_NOTIFY_SMTP_HOST": "h"}, "smtp_sender"),
    ({"WORKBENCH_NOTIFY_SMTP_HOST": "h", "WORKBENCH_NOTIFY_SMTP_SENDER": "a@b.cn",
      "WORKBENCH_NOTIFY_SMTP_PORT": "twenty"}, "twenty"),
    ({"WORKBENCH_NOTIFY_WEBHOOK_URL": "https://x/y", "WORKBENCH_NOTIFY_WEBHOOK_FLAVOR": "slack"}, "wecom, dingtalk"),
    ({"WORKBENCH_NOTIFY_WEBHOOK_URL": "ftp://x/y"}, "https://"),
])
def test_bad_channel_settings_say_what_is_wrong(tmp_path, env, needle):
    with pytest.raises(InvalidArgument, match=needle):
        channels_from_config(env=env, secrets_path=tmp_path / "none.toml")


# ---- writing -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, needle", [
    ({"channel": "sms", "recipient": "a@b.cn"}, "email, webhook"),
    ({"channel": "email", "recipient": "not-an-address"}, "not-an-address"),
    ({"channel": "webhook", "recipient": " "}, "recipient"),
])
def test_enqueue_refuses_bad_input(eng, kw, needle):
    with eng.begin() as conn, pytest.raises(InvalidArgument, match=needle):
        notify.enqueue(conn, subject="s", body="b", **kw)


def test_enqueue_is_part_of_the_callers_transaction(eng):
    with pytest.raises(RuntimeError), eng.begin() as conn:
        notify.enqueue(conn, channel="email", recipient="east@yecai.example", subject="s", body="b")
        raise RuntimeError("the alert run failed after queueing")
    assert notify.outbox(eng).empty
    oid = _queue(eng)
    row = _row(eng, oid)
    assert (row.status, row.attempts, row.next_attempt_at, row.ref) == ("pending", 0, T0, "alert:1")


@pytest.mark.parametrize("names, hook, expected", [
    (["n_east"], False, [("email", "east@yecai.example")]),
    (["n_east", "n_fin", "n_east"], True, [("email", "east@yecai.example"), ("email", "fin@yecai.example"),
                                           ("webhook", "group")]),
    (["n_fin", "n_twin"], False, [("email", "fin@yecai.example")]),      # one address, once
    (["n_west", "n_gone", "nobody_here"], False, []),                     # no e-mail, disabled, unknown
    ([], True, [("webhook", "group")]),
])
def test_recipients_for(eng, names, hook, expected):
    channels = Channels(webhook=WebhookConfig(url="http://127.0.0.1:9/x")) if hook else Channels()
    with eng.connect() as conn:
        assert notify.recipients_for(conn, names, channels) == expected


# ---- delivering --------------------------------------------------------------------------------------

def test_email_goes_through_smtp_and_a_refused_recipient_is_retried(eng, smtp):
    cfg, box = smtp
    before = len(box.messages)
    good, refused = _queue(eng), _queue(eng, recipient="nobody@yecai.example")
    report = notify.deliver(eng, Channels(email=cfg), now=T0)
    assert (report.sent, report.retrying, report.failed) == (1, 1, 0)
    msg = box.messages[before]
    assert (msg["To"], msg["From"], str(msg["Subject"])) == ("east@yecai.example", cfg.sender, "预警：华北费用超支")
    assert msg.get_content().strip() == "正文 body"
    assert (_row(eng, good).status, _row(eng, good).sent_at) == ("sent", T0)
    bad = _row(eng, refused)
    assert (bad.status, bad.attempts, bad.next_attempt_at) == ("pending", 1, T0 + dt.timedelta(minutes=1))
    assert "550" in bad.last_error and "no such mailbox" in bad.last_error


@pytest.mark.parametrize("flavor, key", [(Flavor.WECOM, "content"), (Flavor.DINGTALK, "text")])
def test_webhook_posts_the_robot_json(eng, robot, flavor, key):
    _queue(eng, channel="webhook", recipient="group")
    report = notify.deliver(eng, _hook(robot, "/ok", flavor, secret="S" if flavor is Flavor.DINGTALK else None),
                            now=T0)
    assert report.sent == 1 and report.errors == ()
    (path, body), = _Robot.posts
    assert body["msgtype"] == "markdown" and body["markdown"][key] == "### 预警：华北费用超支\n\n正文 body"
    assert ("sign=" in path) == (flavor is Flavor.DINGTALK)


@pytest.mark.parametrize("path, error", [
    ("/500", "HTTP 500"), ("/errcode", "errcode 93000: invalid webhook url"), (None, "unreachable"),
])
def test_failing_endpoint_backs_off_then_fails_and_is_kept(eng, robot, path, error):
    base = robot if path else f"http://127.0.0.1:{_free_port()}"   # nothing listens there: refused
    channels = _hook(base, path or "/x")
    oid = _queue(eng, channel="webhook", recipient="group")
    now = T0
    for attempt in range(1, notify.MAX_ATTEMPTS + 1):
        assert notify.deliver(eng, channels, now=now - dt.timedelta(seconds=1)).attempted == 0  # not yet due
        report = notify.deliver(eng, channels, now=now)
        row = _row(eng, oid)
        assert row.attempts == attempt and error in row.last_error and base not in row.last_error
        if attempt < notify.MAX_ATTEMPTS:
            assert (report.retrying, row.status) == (1, "pending")
            now = row.next_attempt_at
            assert now - row.last_attempt_at == notify.backoff(attempt)
    assert (report.failed, row.status) == (1, "failed")
    assert notify.deliver(eng, channels, now=now + dt.timedelta(days=1)).attempted == 0   # given up: not resent
    assert notify.outbox(eng, status="failed")["id"].tolist() == [oid]                      # but kept and shown
    assert notify.counts(eng) == {"pending": 0, "sent": 0, "failed": 1}


def test_manual_retry_by_finance_then_delivered(eng, robot):
    oid = _queue(eng, channel="webhook", recipient="group")
    with eng.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == oid).values(status="failed", attempts=5,
                                                                      last_error="HTTP 500"))
    with pytest.raises(Forbidden):
        notify.retry(eng, _user(eng, "n_east"), oid)
    notify.retry(eng, _user(eng, "n_fin"), oid, now=T0)
    assert (_row(eng, oid).status, _row(eng, oid).attempts) == ("pending", 0)
    entry = audit.entries(eng, username="n_fin", action="notify_config", limit=1).iloc[0]
    assert entry["target"] == f"outbox:{oid}"
    assert notify.deliver(eng, _hook(robot, "/ok"), now=T0).sent == 1
    with pytest.raises(InvalidArgument, match="sent already"):
        notify.retry(eng, _user(eng, "n_admin"), oid)
    with pytest.raises(InvalidArgument, match="999999"):
        notify.retry(eng, _user(eng, "n_admin"), 999999)


def test_a_flaky_endpoint_is_delivered_on_the_third_attempt(eng, robot):
    _Robot.flaky_left[0] = 2
    oid = _queue(eng, channel="webhook", recipient="group")
    now = T0
    for _ in range(3):
        notify.deliver(eng, _hook(robot, "/flaky"), now=now)
        now = _row(eng, oid).next_attempt_at
    row = _row(eng, oid)
    assert (row.status, row.attempts, row.last_error, len(_Robot.posts)) == ("sent", 3, None, 3)


def test_an_unconfigured_channel_leaves_messages_pending_without_using_attempts(eng):
    oid = _queue(eng, channel="webhook", recipient="group")
    report = notify.deliver(eng, Channels(), now=T0)
    assert (report.unconfigured, report.attempted) == (1, 0)
    assert (_row(eng, oid).status, _row(eng, oid).attempts) == ("pending", 0)


def test_a_message_claimed_by_another_deliverer_is_not_sent_twice(eng, robot, monkeypatch):
    """Two deliverers read the same due row; the attempt-count guard lets only one of them send it."""
    _queue(eng, channel="webhook", recipient="group")
    real_begin, claimed_by_other = type(eng).begin, []

    def begin_after_rival(self):
        if not claimed_by_other:   # the rival claims between our read and our claim
            claimed_by_other.append(True)
            with real_begin(self) as conn:
                conn.execute(outbox.update().values(attempts=outbox.c.attempts + 1))
        return real_begin(self)

    monkeypatch.setattr(type(eng), "begin", begin_after_rival)
    report = notify.deliver(eng, _hook(robot, "/ok"), now=T0)
    assert (report.attempted, len(_Robot.posts)) == (0, 0)


def test_any_exception_of_a_sender_is_recorded_backed_off_and_never_stops_the_batch(eng, smtp, monkeypatch):
    """A sender raising something other than DeliveryError (here ValueError, naming a secret) uses an attempt,
    stores type and text without the secret, backs off, ends failed, and the next message still goes out."""
    cfg, box = smtp
    cfg = SmtpConfig(host=cfg.host, port=cfg.port, sender=cfg.sender, password="PW-s3cret", timeout_s=5)
    real = notify.send_email

    def boom(config, to, subject, body):
        if to.startswith("west"):
            raise ValueError(f"bad header for {to} via https://mail.example/login?token=T0K with PW-s3cret")
        real(config, to, subject, body)

    monkeypatch.setattr(notify, "send_email", boom)
    bad, good = _queue(eng, recipient="west@yecai.example"), _queue(eng)
    report = notify.deliver(eng, Channels(email=cfg), now=T0)
    assert (report.sent, report.retrying, report.failed) == (1, 1, 0) and _row(eng, good).status == "sent"
    now = T0
    for attempt in range(1, notify.MAX_ATTEMPTS + 1):
        row = _row(eng, bad)
        assert row.attempts == attempt and row.last_error.startswith("ValueError: bad header for west@")
        assert not any(s in row.last_error for s in ("PW-s3cret", "T0K", "mail.example")), row.last_error
        assert row.status == ("failed" if attempt == notify.MAX_ATTEMPTS else "pending")
        now = row.next_attempt_at
        report = notify.deliver(eng, Channels(email=cfg), now=now)
    assert report.attempted == 0 and notify.counts(eng) == {"pending": 0, "sent": 1, "failed": 1}


def test_an_http_client_error_is_a_failed_attempt_without_the_robot_key(eng, robot):
    """http.client.InvalidURL (not an OSError) quotes the URL's path and query, key included."""
    oid = _queue(eng, channel="webhook", recipient="group")
    report = notify.deliver(eng, _hook(robot, "/ok?key=SEKRET Z"), now=T0)
    row = _row(eng, oid)
    assert (report.retrying, row.status, row.attempts) == (1, "pending", 1)
    assert row.last_error.startswith("InvalidURL") and "SEKRET" not in row.last_error and not _Robot.posts


def test_a_line_break_in_the_subject_is_folded_not_fatal(eng, smtp):
    cfg, box = smtp
    oid = _queue(eng, subject="预警：华北\n费用超支")
    assert notify.deliver(eng, Channels(email=cfg), now=T0).sent == 1 and _row(eng, oid).status == "sent"
    assert str(box.messages[-1]["Subject"]) == "预警：华北 费用超支"


# ---- users who cannot be reached ----------------------------------------------------------------------

@pytest.mark.parametrize("names, missing", [
    (["n_east", "n_fin"], []),
    (["n_west", "n_east", "n_gone", "nobody_here", "n_west", ""], ["n_west", "n_gone", "nobody_here"]),
    ([], []),
])
def test_missing_contacts_are_those_recipients_for_cannot_mail(eng, names, missing):
    with eng.connect() as conn:
        assert notify.missing_contacts(conn, names) == missing


@pytest.mark.parametrize("username, error", [
    ("n_west", "用户 n_west 没有邮箱地址 / user n_west has no e-mail address"),
    ("n_gone", "用户 n_gone 已停用，未发送邮件 / user n_gone is disabled: no e-mail sent"),
    ("nobody_here", "没有用户 nobody_here，无法发送邮件 / no user nobody_here: no e-mail sent"),
])
def test_enqueue_unreachable_records_a_failed_row_that_says_why(eng, smtp, username, error):
    with pytest.raises(RuntimeError), eng.begin() as conn:   # part of the caller's transaction
        notify.enqueue_unreachable(conn, username=username, subject="s", body="b")
        raise RuntimeError("the alert run failed")
    assert notify.outbox(eng).empty
    with eng.begin() as conn:
        oid = notify.enqueue_unreachable(conn, username=username, subject="预警", body="正文", ref="alert:7", now=T0)
    row = _row(eng, oid)
    assert (row.channel, row.recipient, row.status, row.attempts, row.last_error, row.ref) == (
        "email", f"@{username}", "failed", 0, error, "alert:7")
    assert notify.deliver(eng, Channels(email=smtp[0]), now=T0 + dt.timedelta(days=1)).attempted == 0
    assert notify.outbox(eng, status="failed", user=_user(eng, "n_fin"))["id"].tolist() == [oid]


def test_an_unreachable_message_is_shown_to_its_user_and_retried_once_an_address_is_set(eng, smtp):
    cfg, box = smtp
    with eng.begin() as conn:
        oid = notify.enqueue_unreachable(conn, username="n_west", subject="西部 逾期", body="正文", now=T0)
        mailed = notify.enqueue_unreachable(conn, username="n_east", subject="华东", body="b", now=T0)
    assert (_row(eng, mailed).status, _row(eng, mailed).recipient) == ("pending", "east@yecai.example")
    assert notify.outbox(eng, user=_user(eng, "n_west"))["id"].tolist() == [oid]
    assert oid not in notify.outbox(eng, user=_user(eng, "n_east"))["id"].tolist()
    fin = _user(eng, "n_fin")
    with pytest.raises(InvalidArgument, match="has no e-mail address") as exc:
        notify.retry(eng, fin, oid)
    assert "没有邮箱地址" in exc.value.message("zh") and _row(eng, oid).status == "failed"
    notify.set_email(eng, _user(eng, "n_admin"), "n_west", "west@yecai.example")
    notify.retry(eng, fin, oid, now=T0)
    assert (_row(eng, oid).status, _row(eng, oid).recipient) == ("pending", "west@yecai.example")
    assert notify.deliver(eng, Channels(email=cfg), now=T0).sent == 2 and "west@yecai.example" in box.rcpts


def test_a_bare_user_name_is_never_handed_to_smtp(eng, smtp):
    """A row put back to pending by hand with its "@user" recipient fails with a plain message instead."""
    with eng.begin() as conn:
        oid = notify.enqueue_unreachable(conn, username="n_west", subject="s", body="b", now=T0)
        conn.execute(outbox.update().where(outbox.c.id == oid).values(status="pending"))
    before = len(smtp[1].rcpts)
    assert notify.deliver(eng, Channels(email=smtp[0]), now=T0).retrying == 1
    assert "'@n_west' is not an e-mail address" in _row(eng, oid).last_error and len(smtp[1].rcpts) == before


# ---- contacts and who sees what ---------------------------------------------------------------------

def test_contacts_set_by_admin_only_and_outbox_scoped_to_own_mail(eng):
    admin, east, fin = _user(eng, "n_admin"), _user(eng, "n_east"), _user(eng, "n_fin")
    with pytest.raises(Forbidden):
        notify.set_email(eng, fin, "n_west", "west@yecai.example")
    with pytest.raises(InvalidArgument, match="west-at-home"):
        notify.set_email(eng, admin, "n_west", "west-at-home")
    with pytest.raises(InvalidArgument, match="n_admin"):   # names the known users
        notify.set_email(eng, admin, "n_nobody", "x@y.cn")
    notify.set_email(eng, admin, "n_west", "west@yecai.example")
    assert notify.contact_email(eng, "n_west") == "west@yecai.example"
    mine, other = _queue(eng), _queue(eng, recipient="west@yecai.example")
    _queue(eng, channel="webhook", recipient="group")
    assert notify.outbox(eng, user=east)["id"].tolist() == [mine]
    assert sorted(notify.outbox(eng, user=_user(eng, "n_west"))["id"]) == [other]
    assert len(notify.outbox(eng, user=fin)) == 3
    notify.set_email(eng, admin, "n_west", "")
    assert notify.contact_email(eng, "n_west") is None and notify.outbox(eng, user=_user(eng, "n_west")).empty
    with pytest.raises(InvalidArgument, match="pending, sent, failed"):
        notify.outbox(eng, status="lost")


def test_seed_demo_fills_only_missing_demo_addresses(eng):
    assert notify.seed_demo(eng) == 1          # n_west is the only (demo) user without one
    assert notify.contact_email(eng, "n_west") == "n.west@yecai.example"
    assert notify.contact_email(eng, "n_east") == "east@yecai.example"
    assert notify.seed_demo(eng) == 0


# ---- configured from the environment, and the CLI -----------------------------------------------------

@pytest.fixture
def env_robot(monkeypatch, tmp_path, robot):
    """Channels from the environment only: the webhook at ``robot`` + path set by the test."""
    from lib.core import config
    from lib.performance.notify import channels as notify_channels
    monkeypatch.setattr(config, "SECRETS_FILE", tmp_path / "secrets.toml")
    for key in notify_channels.KEYS:
        monkeypatch.delenv(notify_channels.ENV_PREFIX + key.upper(), raising=False)
    return lambda **kv: [monkeypatch.setenv(notify_channels.ENV_PREFIX + k.upper(), v) for k, v in kv.items()]


def test_a_broken_setting_queues_the_group_message_and_delivery_says_why(eng, env_robot, robot):
    env_robot(webhook_url=f"{robot}/ok", webhook_flavor="slack", webhook_name="财务群")
    with eng.connect() as conn:   # the alert run that asks is not stopped by the bad setting
        assert notify.recipients_for(conn, ["n_east"]) == [("email", "east@yecai.example"), ("webhook", "财务群")]
    oid = _queue(eng, channel="webhook", recipient="财务群")
    with pytest.raises(InvalidArgument, match="slack"):
        notify.deliver(eng, now=T0)
    assert _row(eng, oid).status == "pending"
    env_robot(webhook_flavor="dingtalk")
    assert notify.deliver(eng, now=T0).sent == 1


def _cli(eng, capsys, *argv):
    import argparse

    from lib.cli import notify as notify_cli
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    notify_cli.add_parser(sub)
    code = notify_cli.main(parser.parse_args(["notify", *argv]), eng)
    return code, capsys.readouterr().out


def test_cli_deliver_outbox_retry_and_contact(eng, env_robot, robot, capsys):
    env_robot(webhook_url=f"{robot}/500")
    oid = _queue(eng, channel="webhook", recipient="group")
    code, out = _cli(eng, capsys, "deliver")
    assert code == 0 and "retrying 1" in out and "HTTP 500" in out and robot not in out
    code, out = _cli(eng, capsys, "outbox", "--status", "pending")
    assert code == 0 and f"{oid}" in out and "HTTP 500" in out
    with pytest.raises(Forbidden):
        _cli(eng, capsys, "retry", str(oid), "--as", "n_east")
    assert _cli(eng, capsys, "retry", str(oid), "--as", "n_fin")[0] == 0
    assert _cli(eng, capsys, "contact", "n_west", "w@yecai.example")[0] == 0
    assert _cli(eng, capsys, "contact", "n_west") == (0, "n_west: w@yecai.example\n")
    code, out = _cli(eng, capsys, "channels")
    assert "webhook: wecom robot" in out and "/500" not in out
