"""Turning source rows into canonical rows: value parsing, dimension resolution, row-level validation.

One :class:`RowBuilder` handles a whole import, chunk by chunk, so a streamed file and a file
read at once go through the same checks. Problems are collected, not raised: the import reports
every bad cell it finds (up to :data:`MAX_PROBLEMS` rows in the report, all of them counted).
"""
from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from lib.core import schema
from lib.core.errors import InvalidArgument
from lib.ingest.mapping import ImportOptions

MAX_PROBLEMS = 10_000


class ImportRejected(InvalidArgument):
    """The file failed validation, was imported before, or a batch can't be undone; nothing was written."""


KEYS: dict[str, tuple[str, ...]] = {
    "sales_line": ("order_no", "line_no"), "journal_line": ("entry_no", "line_no"),
    "budget_line": ("version_id", "period", "org_unit_id", "account_code"), "ar_invoice": ("invoice_no",),
    "inventory_snapshot": ("period_end", "product_id", "org_unit_id"),
    "org_unit": ("code",), "product": ("sku",), "customer": ("code",), "account": ("code",),
}
ORG_KINDS = {"公司": "company", "总公司": "company", "集团": "company", "区域": "region", "大区": "region",
             "地区": "region", "部门": "department", "门店": "store", "店": "store", "成本中心": "cost_center"}
# Where departments, stores and cost centers a file creates go when it names no region for them.
UNASSIGNED_REGION = {"code": "UNASSIGNED", "name": "未分区域", "name_en": "Unassigned region"}
_HEADER_KINDS = (("成本中心", "cost_center"), ("cost center", "cost_center"), ("门店", "store"), ("店", "store"),
                 ("store", "store"), ("区域", "region"), ("大区", "region"), ("region", "region"))


def org_kind_of_header(header: str | None) -> str:
    """The level a file names in its org column's header: 门店 → store, 成本中心 → cost_center, 区域/大区 →
    region, anything else (部门, 组织, …) → department."""
    h = (header or "").strip().lower()
    return next((kind for word, kind in _HEADER_KINDS if word in h), "department")


ACCOUNT_TYPES = {"收入": "revenue", "营业收入": "revenue", "成本": "cogs", "营业成本": "cogs",
                 "费用": "opex", "期间费用": "opex", "其他": "other"}


class Problem(enum.Enum):
    """Kinds of problem, with their (zh, en) texts; ``{x}`` is filled per problem."""
    MISSING_COLUMN = ("缺少必需的列：{x}", "Required column missing: {x}")
    EMPTY = ("必填值为空", "Required value is empty")
    BAD_NUMBER = ("不是数字", "Not a number")
    BAD_DATE = ("不是日期（可用 2024-03-05、2024/3/5、2024年3月5日、20240305）",
                "Not a date (use 2024-03-05, 2024/3/5, 2024年3月5日 or 20240305)")
    DATE_RANGE = ("日期超出允许范围 {x}", "Date outside the allowed range {x}")
    NEGATIVE = ("不允许为负数", "Negative value not allowed")
    TOO_LONG = ("超过 {x} 个字符", "Longer than {x} characters")
    DUPLICATE_FILE = ("文件内重复的键 {x}", "Duplicate key {x} within the file")
    DUPLICATE_STORE = ("键 {x} 已存在于存储中（批次 {b}）", "Key {x} already in the store (batch {b})")
    REVENUE = ("金额与 数量×单价−折扣 不符（差 {x}）", "Revenue ≠ quantity × price − discount (off by {x})")
    UNKNOWN = ("未知的{x}：可勾选“创建缺失成员”或先导入该维度", "Unknown {x}: allow creating missing members or import that dimension first")
    BAD_VALUE = ("无效的值，可选：{x}", "Invalid value; valid: {x}")
    PAID_EXCEEDS = ("已收金额大于发票金额", "Paid amount exceeds the invoice amount")
    DUE_BEFORE = ("到期日早于开票日期", "Due date before the invoice date")
    LOCKED = ("预算版本不是草稿（只有草稿可以导入或修改）", "Budget version is not a draft (only drafts take imports or edits)")
    NO_ROWS = ("文件中没有数据行", "The file has no data rows")
    MALFORMED = ("该行单元格数与表头不符（应为 {x} 个）", "Row has a different number of cells than the header ({x} expected)")


DIM_LABELS = {"customer": ("客户", "customer"), "product": ("产品", "product"), "org_unit": ("组织", "org unit"),
              "account": ("科目", "account"), "budget_version": ("预算版本", "budget version")}


