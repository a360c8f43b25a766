"""CLI of the alerts: ``alerts run [--as-of DATE] [--no-deliver]`` (for cron) and ``alerts list``.

``run`` evaluates every enabled rule, then delivers the outbox (``notify.deliver``) so a cron line does
both. Exit codes: 0 done; 1 some rules could not be evaluated or some messages failed for good;
2 bad arguments or an unavailable store (as the rest of the CLI).
"""
from __future__ import annotations

import argparse
import datetime as dt

import pandas as pd
import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core import store
from lib.core.errors import InvalidArgument
from lib.core.tables.alerts import ACTIVE, Status
from lib.performance.alerts import center as alerts
from lib.performance.notify import outbox as notify

CLI_USER = User("cli", "admin")   # whoever can run the CLI can open the store; --as narrows the list


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_parser(subparsers) -> None:
    """Add the ``alerts`` sub-command to the CLI's sub-parsers."""
    p = subparsers.add_parser("alerts", help="alerts: run (evaluate every rule, notify), list")
    p.add_argument("action", choices=["run", "list"])
    p.add_argument("--as-of", type=_date, help="evaluate as of this date (data up to the day before; default today)")
    p.add_argument("--no-deliver", action="store_true", help="run: queue notifications without sending them")
    p.add_argument("--status", choices=["active", *[s.value for s in Status], "all"], default="active",
                   help="list: which alerts (default: open and acknowledged)")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", help="list: only what this user may see")
    p.add_argument("--lang", choices=["zh", "en"], default="zh")


def main(args: argparse.Namespace, engine: sa.Engine) -> int:
    """Run ``alerts run`` or ``alerts list``; returns the exit code."""
    store.init_schema(engine)
    if args.action == "run":
        summary = alerts.run_all(engine, as_of=args.as_of, by="cli")
        print(f"alerts as of {summary.as_of}: {summary.rules} rules, {summary.new} new, {summary.still_open} still open, "
              f"{summary.resolved} resolved, {summary.reopened} reopened, {summary.notifications} notifications queued "
              f"({summary.seconds:.2f} s)")
        if summary.unreachable:
            print(f"  {summary.unreachable} owners have no e-mail address: not notified (noted on their alerts)")
        for err in summary.errors:
            print(f"  rule not evaluated: {err}")
        failed = 0
        if not args.no_deliver:
            report = notify.deliver(engine)
            failed = report.failed
            print(f"delivery: {report.sent} sent, {report.retrying} to retry, {report.failed} failed, "
                  f"{report.unconfigured} waiting for a channel")
            for err in report.errors:
                print(f"  {err}")
        return 1 if summary.errors or failed else 0
    user = auth.load_user(engine, args.as_user) if args.as_user else CLI_USER
    status = {"active": ACTIVE, "all": None}.get(args.status, args.status)
    if args.as_of is not None:
        raise InvalidArgument("--as-of belongs to 'alerts run'.", "--as-of 只用于 alerts run。")
    df = alerts.alerts(engine, user, status, args.lang)
    if df.empty:
        print("no alerts")
        return 0
    cols = ["id", "severity", "status", "rule", "unit", "period", "assignee", "message"]
    with pd.option_context("display.max_colwidth", 120, "display.width", 250):
        print(df[cols].to_string(index=False))
    return 0
