"""Budget versions (预算版本): create, copy, status workflow, line edits and their change log.

Kinds: budget, forecast, scenario. A revised budget (修订预算) is a version of kind ``budget``
with ``based_on`` set to the version it revises, named e.g. "FY2026 修订预算" (copy, edit, approve).

Status workflow (locked is final):

    draft ──submit──> submitted ──approve──> approved ──lock──> locked
      ^                   │
      └─────return────────┘

Lines can be changed only while a version is a draft: a submitted version is under review and an
approved one is what the ``budget`` metric reports, so changing it would silently rewrite reports
(return a submitted version to draft, or copy an approved one, to change it).

Every write checks ``auth.may(user, "edit_budgets")`` here, runs in one transaction, and writes an
``app_budget_change`` row (who, when, action, rows) and an audit entry.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import numbers
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock, db
from lib.core.errors import Forbidden, InvalidArgument, WorkbenchError
from lib.core.schema import BudgetKind, BudgetStatus, account, budget_line, budget_version, org_unit
from lib.core.tables.finance import BUDGET_SOURCE_COLUMNS, BUDGET_VERSION_COLUMNS, budget_change
from lib.performance import hooks as ingest_hooks

LINE_COLUMNS = ("period", "org_unit_id", "account_code", "amount")
KEY = ["period", "org_unit_id", "account_code"]
TRANSITIONS: dict[BudgetStatus, frozenset[BudgetStatus]] = {
    BudgetStatus.DRAFT: frozenset({BudgetStatus.SUBMITTED}),
    BudgetStatus.SUBMITTED: frozenset({BudgetStatus.DRAFT, BudgetStatus.APPROVED}),
    BudgetStatus.APPROVED: frozenset({BudgetStatus.LOCKED}),
    BudgetStatus.LOCKED: frozenset(),
}
EDITABLE = frozenset({BudgetStatus.DRAFT})
STATUS_ZH = {BudgetStatus.DRAFT: "草稿", BudgetStatus.SUBMITTED: "已提交", BudgetStatus.APPROVED: "已批准",
             BudgetStatus.LOCKED: "已锁定"}
# budget_version with the columns migrations 5 (created_by, updated_at, updated_by) and 13 (method, data_date)
# added, which the canonical Table in lib.core.schema does not declare.
VERSION = sa.table("budget_version", *[sa.column(c.name, c.type) for c in budget_version.c],
                   *[sa.column(name, type_) for name, type_ in (*BUDGET_VERSION_COLUMNS, *BUDGET_SOURCE_COLUMNS)])


class VersionLocked(WorkbenchError):
    """The version's status does not allow changing its lines."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a line (or upload cell): where, what value, and why, in zh and en."""

    row: int | None
    column: str | None
    value: object
    message_en: str
    message_zh: str

    def message(self, lang: str = "en") -> str:
        return self.message_zh if lang == "zh" else self.message_en


class LinesRejected(WorkbenchError):
    """Lines (an edit or an upload) that can't be saved; ``problems`` lists each one. Nothing was changed."""

    def __init__(self, problems: list[Problem], what_en: str = "The lines", what_zh: str = "预算明细") -> None:
        first = problems[0]
        super().__init__(f"{what_en} were rejected with {len(problems)} problem(s); nothing was changed. "
                         f"First: {_where_en(first)}{first.message_en}",
                         f"{what_zh}未通过校验，共 {len(problems)} 个问题，未做任何修改。第一个：{_where_zh(first)}{first.message_zh}")
        self.problems = problems


def _where_en(p: Problem) -> str:
    return (f"row {p.row}, " if p.row is not None else "") + (f"column {p.column}: " if p.column else "")


def _where_zh(p: Problem) -> str:
    return (f"第 {p.row} 行，" if p.row is not None else "") + (f"“{p.column}”列：" if p.column else "")


@dataclass(frozen=True)
class Version:
    id: int
    name: str
    kind: BudgetKind
    fiscal_year: int
    status: BudgetStatus
    based_on: int | None

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE


@dataclass(frozen=True)
class SaveResult:
    added: int
    changed: int
    deleted: int

    @property
    def rows(self) -> int:
        return self.added + self.changed + self.deleted


# ---- reads (app-side: version metadata and the lines of one version for editing) ----------------

