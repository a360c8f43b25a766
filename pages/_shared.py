"""The only Streamlit glue: cached engine and reads, log-in, language, error display. Pages import this."""
from __future__ import annotations

import datetime as dt
import json
import urllib.parse

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from lib.access import auth
from lib.access.scope import User
from lib.core import clock, config, i18n, secrets_file, store, versions
from lib.core.errors import Forbidden, WorkbenchError
from lib.core.fmt import plain
from lib.finance import cockpit, overview
from lib.semantic import asof, metric_store, query
from lib.semantic.model import SemanticModel
from lib.semantic.spec import QuerySpec

COOKIE = "yecai_auth"
COOKIE_DAYS = 7


def lang() -> str:
    """The UI language chosen in the sidebar ('zh' default)."""
    value = st.session_state.get("lang", "zh")
    return value if value in i18n.LANGS else "zh"


def t(key: str, **kw: object) -> str:
    return i18n.t(key, lang(), **kw)


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> sa.Engine:
    engine = store.get_engine(url)
    store.init_schema(engine)
    return engine


def engine() -> sa.Engine:
    """The store's engine, opened and migrated once per process and URL."""
    return _engine(config.store_url())


def data_version() -> str:
    """Changes whenever an import, a rollback, a demo build or a budget change lands, so cached reads are refreshed."""
    with engine().connect() as conn:
        return versions.data(conn)


def metrics_version() -> str:
    """Changes whenever a metric edit is saved or a dataset is registered, so the cached model is reloaded."""
    with engine().connect() as conn:
        return versions.metrics(conn)


@st.cache_resource(show_spinner=False, max_entries=8)
def _model(url: str, version: str) -> tuple[SemanticModel, list]:
    return metric_store.load_model(_engine(url))


def model() -> SemanticModel:
    """The semantic model: YAML seed plus the store's metric edits, cached per metric version."""
    return _model(config.store_url(), metrics_version())[0]


def skipped_edits() -> list:
    """Stored edits that no longer validate against the seed (left out of the model)."""
    return _model(config.store_url(), metrics_version())[1]


def users_version() -> str:
    """Changes with any user, role or scope change, so cached reads re-apply scopes."""
    u = auth.users.c
    with engine().connect() as conn:  # sessions_valid_after has microseconds: two changes in a second differ
        n, last, ended = conn.execute(sa.select(sa.func.count(), sa.func.max(u.updated_at),
                                                sa.func.max(u.sessions_valid_after))).one()
    return f"{n}:{last}:{ended}"


@st.cache_data(show_spinner=False, max_entries=256)
def _run(url: str, spec_json: str, data: str, metrics: str, username: str, users: str) -> pd.DataFrame:
    user = auth.load_user(_engine(url), username)
    return query.run(_engine(url), QuerySpec.from_json(spec_json), user=user, model=_model(url, metrics)[0])


def run(spec: QuerySpec, as_user: str | None = None) -> pd.DataFrame:
    """Every figure a page shows: ``lib.semantic.query`` within the logged-in user's scope (or, for admins,
    ``as_user``'s), through one cache keyed by spec, data, metric and user versions."""
    username = current_user().username
    if as_user is not None and as_user != username:
        auth.require(current_user(), "manage_users")
        username = as_user
    return _run(config.store_url(), spec.to_json(), data_version(), metrics_version(), username, users_version())


def as_of(metric: str = "revenue") -> asof.AsOf:
    """The analysis date as the logged-in user's data shows it: the clock's today, the data's last day before
    it and the latest complete month (two cached reads)."""
    return asof.read(run, metric)


def as_of_caption(metric: str = "revenue") -> asof.AsOf:
    """Show '数据截至 … · 最近完整月份 … · 今天 …' under a page's title; returns what it showed. A reader
    who may not see ``metric`` gets the clock's day alone (their pages say what they may not see)."""
    try:
        a = as_of(metric)
    except Forbidden:
        a = asof.AsOf(clock.today(), None, None)
    st.caption(a.caption(lang()))
    return a


def overview_figures(as_user: str | None = None) -> overview.Overview | None:
    """The Overview, from cached compiled queries, as the logged-in user sees it (or ``as_user``)."""
    reader = auth.load_user(engine(), as_user) if as_user else current_user()
    return overview.build(lambda spec: run(spec, as_user), lambda mid: reader.may_see_metric(mid, model()))


