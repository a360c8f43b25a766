"""The only Streamlit glue: cached engine and reads, log-in, language, error display. Pages import this."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import sqlalchemy as sa
import streamlit as st
import streamlit_authenticator as stauth

from lib import (auth, cockpit, config, i18n, metric_store, metric_view, overview, query, secrets_file, store,
                 versions)
from lib.access import User
from lib.errors import Forbidden, WorkbenchError
from lib.semantic import SemanticModel
from lib.spec import QuerySpec

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
    """Every figure a page shows: ``lib.query`` within the logged-in user's scope (or, for admins,
    ``as_user``'s), through one cache keyed by spec, data, metric and user versions."""
    username = current_user().username
    if as_user is not None and as_user != username:
        auth.require(current_user(), "manage_users")
        username = as_user
    return _run(config.store_url(), spec.to_json(), data_version(), metrics_version(), username, users_version())


def overview_figures(as_user: str | None = None) -> overview.Overview | None:
    """The Overview, from cached compiled queries, as the logged-in user sees it (or ``as_user``)."""
    reader = auth.load_user(engine(), as_user) if as_user else current_user()
    return overview.build(lambda spec: run(spec, as_user), lambda mid: reader.may_see_metric(mid, model()))


def cockpit_figures(as_user: str | None = None) -> cockpit.Cockpit | None:
    """The management cockpit, from cached compiled queries, as the logged-in user sees it (or ``as_user``)."""
    reader = auth.load_user(engine(), as_user) if as_user else current_user()
    return cockpit.build(lambda spec: run(spec, as_user), lambda mid: reader.may_see_metric(mid, model()))


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
    """Log-in: the cookie re-logs in; otherwise our form (lockout and audit in lib.auth). Stops the run until then."""
    try:
        key = secrets_file.cookie_key()
        if not auth.has_users(engine()):
            st.info(t("login.no_users"))
            st.stop()
    except WorkbenchError as exc:
        st.error(exc.message(lang()))
        st.stop()
    authenticator = stauth.Authenticate(auth.credentials(engine()), COOKIE, key, COOKIE_DAYS, login_sleep_time=0)
    ss = st.session_state
    # The cookie is written by a hidden component: a rerun in the same run drops it, so repeat it once.
    if ss.pop("_set_cookie", False):
        authenticator.cookie_controller.set_cookie()
    if ss.pop("_delete_cookie", False):
        authenticator.cookie_controller.delete_cookie()
    elif not ss.get("authentication_status"):
        try:
            authenticator.login(location="unrendered")  # re-login from a valid cookie, no form
            token = authenticator.cookie_controller.get_cookie() if ss.get("authentication_status") else None
            if token:
                ss["_issued_at"] = dt.datetime.fromtimestamp(token["exp_date"]) - dt.timedelta(days=COOKIE_DAYS)
        except Exception:  # a cookie for a disabled or unknown user, or a forged one: back to the form
            authenticator.cookie_controller.delete_cookie()
            for k in ("authentication_status", "username", "name", "_issued_at"):
                ss.pop(k, None)
    if ss.get("authentication_status") and ss.get("username"):
        issued = ss.get("_issued_at") or dt.datetime.min
        if not auth.session_valid(engine(), ss["username"], issued):
            _logout(authenticator, end_all=False)  # voided elsewhere: logout, password reset, disable, lock
        ss["_user"] = auth.load_user(engine(), ss["username"])
        ss["_authenticator"] = authenticator
        return ss["_user"]
    ss.pop("_user", None)
    _login_form(authenticator)
    st.stop()


def _login_form(authenticator) -> None:
    with st.form("login_form"):
        st.subheader(t("login.title"))
        username = st.text_input(t("login.username"), key="login_username")
        password = st.text_input(t("login.password"), type="password", key="login_password")
        submitted = st.form_submit_button(t("login.submit"))
    if not submitted:
        return
    try:
        user = auth.authenticate(engine(), (username or "").strip().lower(), password or "", source="app")
    except auth.AuthError as exc:
        st.error(exc.message(lang()))
        return
    st.session_state.update(authentication_status=True, username=user.username, name=user.username, logout=None,
                            _user=user, _set_cookie=True, _issued_at=dt.datetime.now())
    authenticator.cookie_controller.set_cookie()
    st.rerun()


def _logout(authenticator, end_all: bool = True) -> None:
    """Log out here; ``end_all`` also voids every other session and cookie of the user (a copied cookie too)."""
    from lib import audit
    username = st.session_state.get("username")
    if end_all and username:
        auth.end_sessions(engine(), username)
        audit.record(engine(), username, "logout", username, None, "app")
    try:
        authenticator.logout(location="unrendered")
    except Exception:  # already logged out in the authenticator's own state
        pass
    for k in ("_user", "_issued_at", "login_username", "login_password", "authentication_status", "username"):
        st.session_state.pop(k, None)
    st.session_state["_delete_cookie"] = True
    st.rerun()


def logout_button() -> None:
    if st.sidebar.button(t("login.logout"), key="logout_button"):
        _logout(st.session_state["_authenticator"])


def explain(spec: QuerySpec, key: str) -> None:
    """"Explain this number": the question in words, the SQL finance can audit, and the spec."""
    with st.expander(t("metrics.explain"), key=key):
        st.markdown(metric_view.markdown_escape(query.describe(spec, lang(), model())))
        try:
            st.caption(t("metrics.explain.sql"))
            st.code(query.sql_text(spec, engine(), user=current_user(), model=model()), language="sql")
        except WorkbenchError as exc:
            show_error(exc)
        st.caption(t("metrics.explain.spec"))
        st.code(json.dumps(spec.to_dict(), ensure_ascii=False, indent=2), language="json")


def show_error(exc: WorkbenchError) -> None:
    sep = "：" if lang() == "zh" else ": "
    st.error(f"{t('error.store')}{sep}{exc.message(lang())}")