def versions(engine: sa.Engine) -> pd.DataFrame:
    """Every version with its line count and total, newest first (metadata for choosing and managing)."""
    n = (sa.select(budget_line.c.version_id, sa.func.count().label("lines"), sa.func.sum(budget_line.c.amount)
                   .label("total")).group_by(budget_line.c.version_id).subquery())
    v = VERSION.c
    stmt = (sa.select(v.id, v.name, v.kind, v.fiscal_year, v.status, v.based_on, v.created_at, v.created_by,
                      v.updated_at, v.updated_by, v.method, v.data_date, sa.func.coalesce(n.c.lines, 0).label("lines"),
                      sa.func.coalesce(n.c.total, 0).label("total"))
            .select_from(VERSION.outerjoin(n, n.c.version_id == v.id)).order_by(v.id.desc()))
    return db.run(engine, stmt)


def version(engine: sa.Engine, version_id: int) -> Version:
    with engine.connect() as conn:
        return _version(conn, version_id)


def _version(conn: sa.Connection, version_id: int) -> Version:
    row = conn.execute(sa.select(VERSION).where(VERSION.c.id == int(version_id))).mappings().first()
    if row is None:
        raise InvalidArgument(f"No budget version with id {version_id}.", f"没有编号为 {version_id} 的预算版本。")
    return Version(row["id"], row["name"], BudgetKind(row["kind"]), row["fiscal_year"], BudgetStatus(row["status"]),
                   row["based_on"])


def lines(engine: sa.Engine, version_id: int) -> pd.DataFrame:
    """The lines of one version for the edit grid: period, org_unit_id, org_code, org_name, account_code,
    account_name, amount.

    An app-side edit read with a Core select, not ``lib.semantic.query``: drafts, forecasts and scenarios are
    not in the ``budget`` metric (approved/locked budgets only), and the grid needs the ids it writes back.
    """
    b = budget_line.c
    stmt = (sa.select(b.period, b.org_unit_id, org_unit.c.code.label("org_code"), org_unit.c.name.label("org_name"),
                      b.account_code, account.c.name.label("account_name"), b.amount)
            .select_from(budget_line.outerjoin(org_unit, org_unit.c.id == b.org_unit_id)
                         .outerjoin(account, account.c.code == b.account_code))
            .where(b.version_id == int(version_id)).order_by(b.org_unit_id, b.account_code, b.period))
    df = db.run(engine, stmt)
    if df.empty:
        return pd.DataFrame({"period": pd.Series(dtype=object), "org_unit_id": pd.Series(dtype="Int64"),
                             "org_code": pd.Series(dtype="string"), "org_name": pd.Series(dtype="string"),
                             "account_code": pd.Series(dtype="string"), "account_name": pd.Series(dtype="string"),
                             "amount": pd.Series(dtype=float)})
    df["period"] = pd.to_datetime(df["period"]).dt.date
    df["org_unit_id"] = df["org_unit_id"].astype("Int64")
    df["amount"] = df["amount"].astype(float)
    return df


def changes(engine: sa.Engine, version_id: int | None = None, limit: int = 500) -> pd.DataFrame:
    """The change log, newest first: id, version_id, changed_at, username, action, rows, detail."""
    c = budget_change.c
    stmt = sa.select(budget_change).order_by(c.id.desc()).limit(limit)
    if version_id is not None:
        stmt = stmt.where(c.version_id == int(version_id))
    return db.run(engine, stmt)


def units(engine: sa.Engine) -> pd.DataFrame:
    """Org units (id, code, name, name_en) for resolving upload cells and labelling the grid."""
    return db.run(engine, sa.select(org_unit.c.id, org_unit.c.code, org_unit.c.name, org_unit.c.name_en)
                  .order_by(org_unit.c.id))


def accounts(engine: sa.Engine) -> pd.DataFrame:
    """Accounts (code, name, name_en, type)."""
    return db.run(engine, sa.select(account.c.code, account.c.name, account.c.name_en, account.c.type)
                  .order_by(account.c.code))


# ---- checks ---------------------------------------------------------------------------------------

def _require(user: User) -> None:
    if not auth.may(user, "edit_budgets"):
        raise Forbidden(f"Your role ({user.role}) may not edit budgets; ask finance.",
                        f"您的角色（{user.role}）无权编辑预算，请联系财务。")


