"""用户与权限 / Users and permissions: accounts, roles and scopes, what a user sees, and the audit log. Admins only."""
import datetime as dt

import sqlalchemy as sa
import streamlit as st

from lib.access import admin_view as av
from lib.access import audit, auth
from lib.core import clock, db, i18n, schema
from lib.core.errors import Forbidden, WorkbenchError
from pages import _cockpit_parts as cockpit_parts
from pages import _outbox_view
from pages import _shared as sh

lang = sh.lang()
ss = st.session_state


def t(key: str, **kw: object) -> str:
    """UI text in this run's language (AppTest may call a format_func outside the run)."""
    return i18n.t(key, lang, **kw)


st.title(t("admin.title"))
try:  # the menu hides this page from other roles; its URL must refuse them too
    auth.require(sh.current_user(), "manage_users")
except Forbidden as exc:
    st.error(t("admin.forbidden", reason=sh.message(exc)))
    st.stop()
actor = sh.current_user().username
ROLES = [r.value for r in auth.roles()]


def _write(do, done: str, secret: tuple[str, str] | None = None, clear: str | None = None) -> bool:
    """Run one change from a callback; its outcome (and a generated password, once) shows on the next run."""
    try:
        do()
    except WorkbenchError as exc:
        ss["admin_flash"] = ("error", sh.message(exc), None)
        return False
    ss["admin_flash"] = ("success", done, secret)
    for k in [k for k in ss if clear and str(k).startswith(clear)]:
        del ss[k]
    return True


def _create() -> None:
    p = "admin_new_"
    name = (ss.get(p + "username") or "").strip().lower()
    generated = auth.generate_password() if ss.get(p + "generate") else None
    if _write(lambda: auth.add_user(sh.engine(), name, ss[p + "role"], generated or ss.get(p + "password") or "",
                                    (ss.get(p + "display_name") or "").strip() or None, ss.get(p + "orgs") or [],
                                    ss.get(p + "categories") or [], actor=actor, source=av.SOURCE),
              t("admin.created", user=name), (name, generated) if generated else None, clear=p):
        ss["admin_pick"] = name


def _set_role(name: str, orgs: list[str]) -> None:
    role = ss[f"admin_user_{name}_role"]

    def do() -> None:
        av.check_not_self(actor, name)
        av.check_role_change(role, orgs)
        auth.set_role(sh.engine(), name, role, actor=actor, source=av.SOURCE)
    _write(do, t("admin.role.saved", user=name, role=av.role_label(role, lang)))


def _set_scope(name: str) -> None:
    p = f"admin_user_{name}_"
    _write(lambda: auth.set_scope(sh.engine(), name, ss.get(p + "orgs") or [], ss.get(p + "categories") or [],
                                  actor=actor, source=av.SOURCE), t("admin.scope.saved", user=name))


def _set_active(name: str, active: bool) -> None:
    def do() -> None:
        if not active:
            av.check_not_self(actor, name)
        auth.set_active(sh.engine(), name, active, actor=actor, source=av.SOURCE)
    _write(do, t("admin.enabled" if active else "admin.disabled", user=name))


def _reset_password(name: str) -> None:
    p = f"admin_user_{name}_"
    generated = auth.generate_password() if ss.get(p + "pw_generate") else None
    _write(lambda: auth.reset_password(sh.engine(), name, generated or ss.get(p + "pw") or "", actor=actor,
                                       source=av.SOURCE), t("admin.password.done", user=name),
           (name, generated) if generated else None, clear=p + "pw")


def _audit_preview() -> None:
    if ss.get("admin_preview_user"):
        audit.record(sh.engine(), actor, "query_as", ss["admin_preview_user"], {"page": "overview"}, av.SOURCE)


def _scope_fields(p: str, orgs: list[str], categories: list[str]) -> None:
    st.multiselect(t("admin.field.orgs"), list(units), [o for o in orgs if o in units], key=p + "orgs",
                   format_func=lambda c: av.org_label(c, units[c]), help=t("admin.scope.help"))
    st.multiselect(t("admin.field.categories"), cats, [c for c in categories if c in cats], key=p + "categories")


def _preview(name: str) -> None:
    try:
        seen = auth.load_user(sh.engine(), name)
    except Forbidden:
        st.warning(t("admin.preview.disabled", user=name))
        return
    st.caption(f"{sh.scope_label(seen)} · {t('admin.preview.note')}")
    try:
        data = sh.cockpit_figures(as_user=name)
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    if data is None:
        st.info(t("overview.empty"))
        return
    st.caption(t("cockpit.caption", start=f"{data.month:%Y}-01", end=f"{data.month:%Y-%m}", scope=sh.scope_label(seen)))
    cockpit_parts.tiles(data)