class Problems:
    """The problems of one import: report rows up to a cap, and a count of every problem by kind."""

    def __init__(self, cap: int = MAX_PROBLEMS) -> None:
        self.cap, self.rows, self.counts = cap, [], Counter()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: Problem, rows, column: str, values, x: object = "", **kw: object) -> None:
        rows = np.atleast_1d(np.asarray(rows))
        values = np.atleast_1d(np.asarray(values, dtype=object))
        self.counts[kind.name] += len(rows)
        room = self.cap - len(self.rows)
        zh, en = kind.value[0].format(x=x, **kw), kind.value[1].format(x=x, **kw)
        for r, v in zip(rows[:max(room, 0)], values[:max(room, 0)]):
            self.rows.append((None if r is None else int(r), column, "" if v is None else str(v), zh, en, kind.name))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["row", "column", "value", "problem_zh", "problem_en", "kind"])


@dataclass(frozen=True)
class Column:
    """A source column parsed for one field: values, plus which cells were empty."""
    values: np.ndarray
    empty: np.ndarray


def member_frame(dim: str) -> sa.Table:
    return {"customer": schema.customer, "product": schema.product, "org_unit": schema.org_unit,
            "account": schema.account, "budget_version": schema.budget_version}[dim]


class Resolver:
    """Maps codes and names of dimension members to ids; creates unknown members when allowed.

    New members get ids after the store's largest; they are held in ``pending`` until the caller
    writes them (:meth:`flush`) inside its transaction.
    """

    def __init__(self, conn: sa.Connection, create_missing: bool, options: ImportOptions,
                 org_header: str | None = None) -> None:
        self.conn, self.create, self.options = conn, create_missing, options
        if options.new_org_kind and options.new_org_kind not in set(ORG_KINDS.values()):
            raise InvalidArgument(f"Unknown org unit kind {options.new_org_kind!r}: one of "
                                  f"{', '.join(sorted(set(ORG_KINDS.values())))}.",
                                  f"未知的组织类型 {options.new_org_kind!r}，可选：{'、'.join(ORG_KINDS)}。")
        self.org_kind = options.new_org_kind or org_kind_of_header(org_header)
        self._unassigned: int | None = None
        self.maps: dict[str, tuple[dict, dict]] = {}
        self.next_id: dict[str, int] = {}
        self.pending: dict[str, list[dict]] = {}
        self.created: Counter = Counter()
        self.unknown: Counter = Counter()     # (dim, value) -> rows
        self.account_type: dict[str, str] = {}
        self.version_status: dict[int, str] = {}
        self._root: int | None = None

    def _load(self, dim: str) -> tuple[dict, dict]:
        if dim not in self.maps:
            t = member_frame(dim)
            if dim == "account":
                rows = self.conn.execute(sa.select(t.c.code, t.c.name, t.c.type)).all()
                self.account_type = {r.code: r.type for r in rows}
                by_code = {r.code: r.code for r in rows}
                by_name = {}
                for r in rows:
                    by_name.setdefault(r.name, r.code)
            else:
                code_col = t.c.sku if dim == "product" else t.c.id if dim == "budget_version" else t.c.code
                extra = [t.c.status] if dim == "budget_version" else []
                rows = self.conn.execute(sa.select(t.c.id, code_col.label("code"), t.c.name, *extra).order_by(t.c.id)).all()
                by_code = {str(r.code): r.id for r in rows}
                by_name = {}
                for r in rows:
                    by_name.setdefault(r.name, r.id)
                if dim == "budget_version":
                    self.version_status = {r.id: r.status for r in rows}
                self.next_id[dim] = max((r.id for r in rows), default=0) + 1
            self.maps[dim] = (by_code, by_name)
        return self.maps[dim]

    def preload(self, table: str) -> None:
        """Read every member map ``table`` needs now, so no query runs while chunks are written."""
        from lib.ingest.mapping import FIELDS
        for f in FIELDS[table]:
            if f.dim:
                self._load(f.dim)
        if self.create and any(f.dim == "org_unit" for f in FIELDS[table]):
            self.root_org()

    def root_org(self) -> int:
        """The parent of created org units: ``options.org_parent``, else the root (created if the store has none)."""
        if self._root is None:
            by_code, by_name = self._load("org_unit")
            ref = self.options.org_parent
            if ref:
                found = by_code.get(ref, by_name.get(ref))
                if found is None:
                    raise InvalidArgument(f"No org unit {ref!r} to put new units under.",
                                          f"找不到上级组织 {ref!r}，无法在其下创建新组织。")
                self._root = found
            else:
                roots = self.conn.execute(sa.select(schema.org_unit.c.id).where(schema.org_unit.c.parent_id.is_(None))
                                          .order_by(schema.org_unit.c.id)).scalars().all()
                pending_roots = [m["id"] for m in self.pending.get("org_unit", []) if m["parent_id"] is None]
                self._root = (roots or pending_roots or [None])[0]
                if self._root is None:
                    self._root = self._new("org_unit", {"code": "ROOT", "name": "总公司", "name_en": "Company",
                                                        "parent_id": None, "kind": "company"})
        return self._root

    def org_parent(self) -> int:
        """Where a created unit goes: under ``root_org()``, except that a department, store or cost center
        that would sit directly under the company goes under the region 未分区域 (created once): the org levels
        are by depth, so a unit right under the company would be read as a region (区域)."""
        parent = self.root_org()
        if self.org_kind in ("region", "company") or not self._is_company(parent):
            return parent
        if self._unassigned is None:
            by_code, _ = self._load("org_unit")
            self._unassigned = by_code.get(UNASSIGNED_REGION["code"])
            if self._unassigned is None:
                self._unassigned = self._new("org_unit", {**UNASSIGNED_REGION, "parent_id": parent, "kind": "region"})
        return self._unassigned

    def _is_company(self, unit: int) -> bool:
        """Whether ``unit`` is the top of the tree (no parent), stored or about to be created."""
        for m in self.pending.get("org_unit", []):
            if m["id"] == unit:
                return m["parent_id"] is None
        parent = self.conn.execute(sa.select(schema.org_unit.c.parent_id).where(schema.org_unit.c.id == unit)).first()
        return parent is not None and parent.parent_id is None

    def _new(self, dim: str, row: dict) -> int:
        self._load(dim)
        new_id = self.next_id[dim]
        self.next_id[dim] += 1
        row = {"id": new_id, **row}
        self.pending.setdefault(dim, []).append(row)
        by_code, by_name = self.maps[dim]
        by_code[str(row["code"] if dim != "product" else row["sku"])] = new_id
        by_name.setdefault(row["name"], new_id)
        self.created[dim] += 1
        return new_id

    def _free_code(self, dim: str, value: str, prefix: str) -> str:
        by_code = self.maps[dim][0]
        if len(value) <= 32 and value not in by_code:
            return value
        return f"{prefix}{self.next_id[dim]:06d}"

    def resolve(self, dim: str, values: pd.Series, names: pd.Series | None = None,
                extra: dict[str, pd.Series] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids with NaN where unknown — account codes for accounts —, mask of unknown non-empty cells).

        Works on the distinct values (factorised), so a million rows cost what their members cost.
        """
        by_code, by_name = self._load(dim)
        codes, uniq = pd.factorize(values.astype(str).str.strip())
        uniq = pd.Series(np.asarray(uniq, dtype=object))
        ids = self._lookup(uniq, by_code, by_name)
        miss = ids.isna() & (uniq != "")
        if miss.any():
            counts = np.bincount(codes[codes >= 0], minlength=len(uniq))
            values_arr = uniq.to_numpy()
            for u in np.flatnonzero(miss.to_numpy()):
                self.unknown[(dim, values_arr[u])] += int(counts[u])
            if self.create and dim != "budget_version":
                first = np.full(len(uniq), -1)
                valid = codes >= 0
                first[codes[valid][::-1]] = np.flatnonzero(valid)[::-1]           # first row of each value
                name_arr = None if names is None else names.astype(str).to_numpy(dtype=object)
                extra_arr = {k: np.asarray(v, dtype=object) for k, v in (extra or {}).items() if v is not None}
                for u in np.flatnonzero(miss.to_numpy()):
                    row = first[u]
                    self._create(dim, values_arr[u], None if name_arr is None else name_arr[row].strip(),
                                 {k: v[row] for k, v in extra_arr.items()})
                ids = self._lookup(uniq, by_code, by_name)
                miss = ids.isna() & (uniq != "")
        out_ids = ids.to_numpy(dtype=object if dim == "account" else "float64",
                               na_value=None if dim == "account" else np.nan)
        return out_ids[codes], miss.to_numpy()[codes]

    @staticmethod
    def _lookup(uniq: pd.Series, by_code: dict, by_name: dict) -> pd.Series:
        ids = uniq.map(by_code)
        return ids.where(ids.notna(), uniq.map(by_name))

    def _create(self, dim: str, value: str, name: str | None, extra: dict) -> None:
        label = name or value
        if dim == "org_unit":
            parent = self.org_parent()
            self._new(dim, {"code": self._free_code(dim, value, "ORG"), "name": label[:100], "name_en": None,
                            "parent_id": parent, "kind": self.org_kind})
        elif dim == "customer":
            org = extra.get("org_unit_id")
            self._new(dim, {"code": self._free_code(dim, value, "C"), "name": label[:200], "segment": None,
                            "region": None, "org_unit_id": None if org is None or pd.isna(org) else int(org),
                            "credit_days": None})
        elif dim == "product":
            cat = str(extra.get("category") or "").strip() or "未分类"
            self._new(dim, {"sku": self._free_code(dim, value, "P"), "name": label[:200], "category": cat[:50],
                            "brand": None, "unit": None})
        elif dim == "account":
            code = value[:32]
            self.pending.setdefault(dim, []).append(
                {"code": code, "name": label[:100], "name_en": None, "type": guess_account_type(code), "parent_code": None})
            self.maps[dim][0][code] = code
            self.account_type[code] = guess_account_type(code)
            self.created[dim] += 1

    def flush(self, conn: sa.Connection) -> dict[str, list[str]]:
        """Insert the pending members; returns their keys (ids, account codes) by table for the member log."""
        out: dict[str, list[str]] = {}
        for dim in ("org_unit", "customer", "product", "account"):
            rows = self.pending.pop(dim, [])
            if rows:
                insert_members(conn, dim, rows)
                out[dim] = [str(r["id"] if dim != "account" else r["code"]) for r in rows]
        return out


def insert_members(conn: sa.Connection, dim: str, rows: list[dict]) -> None:
    """Bulk-insert new dimension rows (thousands of created customers must not go row by row)."""
    from lib.core import store
    t = member_frame(dim)
    cols = [c.name for c in t.columns]
    fields = []
    for c in t.columns:
        typ = pa.int64() if isinstance(c.type, sa.Integer) else pa.string()
        fields.append(pa.array([r.get(c.name) for r in rows], type=typ))
    store.bulk_load(conn, t, pa.Table.from_arrays(fields, names=cols))


def guess_account_type(code: str) -> str:
    """The type of a Chinese chart-of-accounts code (企业会计准则 numbering).

    >>> [guess_account_type(c) for c in ["6001", "6051", "6401", "660101", "6711", "1001"]]
    ['revenue', 'revenue', 'cogs', 'opex', 'other', 'other']
    """
    c = str(code)
    if c.startswith(("6001", "6051")):
        return "revenue"
    if c.startswith(("6401", "6402")):
        return "cogs"
    if c.startswith(("6601", "6602", "6603", "6604")):
        return "opex"
    return "other"


def store_duplicates(conn: sa.Connection, table: str, frame: pd.DataFrame, ignore_batch: int | None) -> pd.DataFrame:
    """Rows of ``frame`` whose key is already in the store: columns ``pos`` (row position) and ``batch_id``."""
    t = schema.metadata.tables[table]
    keys = list(KEYS[table])
    lead = keys[0]
    values = pd.unique(frame[lead].dropna())
    found = []
    for start in range(0, len(values), 1000):
        part = [v.item() if hasattr(v, "item") else v for v in values[start:start + 1000]]
        if pd.api.types.is_datetime64_any_dtype(frame[lead]):
            part = [pd.Timestamp(v).date() for v in values[start:start + 1000]]
        batch = t.c.batch_id if "batch_id" in t.c else sa.null()
        stmt = sa.select(*[t.c[k] for k in keys], batch.label("batch_id")).where(t.c[lead].in_(part))
        if ignore_batch is not None and "batch_id" in t.c:
            stmt = stmt.where(sa.or_(t.c.batch_id.is_(None), t.c.batch_id != ignore_batch))
        found.append(pd.DataFrame(conn.execute(stmt).all(), columns=[*keys, "batch_id"]))
    if not found or not sum(len(f) for f in found):
        return pd.DataFrame(columns=["pos", "batch_id"])
    have = pd.concat(found, ignore_index=True)
    left = frame[keys].copy()
    for k in keys:
        if pd.api.types.is_datetime64_any_dtype(left[k]):
            have[k] = pd.to_datetime(have[k]).astype(left[k].dtype)
        elif pd.api.types.is_numeric_dtype(left[k]):
            have[k] = pd.to_numeric(have[k]).astype("float64")
            left[k] = left[k].astype("float64")
        else:
            have[k], left[k] = have[k].astype(str), left[k].astype(str)
    left["pos"] = np.arange(len(left))
    return left.merge(have, on=keys)[["pos", "batch_id"]]