def _editable(v: Version) -> None:
    if v.status is BudgetStatus.LOCKED:
        raise VersionLocked(f"Budget version '{v.name}' is locked and can't be changed. Copy it to make a revision.",
                            f"预算版本“{v.name}”已锁定，不能修改。如需调整，请复制为新版本后修改。")
    if v.status not in EDITABLE:
        raise VersionLocked(f"Budget version '{v.name}' is {v.status.value}: only drafts can be edited. "
                            "Return it to draft (submitted) or copy it (approved) first.",
                            f"预算版本“{v.name}”当前状态为“{STATUS_ZH[v.status]}”，只有草稿可以修改。"
                            "请先退回草稿（已提交）或复制为新版本（已批准）。")


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _as_period(v) -> dt.date | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    try:
        ts = pd.Timestamp(v)
    except (ValueError, TypeError):
        return None
    return None if pd.isna(ts) else ts.date()


def check_lines(conn: sa.Connection, fiscal_year: int, df: pd.DataFrame,
                row_offset: int = 1) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate lines (columns period, org_unit_id, account_code, amount): known unit and account,
    a first-of-month period in ``fiscal_year``, a finite number, no key twice. Returns the clean
    lines and the problems (row numbers start at ``row_offset``)."""
    missing = [c for c in LINE_COLUMNS if c not in df.columns]
    if missing:
        raise InvalidArgument(f"Budget lines need the columns {', '.join(LINE_COLUMNS)}; missing {', '.join(missing)}.",
                              f"预算明细需要列 {'、'.join(LINE_COLUMNS)}；缺少 {'、'.join(missing)}。")
    unit_ids = set(conn.execute(sa.select(org_unit.c.id)).scalars())
    codes = set(conn.execute(sa.select(account.c.code)).scalars())
    problems: list[Problem] = []
    out, seen = [], {}
    for i, rec in enumerate(df[list(LINE_COLUMNS)].itertuples(index=False)):
        row = i + row_offset
        period, unit, code, amount = rec
        p = _as_period(period)
        ok = True
        if p is None or p.day != 1 or p.year != int(fiscal_year):
            problems.append(Problem(row, "period", period,
                                    f"the period must be the first day of a month in {fiscal_year}.",
                                    f"期间须为 {fiscal_year} 年某月的第一天。"))
            ok = False
        try:
            unit_id = int(unit) if unit is not None and not pd.isna(unit) else None
        except (TypeError, ValueError):
            unit_id = None
        if unit_id not in unit_ids:
            problems.append(Problem(row, "org_unit_id", unit, "unknown org unit.", "组织不存在。"))
            ok = False
        code_s = None if code is None or (not isinstance(code, str) and pd.isna(code)) else str(code).strip()
        if code_s not in codes:
            problems.append(Problem(row, "account_code", code, "unknown account.", "科目不存在。"))
            ok = False
        if not _is_number(amount):
            problems.append(Problem(row, "amount", amount, "the amount must be a number.", "金额须为数字。"))
            ok = False
        if not ok:
            continue
        key = (p, unit_id, code_s)
        if key in seen:
            problems.append(Problem(row, None, f"{p:%Y-%m} / {unit_id} / {code_s}",
                                    f"the same month, unit and account as row {seen[key]}.",
                                    f"与第 {seen[key]} 行的月份、组织和科目重复。"))
            continue
        seen[key] = row
        out.append((p, unit_id, code_s, round(float(amount), 2)))
    return _typed(pd.DataFrame(out, columns=list(LINE_COLUMNS))), problems


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype({"org_unit_id": "int64", "account_code": object, "amount": "float64"})


# ---- writes ---------------------------------------------------------------------------------------

def _now() -> dt.datetime:
    return clock.now()


def _log(conn: sa.Connection, user: User, version_id: int, action: str, rows: int, detail: dict) -> None:
    now = _now()
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    conn.execute(budget_change.insert().values(version_id=version_id, changed_at=now, username=user.username,
                                               action=action, rows=rows, detail=text))
    conn.execute(VERSION.update().where(VERSION.c.id == version_id)
                 .values(updated_at=now, updated_by=user.username))
    audit.record(conn, user.username, "budget_edit", f"budget_version:{version_id}", {"action": action, "rows": rows,
                                                                                     **detail}, "app")


def _insert_lines(conn: sa.Connection, version_id: int, df: pd.DataFrame) -> None:
    if len(df):
        conn.execute(budget_line.insert(), [dict(version_id=version_id, period=r.period, org_unit_id=int(r.org_unit_id),
                                                 account_code=r.account_code, amount=float(r.amount))
                                            for r in df.itertuples(index=False)])


def _check_name(conn: sa.Connection, name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidArgument("A version needs a name of 1 to 100 characters.", "版本名称须为 1 到 100 个字符。")
    if conn.execute(sa.select(VERSION.c.id).where(VERSION.c.name == name)).first():
        raise InvalidArgument(f"A budget version named '{name}' already exists; choose another name.",
                              f"已有名为“{name}”的预算版本，请换一个名称。")
    return name


def create_version(engine: sa.Engine, user: User, *, name: str, kind: str, fiscal_year: int,
                   lines: pd.DataFrame | None = None, based_on: int | None = None, status: str = "draft",
                   conn: sa.Connection | None = None, method: str | None = None,
                   data_date: dt.date | None = None) -> int:
    """Create a version (with optional lines: period, org_unit_id, account_code, amount) in one
    transaction; returns its id. Invalid lines raise :class:`LinesRejected` and nothing is written.
    Given ``conn``, it runs inside the caller's transaction (e.g. a scenario saved with its drivers). ``method`` and
    ``data_date`` record where a drafted version came from (a forecast method and the last month of actuals it saw)."""
    _require(user)
    try:
        kind_, status_ = BudgetKind(kind), BudgetStatus(status)
    except ValueError:
        raise InvalidArgument(f"Unknown kind {kind!r} or status {status!r}. Kinds: {', '.join(BudgetKind)}; "
                              f"statuses: {', '.join(BudgetStatus)}.",
                              f"未知的版本类型“{kind}”或状态“{status}”。类型：{'、'.join(BudgetKind)}；状态：{'、'.join(BudgetStatus)}。"
                              ) from None
    if isinstance(fiscal_year, bool) or not isinstance(fiscal_year, int) or not 1900 <= fiscal_year <= 2200:
        raise InvalidArgument(f"The fiscal year must be a year between 1900 and 2200, got {fiscal_year!r}.",
                              f"财年须为 1900 到 2200 之间的年份，收到 {fiscal_year!r}。")
    if conn is None:
        with engine.begin() as own:
            return _create(own, user, name, kind_, status_, fiscal_year, lines, based_on, method, data_date)
    return _create(conn, user, name, kind_, status_, fiscal_year, lines, based_on, method, data_date)


def _create(conn: sa.Connection, user: User, name: str, kind_: BudgetKind, status_: BudgetStatus, fiscal_year: int,
            lines: pd.DataFrame | None, based_on: int | None, method: str | None = None,
            data_date: dt.date | None = None) -> int:
    name = _check_name(conn, name)
    if based_on is not None:
        _version(conn, based_on)
    clean = pd.DataFrame(columns=list(LINE_COLUMNS))
    if lines is not None:
        clean, problems = check_lines(conn, fiscal_year, lines)
        if problems:
            raise LinesRejected(problems)
    new_id = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(VERSION.c.id), 0))).scalar_one()) + 1
    now = _now()
    conn.execute(VERSION.insert().values(id=new_id, name=name, kind=kind_.value, fiscal_year=fiscal_year,
                                         status=status_.value, based_on=based_on, created_at=now,
                                         created_by=user.username, updated_at=now, updated_by=user.username,
                                         method=method, data_date=data_date))
    _insert_lines(conn, new_id, clean)
    source = {"method": method, "data_date": data_date} if method else {}
    _log(conn, user, new_id, "create", len(clean), {"name": name, "kind": kind_.value, "fiscal_year": fiscal_year,
                                                    "status": status_.value, "based_on": based_on, **source})
    return new_id


def copy_version(engine: sa.Engine, user: User, source_id: int, name: str, kind: str | None = None) -> int:
    """A new draft with the source's lines, year and kind (or ``kind``), ``based_on`` the source."""
    _require(user)
    src = version(engine, source_id)
    src_lines = lines(engine, source_id)[list(LINE_COLUMNS)]
    return create_version(engine, user, name=name, kind=kind or src.kind.value, fiscal_year=src.fiscal_year,
                          lines=src_lines, based_on=src.id)


