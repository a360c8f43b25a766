"""One Spark SQL warehouse per test run, shared by the xdist workers.

The run's first process (the controller, or the only one) names a folder in ``WORKBENCH_TEST_SPARK_DIR`` before
the workers start. A worker that collected a test using the ``spark_warehouse`` fixture starts the Thrift Server
there at once, without waiting, so it boots while other tests run; the first worker to need it builds the
demo store, publishes it and leaves the store's file for the others to copy. A lock file keeps all of that to
one process. The controller stops the server when the run ends. ``WORKBENCH_TEST_SPARK=0`` skips these tests
(a quick local run); otherwise a Spark that can't start fails them.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DIR_ENV = "WORKBENCH_TEST_SPARK_DIR"
SKIP_ENV = "WORKBENCH_TEST_SPARK"
FIXTURE = "spark_warehouse"


def wanted() -> bool:
    return os.environ.get(SKIP_ENV, "1").strip() not in ("0", "no", "false")


def folder() -> Path:
    return Path(os.environ[DIR_ENV])


@contextlib.contextmanager
def _locked():
    with open(folder() / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def claim_folder() -> str | None:
    """In the run's first process: a new folder for the run's Spark (None if a parent process owns one)."""
    if DIR_ENV in os.environ:
        return None
    d = tempfile.mkdtemp(prefix="wbspark-")
    os.environ[DIR_ENV] = d
    return d


def boot() -> None:
    """Start the run's Thrift Server unless a process already did (returns at once)."""
    if not wanted():
        return
    from lib.cli import spark_local

    with _locked():
        d = folder()
        if (d / "port").exists() or (d / "failed").exists():
            return
        try:
            sp = spark_local.start(d / "spark", wait=False)
        except spark_local.SparkUnavailable as exc:
            (d / "failed").write_text(str(exc))
            return
        (d / "pids").write_text(" ".join(str(p.pid) for p in sp.processes))
        (d / "port").write_text(str(sp.port))


@dataclass(frozen=True)
class Warehouse:
    url: str
    store_file: Path
    """A DuckDB demo store holding exactly what the warehouse was published from (copy it to write)."""
    published: tuple


def ready(rows: int, seed: int, as_of) -> Warehouse:
    """The run's Thrift Server up, with the demo company published to it (the first caller does the work)."""
    import pytest

    if not wanted():
        pytest.skip(f"{SKIP_ENV}=0: the Spark warehouse tests were not asked for")
    boot()
    from lib.cli import spark_local

    d = folder()
    with _locked():
        if (d / "failed").exists():
            pytest.fail(f"the test Spark could not start: {(d / 'failed').read_text()}", pytrace=False)
        port = int((d / "port").read_text())
        sp = spark_local.LocalSpark(d / "spark", port)
        sp.logs.append(d / "spark" / "thriftserver.log")
        url = sp.url
        store_file = d / "demo.duckdb"
        if not (d / "published").exists():
            _wait_log(sp.logs[-1], spark_local.READY, 240)
            from lib.core import store, warehouse
            from lib.demo import build as demo
            from lib.ingest import publish
            from lib.semantic import query

            engine = store.get_engine(f"duckdb:///{store_file}")
            demo.build(engine, rows=rows, seed=seed, as_of=as_of)
            wh = warehouse.connect(url)
            done = publish.publish(engine, wh, query.default_model(), sp.data_dir)
            engine.dispose()
            wh.dispose()
            (d / "published").write_text("\n".join(f"{p.table} {p.rows}" for p in done))
        published = tuple(tuple(line.split()) for line in (d / "published").read_text().splitlines())
    return Warehouse(url, store_file, published)


def _wait_log(log: Path, text: str, timeout: float) -> None:
    import pytest

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    pytest.fail(f"the test Spark did not start in {timeout:.0f} s; its log ends:\n{tail}", pytrace=False)


def stop(d: str) -> None:
    """Stop the run's Spark processes and remove its folder."""
    pids = Path(d) / "pids"
    if pids.exists():
        alive = []
        for pid in map(int, pids.read_text().split()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                alive.append(pid)
        end = time.monotonic() + 20
        for pid in alive:
            while time.monotonic() < end:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    shutil.rmtree(d, ignore_errors=True)
