"""Mapping suggestions from Chinese and English headers and from content; mapping files; templates."""
from __future__ import annotations

import pandas as pd
import pytest

from lib.access.scope import User
from lib.core import store
from lib.core.errors import Forbidden, InvalidArgument
from lib.ingest import batch as ingest
from lib.ingest.mapping import ImportOptions, Mapping, load_mapping_file, normalise_header, suggest_mapping
from lib.ingest.read import RawTable


def raw_of(headers: list[str], rows: list[list[str]] | None = None) -> RawTable:
    rows = rows or [["" for _ in headers]]
    return RawTable(columns=tuple(headers), frame=pd.DataFrame(rows, columns=headers), filename="t.csv")


# (table, source headers, expected {field: header}); headers absent from the expectation stay unmapped.
CASES = [
    ("sales_line",
     ["销售日期", "订单号", "客户编码", "客户名称", "存货编码", "存货名称", "数量", "含税单价", "无税金额", "价税合计",
      "税率", "折扣额", "成本金额", "部门", "业务员", "渠道"],
     {"order_date": "销售日期", "order_no": "订单号", "customer": "客户编码", "customer_name": "客户名称",
      "product": "存货编码", "product_name": "存货名称", "quantity": "数量", "price_incl_tax": "含税单价",
      "net_revenue": "无税金额", "amount_incl_tax": "价税合计", "tax_rate": "税率", "discount_amount": "折扣额",
      "cost_amount": "成本金额", "org_unit": "部门", "channel": "渠道"}),
    ("sales_line",  # 用友-style export: names only, 本币 prefixes, units in brackets
     ["单据日期", "客户名称", "物料", "销售部门", "主数量", "本币无税单价", "本币无税金额", "成本（元）"],
     {"order_date": "单据日期", "customer": "客户名称", "product": "物料", "org_unit": "销售部门", "quantity": "主数量",
      "list_price": "本币无税单价", "net_revenue": "本币无税金额", "cost_amount": "成本（元）"}),
    ("sales_line",
     ["Order Date", "Order No", "Customer", "SKU", "Department", "Qty", "Unit Price", "Discount", "Net Amount", "COGS"],
     {"order_date": "Order Date", "order_no": "Order No", "customer": "Customer", "product": "SKU",
      "org_unit": "Department", "quantity": "Qty", "list_price": "Unit Price", "discount_amount": "Discount",
      "net_revenue": "Net Amount", "cost_amount": "COGS"}),
    ("sales_line", ["order_date", "customer", "product", "org_unit", "quantity", "list_price", "net_revenue", "cost_amount"],
     {k: k for k in ["order_date", "customer", "product", "org_unit", "quantity", "list_price", "net_revenue", "cost_amount"]}),
    ("sales_line", ["日期", "客户", "产品", "单价", "金额", "成本", "税额"],
     {"order_date": "日期", "customer": "客户", "product": "产品", "list_price": "单价", "net_revenue": "金额",
      "cost_amount": "成本"}),
    ("journal_line", ["凭证号", "记账日期", "科目编码", "科目名称", "部门", "借方金额", "贷方金额", "摘要"],
     {"entry_no": "凭证号", "posting_date": "记账日期", "account": "科目编码", "account_name": "科目名称",
      "org_unit": "部门", "debit": "借方金额", "credit": "贷方金额", "description": "摘要"}),
    ("journal_line", ["Posting Date", "Account", "Cost Center", "Amount"],
     {"posting_date": "Posting Date", "account": "Account", "org_unit": "Cost Center", "amount": "Amount"}),
    ("budget_line", ["期间", "部门", "科目", "预算金额"],
     {"period": "期间", "org_unit": "部门", "account": "科目", "amount": "预算金额"}),
    ("ar_invoice", ["发票号", "客户名称", "开票日期", "到期日", "价税合计", "已收金额", "部门"],
     {"invoice_no": "发票号", "customer": "客户名称", "invoice_date": "开票日期", "due_date": "到期日",
      "amount": "价税合计", "paid_amount": "已收金额", "org_unit": "部门"}),
    ("inventory_snapshot", ["期末日期", "存货编码", "仓库", "结存数量", "结存金额"],
     {"period_end": "期末日期", "product": "存货编码", "org_unit": "仓库", "quantity": "结存数量", "value": "结存金额"}),
    ("customer", ["客户编码", "客户名称", "客户分类", "地区", "信用天数"],
     {"code": "客户编码", "name": "客户名称", "segment": "客户分类", "region": "地区", "credit_days": "信用天数"}),
    ("product", ["存货编码", "存货名称", "存货分类", "计量单位", "品牌"],
     {"sku": "存货编码", "name": "存货名称", "category": "存货分类", "unit": "计量单位", "brand": "品牌"}),
    ("org_unit", ["部门编码", "部门名称", "上级部门"], {"code": "部门编码", "name": "部门名称", "parent": "上级部门"}),
    ("account", ["科目编码", "科目名称", "科目类型", "上级科目"],
     {"code": "科目编码", "name": "科目名称", "type": "科目类型", "parent_code": "上级科目"}),
]


