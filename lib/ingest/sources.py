"""Database sources (数据源): an ERP/CRM reporting replica registered by name, and its feeds.

A source is a name and a *reference* to its SQLAlchemy URL: env ``WORKBENCH_SOURCE_<NAME>_URL``,
else ``[sources.<name>] url`` in the git-ignored .streamlit/secrets.toml (written 0600 by
:func:`register`). The store never holds the URL or its password.

A feed says what a source gives one canonical table: a source table or one read-only SELECT
(checked with sqlglot here, and run by ``lib.ingest.sync`` in a read-only transaction that is never
committed), the column mapping (import fields → source columns, as for files) and a watermark
column (an updated-at time or an increasing id). ``lib.ingest.sync.sync`` reads the rows past the
stored watermark and imports them with the file import's validation.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import tomllib
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlglot
from sqlglot import exp

from lib.access import auth
from lib.access.scope import User
from lib.core import clock, config
from lib.core.errors import InvalidArgument, StoreUnavailable, WorkbenchError
from lib.core.tables.sources import source, source_feed
from lib.ingest import mapping as ingest_map

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
TABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?")
_DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "mssql": "tsql",
             "oracle": "oracle", "sqlite": "sqlite", "duckdb": "duckdb"}
# Functions that act on the server (sleep, files, sessions, sequences) are refused even inside a SELECT.
_BAD_FUNCS = re.compile(r"^(pg_sleep\w*|sleep|benchmark|set_config|pg_read\w*|pg_ls_dir|pg_stat_file|lo_\w+|dblink\w*|"
                        r"pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|nextval|setval|"
                        r"load_file|sys_exec|xp_\w+|query_to_xml\w*|pg_advisory\w*|txid_current|pg_notify|"
                        r"current_setting|read_\w+|glob|sniff_csv|parquet_\w+|sqlite_scan|postgres_scan\w*|"
                        r"load_extension|readfile|writefile|edit|fts\w*)$", re.I)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
           exp.Into, exp.Lock, exp.Copy, exp.Set, exp.TruncateTable, exp.Transaction, exp.Commit, exp.Rollback)


@dataclass(frozen=True)
class Source:
    name: str
    secret_ref: str
    dialect: str | None
    note: str | None
    created_by: str | None
    created_at: dt.datetime | None


@dataclass(frozen=True)
class Feed:
    source_name: str
    target: str
    source_table: str | None
    query: str | None
    mapping: dict[str, str]
    watermark_column: str
    options: dict = field(default_factory=dict)
    """``create_missing`` and :class:`lib.ingest.mapping.ImportOptions` fields, as for a file import."""
    watermark: str | None = None
    last_sync_at: dt.datetime | None = None
    last_batch_id: int | None = None
    last_rows: int | None = None


# ---- names and secrets -------------------------------------------------------------------------

def check_name(name: str) -> str:
    """A source name: lower-case letters, digits and _, starting with a letter (it names a secret).

    >>> check_name("erp_main")
    'erp_main'
    """
    name = (name or "").strip()
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(f"A source name uses a–z, 0–9 and _ and starts with a letter (at most 40), got {name!r}.",
                              f"数据源名称只能使用 a–z、0–9 和 _，以字母开头（最多40个），收到 {name!r}。")
    return name


def env_var(name: str) -> str:
    """The environment variable that may hold the source's URL.

    >>> env_var("erp")
    'WORKBENCH_SOURCE_ERP_URL'
    """
    return f"WORKBENCH_SOURCE_{check_name(name).upper()}_URL"


def _secrets() -> dict:
    if not config.SECRETS_FILE.exists():
        return {}
    with config.SECRETS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def url_of(name: str) -> str:
    """The source's URL from the environment or secrets.toml; never from the store."""
    url = os.environ.get(env_var(name), "").strip()
    if not url:
        url = str(_secrets().get("sources", {}).get(name, {}).get("url", "")).strip()
    if not url:
        raise WorkbenchError(
            f"No URL for source {name!r}: set {env_var(name)} or add [sources.{name}] url = \"…\" to "
            ".streamlit/secrets.toml (the Data page can write it).",
            f"数据源 {name!r} 没有连接地址：请设置环境变量 {env_var(name)}，或在 .streamlit/secrets.toml 中添加 "
            f"[sources.{name}] url = \"…\"（数据接入页面可代为写入）。")
    return url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages.

    >>> safe_url("postgresql+psycopg://erp:s3cret@db:5432/erp")
    'postgresql+psycopg://erp:***@db:5432/erp'
    """
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(not a URL)"


def write_secret(name: str, url: str) -> None:
    """Put ``[sources.<name>] url`` in secrets.toml (created 0600, readable by the owner only)."""
    name = check_name(name)
    path = config.SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    # A JSON string is a valid TOML basic string: quotes, backslashes and controls are escaped.
    line = f"url = {json.dumps(url, ensure_ascii=False)}"
    header = f"[sources.{name}]"
    lines = text.splitlines()
    if header in (ln.strip() for ln in lines):
        start = next(i for i, ln in enumerate(lines) if ln.strip() == header)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        body = [ln for ln in lines[start + 1:end] if not re.match(r"\s*url\s*=", ln)]
        lines[start:end] = [header, line, *body]
        text = "\n".join(lines) + "\n"
    else:
        text = (text.rstrip("\n") + "\n" if text.strip() else "") + f"\n{header}\n# Database source; never commit this file.\n{line}\n"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # the file was broken before: don't make it worse
        raise WorkbenchError(f"{path} is not valid TOML ({exc}): fix it by hand first.",
                             f"{path} 不是有效的 TOML（{exc}），请先手工修正。") from exc
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


FILE_DIALECTS = ("duckdb", "sqlite")
ALLOW_FILES_ENV = "WORKBENCH_ALLOW_FILE_SOURCES"


def _source_engine(name: str) -> sa.Engine:
    url = url_of(name)
    try:
        backend = sa.engine.make_url(url).get_backend_name()
    except sa.exc.ArgumentError as exc:
        raise InvalidArgument(f"Source {name!r}: {safe_url(url)} is not a SQLAlchemy URL.",
                              f"数据源 {name!r}：{safe_url(url)} 不是有效的连接地址。") from exc
    # A file database opened by the app can read any file the app can (read_csv('/…')): server only,
    # unless the operator allows it for a local trial.
    if backend in FILE_DIALECTS and os.environ.get(ALLOW_FILES_ENV) != "1":
        raise InvalidArgument(
            f"Source {name!r} is a {backend} file; sources are database servers (PostgreSQL, MySQL…). "
            f"Set {ALLOW_FILES_ENV}=1 to allow file databases on this machine.",
            f"数据源 {name!r} 是 {backend} 文件库；数据源应为数据库服务器（PostgreSQL、MySQL 等）。"
            f"如需在本机使用文件库，请设置 {ALLOW_FILES_ENV}=1。")
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # bad URL or missing driver: say which source, without the password
        raise StoreUnavailable(f"Source {name!r} ({safe_url(url)}) can't be opened: {exc}",
                               f"无法打开数据源 {name!r}（{safe_url(url)}）：{exc}") from exc


def check_connection(name: str) -> str:
    """Open the source once; returns its dialect name or raises :class:`StoreUnavailable`."""
    eng = _source_engine(name)
    try:
        with eng.connect():
            return eng.dialect.name
    except Exception as exc:
        raise StoreUnavailable(f"Source {name!r} ({safe_url(url_of(name))}) is unreachable: "
                               f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}",
                               f"数据源 {name!r}（{safe_url(url_of(name))}）无法连接："
                               f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}") from exc
    finally:
        eng.dispose()


# ---- registry ----------------------------------------------------------------------------------

def _writer(engine: sa.Engine, user: User) -> User:
    user = auth.load_user(engine, user.username)  # a role taken away a moment ago counts
    auth.require(user, "import_data")
    return user


def register(engine: sa.Engine, user: User, name: str, url: str | None = None, note: str = "") -> Source:
    """Register (or update) a source. With ``url``, it is written to secrets.toml first; without,
    it must already be in the environment or secrets.toml. The connection is tried before saving."""
    user = _writer(engine, user)
    name = check_name(name)
    if url:
        try:
            sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise InvalidArgument(f"{safe_url(url)} is not a SQLAlchemy URL ({exc}).",
                                  f"{safe_url(url)} 不是有效的 SQLAlchemy 连接地址（{exc}）。") from exc
        if os.environ.get(env_var(name)):
            raise InvalidArgument(f"{env_var(name)} is set and wins over secrets.toml: change it there.",
                                  f"环境变量 {env_var(name)} 已设置且优先于 secrets.toml：请在环境变量中修改。")
        write_secret(name, url)
    dialect = check_connection(name)
    ref = f"env:{env_var(name)}" if os.environ.get(env_var(name)) else f"secrets:sources.{name}.url"
    now = clock.now()
    with engine.begin() as conn:
        old = conn.execute(sa.select(source).where(source.c.name == name)).first()
        conn.execute(source.delete().where(source.c.name == name))
        conn.execute(source.insert().values(name=name, secret_ref=ref, dialect=dialect, note=note.strip()[:500] or None,
                                            created_by=old.created_by if old else user.username,
                                            created_at=old.created_at if old else now))
    return Source(name, ref, dialect, note.strip() or None, user.username, now)


def sources(engine: sa.Engine) -> list[Source]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(source).order_by(source.c.name)).all()
    return [Source(r.name, r.secret_ref, r.dialect, r.note, r.created_by, r.created_at) for r in rows]


def get_source(engine: sa.Engine, name: str) -> Source:
    for s in sources(engine):
        if s.name == name:
            return s
    known = ", ".join(s.name for s in sources(engine)) or "none"
    raise InvalidArgument(f"No source {name!r}. Registered: {known}.", f"没有数据源 {name!r}。已登记：{known}。")


def remove(engine: sa.Engine, user: User, name: str) -> None:
    """Forget a source and its feeds (the secret stays in secrets.toml; the imported rows stay)."""
    _writer(engine, user)
    with engine.begin() as conn:
        conn.execute(source_feed.delete().where(source_feed.c.source_name == name))
        conn.execute(source.delete().where(source.c.name == name))


# ---- feeds -------------------------------------------------------------------------------------

def check_query(sql: str, dialect: str | None = None) -> str:
    """One read-only SELECT, re-rendered by sqlglot; anything else is refused with the reason.

    >>> check_query("select a, b from t where b > 1", "postgresql")
    'SELECT a, b FROM t WHERE b > 1'
    >>> check_query("select 1; drop table t")
    Traceback (most recent call last):
    ...
    lib.core.errors.InvalidArgument: Use one SELECT statement, not 2 statements.
    """
    read = _DIALECTS.get(dialect or "", None)
    try:
        statements = [s for s in sqlglot.parse(sql or "", read=read) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        msg = str(exc).splitlines()[0]
        raise InvalidArgument(f"The query does not parse: {msg}", f"查询无法解析：{msg}") from exc
    if len(statements) != 1:
        raise InvalidArgument(f"Use one SELECT statement, not {len(statements)} statements.",
                              f"只能使用一条 SELECT 语句，而不是 {len(statements)} 条。")
    stmt = statements[0]
    if not isinstance(stmt, (exp.Select, exp.Union)):
        raise InvalidArgument(f"Only a SELECT is allowed, got {stmt.key.upper()}.", f"只允许 SELECT，收到 {stmt.key.upper()}。")
    for node in stmt.walk():
        if isinstance(node, _WRITES):
            raise InvalidArgument(f"A read-only SELECT can't contain {node.key.upper()}.",
                                  f"只读查询中不能包含 {node.key.upper()}。")
        if isinstance(node, exp.Func):
            fname = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if _BAD_FUNCS.match(fname or ""):
                raise InvalidArgument(f"The function {fname} is not allowed in a source query.",
                                      f"数据源查询中不允许使用函数 {fname}。")
    return stmt.sql(dialect=read)


# The import fields that identify a row of each table a source can feed (the stored key is
# lib.ingest.rows.KEYS: the same fields after codes and names are resolved to ids).
FEED_KEYS: dict[str, tuple[str, ...]] = {
    "sales_line": ("order_no", "line_no"), "journal_line": ("entry_no", "line_no"), "ar_invoice": ("invoice_no",),
    "budget_line": ("version", "period", "org_unit", "account"), "inventory_snapshot": ("period_end", "product", "org_unit"),
}


def key_columns(target: str) -> tuple[str, ...]:
    """The fields that identify a row of ``target``: a synced row with the same key replaces the earlier one.

    Fact tables only: dimension members are created by the fact rows that use them (``create_missing``)
    or imported from files, since replacing a member would orphan the facts that point at its id.

    >>> key_columns("sales_line"), key_columns("ar_invoice")
    (('order_no', 'line_no'), ('invoice_no',))
    """
    keys = FEED_KEYS
    if target not in keys:
        raise InvalidArgument(f"Unknown target table {target!r}. Known: {', '.join(keys)}.",
                              f"未知的目标表 {target!r}。可选：{'、'.join(keys)}。")
    return keys[target]


def set_feed(engine: sa.Engine, user: User, source_name: str, target: str, mapping: dict[str, str],
             watermark_column: str, source_table: str | None = None, query: str | None = None,
             options: dict | None = None) -> Feed:
    """Create or change the feed of ``target`` from a source. Changing it keeps the stored watermark
    unless the watermark column changes. ``options``: ``create_missing`` and ImportOptions fields."""
    user = _writer(engine, user)
    src = get_source(engine, source_name)
    key_columns(target)
    if bool(source_table) == bool(query):
        raise InvalidArgument("Give a source table or a query, not both.", "请指定源表或查询（二选一）。")
    if source_table and not TABLE_RE.fullmatch(source_table):
        raise InvalidArgument(f"{source_table!r} is not a table name (schema.table).", f"{source_table!r} 不是有效的表名（schema.table）。")
    if query:
        query = check_query(query, src.dialect)
    cleaned = {}
    for fld, col in mapping.items():
        if col:
            ingest_map.field_of(target, fld)
            cleaned[fld] = str(col)
    missing = [k for k in key_columns(target) if k not in cleaned and not (k == "version" and target == "budget_line")]
    if missing:
        raise InvalidArgument(f"Map the key fields {', '.join(missing)}: synced rows are matched by them.",
                              f"请映射主键字段 {'、'.join(missing)}：同步时按它们匹配已有行。")
    if not (watermark_column or "").strip():
        raise InvalidArgument("Name the watermark column (an updated-at time or an increasing id).",
                              "请指定水位列（更新时间或递增的ID）。")
    options = dict(options or {})
    create_missing = bool(options.pop("create_missing", False))
    options = {"create_missing": create_missing, **ingest_map.ImportOptions.from_dict(options).to_dict()}
    now = clock.now()
    fc = source_feed.c
    with engine.begin() as conn:
        old = conn.execute(sa.select(source_feed).where(fc.source_name == source_name, fc.target == target)).first()
        keep = old is not None and old.watermark_column == watermark_column
        conn.execute(source_feed.delete().where(fc.source_name == source_name, fc.target == target))
        conn.execute(source_feed.insert().values(
            source_name=source_name, target=target, source_table=source_table or None, query=query or None,
            mapping=json.dumps(cleaned, ensure_ascii=False), watermark_column=watermark_column.strip(),
            options=json.dumps(options, ensure_ascii=False),
            watermark=old.watermark if keep else None, last_sync_at=old.last_sync_at if keep else None,
            last_batch_id=old.last_batch_id if keep else None, last_rows=old.last_rows if keep else None,
            updated_by=user.username, updated_at=now))
    return get_feed(engine, source_name, target)


def feeds(engine: sa.Engine, source_name: str | None = None) -> list[Feed]:
    stmt = sa.select(source_feed).order_by(source_feed.c.source_name, source_feed.c.target)
    if source_name:
        stmt = stmt.where(source_feed.c.source_name == source_name)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [Feed(r.source_name, r.target, r.source_table, r.query, json.loads(r.mapping), r.watermark_column,
                 json.loads(r.options or "{}"), r.watermark, r.last_sync_at, r.last_batch_id, r.last_rows)
            for r in rows]


def get_feed(engine: sa.Engine, source_name: str, target: str) -> Feed:
    for f in feeds(engine, source_name):
        if f.target == target:
            return f
    raise InvalidArgument(f"Source {source_name!r} has no feed for {target!r}.", f"数据源 {source_name!r} 没有到 {target!r} 的同步配置。")


def remove_feed(engine: sa.Engine, user: User, source_name: str, target: str) -> None:
    _writer(engine, user)
    with engine.begin() as conn:
        conn.execute(source_feed.delete().where(source_feed.c.source_name == source_name, source_feed.c.target == target))
