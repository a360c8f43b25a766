"""Column mapping for imports: the fields of each canonical table, suggestions from headers and content, templates.

A :class:`Mapping` says which source column feeds which field of a canonical table. Fields are the
table's columns plus a few the import derives columns from (``price_incl_tax``, ``amount_incl_tax``,
``tax_rate``, ``unit_cost``, ``debit``/``credit``, member names), see :data:`FIELDS`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml

from lib.access import auth
from lib.access.scope import User
from lib.core import clock, db
from lib.core.errors import InvalidArgument
from lib.core.tables.ingest import import_template
from lib.ingest.read import RawTable, half_width, parse_dates, parse_numbers


class Kind(enum.StrEnum):
    TEXT = "text"
    INT = "int"
    NUMBER = "number"
    RATE = "rate"
    DATE = "date"
    DIM = "dim"      # a dimension member by code or name


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    label_zh: str
    label_en: str
    synonyms: tuple[str, ...] = ()
    required: bool = False
    dim: str | None = None   # for DIM fields: customer | product | org_unit | account | budget_version


def _f(name: str, kind: Kind, zh: str, en: str, syn: str, required: bool = False, dim: str | None = None) -> Field:
    return Field(name, kind, zh, en, tuple(s.strip() for s in syn.split("|") if s.strip()), required, dim)


K = Kind
_ORG = "部门|部门名称|部门编码|销售部门|业务部门|组织|销售组织|组织编码|组织名称|门店|成本中心|核算部门|department|dept|org unit|org|sales unit|store|cost center"
_CUST = "客户|客户编码|客户代码|客户编号|customer|customer code|customer id|client"
_CUST_NAME = "客户名称|客户简称|购货单位|客户全称|customer name|client name"
_PROD = "存货编码|物料编码|产品编码|商品编码|存货代码|物料代码|物料|货号|产品|商品|存货|货品|sku|product code|item code|material|product|item"
_PROD_NAME = "存货名称|物料名称|产品名称|商品名称|品名|product name|item name"
_CAT = "存货分类|存货类别|物料分类|产品类别|产品分类|商品类别|商品分类|品类|类别|category"
_ACCT = "科目编码|科目代码|会计科目|科目|account code|account|gl account"
_ACCT_NAME = "科目名称|account name"

FIELDS: dict[str, tuple[Field, ...]] = {
    "sales_line": (
        _f("order_no", K.TEXT, "订单号", "Order no.", "订单号|订单编号|销售订单号|单据号|单据编号|发票号|出库单号|发货单号|order no|order number|order|document no|so no"),
        _f("line_no", K.INT, "行号", "Line no.", "行号|订单行号|line no|line number|line"),
        _f("order_date", K.DATE, "订单日期", "Order date", "订单日期|销售日期|单据日期|开票日期|出库日期|发货日期|业务日期|日期|order date|sales date|invoice date|date", True),
        _f("org_unit", K.DIM, "销售组织", "Sales unit", _ORG, True, "org_unit"),
        _f("customer", K.DIM, "客户", "Customer", _CUST, True, "customer"),
        _f("customer_name", K.TEXT, "客户名称", "Customer name", _CUST_NAME),
        _f("product", K.DIM, "产品", "Product", _PROD, True, "product"),
        _f("product_name", K.TEXT, "产品名称", "Product name", _PROD_NAME),
        _f("category", K.TEXT, "品类", "Category", _CAT),
        _f("channel", K.TEXT, "渠道", "Channel", "渠道|销售渠道|channel"),
        _f("quantity", K.NUMBER, "数量", "Quantity", "数量|销售数量|销量|出库数量|主数量|开票数量|qty|quantity", True),
        _f("list_price", K.NUMBER, "单价（不含税）", "Unit price (net of tax)", "单价|无税单价|不含税单价|本币无税单价|原币无税单价|标准单价|售价|销售单价|price|unit price|list price|net price"),
        _f("price_incl_tax", K.NUMBER, "含税单价", "Unit price incl. tax", "含税单价|本币含税单价|原币含税单价|price incl tax|gross price|unit price incl tax"),
        _f("discount_amount", K.NUMBER, "折扣额", "Discount", "折扣额|折扣金额|折扣|本币折扣额|discount|discount amount"),
        _f("net_revenue", K.NUMBER, "无税金额", "Net revenue", "无税金额|不含税金额|本币无税金额|原币无税金额|净销售额|销售金额|销售收入|收入|金额|net revenue|net amount|revenue|sales amount|amount"),
        _f("amount_incl_tax", K.NUMBER, "价税合计", "Amount incl. tax", "价税合计|含税金额|本币价税合计|原币价税合计|amount incl tax|gross amount|total incl tax"),
        _f("tax_rate", K.RATE, "税率", "Tax rate", "税率|增值税率|tax rate|vat rate|vat"),
        _f("cost_amount", K.NUMBER, "成本金额", "Cost amount", "成本金额|销售成本|营业成本|总成本|成本|cost amount|cost of sales|cogs|cost", True),
        _f("unit_cost", K.NUMBER, "单位成本", "Unit cost", "单位成本|成本单价|unit cost"),
    ),
    "journal_line": (
        _f("entry_no", K.TEXT, "凭证号", "Entry no.", "凭证号|凭证编号|凭证字号|凭证字|voucher no|entry no|journal no|voucher"),
        _f("line_no", K.INT, "分录行号", "Line no.", "分录号|分录行号|行号|line no|line"),
        _f("posting_date", K.DATE, "记账日期", "Posting date", "记账日期|凭证日期|制单日期|业务日期|日期|posting date|date", True),
        _f("account", K.DIM, "科目", "Account", _ACCT, True, "account"),
        _f("account_name", K.TEXT, "科目名称", "Account name", _ACCT_NAME),
        _f("org_unit", K.DIM, "组织/成本中心", "Org unit / cost center", _ORG, True, "org_unit"),
        _f("amount", K.NUMBER, "金额", "Amount", "金额|发生额|本币金额|amount"),
        _f("debit", K.NUMBER, "借方金额", "Debit", "借方金额|借方|借方本币|debit"),
        _f("credit", K.NUMBER, "贷方金额", "Credit", "贷方金额|贷方|贷方本币|credit"),
        _f("source", K.TEXT, "来源", "Source", "来源|凭证类型|source"),
        _f("description", K.TEXT, "摘要", "Description", "摘要|说明|description|memo"),
    ),
    "budget_line": (
        _f("version", K.DIM, "预算版本", "Budget version", "预算版本|版本|version|budget version", False, "budget_version"),
        _f("period", K.DATE, "期间", "Period", "期间|月份|预算期间|会计期间|period|month", True),
        _f("org_unit", K.DIM, "组织", "Org unit", _ORG, True, "org_unit"),
        _f("account", K.DIM, "科目", "Account", _ACCT, True, "account"),
        _f("account_name", K.TEXT, "科目名称", "Account name", _ACCT_NAME),
        _f("amount", K.NUMBER, "预算金额", "Budget amount", "预算金额|预算数|预算|金额|budget|amount", True),
    ),
    "ar_invoice": (
        _f("invoice_no", K.TEXT, "发票号", "Invoice no.", "发票号|发票号码|单据号|单据编号|invoice no|invoice number|invoice", True),
        _f("customer", K.DIM, "客户", "Customer", _CUST, True, "customer"),
        _f("customer_name", K.TEXT, "客户名称", "Customer name", _CUST_NAME),
        _f("org_unit", K.DIM, "销售组织", "Sales unit", _ORG, True, "org_unit"),
        _f("invoice_date", K.DATE, "开票日期", "Invoice date", "开票日期|发票日期|单据日期|日期|invoice date|date", True),
        _f("due_date", K.DATE, "到期日", "Due date", "到期日|到期日期|应收日期|due date", True),
        _f("amount", K.NUMBER, "发票金额", "Invoice amount", "发票金额|应收金额|价税合计|金额|invoice amount|amount", True),
        _f("paid_amount", K.NUMBER, "已收金额", "Paid amount", "已收金额|收款金额|回款金额|已核销金额|paid amount|paid"),
        _f("paid_date", K.DATE, "收款日期", "Paid date", "收款日期|回款日期|paid date"),
    ),
    "inventory_snapshot": (
        _f("period_end", K.DATE, "期末日期", "Period end", "期末日期|结存日期|盘点日期|日期|期间|period end|date", True),
        _f("product", K.DIM, "产品", "Product", _PROD, True, "product"),
        _f("product_name", K.TEXT, "产品名称", "Product name", _PROD_NAME),
        _f("category", K.TEXT, "品类", "Category", _CAT),
        _f("org_unit", K.DIM, "组织", "Org unit", _ORG + "|仓库|warehouse", True, "org_unit"),
        _f("quantity", K.NUMBER, "库存数量", "Quantity on hand", "结存数量|库存数量|期末数量|现存量|数量|quantity|qty", True),
        _f("value", K.NUMBER, "库存金额", "Inventory value", "结存金额|库存金额|期末金额|金额|value|amount", True),
    ),
    "org_unit": (
        _f("code", K.TEXT, "组织编码", "Org unit code", "组织编码|部门编码|编码|代码|code", True),
        _f("name", K.TEXT, "组织名称", "Org unit", "组织名称|部门名称|名称|name", True),
        _f("name_en", K.TEXT, "英文名称", "English name", "英文名称|english name|name en"),
        _f("parent", K.TEXT, "上级组织", "Parent unit", "上级组织|上级部门|上级编码|上级|parent|parent code"),
        _f("kind", K.TEXT, "组织类型", "Unit kind", "组织类型|类型|kind|type"),
    ),
    "product": (
        _f("sku", K.TEXT, "SKU编码", "SKU", "存货编码|物料编码|产品编码|商品编码|编码|sku|code", True),
        _f("name", K.TEXT, "产品名称", "Product", "存货名称|物料名称|产品名称|商品名称|品名|名称|name", True),
        _f("category", K.TEXT, "品类", "Category", _CAT + "|分类"),
        _f("brand", K.TEXT, "品牌", "Brand", "品牌|brand"),
        _f("unit", K.TEXT, "单位", "Unit", "计量单位|单位|unit|uom"),
    ),
    "customer": (
        _f("code", K.TEXT, "客户编码", "Customer code", "客户编码|客户代码|编码|code", True),
        _f("name", K.TEXT, "客户名称", "Customer", "客户名称|名称|name", True),
        _f("segment", K.TEXT, "客户类型", "Segment", "客户类型|客户分类|客户类别|segment|type"),
        _f("region", K.TEXT, "客户区域", "Customer region", "客户区域|地区|区域|region"),
        _f("org_unit", K.DIM, "归属销售组织", "Owning sales unit", "归属部门|" + _ORG, False, "org_unit"),
        _f("credit_days", K.INT, "信用天数", "Credit days", "信用天数|信用期|账期|credit days"),
    ),
    "account": (
        _f("code", K.TEXT, "科目编码", "Account code", "科目编码|科目代码|编码|code", True),
        _f("name", K.TEXT, "科目名称", "Account", "科目名称|名称|name", True),
        _f("name_en", K.TEXT, "英文名称", "English name", "英文名称|english name|name en"),
        _f("type", K.TEXT, "科目类型", "Account type", "科目类型|科目类别|类型|type"),
        _f("parent_code", K.TEXT, "上级科目", "Parent account", "上级科目|上级科目编码|上级编码|parent|parent code"),
    ),
}
TABLES: tuple[str, ...] = tuple(FIELDS)
# Required fields a file may replace by others (cost from unit cost × quantity, amount from debit − credit).
ALTERNATIVES: dict[tuple[str, str], tuple[str, ...]] = {
    ("sales_line", "cost_amount"): ("unit_cost",),
    ("journal_line", "amount"): ("debit", "credit"),
}
DIMENSION_TABLES = ("org_unit", "product", "customer", "account")


def fields(table: str) -> tuple[Field, ...]:
    """The fields of a canonical table; raises :class:`InvalidArgument` naming the known tables."""
    try:
        return FIELDS[table]
    except KeyError:
        raise InvalidArgument(f"Unknown import table {table!r}. Known: {', '.join(TABLES)}.",
                              f"未知的导入目标表 {table!r}。可选：{'、'.join(TABLES)}。") from None


def field_of(table: str, name: str) -> Field:
    for f in fields(table):
        if f.name == name:
            return f
    raise InvalidArgument(f"{table} has no import field {name!r}. Known: {', '.join(f.name for f in fields(table))}.",
                          f"{table} 没有导入字段 {name!r}。可选：{'、'.join(f.name for f in fields(table))}。")


@dataclass(frozen=True)
class ImportOptions:
    """Settings of one import that are not column mappings.

    ``tax_rate`` applies where the file has no tax-rate column; ``prices_include_tax`` says the
    price/amount columns mapped to net fields are in fact tax-inclusive (net = gross / (1 + rate)).
    Created org units go under ``org_parent`` (code or name; default: the root) with kind
    ``new_org_kind`` (default: the level the org column's header names, e.g. 门店 → store); departments,
    stores and cost centers that would sit right under the company go under the region 未分区域 instead, so they
    are read as 部门/门店, not as regions. ``replace_batch`` is the earlier batch of the same file being replaced.
    """

    tax_rate: float | None = None
    prices_include_tax: bool = False
    allow_negative_quantity: bool = False
    org_parent: str | None = None
    new_org_kind: str | None = None
    default_org_unit: str | None = None
    budget_version: str | None = None
    date_min: dt.date = dt.date(1990, 1, 1)
    date_max: dt.date | None = None          # default: one year after today
    revenue_tolerance: float = 0.005         # relative; plus 1 元 and half a cent of price per unit
    replace_batch: int | None = None

    def to_dict(self) -> dict:
        """The fields that differ from the defaults, JSON-ready."""
        default = ImportOptions()
        return {f.name: (v.isoformat() if isinstance(v, dt.date) else v)
                for f in dataclasses.fields(self) if (v := getattr(self, f.name)) != getattr(default, f.name)}

    @classmethod
    def from_dict(cls, data: dict | None) -> ImportOptions:
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"Unknown import options {unknown}. Known: {', '.join(sorted(known))}.",
                                  f"未知的导入选项 {unknown}。可选：{'、'.join(sorted(known))}。")
        for k in ("date_min", "date_max"):
            if isinstance(data.get(k), str):
                data[k] = dt.date.fromisoformat(data[k])
        return cls(**data)


@dataclass(frozen=True)
class Mapping:
    """Canonical field -> source column for one target table; ``reasons`` says where each came from
    ('header', 'content', 'template', 'file' or 'user')."""

    table: str
    columns: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def source(self, name: str) -> str | None:
        return self.columns.get(name)

    def with_column(self, name: str, source: str | None, reason: str = "user") -> Mapping:
        """A copy with ``name`` mapped to ``source`` (None: unmapped); a source feeds one field only."""
        field_of(self.table, name)
        cols = {k: v for k, v in self.columns.items() if k != name and v != source}
        why = {k: v for k, v in self.reasons.items() if k in cols}
        if source:
            cols[name], why[name] = source, reason
        return Mapping(self.table, cols, why)

    def missing_required(self) -> list[str]:
        """Required fields with no source column (alternatives such as price or revenue are checked by the import)."""
        return [f.name for f in fields(self.table) if f.required and f.name not in self.columns
                and not any(a in self.columns for a in ALTERNATIVES.get((self.table, f.name), ()))]


# ---- suggestions -----------------------------------------------------------------------------

def normalise_header(text: str) -> str:
    """A header as compared with the synonyms: half-width, lower case, units and punctuation dropped.

    >>> normalise_header(" 无税金额（元） "), normalise_header("Order_Date"), normalise_header("数量(KG)")
    ('无税金额', 'order date', '数量')
    """
    t = half_width(str(text)).strip().lower()
    t = re.sub(r"\(.*?\)|\[.*?\]|【.*?】", "", t)
    t = re.sub(r"[_\-./:：*#]+", " ", t)
    return re.sub(r"\s+", " ", t).strip()


def _header_score(header: str, syn: str) -> int:
    """How well a header matches a synonym: 1000 + length for an exact match, the length when it contains it."""
    if header == syn:
        return 1000 + len(syn)
    if re.fullmatch(r"[a-z0-9 ]+", syn):
        return len(syn) if re.search(rf"\b{re.escape(syn)}\b", header) else 0
    return len(syn) if syn in header else 0


def suggest_mapping(raw: RawTable, table: str) -> Mapping:
    """Suggest which source column feeds each field of ``table``, from header names (Chinese and
    English synonyms, longest match wins, each column used once) and then from content (an
    unmapped required date field takes the first unmapped column of dates)."""
    flds = fields(table)
    candidates = []
    for col in raw.columns:
        h = normalise_header(col)
        for order, f in enumerate(flds):
            best = max((_header_score(h, normalise_header(s)) for s in (f.name, *f.synonyms)), default=0)
            if best:
                candidates.append((-best, order, col, f.name))
    columns: dict[str, str] = {}
    for _, _, col, name in sorted(candidates):
        if name not in columns and col not in columns.values():
            columns[name] = col
    # A name column with no code column is the member itself.
    for dim in ("customer", "product", "account"):
        if f"{dim}_name" in columns and dim not in columns and any(f.name == dim for f in flds):
            columns[dim] = columns.pop(f"{dim}_name")
    reasons = {k: "header" for k in columns}
    _suggest_from_content(raw, flds, columns, reasons)
    return Mapping(table, columns, reasons)


def _suggest_from_content(raw: RawTable, flds: tuple[Field, ...], columns: dict[str, str],
                          reasons: dict[str, str]) -> None:
    sample = raw.frame.head(200)
    free = [c for c in raw.columns if c not in columns.values()]
    kinds: dict[str, str] = {}
    for c in free:
        s = sample[c]
        if not (s.astype(str).str.strip() != "").any():
            continue
        texts = s.astype(str).str.strip()
        texts = texts[texts != ""]
        _, bad_d = parse_dates(texts)
        _, bad_n = parse_numbers(texts)
        # Plain numbers are not taken for dates unless they look like 20240305.
        looks_like_date = texts.str.contains(r"[-/年.]").all() or texts.str.fullmatch(r"\d{8}").all()
        if not bad_d.any() and looks_like_date:
            kinds[c] = "date"
        elif not bad_n.any():
            kinds[c] = "number"
    for f in flds:
        if f.name in columns or not f.required:
            continue
        want = "date" if f.kind is Kind.DATE else "number" if f.kind is Kind.NUMBER else None
        pool = [c for c in free if kinds.get(c) == want and c not in columns.values()]
        required_numbers = [g for g in flds if g.required and g.kind is Kind.NUMBER and g.name not in columns]
        if want == "date" and pool or want == "number" and len(pool) == 1 and len(required_numbers) == 1:
            columns[f.name], reasons[f.name] = pool[0], "content"


# ---- mapping files and templates -------------------------------------------------------------

def load_mapping_file(path: Path, table: str | None = None) -> tuple[Mapping, ImportOptions]:
    """A mapping YAML: ``table:`` (optional when given), ``columns: {field: source column}``, ``options:``."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"Cannot read the mapping file {str(path)!r}: {exc}",
                              f"无法读取映射文件 {str(path)!r}：{exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
        raise InvalidArgument("A mapping file holds 'columns: {field: source column}' and optional 'table:' and 'options:'.",
                              "映射文件应包含 'columns: {字段: 源列}'，可选 'table:' 与 'options:'。")
    tbl = table or data.get("table")
    if data.get("table") and table and data["table"] != table:
        raise InvalidArgument(f"The mapping file is for {data['table']!r}, not {table!r}.",
                              f"映射文件对应的表是 {data['table']!r}，不是 {table!r}。")
    fields(tbl)
    mapping = Mapping(tbl)
    for name, source in (data.get("columns") or {}).items():
        mapping = mapping.with_column(str(name), str(source), "file")
    return mapping, ImportOptions.from_dict(data.get("options"))


@dataclass(frozen=True)
class Template:
    name: str
    table: str
    mapping: Mapping
    options: ImportOptions
    updated_by: str
    updated_at: dt.datetime


def save_template(engine: sa.Engine, user: User, name: str, table: str, mapping: Mapping,
                  options: ImportOptions | None = None) -> None:
    """Save (or overwrite) a named mapping template for ``table``. Needs the ``import_data`` action."""
    auth.require(user, "import_data")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidArgument("A template needs a name of 1 to 100 characters.", "模板名称须为 1 到 100 个字符。")
    fields(table)
    now = clock.now()
    t = import_template
    with engine.begin() as conn:
        old = conn.execute(sa.select(t.c.created_by, t.c.created_at).where(t.c.name == name)).first()
        conn.execute(t.delete().where(t.c.name == name))
        conn.execute(t.insert().values(
            name=name, table_name=table, mapping=json.dumps(mapping.columns, ensure_ascii=False),
            options=json.dumps((options or ImportOptions()).to_dict(), ensure_ascii=False),
            created_by=old.created_by if old else user.username, created_at=old.created_at if old else now,
            updated_by=user.username, updated_at=now))


def templates(engine: sa.Engine, table: str | None = None) -> list[Template]:
    """Saved templates, by name, optionally only those for ``table``."""
    t = import_template
    stmt = sa.select(t).order_by(t.c.name)
    if table:
        stmt = stmt.where(t.c.table_name == table)
    out = []
    for r in db.run(engine, stmt).itertuples(index=False):
        cols = json.loads(r.mapping)
        out.append(Template(r.name, r.table_name, Mapping(r.table_name, cols, {k: "template" for k in cols}),
                            ImportOptions.from_dict(json.loads(r.options or "{}")), r.updated_by,
                            r.updated_at.to_pydatetime() if hasattr(r.updated_at, "to_pydatetime") else r.updated_at))
    return out


def apply_template(raw: RawTable, template: Template) -> Mapping:
    """The template's mapping restricted to columns the file has (a missing column leaves its field unmapped)."""
    cols = {k: v for k, v in template.mapping.columns.items() if v in raw.columns}
    return Mapping(template.table, cols, {k: "template" for k in cols})


def delete_template(engine: sa.Engine, user: User, name: str) -> None:
    auth.require(user, "import_data")
    with engine.begin() as conn:
        conn.execute(import_template.delete().where(import_template.c.name == name))


__all__ = ["Field", "Kind", "FIELDS", "TABLES", "ImportOptions", "Mapping", "Template", "suggest_mapping",
           "load_mapping_file", "save_template", "templates", "apply_template", "delete_template"]
