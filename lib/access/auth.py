"""Users, passwords, roles and row scopes, kept in the store.

Passwords are bcrypt hashes (the format streamlit-authenticator checks). A user's scope is a set
of org units (each covering its whole subtree) and optionally categories; admins and finance see
all data. Wrong passwords slow down the client they come from, and many lock the account's password log-in
for a while (never its open sessions). Every change is audited.
"""
from __future__ import annotations

import datetime as dt
import difflib
import enum
import math
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

import bcrypt
import jwt
import sqlalchemy as sa
import yaml
from sqlalchemy.dialects.postgresql import insert as pg_insert

from lib.access import audit
from lib.access.scope import DeniedSource, Scope, User
from lib.core import clock, config, schema
from lib.core.errors import Forbidden, WorkbenchError
from lib.core.tables.access import login_client, user_scope, users

ROLES_FILE = config.DATA_DIR / "roles.yaml"
FREE_TRIES = 3
"""Wrong passwords from one client for one name before it waits: 1 s after the third, doubling up to
``MAX_WAIT_SECONDS``."""
MAX_WAIT_SECONDS = 300
FORGET_AFTER = dt.timedelta(hours=1)
"""A client's failures older than this are forgotten."""
KNOWN_CLIENT_DAYS = 30
"""A client that logged in with the right password within this many days still may while the account is locked."""
MAX_FAILED = 10
"""Wrong passwords for one account, from anywhere, that lock its password log-in from unknown clients."""
LOCK_MINUTES = 15
MIN_PASSWORD = 10


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    """A hash checked for unknown names, at the cost real hashes have, so the time taken doesn't tell."""
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds)).decode()

class Role(enum.StrEnum):
    ADMIN = "admin"
    FINANCE = "finance"
    DEPT_HEAD = "dept_head"
    VIEWER = "viewer"


class AuthError(WorkbenchError):
    """Log-in refused: wrong credentials, locked or disabled account. Messages never say which user exists."""


@dataclass(frozen=True)
class RoleSpec:
    role: Role
    label_zh: str
    label_en: str
    all_data: bool
    actions: frozenset[str]
    deny_metrics: frozenset[str]
    deny_sources: tuple[DeniedSource, ...] = ()


@lru_cache(maxsize=1)
def roles() -> dict[Role, RoleSpec]:
    raw = yaml.safe_load(ROLES_FILE.read_text(encoding="utf-8"))["roles"]
    return {Role(k): RoleSpec(Role(k), v["label_zh"], v["label_en"], bool(v.get("all_data")),
                              frozenset(v.get("actions") or ()), frozenset(v.get("deny_metrics") or ()),
                              tuple(DeniedSource.parse(d) for d in v.get("deny_sources") or ()))
            for k, v in raw.items()}


def _now() -> dt.datetime:
    return clock.now()


