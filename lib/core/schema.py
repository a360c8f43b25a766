"""The canonical business-finance model (DESIGN.md) as SQLAlchemy tables, with zh/en labels.

Amounts are CNY 元 with their natural sign (revenue and expenses both positive); months are the
first day of the month. Labels live on each table's and column's ``info`` so the UI, the
semantic layer and import mappings read them from one place.
"""
from __future__ import annotations

import enum

import sqlalchemy as sa

metadata = sa.MetaData()

MONEY = sa.Numeric(18, 2)
QTY = sa.Numeric(18, 3)
PRICE = sa.Numeric(18, 4)


class OrgKind(enum.StrEnum):
    COMPANY = "company"
    REGION = "region"
    DEPARTMENT = "department"
    STORE = "store"
    COST_CENTER = "cost_center"


class AccountType(enum.StrEnum):
    REVENUE = "revenue"
    COGS = "cogs"
    OPEX = "opex"
    OTHER = "other"


class BudgetKind(enum.StrEnum):
    BUDGET = "budget"
    FORECAST = "forecast"
    SCENARIO = "scenario"


class BudgetStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    LOCKED = "locked"


def _in(column: str, enum_cls: type[enum.StrEnum]) -> sa.CheckConstraint:
    # Literal values come from our own Enum, never from input.
    values = ", ".join(f"'{m.value}'" for m in enum_cls)
    return sa.CheckConstraint(f"{column} IN ({values})", name=f"ck_{column}_{enum_cls.__name__.lower()}")


def col(name: str, type_: sa.types.TypeEngine, zh: str, en: str, **kw) -> sa.Column:
    """A column with its zh/en label in ``info``."""
    return sa.Column(name, type_, info={"label_zh": zh, "label_en": en}, **kw)


def _batch() -> sa.Column:
    return col("batch_id", sa.Integer, "导入批次", "Import batch", nullable=True)


org_unit = sa.Table(
    "org_unit", metadata,
    col("id", sa.Integer, "组织ID", "Org unit ID", primary_key=True, autoincrement=False),
    col("code", sa.String(32), "组织编码", "Org unit code", nullable=False, unique=True),
    col("name", sa.String(100), "组织名称", "Org unit", nullable=False),
    col("name_en", sa.String(100), "英文名称", "Org unit (English)"),
    col("parent_id", sa.Integer, "上级组织", "Parent unit"),
    col("kind", sa.String(16), "组织类型", "Unit kind", nullable=False),
    _in("kind", OrgKind),
    info={"label_zh": "组织架构", "label_en": "Org units"},
)

product = sa.Table(
    "product", metadata,
    col("id", sa.Integer, "产品ID", "Product ID", primary_key=True, autoincrement=False),
    col("sku", sa.String(32), "SKU编码", "SKU", nullable=False, unique=True),
    col("name", sa.String(200), "产品名称", "Product", nullable=False),
    col("category", sa.String(50), "品类", "Category", nullable=False),
    col("brand", sa.String(50), "品牌", "Brand"),
    col("unit", sa.String(16), "单位", "Unit"),
    info={"label_zh": "产品", "label_en": "Products"},
)

customer = sa.Table(
    "customer", metadata,
    col("id", sa.Integer, "客户ID", "Customer ID", primary_key=True, autoincrement=False),
    col("code", sa.String(32), "客户编码", "Customer code", nullable=False, unique=True),
    col("name", sa.String(200), "客户名称", "Customer", nullable=False),
    col("segment", sa.String(50), "客户类型", "Segment"),
    col("region", sa.String(50), "客户区域", "Customer region"),
    col("org_unit_id", sa.Integer, "归属销售组织", "Owning sales unit"),
    col("credit_days", sa.Integer, "信用天数", "Credit days"),
    info={"label_zh": "客户", "label_en": "Customers"},
)

account = sa.Table(
    "account", metadata,
    col("code", sa.String(32), "科目编码", "Account code", primary_key=True),
    col("name", sa.String(100), "科目名称", "Account", nullable=False),
    col("name_en", sa.String(100), "英文名称", "Account (English)"),
    col("type", sa.String(16), "科目类型", "Account type", nullable=False),
    col("parent_code", sa.String(32), "上级科目", "Parent account"),
    _in("type", AccountType),
    info={"label_zh": "会计科目", "label_en": "Chart of accounts"},
)

