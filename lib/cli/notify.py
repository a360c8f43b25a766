"""CLI of notifications: ``notify deliver | outbox | retry ID | contact USER [EMAIL] | channels``.

``notify deliver`` is the cron job that sends what the alert runs queued (run it every minute or
so; backoff decides when a failed message is tried again). Exit codes: 0 done; 1 ``deliver`` left
messages failed for good this pass; 2 bad arguments or an unavailable store (as the rest of the CLI).
"""
from __future__ import annotations

import argparse

import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core import store
from lib.core.errors import InvalidArgument
from lib.core.tables.notify import Status
from lib.performance.notify import outbox as notify

CLI_USER = User("cli", "admin")   # whoever can run the CLI can open the store; --as narrows that


def add_parser(subparsers) -> None:
    """Add the ``notify`` sub-command to the CLI's sub-parsers."""
    p = subparsers.add_parser("notify", help="notification outbox: deliver, outbox, retry ID, contact USER [EMAIL], "
                                             "channels")
    p.add_argument("action", choices=["deliver", "outbox", "retry", "contact", "channels"])
    p.add_argument("target", nargs="?", help="retry: the outbox id; contact: the user name")
    p.add_argument("email", nargs="?", help="contact: the e-mail address ('' clears it)")
    p.add_argument("--status", choices=[s.value for s in Status], help="outbox: only messages in this state")
    p.add_argument("--limit", type=int, default=50, help="outbox: newest N messages (default 50)")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", help="act as this user (retry: finance/admin; "
                                                                    "contact: admin)")


def _user(engine: sa.Engine, name: str | None) -> User:
    return auth.load_user(engine, name) if name else CLI_USER


def main(args: argparse.Namespace, engine: sa.Engine) -> int:
    """Run ``notify ACTION``; returns the exit code."""
    store.init_schema(engine)
    if args.action == "channels":
        ch = notify.channels_from_config()   # settings only: never the password or the robot's URL
        mail, hook = ch.email, ch.webhook
        print("email:   " + (f"{mail.host}:{mail.port} from {mail.sender} ({mail.security})" if mail else "not configured"))
        print("webhook: " + (f"{hook.flavor} robot, recipient name {hook.name!r}" if hook else "not configured"))
        return 0
    if args.action == "deliver":
        report = notify.deliver(engine)
        print(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}, "
              f"waiting for an unconfigured channel {report.unconfigured}")
        for line in report.errors:
            print(f"  {line}")
        return 1 if report.failed else 0
    if args.action == "outbox":
        df = notify.outbox(engine, status=args.status, limit=args.limit)
        if df.empty:
            print("the outbox is empty" if args.status is None else f"no {args.status} messages")
            return 0
        cols = ["id", "created_at", "channel", "recipient", "subject", "status", "attempts", "last_error"]
        print(df[cols].to_string(index=False, max_colwidth=60))
        return 0
    if not args.target:
        raise InvalidArgument(f"notify {args.action} needs a target: "
                              + ("the outbox id." if args.action == "retry" else "the user name."),
                              f"notify {args.action} 缺少对象：" + ("发件箱编号。" if args.action == "retry" else "用户名。"))
    user = _user(engine, args.as_user)
    if args.action == "retry":
        if not args.target.isdigit():
            raise InvalidArgument(f"Outbox id {args.target!r} is not a number.", f"发件箱编号 {args.target!r} 不是数字。")
        notify.retry(engine, user, int(args.target), source="cli")
        print(f"message {args.target} queued again")
        return 0
    if args.email is None:
        found = notify.contacts(engine)
        row = found[found["username"] == args.target]
        if row.empty:
            raise InvalidArgument(f"No user {args.target!r}.", f"没有用户 {args.target!r}。")
        print(f"{args.target}: {row['email'].iloc[0] if len(row) and row['email'].iloc[0] else '(no e-mail)'}")
        return 0
    notify.set_email(engine, user, args.target, args.email, source="cli")
    print(f"{args.target}: e-mail {'set to ' + args.email if args.email else 'cleared'}")
    return 0