st.caption(t("admin.caption"))
if "admin_flash" in ss:
    kind, text, secret = ss.pop("admin_flash")
    (st.success if kind == "success" else st.error)(text)
    if secret:  # shown on this run only: the flash is gone from the session, the store keeps only the hash
        st.success(t("admin.password_once", user=secret[0]))
        st.code(secret[1], language=None)

engine = sh.engine()
users = auth.list_users(engine)
by_name = {u["username"]: u for u in users}
units = {r.code: r.name for r in db.run(engine, sa.select(schema.org_unit.c.code, schema.org_unit.c.name)
                                        .order_by(schema.org_unit.c.id)).itertuples()}
cats = sorted(db.run(engine, sa.select(schema.product.c.category).distinct())["category"])
role_name = lambda r: av.role_label(r, lang)  # noqa: E731

st.subheader(t("admin.users"))
st.dataframe(av.users_frame(users, lang), hide_index=True)

with st.expander(t("admin.new.title")):
    with st.form("admin_new_form"):
        a, b, c = st.columns(3)
        a.text_input(t("admin.field.username"), key="admin_new_username")
        b.text_input(t("admin.field.display_name"), key="admin_new_display_name")
        c.selectbox(t("admin.field.role"), ROLES, index=ROLES.index("viewer"), format_func=role_name,
                    key="admin_new_role")
        _scope_fields("admin_new_", [], [])
        st.checkbox(t("admin.field.generate"), value=True, key="admin_new_generate")
        st.text_input(t("admin.field.password"), type="password", key="admin_new_password")
        st.form_submit_button(t("admin.new.submit"), key="admin_new_submit", on_click=_create, type="primary")

st.subheader(t("admin.manage"))
if ss.get("admin_pick") not in by_name:
    ss.pop("admin_pick", None)
name = st.selectbox(t("admin.pick"), list(by_name), key="admin_pick", format_func=lambda n: av.user_label(by_name[n]))
if name:
    u, p = by_name[name], f"admin_user_{name}_"
    if not u["active"]:
        st.warning(t("admin.state.inactive"))
    elif u["locked_until"] and u["locked_until"] > clock.now_precise():
        st.warning(t("admin.state.locked", until=f"{u['locked_until']:%Y-%m-%d %H:%M}"))
        st.button(t("admin.unlock"), key=p + "unlock", on_click=_set_active, args=(name, True))
    left, right = st.columns(2)
    with left.form(p + "role_form"):
        st.selectbox(t("admin.field.role"), ROLES, index=ROLES.index(u["role"]) if u["role"] in ROLES else 0,
                     format_func=role_name, key=p + "role")
        st.form_submit_button(t("admin.role.save"), key=p + "role_save", on_click=_set_role, args=(name, u["orgs"]))
    with left.form(p + "password_form"):
        st.checkbox(t("admin.field.generate"), value=True, key=p + "pw_generate")
        st.text_input(t("admin.field.password"), type="password", key=p + "pw")
        st.form_submit_button(t("admin.password.submit"), key=p + "pw_save", on_click=_reset_password, args=(name,))
    with right.form(p + "scope_form"):
        _scope_fields(p, u["orgs"], u["categories"])
        st.form_submit_button(t("admin.scope.save"), key=p + "scope_save", on_click=_set_scope, args=(name,))
    if u["active"]:
        right.button(t("admin.disable"), key=p + "disable", on_click=_set_active, args=(name, False))
    else:
        right.button(t("admin.enable"), key=p + "enable", on_click=_set_active, args=(name, True), type="primary")

_outbox_view.render_contacts()  # where alerts routed to a user are e-mailed

st.subheader(t("admin.preview.title"))
who = st.selectbox(t("admin.preview.pick"), list(by_name), index=None, placeholder=t("admin.preview.placeholder"),
                   format_func=lambda n: av.user_label(by_name[n]), key="admin_preview_user", on_change=_audit_preview)
if who:
    _preview(who)

st.subheader(t("admin.audit.title"))
a, b, c = st.columns(3)
all_ = t("admin.all")
by = a.selectbox(t("admin.audit.user"), ["", *by_name], key="admin_audit_user", format_func=lambda n: n or all_)
action = b.selectbox(t("admin.audit.action"), ["", *audit.ACTIONS], key="admin_audit_action",
                     format_func=lambda x: av.action_label(x, lang) if x else all_)
since = c.date_input(t("admin.audit.since"), value=None, key="admin_audit_since")
try:
    log = audit.entries(engine, username=by or None, action=action or None,
                        since=dt.datetime.combine(since, dt.time()) if since else None, limit=av.AUDIT_LIMIT)
except WorkbenchError as exc:
    sh.show_error(exc)
else:
    st.caption(t("admin.audit.count", n=len(log), cap=av.AUDIT_LIMIT))
    st.dataframe(av.audit_frame(log, lang), hide_index=True)