def cockpit_figures(as_user: str | None = None) -> cockpit.Cockpit | None:
    """The management cockpit, from cached compiled queries, as the logged-in user sees it (or ``as_user``)."""
    reader = auth.load_user(engine(), as_user) if as_user else current_user()
    return cockpit.build(lambda spec: run(spec, as_user), lambda mid: reader.may_see_metric(mid, model()))


@st.cache_data(show_spinner=False, max_entries=256)
def _values(url: str, dim: str, username: str | None, data: str, metrics: str, users: str) -> list:
    user = auth.load_user(_engine(url), username) if username else None
    return query.dimension_values(_engine(url), dim, user, _model(url, metrics)[0])


def dimension_values(dim: str, scoped: bool = True) -> list:
    """A dimension's members: those in the logged-in user's scope, or (``scoped=False``) company-wide, which
    only the question box uses, to recognise the names of other units (names, never their figures)."""
    username = current_user().username if scoped else None
    return _values(config.store_url(), dim, username, data_version(), metrics_version(), users_version())


@st.cache_resource(show_spinner=False, max_entries=32)
def _vocabulary(url: str, username: str, data: str, metrics: str, users: str):
    from lib.ask import answer as ask

    user = auth.load_user(_engine(url), username)
    return ask.vocabulary_for(_engine(url), user, _model(url, metrics)[0], values=lambda d, u: _values(
        url, d, u.username if u is not None else None, data, metrics, users))


def vocabulary():
    """The words the logged-in user's questions can use (lib.ask), built once per data, metric and user version."""
    return _vocabulary(config.store_url(), current_user().username, data_version(), metrics_version(), users_version())


# ---- log-in ------------------------------------------------------------------------------------

def current_user() -> User:
    """The logged-in user, reloaded from the store every run (a disabled user is logged out)."""
    user = st.session_state.get("_user")
    if user is None:
        raise Forbidden("Not logged in.", "未登录。")
    return user


def scope_label(user: User) -> str:
    """'全部数据' or the org units a scoped user sees (their totals are these units' totals)."""
    if user.scope is None:
        return t("login.scope_all")
    names = [u["org_names"] for u in auth.list_users(engine()) if u["username"] == user.username]
    return t("login.scope", units="、".join(names[0]) if names else "—")


def gate() -> User:
    """Log-in: a valid cookie logs in again; otherwise our form (lockout and audit in lib.access.auth). Stops the run
    until someone is logged in; a successful log-in goes on in the same run, to the page its URL asked for."""
    try:
        key = secrets_file.cookie_key()
        if not auth.has_users(engine()):
            st.info(t("login.no_users"))
            st.stop()
    except WorkbenchError as exc:
        st.error(message(exc))
        st.stop()
    ss = st.session_state
    if ss.get("_logged_out"):
        _write_cookie(None)
    if "_user" not in ss and not ss.get("_logged_out"):
        # The cookie is read from the request (st.context), not by a component: a component on the log-in page
        # reruns the script once it has mounted, and a click arriving during that rerun was lost.
        token = auth.read_token(st.context.cookies.get(COOKIE) or "", key, COOKIE_DAYS)
        if token is not None:
            try:
                ss["_user"], ss["_issued_at"] = auth.load_user(engine(), token[0]), token[1]
            except Forbidden:  # a cookie of a user disabled or removed since: the form
                _write_cookie(None)
    if "_user" in ss:
        if ss.get("_cookie"):
            _write_cookie(ss["_cookie"])
        username = ss["_user"].username
        if not auth.session_valid(engine(), username, ss.get("_issued_at") or dt.datetime.min):
            _logout(end_all=False)  # voided elsewhere: logout, password reset, disable, lock, role or scope change
        ss["_user"] = auth.load_user(engine(), username)  # reloaded every run: role and scope changes apply at once
        return ss["_user"]
    _remember_link()
    user = _login_form(key)
    if user is None:
        st.stop()
    return user


