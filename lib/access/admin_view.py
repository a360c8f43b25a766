"""What the admin page (用户与权限) shows: user and audit tables, labels, KPI texts, and the checks
that keep an admin from locking themselves out. Pure helpers (no Streamlit), so the page stays thin.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from lib.access import auth
from lib.core import fmt
from lib.core.errors import WorkbenchError
from lib.core.i18n import MESSAGES, t
from lib.core.kpi import Kind, Kpi

SOURCE = "admin page"
"""The audit log's ``source`` for every change made on the page."""
AUDIT_LIMIT = 1000
"""Most audit entries the page shows (newest first); narrow by user, action or date for older ones."""


def role_label(role: str, lang: str) -> str:
    """The role's name in ``lang`` from data/roles.yaml; an unknown role shows as stored.

    >>> role_label("dept_head", "zh"), role_label("dept_head", "en"), role_label("guest", "zh")
    ('部门负责人', 'Department head', 'guest')
    """
    try:
        spec = auth.roles()[auth.Role(role)]
    except ValueError:
        return role
    return spec.label_zh if lang == "zh" else spec.label_en


def org_label(code: str, name: str) -> str:
    """How an org unit reads in a picker.

    >>> org_label("R40", "西部大区")
    '西部大区 (R40)'
    """
    return f"{name} ({code})"


def user_label(user: Mapping) -> str:
    """'display name (username)', or the username alone when they are the same.

    >>> user_label({"username": "demo_east", "display_name": "华东负责人"})
    '华东负责人 (demo_east)'
    >>> user_label({"username": "lin", "display_name": "lin"})
    'lin'
    """
    name, display = user["username"], user.get("display_name") or ""
    return name if display in ("", name) else f"{display} ({name})"


def action_label(action: str, lang: str) -> str:
    """An audit action in words; actions this version does not know show as stored.

    >>> action_label("user_disable", "zh"), action_label("user_disable", "en"), action_label("new_thing", "en")
    ('停用用户', 'Disable user', 'new_thing')
    """
    key = f"admin.action.{action}"
    return t(key, lang) if key in MESSAGES else action


def users_frame(users: Iterable[Mapping], lang: str) -> pd.DataFrame:
    """The users table: one row per user from ``auth.list_users`` (which never carries a hash)."""
    col = lambda k: t(f"admin.col.{k}", lang)  # noqa: E731
    rows = []
    for u in users:
        all_data = _all_data(u["role"])
        rows.append({col("username"): u["username"], col("display_name"): u["display_name"],
                     col("role"): role_label(u["role"], lang), col("active"): bool(u["active"]),
                     col("demo"): bool(u["demo"]), col("locked_until"): u["locked_until"],
                     col("scope"): t("admin.scope.all", lang) if all_data else "、".join(u["org_names"]) or "—",
                     col("categories"): "、".join(u["categories"]) or t("admin.scope.all", lang)})
    columns = [col(k) for k in ("username", "display_name", "role", "active", "demo", "locked_until", "scope",
                                "categories")]
    return pd.DataFrame(rows, columns=columns)


def audit_frame(entries: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The audit table from ``audit.entries`` (already newest first), with readable headers and actions."""
    col = lambda k: t(f"admin.col.{k}", lang)  # noqa: E731
    return pd.DataFrame({col("time"): entries["created_at"], col("actor"): entries["username"],
                         col("action"): [action_label(a, lang) for a in entries["action"]],
                         col("target"): entries["target"], col("detail"): entries["detail"],
                         col("source"): entries["source"]})


@dataclass(frozen=True)
class KpiText:
    """One Overview figure as st.metric shows it (the same formatting as the Overview page)."""

    value: str
    yoy: str | None
    mom: str | None
    mom_color: str
    """'green' when the month-on-month change is good for the business, else 'red'."""


def kpi_text(kpi: Kpi, lang: str) -> KpiText:
    """Money as ¥ with 万/亿 and relative changes; percents with changes in percentage points.

    >>> kpi_text(Kpi("revenue", 12345678.9, 0.05, None, Kind.MONEY), "zh")
    KpiText(value='¥1,234.57万', yoy=None, mom='+5.0%', mom_color='green')
    >>> kpi_text(Kpi("gross_margin", 0.3244, -0.004, 0.01, Kind.PERCENT), "en")
    KpiText(value='32.4%', yoy='+1.0 pp', mom='-0.4 pp', mom_color='red')
    >>> kpi_text(Kpi("opex", 5000.0, 0.1, 0.2, Kind.MONEY, higher_is_better=False), "en").mom_color
    'red'
    """
    good = (kpi.mom or 0) >= 0 if kpi.higher_is_better else (kpi.mom or 0) <= 0
    color = "green" if good else "red"
    if kpi.kind is Kind.MONEY:
        return KpiText(fmt.money(kpi.value, lang), fmt.change_pct(kpi.yoy), fmt.change_pct(kpi.mom), color)
    return KpiText(fmt.percent(kpi.value), fmt.change_pp(kpi.yoy, lang), fmt.change_pp(kpi.mom, lang), color)


def _all_data(role: str) -> bool:
    try:
        return auth.roles()[auth.Role(role)].all_data
    except ValueError:
        return False


def check_not_self(actor: str, username: str) -> None:
    """An admin may not disable their own account or change their own role: they would lock themselves out.

    >>> check_not_self("demo_admin", "demo_east")
    >>> check_not_self("demo_admin", "demo_admin")
    Traceback (most recent call last):
    ...
    lib.core.errors.WorkbenchError: You cannot disable your own account or change your own role; ask another admin.
    """
    if actor == username:
        raise WorkbenchError("You cannot disable your own account or change your own role; ask another admin.",
                             "不能停用自己的账户或更改自己的角色；请由另一位管理员操作。")


def check_role_change(role: str, orgs: Iterable[str]) -> None:
    """A scoped role (dept head, viewer) needs an org unit first, else the user would see nothing.

    >>> check_role_change("finance", [])
    >>> check_role_change("dept_head", ["R40"])
    >>> check_role_change("viewer", [])
    Traceback (most recent call last):
    ...
    lib.core.errors.WorkbenchError: A Viewer sees only their scope: save at least one org unit as their scope first.
    """
    if not _all_data(role) and not list(orgs):
        raise WorkbenchError(f"A {role_label(role, 'en')} sees only their scope: "
                             "save at least one org unit as their scope first.",
                             f"{role_label(role, 'zh')}只能看到授权范围内的数据：请先为其保存至少一个组织作为数据范围。")
