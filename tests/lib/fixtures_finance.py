"""A tiny, hand-checkable finance store: every figure in test_metrics_known.py is worked out on paper from it.

Org tree: 1 总公司 (company) → 2 华东大区, 3 西部大区 (regions) → 4 上海营业部 (under 2), 5 成都营业部 (under 3).
Facts are booked on the departments 4 (华东) and 5 (西部).

Sales lines (q × list price − discount = net; cost)            华东 = org 4, 西部 = org 5
  2024-01-10 S1/1 org4 c1 p1 饮料 10 × 10 − 0  = 100; cost  60
  2024-01-20 S2/1 org5 c2 p3 零食  5 × 20 − 0  = 100; cost  50      Jan 2024: rev 200, cogs 110
  2024-02-15 S3/1 org4 c1 p2 饮料 10 × 20 − 0  = 200; cost 120      Feb 2024: rev 200, cogs 120
  2024-12-10 S10/1 org5 c2 p1 饮料 16 × 20 − 0 = 320; cost 200      Dec 2024: rev 320, cogs 200
  2025-01-05 S4/1 org4 c1 p1 饮料 10 × 10 − 0  = 100; cost  60
  2025-01-05 S4/2 org4 c1 p3 零食  5 × 20 − 10 =  90; cost  40
  2025-01-20 S5/1 org4 c3 p2 饮料  2 × 25 − 0  =  50; cost  30
  2025-01-30 S6/1 org5 c2 p3 零食 20 × 10 − 40 = 160; cost 100      Jan 2025: rev 400, cogs 230
  2025-02-10 S7/1 org4 c1 p1 饮料 20 × 10 − 0  = 200; cost 110
  2025-02-12 S8/1 org5 c2 p2 饮料  4 × 25 − 0  = 100; cost  50      Feb 2025: rev 300, cogs 160
  2025-03-15 S9/1 org5 c2 p3 零食  1 × 10 − 10 =   0; cost   5      Mar 2025: rev   0, cogs   5 (a free sample)

GL (journal_line): opex on leaf accounts 660101 (under 6601 销售费用) and 660201 (under 6602 管理费用),
plus revenue (6001) and COGS (6401) postings that opex must not count.
  2024-01-31 660101 org4 10
  2025-01-31 660101 org4 30 | 660201 org4 20 | 660101 org5 25 | 6001 org4 240 | 6401 org4 130
  2025-02-28 660101 org4 40 | 660201 org5 10
  2025-03-31 660201 org4 15
  2025-04-30 660101 org4  5           (a month with opex and no sales at all)

Budget versions: 1 approved budget, 2 draft budget, 3 approved forecast, 4 locked budget.
  v1 2025-01 org4 660101 40 | org4 660201 20 | org5 660101 20 | org4 6001 250 ; 2025-02 org4 660101 40
  v2 2025-01 org4 660101 999   (draft: excluded)
  v3 2025-01 org4 660101 500   (forecast: excluded)
  v4 2025-02 org5 660201 10    (locked budget: included)

AR invoices (amount, paid_amount, paid_date):
  I5 c2 org5 issued 2024-12-15 due 2025-01-14  80, paid  80 on 2025-01-10
  I1 c1 org4 issued 2025-01-05 due 2025-02-04 100, paid 100 on 2025-01-25 (on time)
  I2 c1 org4 issued 2025-01-10 due 2025-02-09 200, paid 200 on 2025-03-10 (late)
  I3 c2 org5 issued 2025-01-20 due 2025-03-21 300, paid 100 on 2025-02-15 (partly paid)
  I4 c3 org4 issued 2025-02-10 due 2025-03-12 150, unpaid

Inventory snapshots (value): 2024-12-31 p1/org4 1000, p3/org5 500; 2025-01-31 800, 600; 2025-02-28 900, 300.
No snapshot at 2025-03-31.
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import sqlalchemy as sa

from lib.core import schema, store

D = dt.date

HUADONG, XIBU = "华东大区", "西部大区"


def _cols(names: list[str], rows: list[tuple]) -> pa.Table:
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(names)})


SALES = [
    # order_no, line_no, order_date, org, customer, product, channel, qty, list_price, discount, net, cost
    ("S1", 1, D(2024, 1, 10), 4, 1, 1, "线下", 10.0, 10.0, 0.0, 100.0, 60.0),
    ("S2", 1, D(2024, 1, 20), 5, 2, 3, "线上", 5.0, 20.0, 0.0, 100.0, 50.0),
    ("S3", 1, D(2024, 2, 15), 4, 1, 2, "线下", 10.0, 20.0, 0.0, 200.0, 120.0),
    ("S10", 1, D(2024, 12, 10), 5, 2, 1, "线上", 16.0, 20.0, 0.0, 320.0, 200.0),
    ("S4", 1, D(2025, 1, 5), 4, 1, 1, "线下", 10.0, 10.0, 0.0, 100.0, 60.0),
    ("S4", 2, D(2025, 1, 5), 4, 1, 3, "线下", 5.0, 20.0, 10.0, 90.0, 40.0),
    ("S5", 1, D(2025, 1, 20), 4, 3, 2, "线上", 2.0, 25.0, 0.0, 50.0, 30.0),
    ("S6", 1, D(2025, 1, 30), 5, 2, 3, "线上", 20.0, 10.0, 40.0, 160.0, 100.0),
    ("S7", 1, D(2025, 2, 10), 4, 1, 1, "线下", 20.0, 10.0, 0.0, 200.0, 110.0),
    ("S8", 1, D(2025, 2, 12), 5, 2, 2, "线上", 4.0, 25.0, 0.0, 100.0, 50.0),
    ("S9", 1, D(2025, 3, 15), 5, 2, 3, "线上", 1.0, 10.0, 10.0, 0.0, 5.0),
]
SALES_COLS = ["order_no", "line_no", "order_date", "org_unit_id", "customer_id", "product_id", "channel",
              "quantity", "list_price", "discount_amount", "net_revenue", "cost_amount"]

JOURNAL = [
    # entry_no, line_no, posting_date, account_code, org, amount
    ("J1", 1, D(2024, 1, 31), "660101", 4, 10.0),
    ("J2", 1, D(2025, 1, 31), "660101", 4, 30.0),
    ("J2", 2, D(2025, 1, 31), "660201", 4, 20.0),
    ("J3", 1, D(2025, 1, 31), "660101", 5, 25.0),
    ("J4", 1, D(2025, 1, 31), "6001", 4, 240.0),
    ("J4", 2, D(2025, 1, 31), "6401", 4, 130.0),
    ("J5", 1, D(2025, 2, 28), "660101", 4, 40.0),
    ("J5", 2, D(2025, 2, 28), "660201", 5, 10.0),
    ("J6", 1, D(2025, 3, 31), "660201", 4, 15.0),
    ("J7", 1, D(2025, 4, 30), "660101", 4, 5.0),
]
JOURNAL_COLS = ["entry_no", "line_no", "posting_date", "account_code", "org_unit_id", "amount"]

BUDGET = [
    # version_id, period, org, account, amount
    (1, D(2025, 1, 1), 4, "660101", 40.0),
    (1, D(2025, 1, 1), 4, "660201", 20.0),
    (1, D(2025, 1, 1), 5, "660101", 20.0),
    (1, D(2025, 1, 1), 4, "6001", 250.0),
    (1, D(2025, 2, 1), 4, "660101", 40.0),
    (2, D(2025, 1, 1), 4, "660101", 999.0),
    (3, D(2025, 1, 1), 4, "660101", 500.0),
    (4, D(2025, 2, 1), 5, "660201", 10.0),
]
BUDGET_COLS = ["version_id", "period", "org_unit_id", "account_code", "amount"]

INVOICES = [
    # invoice_no, customer, org, invoice_date, due_date, amount, paid_amount, paid_date
    ("I5", 2, 5, D(2024, 12, 15), D(2025, 1, 14), 80.0, 80.0, D(2025, 1, 10)),
    ("I1", 1, 4, D(2025, 1, 5), D(2025, 2, 4), 100.0, 100.0, D(2025, 1, 25)),
    ("I2", 1, 4, D(2025, 1, 10), D(2025, 2, 9), 200.0, 200.0, D(2025, 3, 10)),
    ("I3", 2, 5, D(2025, 1, 20), D(2025, 3, 21), 300.0, 100.0, D(2025, 2, 15)),
    ("I4", 3, 4, D(2025, 2, 10), D(2025, 3, 12), 150.0, 0.0, None),
]
INVOICE_COLS = ["invoice_no", "customer_id", "org_unit_id", "invoice_date", "due_date", "amount", "paid_amount",
                "paid_date"]

INVENTORY = [
    # period_end, product, org, quantity, value
    (D(2024, 12, 31), 1, 4, 100.0, 1000.0),
    (D(2024, 12, 31), 3, 5, 50.0, 500.0),
    (D(2025, 1, 31), 1, 4, 80.0, 800.0),
    (D(2025, 1, 31), 3, 5, 60.0, 600.0),
    (D(2025, 2, 28), 1, 4, 90.0, 900.0),
    (D(2025, 2, 28), 3, 5, 30.0, 300.0),
]
INVENTORY_COLS = ["period_end", "product_id", "org_unit_id", "quantity", "value"]


def sales_table(rows: list[tuple]) -> pa.Table:
    return _cols(SALES_COLS, rows)


def build(engine: sa.Engine) -> sa.Engine:
    """Create the schema on ``engine`` and load the rows above; returns the engine."""
    store.init_schema(engine)
    with engine.begin() as conn:
        store.bulk_load(conn, schema.org_unit, pa.table({
            "id": [1, 2, 3, 4, 5],
            "code": ["HQ", "EAST", "WEST", "EAST-SH", "WEST-CD"],
            "name": ["总公司", HUADONG, XIBU, "上海营业部", "成都营业部"],
            "parent_id": [None, 1, 1, 2, 3],
            "kind": ["company", "region", "region", "department", "department"]}))
        store.bulk_load(conn, schema.product, pa.table({
            "id": [1, 2, 3], "sku": ["P1", "P2", "P3"], "name": ["绿茶", "矿泉水", "饼干"],
            "category": ["饮料", "饮料", "零食"], "brand": ["甲牌", "乙牌", "甲牌"]}))
        store.bulk_load(conn, schema.customer, pa.table({
            "id": [1, 2, 3], "code": ["C1", "C2", "C3"], "name": ["客户甲", "客户乙", "客户丙"],
            "segment": ["零售", "批发", "零售"], "org_unit_id": [4, 5, 4], "credit_days": [30, 60, 30]}))
        store.bulk_load(conn, schema.account, pa.table({
            "code": ["6001", "6401", "6601", "660101", "6602", "660201"],
            "name": ["主营业务收入", "主营业务成本", "销售费用", "销售人员薪酬", "管理费用", "办公费"],
            "type": ["revenue", "cogs", "opex", "opex", "opex", "opex"],
            "parent_code": [None, None, None, "6601", None, "6602"]}))
        store.bulk_load(conn, schema.sales_line, sales_table(SALES))
        store.bulk_load(conn, schema.journal_line, _cols(JOURNAL_COLS, JOURNAL))
        store.bulk_load(conn, schema.budget_version, pa.table({
            "id": [1, 2, 3, 4],
            "name": ["2025年度预算", "2025年度预算（草稿）", "2025滚动预测", "2025预算调整"],
            "kind": ["budget", "budget", "forecast", "budget"],
            "fiscal_year": [2025, 2025, 2025, 2025],
            "status": ["approved", "draft", "approved", "locked"]}))
        store.bulk_load(conn, schema.budget_line, _cols(BUDGET_COLS, BUDGET))
        store.bulk_load(conn, schema.ar_invoice, _cols(INVOICE_COLS, INVOICES))
        store.bulk_load(conn, schema.inventory_snapshot, _cols(INVENTORY_COLS, INVENTORY))
        store.refresh_org_flat(conn)
    return engine
