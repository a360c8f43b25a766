"""Notifications: an outbox written in the caller's transaction, delivered later with retries.

The flow: ``alerts.run_all`` calls :func:`recipients_for` and :func:`enqueue` inside its own
transaction (so an alert and its messages are stored together or not at all); :func:`deliver`
(CLI ``notify deliver``, for cron, or the outbox page) sends what is due through the configured
channels (:mod:`lib.performance.notify.channels`). A failed attempt is retried with exponential backoff; after
``MAX_ATTEMPTS`` the message is marked failed and stays in the outbox, shown with its last error,
until finance retries it. Nothing is dropped.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock, db
from lib.core.errors import InvalidArgument
from lib.core.tables.notify import Channel, Status, outbox, user_contact

# Channels and channels_from_config are part of this module's API (the contract names notify.channels_from_config).
from lib.performance.notify.channels import (
    Channels,
    DeliveryError,
    channels_from_config,
    configured_webhook_name,
    post_webhook,
    redact,
    send_email,
)

MAX_ATTEMPTS = 5
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_MAX = dt.timedelta(hours=1)
# A claimed message is due again after this long, so a sender that dies mid-attempt loses nothing.
LEASE = dt.timedelta(minutes=10)
MAX_ERROR = 500
RETRY_ACTION = "edit_alert_rules"     # finance and admin: they run the alerts, they own their delivery
CONTACT_ACTION = "manage_users"       # admin: contacts are user data
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")

_outbox_table = outbox   # the Table; the name ``outbox`` is the public function below


def _now() -> dt.datetime:
    return clock.now()


def backoff(attempts: int) -> dt.timedelta:
    """Wait after the ``attempts``-th failed attempt: 1, 2, 4, 8 … minutes, at most an hour.

    >>> [int(backoff(n).total_seconds() // 60) for n in (1, 2, 3, 4, 7, 20)]
    [1, 2, 4, 8, 60, 60]
    """
    if attempts < 1:
        return dt.timedelta(0)
    return min(BACKOFF_BASE * 2 ** min(attempts - 1, 20), BACKOFF_MAX)


def _channel(channel: str) -> Channel:
    try:
        return Channel(channel)
    except ValueError:
        valid = ", ".join(c.value for c in Channel)
        raise InvalidArgument(f"Unknown notification channel {channel!r}. Valid: {valid}.",
                              f"未知的通知渠道 {channel!r}。可选：{valid}。") from None


def valid_email(address: str) -> bool:
    """A plausible single address (user@host.tld); the SMTP server has the last word."""
    return bool(_EMAIL.match(address or ""))


# ---- writing ---------------------------------------------------------------------------------------

def enqueue(conn: sa.Connection, *, channel: str, recipient: str, subject: str, body: str,
            ref: str | None = None, now: dt.datetime | None = None) -> int:
    """Queue one message inside the caller's transaction; returns its outbox id.

    ``channel`` is "email" (``recipient`` an address) or "webhook" (``recipient`` the group robot's
    name from :func:`recipients_for`); the message is due at once.
    """
    ch = _channel(channel)
    recipient = (recipient or "").strip()
    if not recipient:
        raise InvalidArgument("A notification needs a recipient.", "通知缺少收件人。")
    if ch is Channel.EMAIL and not valid_email(recipient):
        raise InvalidArgument(f"{recipient!r} is not an e-mail address (name@example.com).",
                              f"{recipient!r} 不是有效的电子邮件地址（如 name@example.com）。")
    when = now or _now()
    return int(conn.execute(_outbox_table.insert().values(
        created_at=when, channel=ch.value, recipient=recipient[:320], subject=(subject or "").strip()[:300],
        body=body or "", ref=ref[:200] if ref else None, status=Status.PENDING.value, attempts=0,
        next_attempt_at=when).returning(_outbox_table.c.id)).scalar_one())


def recipients_for(conn: sa.Connection, usernames: Iterable[str],
                   channels: Channels | None = None) -> list[tuple[str, str]]:
    """``(channel, recipient)`` pairs for a message to ``usernames``: the e-mail of each active user that
    has one (once per address, in the given order), plus the configured group webhook once.

    ``channels`` defaults to the configured ones; the webhook's recipient is its name, not its URL. Reads
    settings only, never the network, so it is cheap inside the caller's transaction.
    """
    names = list(dict.fromkeys(u for u in usernames if u))
    out: list[tuple[str, str]] = []
    if names:
        rows = conn.execute(sa.select(user_contact.c.username, user_contact.c.email)
                            .where(user_contact.c.username.in_(names), user_contact.c.active.is_(True))).all()
        by_name = {r.username: (r.email or "").strip() for r in rows}
        for email in dict.fromkeys(by_name.get(n, "") for n in names):
            if email:
                out.append((Channel.EMAIL.value, email))
    if channels is not None:
        hook = channels.webhook.name if channels.webhook is not None else None
    else:
        # A broken setting must not stop the alert run that asks: the group message is queued anyway and
        # deliver() reports the setting, so the problem shows in the outbox instead of losing alerts.
        hook = configured_webhook_name()
    if hook is not None:
        out.append((Channel.WEBHOOK.value, hook))
    return out


# Recipient of a message that reached nobody: "@<username>". Never an address (an address has text before
# its "@"), so :func:`deliver` can never mail it and :func:`retry` knows to look the user's address up.
UNREACHABLE_PREFIX = "@"


def _contact_rows(conn: sa.Connection, names: list[str]) -> dict[str, tuple[bool, str]]:
    rows = conn.execute(sa.select(user_contact.c.username, user_contact.c.active, user_contact.c.email)
                        .where(user_contact.c.username.in_(names))).all() if names else []
    return {r.username: (bool(r.active), (r.email or "").strip()) for r in rows}


def missing_contacts(conn: sa.Connection, usernames: Iterable[str]) -> list[str]:
    """The usernames :func:`recipients_for` reaches by no e-mail: no address on file, a disabled account or
    no such user; each once, in the given order (empty names skipped).

    A caller that routes to ``usernames`` passes each of these to :func:`enqueue_unreachable`, so the
    outbox shows who was not told.
    """
    names = list(dict.fromkeys(u for u in usernames if u))
    found = _contact_rows(conn, names)
    return [n for n in names if not (found.get(n, (False, ""))[0] and found[n][1])]


def _reason(conn: sa.Connection, username: str) -> tuple[str, str] | None:
    active, email = _contact_rows(conn, [username]).get(username, (None, ""))
    if active is None:
        return f"没有用户 {username}，无法发送邮件", f"no user {username}: no e-mail sent"
    if not active:
        return f"用户 {username} 已停用，未发送邮件", f"user {username} is disabled: no e-mail sent"
    if not email:
        return f"用户 {username} 没有邮箱地址", f"user {username} has no e-mail address"
    return None


def unreachable_reason(conn: sa.Connection, username: str) -> str | None:
    """Why ``username`` gets no e-mail, "zh / en" as the outbox's last error ("用户 u 没有邮箱地址 / user u has
    no e-mail address", or disabled, or unknown); None when the user is active with an address."""
    reason = _reason(conn, username)
    return None if reason is None else " / ".join(reason)


def enqueue_unreachable(conn: sa.Connection, *, username: str, subject: str, body: str,
                        ref: str | None = None, now: dt.datetime | None = None) -> int:
    """Record, inside the caller's transaction, a message ``username`` could not be sent; returns its id.

    The row is an e-mail to ``"@<username>"`` with status failed, 0 attempts and as last error the reason
    from :func:`unreachable_reason` (zh / en), so the outbox shows who was not reached and with what.
    Once an admin sets the address, :func:`retry` sends it there. Call it for each name of
    :func:`missing_contacts`. Should the user have an address after all (set in between), the message is
    queued to it as :func:`enqueue` would, rather than failing the caller's run.
    """
    name = (username or "").strip()
    if not name:
        raise InvalidArgument("An unreachable message needs the username it was meant for.",
                              "未送达记录需要注明目标用户名。")
    reason = unreachable_reason(conn, name)
    when = now or _now()
    if reason is None:
        address = _contact_rows(conn, [name])[name][1]
        return enqueue(conn, channel=Channel.EMAIL.value, recipient=address, subject=subject, body=body, ref=ref,
                       now=when)
    return int(conn.execute(_outbox_table.insert().values(
        created_at=when, channel=Channel.EMAIL.value, recipient=(UNREACHABLE_PREFIX + name)[:320],
        subject=(subject or "").strip()[:300], body=body or "", ref=ref[:200] if ref else None,
        status=Status.FAILED.value, attempts=0, next_attempt_at=when, last_error=reason)
        .returning(_outbox_table.c.id)).scalar_one())


# ---- delivering ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver` pass did."""

    sent: int = 0
    retrying: int = 0           # failed this time, due again after a backoff
    failed: int = 0             # failed for the last allowed time: marked failed, shown, kept
    unconfigured: int = 0       # due, but their channel is not set up: left pending, no attempt used
    errors: tuple[str, ...] = ()

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def _senders(channels: Channels) -> dict[str, Callable[[str, str, str], None]]:
    out: dict[str, Callable[[str, str, str], None]] = {}
    if channels.email is not None:
        cfg = channels.email

        def mail(to: str, subject: str, body: str) -> None:
            if not valid_email(to):   # e.g. an "@user" row put back by hand: never hand a bare name to SMTP
                raise DeliveryError(f"{to!r} is not an e-mail address", f"{to!r} 不是电子邮件地址")
            send_email(cfg, to, subject, body)
        out[Channel.EMAIL.value] = mail
    if channels.webhook is not None:
        hook = channels.webhook
        out[Channel.WEBHOOK.value] = lambda _to, subject, body: post_webhook(hook, subject, body)
    return out


def error_text(exc: BaseException, channels: Channels | None = None) -> str:
    """The outbox's last error for a failed attempt: the sender's own message for a :class:`DeliveryError`,
    else the exception's type and text (a ValueError of a bad header, an http.client error …); never a
    URL, password or webhook secret (:func:`lib.performance.notify.channels.redact`); at most ``MAX_ERROR`` characters."""
    text = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}".rstrip(": ")
    return redact(text, channels)[:MAX_ERROR]


def deliver(engine: sa.Engine, channels: Channels | None = None, *, now: dt.datetime | None = None,
            limit: int = 500) -> DeliveryReport:
    """Send every pending message that is due (oldest first) through its channel.

    Each message is claimed first (its attempt counted and its due time pushed by ``LEASE``, guarded by
    the attempt count it was read with), so two deliverers never send the same attempt and a crash
    mid-send only delays it. A failure, whatever the exception, is recorded (:func:`error_text`) and due
    again after :func:`backoff`; the ``MAX_ATTEMPTS``-th failure marks it failed. One message's failure
    never stops the batch. Messages on a channel that is not configured stay pending untouched.
    """
    channels = channels if channels is not None else channels_from_config()
    senders = _senders(channels)
    now = now or _now()
    t = _outbox_table
    with engine.connect() as conn:
        due = conn.execute(sa.select(t.c.id, t.c.channel, t.c.recipient, t.c.subject, t.c.body, t.c.attempts)
                           .where(t.c.status == Status.PENDING.value, t.c.next_attempt_at <= now)
                           .order_by(t.c.next_attempt_at, t.c.id).limit(limit)).all()
    counts = {"sent": 0, "retrying": 0, "failed": 0, "unconfigured": 0}
    errors: list[str] = []
    for row in due:
        send = senders.get(row.channel)
        if send is None:
            counts["unconfigured"] += 1
            continue
        attempt = row.attempts + 1
        with engine.begin() as conn:
            claimed = conn.execute(t.update().where(t.c.id == row.id, t.c.status == Status.PENDING.value,
                                                    t.c.attempts == row.attempts)
                                   .values(attempts=attempt, last_attempt_at=now, next_attempt_at=now + LEASE)
                                   .returning(t.c.id)).all()
        if len(claimed) != 1:
            continue   # another deliverer took it
        try:
            send(row.recipient, row.subject, row.body)
        except Exception as exc:  # noqa: BLE001 - any failure of one message is that message's: recorded, retried
            error = error_text(exc, channels)
            errors.append(f"#{row.id} {row.channel} {row.recipient}: {error}")
            final = attempt >= MAX_ATTEMPTS
            values = dict(last_error=error, status=Status.FAILED.value if final else Status.PENDING.value,
                          next_attempt_at=now + backoff(attempt))
            counts["failed" if final else "retrying"] += 1
        else:
            values = dict(status=Status.SENT.value, sent_at=now, last_error=None)
            counts["sent"] += 1
        with engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == row.id).values(**values))
    return DeliveryReport(**counts, errors=tuple(errors))


