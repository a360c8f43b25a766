"""A local Spark SQL warehouse from the installed pyspark: a Thrift Server (HiveServer2) on loopback, alone
(``local[N]``) or on a standalone cluster of a master and workers.

pyspark's wheel carries the Thrift Server, Hive and Derby jars but none of Spark's ``sbin/`` scripts, so the
processes are started here with ``bin/spark-submit`` and ``bin/spark-class``. Used by ``python -m lib.cli
warehouse local``, the test suite's Spark fixture and ``bench/bench_warehouse.py``; needs a Java 17 runtime.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

THRIFT_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
READY = "HiveThriftServer2 started"


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing, or a Spark process did not come up."""


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailable("pyspark is not installed: pip install -r requirements-dev.txt") from None
    home = Path(pyspark.__file__).resolve().parent
    if not (home / "bin" / "spark-submit").exists():
        raise SparkUnavailable(f"pyspark at {home} has no bin/spark-submit")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailable("Spark needs a Java 17 runtime (Debian: openjdk-17-jre-headless)")
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalSpark:
    """The processes of one local warehouse; ``url`` is what ``WORKBENCH_WAREHOUSE_URL`` should say."""

    folder: Path
    port: int
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"hive://spark@127.0.0.1:{self.port}/default"

    @property
    def data_dir(self) -> Path:
        """Where published tables are written (a folder every Spark process can read)."""
        return self.folder / "tables"

    def stop(self) -> None:
        for p in reversed(self.processes):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.processes):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.processes.clear()

    def __enter__(self) -> LocalSpark:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _env(home: Path) -> dict:
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1", SPARK_LOCAL_HOSTNAME="localhost")
    env.pop("PYSPARK_PYTHON", None)
    return env


def _wait(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise SparkUnavailable(f"a Spark process stopped (exit {proc.returncode}); its log ends:\n{tail}")
        time.sleep(0.25)
    raise SparkUnavailable(f"no '{text}' in {log} after {timeout:.0f} s")


def start(folder: Path, port: int | None = None, workers: int = 0, cores: int = 2, memory: str = "1g",
          timeout: float = 180.0, wait: bool = True) -> LocalSpark:
    """Start a Thrift Server in ``folder`` (metastore, warehouse dir, logs) on ``port`` (default: a free one).

    ``workers=0`` runs it as ``local[cores]``; ``workers=N`` first starts a standalone master and N workers
    on 127.0.0.1, each with ``cores`` cores, and submits the server to that cluster. With ``wait`` (the
    default) it returns once the server accepts connections; else call :func:`wait_ready`.
    """
    home = spark_home()
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    spark = LocalSpark(folder, port or free_port())
    env = _env(home)
    master = f"local[{cores}]"
    try:
        if workers:
            mport = free_port()
            master = f"spark://127.0.0.1:{mport}"
            mlog = folder / "master.log"
            spark.processes.append(subprocess.Popen(
                [str(home / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(mport), "--webui-port", str(free_port())],
                stdout=mlog.open("w"), stderr=subprocess.STDOUT, env=env, cwd=folder))
            spark.logs.append(mlog)
            _wait(mlog, "I have been elected leader", spark.processes[-1], timeout)
            for i in range(workers):
                wlog = folder / f"worker{i}.log"
                wdir = folder / f"work{i}"
                wdir.mkdir(exist_ok=True)
                spark.processes.append(subprocess.Popen(
                    [str(home / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker", master,
                     "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory, "--work-dir", str(wdir),
                     "--webui-port", str(free_port())],
                    stdout=wlog.open("w"), stderr=subprocess.STDOUT, env=env, cwd=folder))
                spark.logs.append(wlog)
            for i in range(workers):
                _wait(folder / f"worker{i}.log", "Successfully registered with master", spark.processes[1 + i], timeout)
        log = folder / "thriftserver.log"
        cmd = [str(home / "bin" / "spark-submit"), "--class", THRIFT_CLASS, "--master", master,
               "--driver-memory", "1g", "--conf", "spark.ui.enabled=false",
               "--conf", f"spark.sql.shuffle.partitions={max(2, cores * max(workers, 1))}",
               "--conf", f"spark.sql.warehouse.dir={folder / 'wh'}",
               "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={folder / 'derby'}",
               "--conf", "spark.driver.host=127.0.0.1"]
        if workers:
            cmd += ["--conf", f"spark.executor.memory={memory}", "--conf", f"spark.cores.max={cores * workers}"]
        cmd += ["--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
                "--hiveconf", f"hive.server2.thrift.port={spark.port}",
                "--hiveconf", f"javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={folder / 'metastore_db'};create=true",
                "spark-internal"]
        spark.processes.append(subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                                                cwd=folder))
        spark.logs.append(log)
        if wait:
            wait_ready(spark, timeout)
    except BaseException:
        spark.stop()
        raise
    return spark


def wait_ready(spark: LocalSpark, timeout: float = 180.0) -> None:
    """Block until the Thrift Server has said it started (raises :class:`SparkUnavailable` if it stopped)."""
    _wait(spark.logs[-1], READY, spark.processes[-1], timeout)
