"""CLI of the warehouse: ``warehouse publish`` copies the canonical tables the warehouse serves from the store to
it; ``warehouse local`` starts a Spark Thrift Server on this machine from the installed pyspark (optionally a
standalone cluster, ``--workers N``), publishes the store to it and keeps it running until Ctrl-C; ``warehouse
status`` says which datasets are read from where and compares row counts.

The warehouse is ``--to URL``, else the configured one (``WORKBENCH_WAREHOUSE_URL`` / ``[warehouse] url``).
"""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from lib.core import config, warehouse
from lib.core.errors import WorkbenchError
from lib.ingest import publish
from lib.semantic import query

DEFAULT_DIR = config.DATA_DIR / "warehouse"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("warehouse", help="the Spark SQL warehouse: publish the store's tables, start a local one, status")
    sub = p.add_subparsers(dest="warehouse_action", required=True)
    pub = sub.add_parser("publish", help="copy the tables the warehouse serves from the store, as Parquet")
    pub.add_argument("--to", help="warehouse URL (default: the configured one)")
    pub.add_argument("--dir", type=Path, default=DEFAULT_DIR / "tables",
                     help="folder the Parquet files are written to (the warehouse must read it)")
    pub.add_argument("--location", help="the same folder as the warehouse sees it, when its path there differs")
    loc = sub.add_parser("local", help="start a Spark Thrift Server here, publish the store to it, run until Ctrl-C")
    loc.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="folder for its metastore, logs and tables")
    loc.add_argument("--port", type=int, default=10000)
    loc.add_argument("--workers", type=int, default=0, help="a standalone cluster of N workers (default: local[2])")
    loc.add_argument("--cores", type=int, default=2, help="cores per worker (or of local mode)")
    loc.add_argument("--no-publish", action="store_true", help="start it without publishing the store")
    st = sub.add_parser("status", help="where each dataset is read from, and row counts on both sides")
    st.add_argument("--to", help="warehouse URL (default: the configured one)")


def _target(url: str | None) -> sa.Engine:
    url = url or config.warehouse_url()
    if not url:
        raise WorkbenchError("No warehouse: pass --to URL or set WORKBENCH_WAREHOUSE_URL "
                             "(e.g. hive://spark@127.0.0.1:10000/default).",
                             "未配置数仓：请用 --to 指定，或设置 WORKBENCH_WAREHOUSE_URL。")
    return warehouse.connect(url)


def _publish(engine: sa.Engine, wh: sa.Engine, folder: Path, location: str | None) -> None:
    t0 = time.perf_counter()
    done = publish.publish(engine, wh, query.default_model(), folder, location)
    for p in done:
        print(f"  {p.table:<20} {p.rows:>12,} rows  {p.location}")
    print(f"published {len(done)} tables in {time.perf_counter() - t0:.1f} s")


def main(args, engine: sa.Engine) -> int:
    if args.warehouse_action == "publish":
        wh = _target(args.to)
        _publish(engine, wh, args.dir, args.location)
        return 0
    if args.warehouse_action == "status":
        model = query.default_model()
        wh_url = args.to or config.warehouse_url()
        print(f"warehouse: {wh_url or '(none configured: everything is read from the store)'}")
        for ds in model.datasets.values():
            where = "warehouse" if wh_url and ds.read_from == "warehouse" else "store"
            print(f"  {ds.id:<12} {ds.table:<20} read from the {where}")
        if wh_url:
            wh = _target(wh_url)
            with engine.connect() as s, wh.connect() as w:
                for name in model.warehouse_tables():
                    t = sa.table(name)
                    n_store = s.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    n_wh = w.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    mark = "" if n_store == n_wh else "   ← differs: run `warehouse publish`"
                    print(f"  {name:<20} store {n_store:>12,}  warehouse {n_wh:>12,}{mark}")
        return 0
    from lib.cli import spark_local

    try:
        print(f"starting Spark ({'local' if not args.workers else f'{args.workers} workers'}) in {args.dir} …",
              flush=True)
        sp = spark_local.start(args.dir, args.port, workers=args.workers, cores=args.cores)
    except spark_local.SparkUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with sp:
        wh = warehouse.connect(sp.url)
        if not args.no_publish:
            _publish(engine, wh, sp.data_dir, None)
        print(f"\nSpark SQL is serving on {sp.url}\nread the workbench from it with:\n"
              f"  WORKBENCH_WAREHOUSE_URL={sp.url} make run\nCtrl-C stops it.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while all(p.poll() is None for p in sp.processes):
                time.sleep(1)
            print("error: a Spark process stopped; see its log in " + str(args.dir), file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("stopping Spark …")
    return 0
