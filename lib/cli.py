"""Command line over the library: ``python -m lib.cli init | demo | info``.

Prints plain text; exits 2 with a one-line message on bad input or an unavailable store.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from lib import config, demo, store
from lib.errors import WorkbenchError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _rows(text: str) -> int:
    """Row counts accept 500000, 500_000, 500k or 10m.

    >>> _rows("10m"), _rows("500k"), _rows("20_000")
    (10000000, 500000, 20000)
    """
    t = text.strip().lower().replace("_", "").replace(",", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        return int(float(t[:-1] if mult > 1 else t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r} (e.g. 500000, 500k, 10m)") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lib.cli", description="Yecai Workbench command line.")
    p.add_argument("--url", help="store URL (default: WORKBENCH_DB_URL, secrets.toml, or the embedded DuckDB file)")
    sub = p.add_subparsers(dest="command", required=True, metavar="{init,demo,info}")

    init = sub.add_parser("init", help="create or migrate the store's schema")
    init.add_argument("--demo-if-empty", action="store_true",
                      help="also build the demo company when the store holds no business data")
    init.add_argument("--rows", type=_rows, default=demo.DEFAULT_ROWS, help="demo sales lines (with --demo-if-empty)")

    d = sub.add_parser("demo", help="build the demo company")
    d.add_argument("--rows", type=_rows, default=demo.DEFAULT_ROWS,
                   help=f"sales lines, {demo.MIN_ROWS:,} to {demo.MAX_ROWS:,} (default {demo.DEFAULT_ROWS:,})")
    d.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help="random seed (same seed, same data)")
    d.add_argument("--as-of", type=_date, default=None, help="data runs up to the day before this date (default today)")
    d.add_argument("--replace", action="store_true", help="delete the store's business data first")

    sub.add_parser("info", help="store URL, schema version and row counts")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        engine = store.get_engine(args.url)
        if args.command == "init":
            version = store.init_schema(engine)
            print(f"store: {_safe(engine)}  schema version: {version}")
            if args.demo_if_empty and not any(store.row_counts(engine).values()):
                print(f"building the demo company ({args.rows:,} sales lines)…", flush=True)
                _print_demo(demo.build(engine, rows=args.rows))
        elif args.command == "demo":
            _print_demo(demo.build(engine, rows=args.rows, seed=args.seed, as_of=args.as_of, replace=args.replace))
        elif args.command == "info":
            with engine.connect() as conn:
                version = store.current_version(conn)
            print(f"store:          {_safe(engine)}")
            print(f"schema version: {version} (this workbench: {store.SCHEMA_VERSION})")
            for table, n in store.row_counts(engine).items():
                print(f"  {table:<20} {n:>12,}")
        return 0
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _safe(engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _print_demo(result: demo.DemoResult) -> None:
    print(f"demo company built in {result.seconds:.1f} s, {result.start} to {result.end}")
    for table, n in result.rows.items():
        print(f"  {table:<20} {n:>12,}")
    for k, v in result.story.items():
        print(f"  story: {k} = {v}")


if __name__ == "__main__":
    sys.exit(main())
