"""Run a read on the store: row cap, timeout, and one set of pandas dtypes whatever the engine."""
from __future__ import annotations

import datetime as dt
import decimal
import threading

import pandas as pd
import sqlalchemy as sa

from lib.core.config import Limits, limits_from_env
from lib.core.errors import QueryTimeout, ResultTooLarge


def run(engine: sa.Engine, stmt: sa.Executable, limits: Limits | None = None) -> pd.DataFrame:
    """Execute a SELECT and return a DataFrame with normalised dtypes.

    Refuses results over ``limits.row_cap`` rows with :class:`ResultTooLarge` (never a silent
    truncation) and cancels a query running past ``limits.timeout_s`` with :class:`QueryTimeout`.
    """
    keys, rows = fetch(engine, stmt, limits)
    return normalise(pd.DataFrame.from_records(rows, columns=keys))


def fetch(engine: sa.Engine, stmt: sa.Executable, limits: Limits | None = None) -> tuple[list[str], list]:
    """The column names and rows of a SELECT, as the driver returns them (Decimals stay Decimals), under the
    same row cap and timeout as :func:`run`."""
    limits = limits or limits_from_env()
    with engine.connect() as conn:
        timer = _arm_timeout(conn, limits.timeout_s)
        try:
            result = conn.execute(stmt)
            keys = list(result.keys())
            rows = result.fetchmany(limits.row_cap + 1)
        except sa.exc.DBAPIError as exc:
            if _is_cancel(exc):
                raise QueryTimeout(
                    f"The query ran longer than {limits.timeout_s:g} s and was cancelled. "
                    "Narrow the time range, add a filter, or use a coarser time grain.",
                    f"查询超过 {limits.timeout_s:g} 秒已取消。请缩小时间范围、增加筛选条件或使用更粗的时间粒度。",
                ) from exc
            raise
        finally:
            if timer is not None:
                timer.cancel()
    if len(rows) > limits.row_cap:
        raise ResultTooLarge(
            f"The result has more than {limits.row_cap:,} rows, the most the app shows. "
            "Add a filter, use a coarser grain, or keep the top N.",
            f"结果超过 {limits.row_cap:,} 行（应用可展示的上限）。请增加筛选条件、使用更粗的粒度或只保留前 N 项。",
        )
    return keys, rows


def _arm_timeout(conn: sa.Connection, seconds: float) -> threading.Timer | None:
    if conn.dialect.name == "postgresql":
        # set_config(..., is_local=true) lasts for this transaction only; the value is bound.
        conn.execute(sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                     {"ms": str(int(seconds * 1000))})
        return None
    raw = conn.connection.driver_connection
    if hasattr(raw, "interrupt"):  # DuckDB: cancel from a timer thread
        timer = threading.Timer(seconds, raw.interrupt)
        timer.daemon = True
        timer.start()
        return timer
    return None


def _is_cancel(exc: sa.exc.DBAPIError) -> bool:
    name = type(exc.orig).__name__
    return name in {"QueryCanceled", "InterruptException"} or "canceling statement due to statement timeout" in str(exc)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """One set of dtypes for every engine.

    Decimals become float64, dates and timestamps naive ``datetime64`` (PostgreSQL's tz-aware
    ``date_trunc`` results keep their wall-clock time), strings ``StringDtype``, integer columns
    with nulls ``Int64``.
    """
    out = {}
    for name in df.columns:
        s = df[name]
        if s.dtype == object:
            sample = s.dropna()
            first = sample.iloc[0] if len(sample) else None
            if isinstance(first, decimal.Decimal):
                s = pd.to_numeric(s.map(lambda v: None if v is None else float(v)), errors="coerce").astype("float64")
            elif isinstance(first, (dt.datetime, dt.date)):
                s = pd.to_datetime(s.map(_naive))
            elif isinstance(first, str):
                s = s.astype("string")
            elif isinstance(first, (int,)) and not isinstance(first, bool):
                s = s.astype("Int64")
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        out[name] = s
    return pd.DataFrame(out, index=df.index)


def _naive(v):
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.replace(tzinfo=None)
    return v