def set_status(engine: sa.Engine, user: User, version_id: int, status: str) -> None:
    """Move a version along the workflow (see the module docstring); other moves are refused."""
    _require(user)
    try:
        new = BudgetStatus(status)
    except ValueError:
        raise InvalidArgument(f"Unknown status {status!r}; known: {', '.join(BudgetStatus)}.",
                              f"未知的状态“{status}”；可选：{'、'.join(BudgetStatus)}。") from None
    with engine.begin() as conn:
        v = _version(conn, version_id)
        if new not in TRANSITIONS[v.status]:
            allowed = ", ".join(s.value for s in TRANSITIONS[v.status]) or "none (locked is final)"
            allowed_zh = "、".join(STATUS_ZH[s] for s in TRANSITIONS[v.status]) or "无（锁定为最终状态）"
            raise VersionLocked(f"'{v.name}' can't go from {v.status.value} to {new.value}. Allowed: {allowed}.",
                                f"“{v.name}”不能从“{STATUS_ZH[v.status]}”改为“{STATUS_ZH[new]}”。允许：{allowed_zh}。")
        conn.execute(VERSION.update().where(VERSION.c.id == v.id).values(status=new.value))
        _log(conn, user, v.id, "status", 0, {"from": v.status.value, "to": new.value})
        if new is BudgetStatus.APPROVED and v.based_on is not None:
            _supersede(conn, user, v)
    counted = (BudgetStatus.APPROVED, BudgetStatus.LOCKED)   # what the budget metric adds up
    if (v.status in counted) != (new in counted):  # the budget behind every execution alert has changed
        ingest_hooks.data_changed(engine, user.username)