# ---- reading and managing --------------------------------------------------------------------------

def _manager(user: User) -> bool:
    return auth.may(user, RETRY_ACTION)


def outbox(engine: sa.Engine, status: str | None = None, limit: int = 200, *,
           user: User | None = None) -> pd.DataFrame:
    """The newest messages first: id, created_at, channel, recipient, subject, body, ref, status, attempts,
    next_attempt_at, last_attempt_at, last_error, sent_at.

    With ``user``: finance and admin see every message; anyone else only those sent to their own e-mail
    and those that could not reach them (messages carry figures of the units they were about).
    """
    t = _outbox_table
    stmt = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if status is not None:
        try:
            stmt = stmt.where(t.c.status == Status(status).value)
        except ValueError:
            valid = ", ".join(s.value for s in Status)
            raise InvalidArgument(f"Unknown outbox status {status!r}. Valid: {valid}.",
                                  f"未知的发送状态 {status!r}。可选：{valid}。") from None
    if user is not None and not _manager(user):
        email = contact_email(engine, user.username)
        # Their own e-mails, and what was meant for them but could not be sent (they had no address).
        stmt = stmt.where(t.c.channel == Channel.EMAIL.value,
                          t.c.recipient.in_([email or "", UNREACHABLE_PREFIX + user.username]))
    return db.run(engine, stmt)