@pytest.mark.parametrize("table,headers,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_suggestions_from_headers(table, headers, expected):
    m = suggest_mapping(raw_of(headers), table)
    assert m.columns == expected
    assert set(m.reasons.values()) <= {"header"}


def test_suggestions_from_content():
    raw = raw_of(["A", "B", "客户", "产品", "部门", "数量", "金额", "成本"],
                 [["甲", "2024-03-05", "c", "p", "d", "1", "2", "1"], ["乙", "2024/3/6", "c", "p", "d", "1", "2", "1"]])
    m = suggest_mapping(raw, "sales_line")
    assert m.columns["order_date"] == "B" and m.reasons["order_date"] == "content"
    raw = raw_of(["期间", "部门", "科目", "X"], [["2025-01", "d", "6601", "1,000"]])
    m = suggest_mapping(raw, "budget_line")
    assert m.columns["amount"] == "X" and m.reasons["amount"] == "content"


def test_normalise_and_edit_mapping():
    assert normalise_header("Ｑｔｙ（KG）") == "qty"
    m = Mapping("sales_line", {"quantity": "A"}).with_column("cost_amount", "A")
    assert m.columns == {"cost_amount": "A"}            # a column feeds one field
    assert "quantity" in m.missing_required()
    with pytest.raises(InvalidArgument, match="no import field 'qty'"):
        m.with_column("qty", "B")
    with pytest.raises(InvalidArgument, match="Known: sales_line"):
        suggest_mapping(raw_of(["a"]), "sales")


def test_mapping_file(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("table: sales_line\ncolumns:\n  order_date: 日期\n  quantity: 件数\n"
                    "options:\n  tax_rate: 0.13\n  prices_include_tax: true\n", encoding="utf-8")
    m, opts = load_mapping_file(path)
    assert m.columns == {"order_date": "日期", "quantity": "件数"} and opts.tax_rate == 0.13 and opts.prices_include_tax
    with pytest.raises(InvalidArgument, match="not 'journal_line'"):
        load_mapping_file(path, "journal_line")
    path.write_text("columns:\n  x: y\n", encoding="utf-8")
    with pytest.raises(InvalidArgument, match="no import field 'x'"):
        load_mapping_file(path, "sales_line")


def test_templates(empty_engine):
    store.init_schema(empty_engine)
    admin = User("tester", "admin")
    m = Mapping("sales_line", {"order_date": "单据日期", "quantity": "数量"})
    ingest.save_template(empty_engine, admin, "用友销售", "sales_line", m, ImportOptions(tax_rate=0.13))
    ingest.save_template(empty_engine, admin, "金蝶总账", "journal_line", Mapping("journal_line", {"amount": "金额"}))
    ingest.save_template(empty_engine, admin, "用友销售", "sales_line", m.with_column("cost_amount", "成本金额"))
    got = ingest.templates(empty_engine, "sales_line")
    assert [t.name for t in got] == ["用友销售"]
    assert got[0].mapping.columns == {"order_date": "单据日期", "quantity": "数量", "cost_amount": "成本金额"}
    assert got[0].options == ImportOptions() and got[0].updated_by == "tester"
    assert [t.name for t in ingest.templates(empty_engine)] == ["用友销售", "金蝶总账"]
    applied = ingest.apply_template(raw_of(["单据日期", "成本金额"]), got[0])
    assert applied.columns == {"order_date": "单据日期", "cost_amount": "成本金额"}
    with pytest.raises(Forbidden):
        ingest.save_template(empty_engine, User("v", "viewer"), "x", "sales_line", m)