# ---- passwords --------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    check_password(password)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(config.bcrypt_rounds())).decode()


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing.

    >>> check_password("correct horse battery")
    """
    if len(password or "") < MIN_PASSWORD:
        raise WorkbenchError(f"A password needs at least {MIN_PASSWORD} characters.",
                             f"密码至少需要 {MIN_PASSWORD} 个字符。")


def generate_password() -> str:
    """A random password to print once (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


# ---- users ----------------------------------------------------------------------------------------

def _check_username(username: str) -> str:
    # Lower case: streamlit-authenticator lower-cases what people type.
    name = (username or "").strip().lower()
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{2,64}", name):
        raise WorkbenchError(f"User names use 2–64 letters, digits and _ . @ -, got {username!r}.",
                             f"用户名须为 2–64 个字母、数字或 _ . @ -，收到 {username!r}。")
    return name


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise WorkbenchError(f"Unknown role {role!r}. Roles: {', '.join(r.value for r in Role)}.",
                             f"未知角色 {role!r}。可选：{', '.join(r.value for r in Role)}。") from None


def resolve_orgs(conn: sa.Connection, refs: list[str]) -> list[int]:
    """Org unit ids for codes or names; unknown ones are an error listing close matches."""
    rows = conn.execute(sa.select(schema.org_unit.c.id, schema.org_unit.c.code, schema.org_unit.c.name)).all()
    by = {r.code: r.id for r in rows} | {r.name: r.id for r in rows}
    out = []
    for ref in refs:
        if ref not in by:
            close = difflib.get_close_matches(ref, list(by), n=3, cutoff=0.4)
            raise WorkbenchError(f"Unknown org unit {ref!r}." + (f" Did you mean: {', '.join(close)}?" if close else ""),
                                 f"未知的组织 {ref!r}。" + (f"是否是：{'、'.join(close)}？" if close else ""))
        out.append(by[ref])
    return out


def add_user(engine: sa.Engine, username: str, role: str, password: str, display_name: str | None = None,
             orgs: list[str] = (), categories: list[str] = (), is_demo: bool = False, actor: str | None = None,
             source: str = "cli") -> None:
    """Create a user with a hashed password and scope; dept heads and viewers need a scope."""
    _check_actor(engine, actor)
    name, r = _check_username(username), _role(role)
    if not roles()[r].all_data and not orgs:
        raise WorkbenchError(f"A {r.value} sees only their scope: give at least one org unit (--scope).",
                             f"{roles()[r].label_zh}只能看到授权范围内的数据：请至少指定一个组织（--scope）。")
    pw_hash = hash_password(password)
    with engine.begin() as conn:
        if conn.execute(sa.select(users.c.username).where(users.c.username == name)).first():
            raise WorkbenchError(f"User {name!r} already exists.", f"用户 {name!r} 已存在。")
        org_ids = resolve_orgs(conn, list(orgs))
        now = _now()
        conn.execute(users.insert().values(username=name, display_name=display_name or name, password_hash=pw_hash,
                                           role=r.value, active=True, is_demo=is_demo, failed_attempts=0,
                                           locked_until=None, created_at=now, updated_at=now))
        _write_scope(conn, name, org_ids, list(categories))
        audit.record(conn, actor, "user_create", name,
                     {"role": r.value, "orgs": list(orgs), "categories": list(categories), "demo": is_demo}, source)


def _write_scope(conn: sa.Connection, name: str, org_ids: list[int], categories: list[str]) -> None:
    conn.execute(user_scope.delete().where(user_scope.c.username == name))
    rows = [{"username": name, "kind": "org", "value": str(i)} for i in dict.fromkeys(org_ids)]
    rows += [{"username": name, "kind": "category", "value": c} for c in dict.fromkeys(categories)]
    if rows:
        conn.execute(user_scope.insert(), rows)


def _check_actor(engine: sa.Engine, actor: str | None) -> None:
    """A change made from the app names its actor, whose role is re-read from the store now: an admin
    disabled or demoted a moment ago can't act on a page still open. (The CLI, run by whoever holds
    the store, passes no actor.)"""
    if actor is not None:
        require(load_user(engine, actor), "manage_users")


def _end_sessions(conn: sa.Connection, username: str) -> None:
    # Microseconds kept: a cookie issued earlier in the same second must be void too.
    conn.execute(users.update().where(users.c.username == username).values(sessions_valid_after=clock.now_precise()))


def _existing(conn: sa.Connection, username: str):
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise WorkbenchError(f"No user {username!r}.", f"没有用户 {username!r}。")
    return row


def set_scope(engine: sa.Engine, username: str, orgs: list[str], categories: list[str] = (),
              actor: str | None = None, source: str = "cli") -> None:
    _check_actor(engine, actor)
    with engine.begin() as conn:
        row = _existing(conn, username)
        if not roles()[Role(row.role)].all_data and not orgs:
            raise WorkbenchError("A scoped role needs at least one org unit.", "受限角色至少需要一个组织。")
        _write_scope(conn, username, resolve_orgs(conn, list(orgs)), list(categories))
        conn.execute(users.update().where(users.c.username == username).values(updated_at=_now()))
        _end_sessions(conn, username)
        audit.record(conn, actor, "scope_change", username, {"orgs": list(orgs), "categories": list(categories)}, source)


def set_active(engine: sa.Engine, username: str, active: bool, actor: str | None = None, source: str = "cli") -> None:
    _check_actor(engine, actor)
    with engine.begin() as conn:
        _existing(conn, username)
        conn.execute(users.update().where(users.c.username == username)
                     .values(active=active, failed_attempts=0, locked_until=None, updated_at=_now()))
        _end_sessions(conn, username)
        audit.record(conn, actor, "user_enable" if active else "user_disable", username, None, source)


def reset_password(engine: sa.Engine, username: str, password: str, actor: str | None = None,
                   source: str = "cli") -> None:
    _check_actor(engine, actor)
    pw_hash = hash_password(password)
    with engine.begin() as conn:
        _existing(conn, username)
        conn.execute(users.update().where(users.c.username == username)
                     .values(password_hash=pw_hash, failed_attempts=0, locked_until=None, updated_at=_now()))
        _end_sessions(conn, username)
        audit.record(conn, actor, "password_reset", username, None, source)


def set_role(engine: sa.Engine, username: str, role: str, actor: str | None = None, source: str = "cli") -> None:
    _check_actor(engine, actor)
    r = _role(role)
    with engine.begin() as conn:
        _existing(conn, username)
        conn.execute(users.update().where(users.c.username == username).values(role=r.value, updated_at=_now()))
        _end_sessions(conn, username)
        audit.record(conn, actor, "user_update", username, {"role": r.value}, source)


def list_users(engine: sa.Engine) -> list[dict]:
    """Every user with role, state and scope (org codes and categories); never the hash."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(users).order_by(users.c.username)).all()
        scopes = conn.execute(sa.select(user_scope)).all()
        units = {r.id: r for r in conn.execute(sa.select(schema.org_unit.c.id, schema.org_unit.c.code,
                                                            schema.org_unit.c.name)).all()}
    out = []
    for r in rows:
        ids = [int(s.value) for s in scopes if s.username == r.username and s.kind == "org"]
        cats = [s.value for s in scopes if s.username == r.username and s.kind == "category"]
        out.append({"username": r.username, "display_name": r.display_name, "role": r.role, "active": r.active,
                    "demo": r.is_demo, "locked_until": r.locked_until,
                    "orgs": [units[i].code if i in units else str(i) for i in ids],
                    "org_names": [units[i].name if i in units else str(i) for i in ids], "categories": cats})
    return out


def users_covering(engine: sa.Engine, org_unit_id: int | None) -> list[tuple[str, Role]]:
    """Active users whose rows include ``org_unit_id``, with their roles: every all-data role, and the scoped
    users one of whose org subtrees holds the unit. By name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(users.c.username, users.c.role).where(users.c.active.is_(True))
                            .order_by(users.c.username)).all()
        scopes = conn.execute(sa.select(user_scope.c.username, user_scope.c.value)
                              .where(user_scope.c.kind == "org")).all()
        parent = dict(conn.execute(sa.select(schema.org_unit.c.id, schema.org_unit.c.parent_id)).all())
    ancestors, cur = set(), org_unit_id
    while cur is not None and cur not in ancestors:
        ancestors.add(cur)
        cur = parent.get(cur)
    roots: dict[str, set[int]] = {}
    for name, value in scopes:
        roots.setdefault(name, set()).add(int(value))
    return [(r.username, Role(r.role)) for r in rows
            if roles()[Role(r.role)].all_data or roots.get(r.username, set()) & ancestors]


