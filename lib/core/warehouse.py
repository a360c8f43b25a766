"""The warehouse: a second connection, read-only to the app, that may hold the canonical facts and dimensions.

Two roles. The **store** (DuckDB or PostgreSQL) keeps everything the app writes — users, audit, metric versions,
dashboards, alerts, scorecards, budgets, imports — and, by default, the facts too. A **warehouse** (e.g. Spark
SQL through its Thrift Server, ``hive://``) is named by ``WORKBENCH_WAREHOUSE_URL`` or ``[warehouse] url`` in
secrets.toml, never in the store; the semantic layer's datasets marked ``read_from: warehouse`` are then read
from it (``lib.semantic.query.run``). A warehouse is attached to the store's engine, so every reader holding
the store engine reads through the same pair; with none attached nothing changes.

The engine differences the compiler meets are handled where its constructs are compiled (``periods._Trunc``)
and, for the warehouse's driver, here (:func:`connect`).
"""
from __future__ import annotations

import decimal
import weakref

import sqlalchemy as sa

from lib.core.errors import StoreUnavailable

_attached: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = weakref.WeakKeyDictionary()


def attach(store_engine: sa.Engine, warehouse_engine: sa.Engine) -> None:
    """Read ``store_engine``'s warehouse datasets from ``warehouse_engine`` from now on."""
    _attached[store_engine] = warehouse_engine


def detach(store_engine: sa.Engine) -> None:
    _attached.pop(store_engine, None)


def of(store_engine: sa.Engine) -> sa.Engine | None:
    """The warehouse attached to ``store_engine``, or None (everything is then read from the store)."""
    return _attached.get(store_engine)


def connect(url: str) -> sa.Engine:
    """An engine on the warehouse at ``url``, checked by opening one connection.

    Raises :class:`StoreUnavailable` naming the warehouse (not the store) when it can't be reached.
    """
    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
    except Exception as exc:
        raise _unavailable(url, exc) from exc
    if engine.dialect.name == "hive":
        sa.event.listen(engine, "before_cursor_execute", _plain_numbers, retval=True)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        engine.dispose()
        raise _unavailable(url, exc) from exc
    return engine


def _unavailable(url: str, exc: Exception) -> StoreUnavailable:
    shown = sa.engine.make_url(url).render_as_string(hide_password=True) if "://" in url else url
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
    return StoreUnavailable(
        f"The warehouse {shown} can't be reached ({text}). Check WORKBENCH_WAREHOUSE_URL or [warehouse] url in "
        "secrets.toml, and that the warehouse is running; unset it to read everything from the store.",
        f"无法连接数仓 {shown}（{text}）。请检查 WORKBENCH_WAREHOUSE_URL 或 secrets.toml 的 [warehouse] url，"
        "并确认数仓已启动；取消该设置则全部从存储读取。")


def _plain_numbers(conn, cursor, statement, parameters, context, executemany):
    """PyHive inlines parameters itself and refuses ``Decimal``: an exact decimal is passed as its integer or
    as a float with the same digits (filter values and thresholds, never stored money)."""
    def plain(v):
        if isinstance(v, decimal.Decimal):
            return int(v) if v == v.to_integral_value() else float(v)
        return v
    if isinstance(parameters, dict):
        parameters = {k: plain(v) for k, v in parameters.items()}
    elif isinstance(parameters, (list, tuple)) and not executemany:
        parameters = type(parameters)(plain(v) for v in parameters)
    return statement, parameters