sales_line = sa.Table(
    "sales_line", metadata,
    col("order_no", sa.String(32), "订单号", "Order no.", nullable=False),
    col("line_no", sa.Integer, "行号", "Line no.", nullable=False),
    col("order_date", sa.Date, "订单日期", "Order date", nullable=False),
    col("org_unit_id", sa.Integer, "销售组织", "Sales unit", nullable=False),
    col("customer_id", sa.Integer, "客户", "Customer", nullable=False),
    col("product_id", sa.Integer, "产品", "Product", nullable=False),
    col("channel", sa.String(32), "渠道", "Channel"),
    col("quantity", QTY, "数量", "Quantity", nullable=False),
    col("list_price", PRICE, "标准单价", "List price", nullable=False),
    col("discount_amount", MONEY, "折扣金额", "Discount", nullable=False),
    col("net_revenue", MONEY, "净销售额", "Net revenue", nullable=False),
    col("cost_amount", MONEY, "销售成本", "Cost of goods sold", nullable=False),
    _batch(),
    info={"label_zh": "销售明细", "label_en": "Sales lines", "fact": True},
)

journal_line = sa.Table(
    "journal_line", metadata,
    col("entry_no", sa.String(32), "凭证号", "Entry no.", nullable=False),
    col("line_no", sa.Integer, "分录行号", "Line no.", nullable=False),
    col("posting_date", sa.Date, "记账日期", "Posting date", nullable=False),
    col("account_code", sa.String(32), "科目", "Account", nullable=False),
    col("org_unit_id", sa.Integer, "组织/成本中心", "Org unit / cost center", nullable=False),
    col("amount", MONEY, "金额", "Amount", nullable=False),
    col("source", sa.String(32), "来源", "Source"),
    col("description", sa.String(200), "摘要", "Description"),
    _batch(),
    info={"label_zh": "总账分录", "label_en": "GL postings", "fact": True},
)

budget_version = sa.Table(
    "budget_version", metadata,
    col("id", sa.Integer, "版本ID", "Version ID", primary_key=True, autoincrement=False),
    col("name", sa.String(100), "版本名称", "Version", nullable=False, unique=True),
    col("kind", sa.String(16), "版本类型", "Kind", nullable=False),
    col("fiscal_year", sa.Integer, "财年", "Fiscal year", nullable=False),
    col("status", sa.String(16), "状态", "Status", nullable=False),
    col("based_on", sa.Integer, "基于版本", "Based on"),
    col("created_at", sa.DateTime, "创建时间", "Created at"),
    # Set when an approved revision (based_on this version, same kind and year) replaces it: the budget
    # metric then reads the revision only, so an original and its revision are never added together.
    col("superseded_by", sa.Integer, "被替代于", "Superseded by"),
    _in("kind", BudgetKind),
    _in("status", BudgetStatus),
    info={"label_zh": "预算版本", "label_en": "Budget versions"},
)

budget_line = sa.Table(
    "budget_line", metadata,
    col("version_id", sa.Integer, "预算版本", "Budget version", nullable=False),
    col("period", sa.Date, "期间", "Period", nullable=False),
    col("org_unit_id", sa.Integer, "组织", "Org unit", nullable=False),
    col("account_code", sa.String(32), "科目", "Account", nullable=False),
    col("amount", MONEY, "预算金额", "Budget amount", nullable=False),
    _batch(),
    info={"label_zh": "预算明细", "label_en": "Budget lines", "fact": True},
)

ar_invoice = sa.Table(
    "ar_invoice", metadata,
    col("invoice_no", sa.String(32), "发票号", "Invoice no.", nullable=False),
    col("customer_id", sa.Integer, "客户", "Customer", nullable=False),
    col("org_unit_id", sa.Integer, "销售组织", "Sales unit", nullable=False),
    col("invoice_date", sa.Date, "开票日期", "Invoice date", nullable=False),
    col("due_date", sa.Date, "到期日", "Due date", nullable=False),
    col("amount", MONEY, "发票金额", "Invoice amount", nullable=False),
    col("paid_amount", MONEY, "已收金额", "Paid amount", nullable=False),
    col("paid_date", sa.Date, "收款日期", "Paid date"),
    _batch(),
    info={"label_zh": "应收发票", "label_en": "AR invoices", "fact": True},
)