def has_users(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() > 0


# ---- who is asking ---------------------------------------------------------------------------------

def subtree_ids(conn: sa.Connection, roots: list[int]) -> frozenset[int]:
    """The org units under (and including) ``roots``."""
    rows = conn.execute(sa.select(schema.org_unit.c.id, schema.org_unit.c.parent_id)).all()
    children: dict[int, list[int]] = {}
    for uid, parent in rows:
        children.setdefault(parent, []).append(uid)
    out, todo = set(), list(roots)
    while todo:
        uid = todo.pop()
        if uid not in out:
            out.add(uid)
            todo.extend(children.get(uid, ()))
    return frozenset(out)


def load_user(engine: sa.Engine, username: str) -> User:
    """The User the query compiler applies: role, expanded scope, denied metrics. Disabled users are refused."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None or not row.active:
            raise Forbidden(f"No active user {username!r}.", f"没有可用的用户 {username!r}。")
        spec = roles()[Role(row.role)]
        scope = None
        if not spec.all_data:
            entries = conn.execute(sa.select(user_scope).where(user_scope.c.username == username)).all()
            org_ids = [int(e.value) for e in entries if e.kind == "org"]
            cats = [e.value for e in entries if e.kind == "category"]
            scope = Scope(org_unit_ids=subtree_ids(conn, org_ids), categories=frozenset(cats) if cats else None)
    return User(username=row.username, role=row.role, scope=scope, denied_metrics=spec.deny_metrics,
                denied_sources=spec.deny_sources)


def session_valid(engine: sa.Engine, username: str, issued_at: dt.datetime) -> bool:
    """False when a log-in or cookie issued at ``issued_at`` was voided since (logout, password reset,
    disable, role or scope change), or the account is disabled now. A lock after wrong passwords stops new
    password log-ins only: it never ends a session opened with the right password."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None or not row.active:
        return False
    return row.sessions_valid_after is None or issued_at >= row.sessions_valid_after


def end_sessions(engine: sa.Engine, username: str) -> None:
    """Void every session and cookie of the user (logout ends them all)."""
    with engine.begin() as conn:
        _end_sessions(conn, username)


def may(user: User, action: str) -> bool:
    """Whether the user's role allows ``action`` (checked in lib, not only by hiding a button)."""
    return action in roles()[Role(user.role)].actions


def require(user: User, action: str) -> None:
    if not may(user, action):
        raise Forbidden(f"Your role ({user.role}) may not {action.replace('_', ' ')}.",
                        f"您的角色（{user.role}）无权执行此操作：{action}。")


def _wait(failures: int) -> dt.timedelta:
    """The back-off after ``failures`` wrong passwords from one client for one name: none before FREE_TRIES,
    then 1 s, 2 s, 4 s … up to MAX_WAIT_SECONDS.

    >>> [_wait(n).total_seconds() for n in (1, 2, 3, 4, 5, 11, 40)]
    [0.0, 0.0, 1.0, 2.0, 4.0, 256.0, 300.0]
    """
    if failures < FREE_TRIES:
        return dt.timedelta(0)
    return dt.timedelta(seconds=min(2 ** min(failures - FREE_TRIES, 20), MAX_WAIT_SECONDS))


def _client_row(conn: sa.Connection, client: str, username: str):
    c = login_client.c
    return conn.execute(sa.select(login_client).where(c.client == client, c.username == username)).first()


def _client_set(conn: sa.Connection, client: str, username: str, row, **values) -> None:
    if row is None:  # ON CONFLICT (both stores speak it): a parallel attempt may have inserted it first
        conn.execute(pg_insert(login_client).values(client=client, username=username, failures=0)
                     .on_conflict_do_nothing())
    c = login_client.c
    conn.execute(login_client.update().where(c.client == client, c.username == username).values(**values))


def _client_failed(conn: sa.Connection, client: str, username: str, row, now: dt.datetime) -> None:
    fresh = row is not None and row.last_failed_at is not None and now - row.last_failed_at < FORGET_AFTER
    failures = (row.failures if fresh else 0) + 1
    _client_set(conn, client, username, row, failures=failures, last_failed_at=now, wait_until=now + _wait(failures))


def _client_ok(conn: sa.Connection, client: str, username: str, row, now: dt.datetime) -> None:
    _client_set(conn, client, username, row, failures=0, last_failed_at=None, wait_until=None, last_ok_at=now)


def _minutes(delta: dt.timedelta) -> int:
    return max(1, -(-int(delta.total_seconds()) // 60))  # rounded up


def authenticate(engine: sa.Engine, username: str, password: str, source: str = "app",
                 now: dt.datetime | None = None, client: str = "local") -> User:
    """Check a log-in from ``client`` (the browser's address); audits every outcome.

    Guessing is slowed where it comes from: after FREE_TRIES wrong passwords for a name, that client waits
    (doubling, up to MAX_WAIT_SECONDS) before its next try is even checked. MAX_FAILED wrong passwords from
    anywhere lock the account's password log-in for LOCK_MINUTES, except from a client that logged in with the
    right password within KNOWN_CLIENT_DAYS. Nothing here ends a session that is already open: a stranger can
    slow a name down, not log its owner out.
    """
    now = now or _now()
    client = (client or "local")[:100]
    error: AuthError | None = None
    # Failures are committed before the error is raised: a rollback would erase the count and the audit.
    with engine.begin() as conn:
        key = (username or "")[:64]
        seen = _client_row(conn, client, key)
        if seen is not None and seen.wait_until is not None and seen.wait_until > now:
            audit.record(conn, None, "login_throttled", key or None, {"client": client}, source)
            seconds = max(1, math.ceil((seen.wait_until - now).total_seconds()))
            throttled = AuthError(f"Too many wrong passwords from here: try again in {seconds} second(s).",
                                  f"此处密码错误次数过多：请 {seconds} 秒后再试。")
        else:
            throttled = None
            error = _check(conn, username, password, client, key, seen, now, source)
    if throttled is not None:
        raise throttled
    if error is not None:
        raise error
    return load_user(engine, username)


def _check(conn: sa.Connection, username: str, password: str, client: str, key: str, seen, now: dt.datetime,
           source: str) -> AuthError | None:
    """The password check of :func:`authenticate` once the client may try: the error to raise, or None."""
    generic = AuthError("Wrong user name or password.", "用户名或密码错误。")
    error = None
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    # bcrypt runs for unknown names too, so the time taken doesn't tell which names exist
    right = verify_password(password, row.password_hash if row is not None else _dummy_hash(config.bcrypt_rounds()))
    known = (seen is not None and seen.last_ok_at is not None
             and now - seen.last_ok_at <= dt.timedelta(days=KNOWN_CLIENT_DAYS))
    if row is None:
        audit.record(conn, None, "login_failed", None, {"reason": "unknown user"}, source)  # never store what was typed
        _client_failed(conn, client, key, seen, now)
        error = generic
    elif not right:
        # Counted in the database (failed_attempts + 1), so parallel guesses can't overwrite each other.
        failed = conn.execute(users.update().where(users.c.username == username)
                              .values(failed_attempts=users.c.failed_attempts + 1)
                              .returning(users.c.failed_attempts)).scalar_one()
        locked = now + dt.timedelta(minutes=LOCK_MINUTES) if failed >= MAX_FAILED else None
        if locked:  # sessions stay: only the password log-in from unknown clients is stopped
            conn.execute(users.update().where(users.c.username == username).values(
                failed_attempts=0, locked_until=locked))
        _client_failed(conn, client, key, seen, now)
        audit.record(conn, username, "login_failed", username,
                     {"reason": "password", "locked": bool(locked), "client": client}, source)
        error = generic
    elif row.locked_until is not None and row.locked_until > now and not known:
        # only the account's owner (the right password) learns that it is locked, and until when
        audit.record(conn, username, "login_failed", username, {"reason": "locked", "client": client}, source)
        minutes = _minutes(row.locked_until - now)
        error = AuthError(f"Too many failed attempts: try again in {minutes} minute(s), or ask an admin.",
                          f"登录失败次数过多：请 {minutes} 分钟后再试，或联系管理员。")
    elif not row.active:
        audit.record(conn, username, "login_failed", username, {"reason": "disabled"}, source)
        error = AuthError("This account is disabled: ask an admin.", "该账户已停用，请联系管理员。")
    else:
        if row.locked_until is None or row.locked_until <= now:
            conn.execute(users.update().where(users.c.username == username)
                         .values(failed_attempts=0, locked_until=None))
        _client_ok(conn, client, key, seen, now)
        audit.record(conn, username, "login", username, {"client": client}, source)
    return error


def replace_demo_users(conn: sa.Connection, specs: list[dict], password: str) -> int:
    """(Re)create the demo users inside the caller's transaction; real users are left alone.

    All demo users share one password, so one bcrypt hash serves them all.
    """
    demo_names = [r.username for r in conn.execute(sa.select(users.c.username).where(users.c.is_demo.is_(True)))]
    if demo_names:
        conn.execute(user_scope.delete().where(user_scope.c.username.in_(demo_names)))
        conn.execute(users.delete().where(users.c.username.in_(demo_names)))
    pw_hash, now = hash_password(password), _now()
    for spec in specs:
        name, r = _check_username(spec["username"]), _role(spec["role"])
        conn.execute(users.insert().values(username=name, display_name=spec.get("name", name), password_hash=pw_hash,
                                           role=r.value, active=True, is_demo=True, failed_attempts=0,
                                           locked_until=None, created_at=now, updated_at=now))
        _write_scope(conn, name, resolve_orgs(conn, list(spec.get("orgs") or ())), list(spec.get("categories") or ()))
    return len(specs)


def ensure_admin(engine: sa.Engine) -> str | None:
    """On a store without users, create ``admin`` with a generated password and return it (print it once)."""
    if has_users(engine):
        return None
    password = generate_password()
    add_user(engine, "admin", Role.ADMIN.value, password, display_name="Administrator", source="init")
    return password


def issue_token(username: str, key: str, days: float) -> tuple[str, dt.datetime]:
    """A signed log-in cookie for ``username`` valid ``days`` days, and the time it was issued on the clock.

    The value is an HS256 JWT ``{username, exp_date}`` (the format streamlit-authenticator writes, so cookies
    from earlier versions still log in); the expiry is the machine's real time, as browsers keep it.
    """
    expires = clock.epoch_ms() / 1000 + days * 86400
    return jwt.encode({"username": username, "exp_date": expires}, key, algorithm="HS256"), clock.now_precise()


def read_token(token: str, key: str, days: float) -> tuple[str, dt.datetime] | None:
    """(username, issued at) of a log-in cookie signed with ``key`` and not expired; None for anything else
    (empty, malformed, forged, unsigned, expired). Whether the session still holds is :func:`session_valid`'s."""
    if not token:
        return None
    try:
        payload = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    username, expires = payload.get("username"), payload.get("exp_date")
    if not isinstance(username, str) or not isinstance(expires, int | float) or expires <= clock.epoch_ms() / 1000:
        return None
    return username, clock.from_timestamp(expires) - dt.timedelta(days=days)
