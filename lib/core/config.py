"""Settings in one place: where the store is, and the limits every query runs under."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data"
SECRETS_FILE = ROOT / ".streamlit" / "secrets.toml"

DEFAULT_STORE_URL = "duckdb:///data/workbench.duckdb"
"""Embedded store; a relative path is taken from the repository root, not the current directory."""


@dataclass(frozen=True)
class Limits:
    """Limits applied by :func:`lib.core.db.run` to every read."""

    row_cap: int = 200_000
    """Most rows one query may return to the app; more is refused with a message, never truncated."""
    timeout_s: float = 60.0
    """Seconds before a running query is cancelled."""


def limits_from_env() -> Limits:
    """Limits, overridable by ``WORKBENCH_ROW_CAP`` and ``WORKBENCH_QUERY_TIMEOUT_S``."""
    base = Limits()
    return Limits(
        row_cap=int(os.environ.get("WORKBENCH_ROW_CAP", base.row_cap)),
        timeout_s=float(os.environ.get("WORKBENCH_QUERY_TIMEOUT_S", base.timeout_s)),
    )


def store_url() -> str:
    """The store URL: env ``WORKBENCH_DB_URL``, else secrets.toml ``[store] url``, else the embedded default."""
    url = os.environ.get("WORKBENCH_DB_URL", "").strip()
    if not url and SECRETS_FILE.exists():
        with SECRETS_FILE.open("rb") as fh:
            url = str(tomllib.load(fh).get("store", {}).get("url", "")).strip()
    return absolutise(url or DEFAULT_STORE_URL)


def warehouse_url() -> str | None:
    """The warehouse the semantic layer reads its warehouse datasets from (e.g. a Spark Thrift Server,
    ``hive://user@host:10000/default``): env ``WORKBENCH_WAREHOUSE_URL``, else secrets.toml ``[warehouse] url``;
    None when neither is set (every dataset is then read from the store). Never kept in the store.

    >>> import os; os.environ["WORKBENCH_WAREHOUSE_URL"] = " hive://spark@127.0.0.1:10000/default "; warehouse_url()
    'hive://spark@127.0.0.1:10000/default'
    >>> del os.environ["WORKBENCH_WAREHOUSE_URL"]
    """
    url = os.environ.get("WORKBENCH_WAREHOUSE_URL", "").strip()
    if not url and SECRETS_FILE.exists():
        with SECRETS_FILE.open("rb") as fh:
            url = str(tomllib.load(fh).get("warehouse", {}).get("url", "")).strip()
    return url or None


def base_url() -> str:
    """Where people open the app (e.g. ``https://bi.example.com``), for links in e-mails and robot messages:
    env ``WORKBENCH_BASE_URL``, else secrets.toml ``[app] base_url``; empty when unset (links stay relative).

    >>> import os; os.environ["WORKBENCH_BASE_URL"] = "https://bi.example.com/"; base_url()
    'https://bi.example.com'
    >>> del os.environ["WORKBENCH_BASE_URL"]
    """
    url = os.environ.get("WORKBENCH_BASE_URL", "").strip()
    if not url and SECRETS_FILE.exists():
        with SECRETS_FILE.open("rb") as fh:
            url = str(tomllib.load(fh).get("app", {}).get("base_url", "")).strip()
    return url.rstrip("/")


def absolutise(url: str) -> str:
    """Anchor a relative DuckDB file path at the repository root.

    >>> absolutise("postgresql+psycopg://u@h/db")
    'postgresql+psycopg://u@h/db'
    >>> absolutise("duckdb:///:memory:")
    'duckdb:///:memory:'
    """
    prefix = "duckdb:///"
    if not url.startswith(prefix):
        return url
    path = url[len(prefix):]
    if path.startswith(":memory:") or path.startswith("/") or not path:
        return url
    return prefix + str(ROOT / path)


BCRYPT_ROUNDS = 12
"""bcrypt's cost for new password hashes: 2^12 rounds, about 0.3 s a check on this class of machine."""


def bcrypt_rounds() -> int:
    """The cost for new password hashes: 12, or ``WORKBENCH_BCRYPT_ROUNDS`` (4–31). The test suite sets 4: its
    hundreds of log-ins then take a millisecond each instead of 0.3 s. Never lower it for real users."""
    raw = os.environ.get("WORKBENCH_BCRYPT_ROUNDS", "").strip()
    return min(31, max(4, int(raw))) if raw.isascii() and raw.isdigit() else BCRYPT_ROUNDS