def counts(engine: sa.Engine) -> dict[str, int]:
    """Messages per status (every status present, zeros included), for a summary line."""
    t = _outbox_table
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all()
    found = {r[0]: int(r[1]) for r in rows}
    return {s.value: found.get(s.value, 0) for s in Status}


def retry(engine: sa.Engine, user: User, outbox_id: int, *, now: dt.datetime | None = None,
          source: str = "app") -> None:
    """Put a failed (or waiting) message back in the queue, due now, with a fresh set of attempts.

    Finance and admin only; a sent message is not sent again (that would be a duplicate). A message that
    reached nobody (:func:`enqueue_unreachable`) goes to the user's address set since, or is refused
    while there still is none.
    """
    auth.require(user, RETRY_ACTION)
    t = _outbox_table
    with engine.begin() as conn:
        row = conn.execute(sa.select(t.c.status, t.c.attempts, t.c.channel, t.c.recipient)
                           .where(t.c.id == int(outbox_id))).first()
        if row is None:
            raise InvalidArgument(f"No outbox message #{outbox_id}.", f"发件箱中没有第 {outbox_id} 号消息。")
        if row.status == Status.SENT.value:
            raise InvalidArgument(f"Message #{outbox_id} was sent already; only failed or pending ones are retried.",
                                  f"第 {outbox_id} 号消息已发送；只能重试失败或待发送的消息。")
        values: dict = dict(status=Status.PENDING.value, attempts=0, next_attempt_at=now or _now())
        detail: dict = {"retry": int(outbox_id), "was": row.status, "attempts": row.attempts}
        if row.channel == Channel.EMAIL.value and row.recipient.startswith(UNREACHABLE_PREFIX):
            # A message that reached nobody goes to the address the user has now, if any.
            username = row.recipient[len(UNREACHABLE_PREFIX):]
            reason = _reason(conn, username)
            if reason is not None:
                zh, en = reason
                raise InvalidArgument(f"Message #{outbox_id} cannot be retried: {en}. Set the user's e-mail "
                                      "under notification contacts first.",
                                      f"第 {outbox_id} 号消息无法重试：{zh}。请先在通知联系人中登记邮箱。")
            values["recipient"] = detail["to"] = _contact_rows(conn, [username])[username][1]
        conn.execute(t.update().where(t.c.id == int(outbox_id)).values(**values))
        audit.record(conn, user.username, "notify_config", f"outbox:{outbox_id}", detail, source)


