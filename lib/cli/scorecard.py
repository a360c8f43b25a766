"""CLI of the scorecards: ``scorecard run --period 2025-Q3 [--template T] [--publish] [--reason R]``,
``scorecard list [--template T]`` and ``scorecard show RUN``.

``run`` evaluates every template (or the one named) on the store's current data and saves each as
the next version of its period (a draft, or published with ``--publish``). Exit codes: 0 done,
2 bad arguments or refused (as the rest of the CLI).
"""
from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core.errors import WorkbenchError
from lib.performance.scorecards import center as scorecard
from lib.performance.scorecards import scoring
from lib.performance.scorecards.defs import PERIOD_FORMATS, parse_period

CLI_USER = User("cli", "admin")   # whoever can run the CLI can open the store; --as narrows that


def add_parser(subparsers) -> None:
    """Add the ``scorecard`` sub-command (run | list | show) to the CLI's sub-parsers."""
    p = subparsers.add_parser("scorecard", help="scorecards (绩效考核): run, list, show")
    sub = p.add_subparsers(dest="scorecard_action", required=True)
    r = sub.add_parser("run", help="evaluate templates for a period and save the runs")
    r.add_argument("--period", required=True, help=PERIOD_FORMATS)
    r.add_argument("--template", help="template id (default: every template)")
    r.add_argument("--publish", action="store_true", help="publish (freeze) the runs at once")
    r.add_argument("--reason", help="why, when the period was run before (required then)")
    r.add_argument("--pool", help="bonus pool in CNY (default: the template's)")
    r.add_argument("--as", dest="as_user", metavar="USERNAME", help="run as this user (needs edit_scorecards)")
    ls = sub.add_parser("list", help="stored runs, newest first")
    ls.add_argument("--template")
    ls.add_argument("--as", dest="as_user", metavar="USERNAME")
    sh = sub.add_parser("show", help="one run: ranking, bonus and every KPI line")
    sh.add_argument("run_id", type=int)
    sh.add_argument("--lang", choices=["zh", "en"], default="zh")
    sh.add_argument("--as", dest="as_user", metavar="USERNAME")


def _user(engine: sa.Engine, name: str | None) -> User:
    return auth.load_user(engine, name) if name else CLI_USER


def _money(v) -> str:
    return "—" if v is None or v != v else str(v)   # blanked for scoped readers (NaN != NaN)


def _run(args, engine: sa.Engine, user: User) -> int:
    parse_period(args.period)                       # bad arguments fail before minutes of evaluation
    pool = None if args.pool is None else scoring.parse_pool(args.pool)
    ids = [args.template] if args.template else [t.id for t in scorecard.templates(engine)]
    if not ids:
        print("No scorecard templates in the store (seed them with the demo, or save one).")
        return 2
    for tid in ids:
        ev = scorecard.run_evaluation(engine, user, tid, args.period)
        rid = scorecard.save_run(engine, user, ev, pool=pool, publish=args.publish, reason=args.reason)
        status = "published" if args.publish else "draft"
        print(f"run {rid}: {tid} {ev.period.label} ({status}), {ev.lines['org_unit_id'].nunique()} units")
    return 0


def _list(args, engine: sa.Engine, user: User) -> int:
    df = scorecard.runs(engine, user, args.template)
    if df.empty:
        print("No scorecard runs.")
        return 0
    for r in df.itertuples():
        mark = " *" if r.effective else ""
        print(f"{r.id:>5}  {r.template_id:<14} {r.period:<10} v{r.version:<3} {r.status:<9}{mark:2} "
              f"{r.created_by} {r.created_at:%Y-%m-%d %H:%M}  pool {_money(r.pool)}  "
              f"{r.reason if isinstance(r.reason, str) else ''}")
    print("* = the published version in force for its period")
    return 0


def _show(args, engine: sa.Engine, user: User) -> int:
    v = scorecard.run_view(engine, user, args.run_id, args.lang)
    r = v.run
    print(f"run {r['id']}: {v.template.name(args.lang)} {r['period']} v{r['version']} {r['status']} "
          f"(pool {_money(r['pool'])}, {r['bonus_method']})")
    for x in v.totals.itertuples():
        bonus = "" if x.bonus is None or x.bonus != x.bonus else f"  bonus {x.bonus}"
        total = "not scored" if x.total is None or x.total != x.total else f"{x.total:8.2f}"
        print(f"  #{x.rank:<3} {x.unit:<20} {total}{bonus}")
    for x in v.lines.itertuples():
        val = lambda n: "—" if n is None or n != n else f"{n:,.4f}"  # noqa: E731  (NaN != NaN)
        print(f"    {x.unit:<12} {x.kpi_id:<22} actual {val(x.actual):>16} target {val(x.target):>16} "
              f"score {val(x.score):>10} w {x.weight:g} points {val(x.points)}")
    return 0


def main(args: argparse.Namespace, engine: sa.Engine) -> int:
    """Run the ``scorecard`` sub-command; returns the exit code."""
    try:
        user = _user(engine, getattr(args, "as_user", None))
        return {"run": _run, "list": _list, "show": _show}[args.scorecard_action](args, engine, user)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