inventory_snapshot = sa.Table(
    "inventory_snapshot", metadata,
    col("period_end", sa.Date, "期末日期", "Period end", nullable=False),
    col("product_id", sa.Integer, "产品", "Product", nullable=False),
    col("org_unit_id", sa.Integer, "组织", "Org unit", nullable=False),
    col("quantity", QTY, "库存数量", "Quantity on hand", nullable=False),
    col("value", MONEY, "库存金额", "Inventory value", nullable=False),
    _batch(),
    info={"label_zh": "库存快照", "label_en": "Inventory snapshots", "fact": True},
)

org_flat = sa.Table(
    "org_flat", metadata,
    col("org_unit_id", sa.Integer, "组织ID", "Org unit ID", primary_key=True, autoincrement=False),
    col("depth", sa.Integer, "层级", "Depth", nullable=False),
    col("l1_id", sa.Integer, "一级组织ID", "Level-1 unit ID"),
    col("l1_name", sa.String(100), "区域/一级组织", "Region / level-1 unit"),
    col("l2_id", sa.Integer, "二级组织ID", "Level-2 unit ID"),
    col("l2_name", sa.String(100), "部门/门店", "Department / store"),
    col("path", sa.String(500), "组织路径", "Org path"),
    info={"label_zh": "组织层级（派生）", "label_en": "Org levels (derived)"},
)
"""Derived from org_unit by lib.core.store.refresh_org_flat: every unit with its level-1 (region)
and level-2 (department/store) ancestors, so facts reach them with one equi-join."""

app_import_batch = sa.Table(
    "app_import_batch", metadata,
    col("id", sa.Integer, "批次ID", "Batch ID", primary_key=True, autoincrement=False),
    col("kind", sa.String(16), "方式", "Kind", nullable=False),
    col("source", sa.String(300), "来源", "Source"),
    col("note", sa.String(500), "说明", "Note"),
    col("row_count", sa.BigInteger, "行数", "Rows"),
    col("created_at", sa.DateTime, "导入时间", "Imported at", nullable=False),
    col("created_by", sa.String(100), "导入人", "Imported by"),
    info={"label_zh": "导入批次", "label_en": "Import batches"},
)

CANONICAL_TABLES: tuple[sa.Table, ...] = (
    org_unit, product, customer, account, sales_line, journal_line,
    budget_version, budget_line, ar_invoice, inventory_snapshot,
)
FACT_TABLES: tuple[sa.Table, ...] = tuple(t for t in CANONICAL_TABLES if t.info.get("fact"))

# Secondary indexes for the usual filters (date, unit, product, customer, batch).
# Created on server databases only: DuckDB prunes by zone maps on the date-ordered data,
# and its ART indexes only help point look-ups while slowing bulk loads several-fold.
FACT_INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_sales_line_date", "sales_line", ("order_date",)),
    ("ix_sales_line_unit", "sales_line", ("org_unit_id", "order_date")),
    ("ix_sales_line_product", "sales_line", ("product_id",)),
    ("ix_sales_line_customer", "sales_line", ("customer_id",)),
    ("ix_sales_line_batch", "sales_line", ("batch_id",)),
    ("ix_journal_line_date", "journal_line", ("posting_date",)),
    ("ix_journal_line_acct", "journal_line", ("account_code", "org_unit_id")),
    ("ix_journal_line_batch", "journal_line", ("batch_id",)),
    ("ix_budget_line_version", "budget_line", ("version_id", "period")),
    ("ix_ar_invoice_customer", "ar_invoice", ("customer_id",)),
    ("ix_ar_invoice_dates", "ar_invoice", ("invoice_date", "due_date")),
    ("ix_inventory_period", "inventory_snapshot", ("period_end", "org_unit_id")),
)


def label(table: str, column: str | None = None, lang: str = "zh") -> str:
    """The zh/en label of a table or one of its columns; the raw name when none is declared."""
    t = metadata.tables[table]
    info = t.info if column is None else t.c[column].info
    return info.get(f"label_{lang}", column or table)


def add_missing_columns(conn: sa.Connection, table: sa.Table, columns) -> None:
    """Add the (name, type) ``columns`` a stored ``table`` lacks (a migration extending a table created
    earlier), each by ALTER TABLE. Names and types are the code's own constants, never input."""
    existing = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    preparer = conn.dialect.identifier_preparer
    for name, type_ in columns:
        if name not in existing:
            conn.execute(sa.text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.quote(name)} "
                                 f"{type_.compile(dialect=conn.dialect)}"))
            existing.add(name)