def contact_email(engine: sa.Engine, username: str) -> str | None:
    """The user's contact e-mail, or None (no such user, or none set)."""
    with engine.connect() as conn:
        email = conn.execute(sa.select(user_contact.c.email).where(user_contact.c.username == username)).scalar()
    return (email or "").strip() or None


def contacts(engine: sa.Engine) -> pd.DataFrame:
    """Every user with display name, role, active flag and contact e-mail (None when unset)."""
    u = user_contact
    return db.run(engine, sa.select(u.c.username, u.c.display_name, u.c.role, u.c.active, u.c.email)
                  .order_by(u.c.username))


def set_email(engine: sa.Engine, actor: User, username: str, email: str | None, *, source: str = "app") -> None:
    """Set (or, with an empty value, clear) a user's contact e-mail; admin only, audited."""
    auth.require(actor, CONTACT_ACTION)
    value = (email or "").strip() or None
    if value is not None and not valid_email(value):
        raise InvalidArgument(f"{value!r} is not an e-mail address (name@example.com).",
                              f"{value!r} 不是有效的电子邮件地址（如 name@example.com）。")
    with engine.begin() as conn:
        found = conn.execute(sa.update(user_contact).where(user_contact.c.username == username)
                             .values(email=value).returning(user_contact.c.username)).all()
        if len(found) != 1:
            known = ", ".join(conn.execute(sa.select(user_contact.c.username)
                                           .order_by(user_contact.c.username)).scalars())
            raise InvalidArgument(f"No user {username!r}. Known: {known}.", f"没有用户 {username!r}。已有：{known}。")
        audit.record(conn, actor.username, "notify_config", f"user:{username}", {"email": value}, source)



DEMO_DOMAIN = "yecai.example"   # reserved top-level name (RFC 2606): demo mail can never reach anyone


def seed_demo(engine: sa.Engine) -> int:
    """Give each demo user without one a contact e-mail ``<name>@yecai.example``; returns how many were set.

    Real users and addresses set by an admin are left alone, so re-running the demo build is harmless.
    """
    u = user_contact
    with engine.begin() as conn:
        rows = conn.execute(sa.select(u.c.username).where(u.c.is_demo.is_(True), u.c.email.is_(None))).all()
        for (name,) in rows:
            conn.execute(sa.update(u).where(u.c.username == name)
                         .values(email=f"{name.replace('_', '.')}@{DEMO_DOMAIN}"))
    return len(rows)