def _supersede(conn: sa.Connection, user: User, revision: Version) -> None:
    """An approved revision replaces the version it is based on (same kind and year) in the budget
    metric, so the two are never added together; the original keeps its lines and status."""
    base = _version(conn, revision.based_on)
    if base.kind is not revision.kind or base.fiscal_year != revision.fiscal_year:
        return
    conn.execute(VERSION.update().where(VERSION.c.id == base.id).values(superseded_by=revision.id))
    _log(conn, user, base.id, "superseded", 0, {"by": revision.id, "name": revision.name})


def save_lines(engine: sa.Engine, user: User, version_id: int, edited: pd.DataFrame) -> SaveResult:
    """Save the edit grid: the difference from the stored lines (added, changed, deleted rows) in one
    transaction, logged with who and when. Extra columns (names) are ignored."""
    _require(user)
    with engine.begin() as conn:
        v = _version(conn, version_id)
        _editable(v)
        clean, problems = check_lines(conn, v.fiscal_year, edited)
        if problems:
            raise LinesRejected(problems)
        old = _stored(conn, v.id)
        merged = old.merge(clean, on=KEY, how="outer", suffixes=("_old", ""), indicator=True)
        added = merged[merged["_merge"] == "right_only"]
        deleted = merged[merged["_merge"] == "left_only"]
        both = merged[merged["_merge"] == "both"]
        changed = both[(both["amount"] - both["amount_old"]).abs() > 0.005]
        b = budget_line.c

        def line(r) -> sa.ColumnElement:
            return sa.and_(b.version_id == v.id, b.period == r.period, b.org_unit_id == int(r.org_unit_id),
                           b.account_code == r.account_code)
        for r in deleted.itertuples(index=False):
            conn.execute(budget_line.delete().where(line(r)))
        for r in changed.itertuples(index=False):
            conn.execute(budget_line.update().where(line(r)).values(amount=float(r.amount)))
        _insert_lines(conn, v.id, added[list(LINE_COLUMNS)])
        result = SaveResult(len(added), len(changed), len(deleted))
        if result.rows:
            _log(conn, user, v.id, "edit", result.rows,
                 {"added": result.added, "changed": result.changed, "deleted": result.deleted})
    return result


def replace_lines(engine: sa.Engine, user: User, version_id: int, new_lines: pd.DataFrame, action: str = "upload",
                  detail: dict | None = None) -> int:
    """Replace every line of a draft version in one transaction (an Excel upload); returns the line count."""
    _require(user)
    with engine.begin() as conn:
        v = _version(conn, version_id)
        _editable(v)
        clean, problems = check_lines(conn, v.fiscal_year, new_lines)
        if problems:
            raise LinesRejected(problems)
        before = conn.execute(sa.select(sa.func.count()).where(budget_line.c.version_id == v.id)).scalar_one()
        conn.execute(budget_line.delete().where(budget_line.c.version_id == v.id))
        _insert_lines(conn, v.id, clean)
        _log(conn, user, v.id, action, len(clean), {"replaced": int(before), **(detail or {})})
    return len(clean)


def _stored(conn: sa.Connection, version_id: int) -> pd.DataFrame:
    b = budget_line.c
    rows = conn.execute(sa.select(b.period, b.org_unit_id, b.account_code, b.amount)
                        .where(b.version_id == version_id)).all()
    df = pd.DataFrame(rows, columns=list(LINE_COLUMNS))
    df["period"] = [_as_period(p) for p in df["period"]]
    df["account_code"] = [str(c) for c in df["account_code"]]
    return _typed(df)