def _remember_link() -> None:
    """On the log-in page: the page and parameters the link asked for, to open once logged in. Taken from the
    first request only: the form's own reruns no longer say which page the browser was sent to."""
    if "_wanted" not in st.session_state:
        page = urllib.parse.urlparse(st.context.url or "").path.rstrip("/").rsplit("/", 1)[-1]
        st.session_state["_wanted"] = (page, st.query_params.to_dict())


def follow_link(pages: list, current) -> None:
    """Right after log-in: open the page (and state) the link opened before it asked for, instead of the
    default page. ``pages`` are the st.Page objects the user may open; ``current`` what st.navigation chose."""
    wanted = st.session_state.pop("_wanted", None)
    if not wanted or not wanted[0]:
        return
    path, params = wanted
    target = next((p for p in pages if p.url_path == path), None)
    if target is not None and target.url_path != current.url_path:
        st.switch_page(target, query_params=params)


def _write_cookie(value: str | None) -> None:
    """Set (or, with None, delete) the log-in cookie in the browser with a script element: no component, so
    nothing reruns the page afterwards. Drawn on every run of the session, at the same place: a run cut short
    by a rerun (a redirect, a quick click) may never reach the browser, and an unchanged element runs once."""
    secure = "; Secure" if (st.context.url or "").startswith("https:") else ""
    age = int(COOKIE_DAYS * 86400) if value is not None else 0
    cookie = f"{COOKIE}={value or ''}; Max-Age={age}; Path=/; SameSite=Strict{secure}"
    st.sidebar.html(f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True)


def _login_form(key: str) -> User | None:
    """The form; on success the user (the form is cleared and the run goes on), else None."""
    box = st.empty()
    with box.form("login_form"):
        st.subheader(t("login.title"))
        username = st.text_input(t("login.username"), key="login_username")
        password = st.text_input(t("login.password"), type="password", key="login_password")
        submitted = st.form_submit_button(t("login.submit"))
    if not submitted:
        return None
    try:
        # The browser's address keys the back-off (None on localhost): a stranger slows only their own tries.
        ip = st.context.ip_address
        user = auth.authenticate(engine(), (username or "").strip().lower(), password or "", source="app",
                                 client=ip if isinstance(ip, str) and ip else "local")
    except auth.AuthError as exc:
        st.error(message(exc))
        return None
    token, issued = auth.issue_token(user.username, key, COOKIE_DAYS)
    st.session_state.update(_user=user, _issued_at=issued, _logged_out=False, _cookie=token)
    for k in ("login_username", "login_password"):
        st.session_state.pop(k, None)
    box.empty()
    _write_cookie(token)
    return user


def _logout(end_all: bool = True) -> None:
    """Log out here; ``end_all`` also voids every other session and cookie of the user (a copied cookie too)."""
    from lib.access import audit
    user = st.session_state.get("_user")
    if end_all and user is not None:
        auth.end_sessions(engine(), user.username)
        audit.record(engine(), user.username, "logout", user.username, None, "app")
    for k in ("_user", "_issued_at", "_cookie", "login_username", "login_password"):
        st.session_state.pop(k, None)
    # This session's request still carries the old cookie (st.context): never log in from it again.
    st.session_state["_logged_out"] = True
    st.rerun()


def logout_button() -> None:
    if st.sidebar.button(t("login.logout"), key="logout_button"):
        _logout()


def explain(spec: QuerySpec, key: str) -> None:
    """"Explain this number": the question in words, the SQL finance can audit, and the spec."""
    with st.expander(t("metrics.explain"), key=key):
        st.markdown(plain(query.describe(spec, lang(), model())))
        try:
            st.caption(t("metrics.explain.sql"))
            st.code(query.sql_text(spec, engine(), user=current_user(), model=model()), language="sql")
        except WorkbenchError as exc:
            show_error(exc)
        st.caption(t("metrics.explain.spec"))
        st.code(json.dumps(spec.to_dict(), ensure_ascii=False, indent=2), language="json")


def message(exc: WorkbenchError) -> str:
    """An error's message in the reader's language, as plain text: it may quote what a user typed."""
    return plain(exc.message(lang()), code=True)


def show_error(exc: WorkbenchError) -> None:
    sep = "：" if lang() == "zh" else ": "
    st.error(f"{t('error.store')}{sep}{message(exc)}")
