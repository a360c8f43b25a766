"""CLI of data imports: ``import FILE --table T …`` and ``imports list | rollback BATCH``.

Exit codes: 0 imported (or a clean dry run); 2 rejected, with a summary and the path of the problem
report printed; 2 also for bad arguments and an unavailable store (as the rest of the CLI).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core import store
from lib.core.errors import InvalidArgument
from lib.ingest.batch import ImportOptions, history, load_mapping_file, problems_report
from lib.ingest.mapping import TABLES
from lib.ingest.stream import import_file
from lib.ingest.undo import rollback

CLI_USER = User("cli", "admin")   # whoever can run the CLI can open the store; --as narrows that


def add_parser(subparsers) -> None:
    """Add the ``import`` and ``imports`` sub-commands to the CLI's sub-parsers."""
    p = subparsers.add_parser("import", help="import a CSV/Excel file into a canonical table (all rows or none)")
    p.add_argument("file", type=Path, help="CSV (UTF-8/GBK), XLSX or XLS file")
    p.add_argument("--table", required=True, choices=TABLES, help="canonical table to import into")
    p.add_argument("--mapping", type=Path, help="YAML: columns: {field: source column}, options: {...}")
    p.add_argument("--create-missing", action="store_true",
                   help="create unknown customers, products, org units and accounts instead of refusing")
    p.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    p.add_argument("--sheet", help="sheet name or 0-based index of a workbook (default: the first)")
    p.add_argument("--replace-batch", type=int, metavar="BATCH", help="replace this earlier import of the same file")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", help="import as this user (needs import_data)")
    p.add_argument("--org-parent", help="code or name of the org unit new units go under (default: the root)")
    p.add_argument("--tax-rate", type=float, help="tax rate where the file has no rate column, e.g. 0.13")
    p.add_argument("--prices-include-tax", action="store_true", help="price and amount columns include tax")
    p.add_argument("--budget-version", help="budget version (name or id) for budget_line files without a version column")
    p.add_argument("--report", type=Path, help="where to write the problem report (default: FILE.problems.csv)")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of the problem report")

    h = subparsers.add_parser("imports", help="import history: list, rollback BATCH")
    h.add_argument("action", choices=["list", "rollback"])
    h.add_argument("batch", nargs="?", type=int)
    h.add_argument("--as", dest="as_user", metavar="USERNAME")


def _options(args, base: ImportOptions) -> ImportOptions:
    over = {k: v for k, v in {"org_parent": args.org_parent, "tax_rate": args.tax_rate,
                              "budget_version": args.budget_version}.items() if v is not None}
    if args.prices_include_tax:
        over["prices_include_tax"] = True
    return ImportOptions(**{**base.__dict__, **over})


def _user(engine: sa.Engine, name: str | None) -> User:
    return auth.load_user(engine, name) if name else CLI_USER


def main(args: argparse.Namespace, engine: sa.Engine) -> int:
    """Run ``import`` or ``imports``; returns the exit code."""
    store.init_schema(engine)
    user = _user(engine, args.as_user)
    if args.command == "imports":
        return _imports(args, engine, user)
    mapping, options = (load_mapping_file(args.mapping, args.table) if args.mapping else (None, ImportOptions()))
    if not args.file.is_file():
        raise InvalidArgument(f"No such file: {args.file}", f"文件不存在：{args.file}")
    sheet = int(args.sheet) if args.sheet and args.sheet.isdigit() else args.sheet

    def progress(rows: int, fraction: float | None) -> None:
        pct = f" ({fraction:.0%})" if fraction is not None else ""
        print(f"\r  {rows:,} rows read{pct}", end="", file=sys.stderr, flush=True)

    result = import_file(engine, user, args.file, args.table, mapping=mapping, create_missing=args.create_missing,
                         dry_run=args.dry_run, progress=progress, options=_options(args, options), sheet=sheet,
                         replace_batch=args.replace_batch)
    print(file=sys.stderr)
    created = ", ".join(f"{k} {v:,}" for k, v in result.created.items() if v)
    if result.ok:
        verb = "checked (dry run, nothing written)" if result.dry_run else f"imported as batch {result.batch_id}"
        print(f"{args.file.name}: {result.rows:,} rows {verb} in {result.seconds:.1f} s"
              + (f"; new members: {created}" if created else ""))
        return 0
    report = args.report or args.file.with_name(args.file.name + ".problems.csv")
    report.write_bytes(problems_report(result, args.lang))
    kinds = result.problems["kind"].value_counts()
    print(f"{args.file.name}: REJECTED, nothing written. {result.problem_count:,} problem(s) in {result.rows:,} rows.")
    for _, row in result.problems.drop_duplicates("kind").iterrows():
        where = f"row {row['row']}, " if row["row"] is not None and not _isna(row["row"]) else ""
        print(f"  {kinds[row['kind']]:>7,} × {row['problem_en']}  (first: {where}{row['column']} = {row['value']!r})")
    if result.unknown_members is not None and len(result.unknown_members) and not args.create_missing:
        print(f"  unknown members: {len(result.unknown_members):,} (use --create-missing to create them)")
    print(f"problem report: {report}")
    return 2


def _isna(v) -> bool:
    try:
        return v != v
    except Exception:  # noqa: BLE001 - any non-comparable value is simply not NaN
        return False


def _imports(args, engine: sa.Engine, user: User) -> int:
    if args.action == "list":
        df = history(engine)
        if df.empty:
            print("no imports yet")
            return 0
        cols = ["batch_id", "kind", "table", "file", "rows", "status", "created_at", "created_by"]
        print(df[cols].to_string(index=False))
        return 0
    if args.batch is None:
        raise InvalidArgument("Give the batch to roll back: imports rollback BATCH.", "请给出要回滚的批次：imports rollback 批次号。")
    n = rollback(engine, user, args.batch)
    print(f"batch {args.batch} rolled back: {n:,} rows deleted")
    return 0
