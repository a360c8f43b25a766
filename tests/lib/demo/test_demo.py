"""The demo company: deterministic, internally consistent, and telling the stories later pages need."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from lib.core import store
from lib.core.errors import InvalidArgument
from lib.demo import build as demo
from tests.conftest import DEMO_AS_OF, DEMO_ROWS


def test_row_counts_and_period(demo_tables):
    s = demo_tables["sales_line"]
    assert len(s) == DEMO_ROWS
    assert s["order_date"].min() == pd.Timestamp("2023-01-01")
    assert s["order_date"].max() == pd.Timestamp(DEMO_AS_OF - dt.timedelta(days=1))
    assert len(demo_tables["product"]) == 200 and demo_tables["product"]["category"].nunique() == 8
    assert len(demo_tables["customer"]) == 2000
    org = demo_tables["org_unit"]
    assert set(org.loc[org["kind"] == "region", "name"]) == {"华东大区", "华南大区", "华北大区", "西部大区"}
    assert {"财务部", "人力资源部", "研发中心", "市场部"} <= set(org.loc[org["kind"] == "cost_center", "name"])
    assert org["kind"].isin(["department", "store"]).sum() == 13  # 12 sales units + head office


def test_net_revenue_is_quantity_times_list_price_less_discount(demo_tables):
    s = demo_tables["sales_line"]
    gap = (s["quantity"] * s["list_price"] - s["discount_amount"] - s["net_revenue"]).abs()
    assert gap.max() < 0.005
    assert (s["discount_amount"] >= 0).all() and (s["cost_amount"] > 0).all()


def test_order_lines_are_numbered_within_their_order(demo_tables):
    s = demo_tables["sales_line"]
    assert not s.duplicated(["order_no", "line_no"]).any()
    firsts = s.groupby("order_no")["line_no"].agg(["min", "max", "count"])
    assert (firsts["min"] == 1).all() and (firsts["max"] == firsts["count"]).all()
    assert s.groupby("order_no")[["customer_id", "order_date", "org_unit_id"]].nunique().max().max() == 1


def test_gl_revenue_and_cogs_tie_to_sales_by_month_and_unit(demo_tables):
    s = demo_tables["sales_line"].assign(month=lambda d: d["order_date"].dt.to_period("M"))
    sales = s.groupby(["month", "org_unit_id"])[["net_revenue", "cost_amount"]].sum()
    gl = demo_tables["journal_line"].assign(month=lambda d: d["posting_date"].dt.to_period("M"))
    gl = gl[gl["account_code"].isin(["6001", "6401"])]
    gl = gl.pivot_table(index=["month", "org_unit_id"], columns="account_code", values="amount", aggfunc="sum")
    joined = sales.join(gl, how="outer").fillna(0)
    assert (joined["net_revenue"] - joined["6001"]).abs().max() < 0.01
    assert (joined["cost_amount"] - joined["6401"]).abs().max() < 0.01


def test_org_flat_gives_every_unit_its_region_and_department(demo_engine):
    flat = pd.read_sql("SELECT * FROM org_flat", demo_engine).set_index("org_unit_id")
    org = pd.read_sql("SELECT * FROM org_unit", demo_engine).set_index("code")
    store_unit = flat.loc[org.at["S13", "id"]]
    assert (store_unit["l1_name"], store_unit["l2_name"], store_unit["depth"]) == ("华东大区", "上海旗舰店", 2)
    assert store_unit["path"] == "示例消费品公司/华东大区/上海旗舰店"
    region = flat.loc[org.at["R40", "id"]]
    assert region["l1_name"] == "西部大区" and pd.isna(region["l2_name"])
    assert flat.loc[org.at["H03", "id"], "l1_name"] == "总部"
    assert len(flat) == len(org)


def test_gl_posts_only_to_leaf_accounts_and_opex_to_every_month(demo_tables):
    acc = demo_tables["account"]
    parents = set(acc["parent_code"].dropna())
    gl = demo_tables["journal_line"]
    assert not gl["account_code"].isin(parents).any()
    assert gl["account_code"].isin(acc["code"]).all()
    opex = gl[gl["account_code"].str.startswith("66")]
    assert opex["posting_date"].dt.to_period("M").nunique() == 47  # 2023-01 .. 2026-11
    assert (gl["amount"] > 0).all()


def test_invoices_sum_to_sales_and_payments_follow_invoices(demo_tables):
    inv = demo_tables["ar_invoice"]
    s = demo_tables["sales_line"]
    assert inv["amount"].sum() == pytest.approx(s["net_revenue"].sum(), abs=0.01)
    by_cust = s.groupby("customer_id")["net_revenue"].sum()
    assert (inv.groupby("customer_id")["amount"].sum() - by_cust).abs().max() < 0.01
    paid = inv[inv["paid_date"].notna()]
    assert (paid["paid_date"] >= paid["invoice_date"]).all()
    assert (paid["paid_date"] < pd.Timestamp(DEMO_AS_OF)).all()
    assert (inv["paid_amount"] <= inv["amount"]).all()
    assert ((inv["paid_amount"] > 0) == inv["paid_date"].notna()).all()
    assert (inv["due_date"] >= inv["invoice_date"]).all()


def test_inventory_is_never_negative_and_only_at_month_ends(demo_tables):
    inv = demo_tables["inventory_snapshot"]
    assert (inv["quantity"] >= 0).all() and (inv["value"] >= 0).all()
    assert inv["period_end"].dt.is_month_end.all()
    assert inv["period_end"].max() == pd.Timestamp("2026-10-31")  # November is not closed yet


def test_budgets_cover_this_year_and_last_by_month_unit_and_account(demo_tables):
    v = demo_tables["budget_version"]
    assert sorted(v["fiscal_year"]) == [2025, 2026]
    assert set(v["status"]) == {"approved", "locked"}
    b = demo_tables["budget_line"].merge(v, left_on="version_id", right_on="id")
    assert (b["period"].dt.year == b["fiscal_year"]).all()
    assert b.groupby("fiscal_year")["period"].nunique().eq(12).all()
    assert not b.duplicated(["version_id", "period", "org_unit_id", "account_code"]).any()


def _region_of(tables) -> pd.Series:
    org = tables["org_unit"].set_index("id")
    def region(uid):
        while org.at[uid, "kind"] not in ("region", "company"):
            uid = org.at[uid, "parent_id"]
        return org.at[uid, "code"]
    return pd.Series({uid: region(uid) for uid in org.index})


def test_story_north_overspends_its_expense_budget_this_year(demo_tables):
    region = _region_of(demo_tables)
    opex_accounts = demo_tables["account"].query("type == 'opex'")["code"]
    gl = demo_tables["journal_line"]
    gl = gl[gl["account_code"].isin(opex_accounts) & (gl["posting_date"] < "2026-11-01")
            & (gl["posting_date"] >= "2026-01-01")]
    bud = demo_tables["budget_line"]
    bud = bud[(bud["version_id"] == 2) & bud["account_code"].isin(opex_accounts) & (bud["period"] < "2026-11-01")]
    execution = (gl.groupby(gl["org_unit_id"].map(region))["amount"].sum()
                 / bud.groupby(bud["org_unit_id"].map(region))["amount"].sum())
    assert execution["R30"] > 1.08  # 华北 well over budget
    assert execution.drop("R30").max() < execution["R30"] - 0.05


def test_story_west_pays_ever_later_and_has_old_overdue_invoices(demo_tables):
    region = _region_of(demo_tables)
    inv = demo_tables["ar_invoice"].assign(region=lambda d: d["org_unit_id"].map(region))
    late = inv[inv["paid_date"].notna()].assign(days=lambda d: (d["paid_date"] - d["invoice_date"]).dt.days)
    west = late[late["region"] == "R40"].groupby(late["invoice_date"].dt.year)["days"].mean()
    assert west[2026] > west[2023] + 15
    open_ = inv[inv["paid_amount"] < inv["amount"]]
    overdue_90 = open_[(pd.Timestamp(DEMO_AS_OF) - open_["due_date"]).dt.days > 90]
    share = ((overdue_90["amount"] - overdue_90["paid_amount"]).groupby(overdue_90["region"]).sum()
             / (open_["amount"] - open_["paid_amount"]).groupby(open_["region"]).sum()).fillna(0)
    assert share["R40"] > 0.05 and share["R40"] > 2 * share.drop("R40").max()


def test_story_dairy_margin_squeezed_personal_care_price_raised(demo_tables):
    s = demo_tables["sales_line"].merge(demo_tables["product"], left_on="product_id", right_on="id")
    s["year"] = s["order_date"].dt.year
    by = s.groupby(["category", "year"])[["net_revenue", "cost_amount"]].sum()
    margin = 1 - by["cost_amount"] / by["net_revenue"]
    assert margin["乳制品", 2026] < margin["乳制品", 2024] - 0.08
    assert abs(margin["调味品", 2026] - margin["调味品", 2024]) < 0.03
    care = s[s["category"] == "个人护理"]
    ratio = (care[care["order_date"] >= "2025-04-01"].groupby("product_id")["list_price"].mean()
             / care[care["order_date"] < "2025-04-01"].groupby("product_id")["list_price"].mean()).dropna()
    assert ratio.median() == pytest.approx(1.08, abs=0.005)


def test_story_seasonality_and_the_collapsed_day(demo_tables):
    s = demo_tables["sales_line"]
    daily = s.groupby("order_date").size()
    # Spring Festival 2024 (10 Feb): the holiday week sells far less than two weeks later.
    assert daily["2024-02-09":"2024-02-16"].mean() < 0.6 * daily["2024-02-26":"2024-03-04"].mean()
    # Double 11: the e-commerce department sells several times an ordinary November weekday.
    org = demo_tables["org_unit"].set_index("code")
    online = s[s["org_unit_id"] == org.at["D22", "id"]].groupby("order_date").size()
    assert online[pd.Timestamp("2025-11-11")] > 3 * online["2025-11-17":"2025-11-21"].mean()
    collapsed = pd.Timestamp("2026-10-12")
    same_weekday = daily[[collapsed - pd.Timedelta(weeks=k) for k in (1, 2, 3)]].mean()
    assert daily.get(collapsed, 0) < 0.3 * same_weekday


def test_story_slow_moving_home_cleaning_stock_piles_up(demo_tables):
    inv = demo_tables["inventory_snapshot"].merge(demo_tables["product"], left_on="product_id", right_on="id")
    s = demo_tables["sales_line"].merge(demo_tables["product"], left_on="product_id", right_on="id")
    def days_of_stock(cat, month_end):
        stock = inv[(inv["category"] == cat) & (inv["period_end"] == month_end)]["quantity"].sum()
        m = pd.Timestamp(month_end)
        sold = s[(s["category"] == cat) & (s["order_date"].dt.to_period("M") == m.to_period("M"))]["quantity"].sum()
        return stock / sold * m.day
    assert days_of_stock("家居清洁", "2026-10-31") > 2 * days_of_stock("家居清洁", "2024-10-31")
    assert days_of_stock("家居清洁", "2026-10-31") > 2 * days_of_stock("饮料", "2026-10-31")


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    def frame(seed, name):
        engine = store.get_engine(f"duckdb:///{tmp_path / name}")
        demo.build(engine, rows=3_000, seed=seed, as_of=DEMO_AS_OF)
        with engine.connect() as conn:
            out = {t: pd.read_sql(f"SELECT * FROM {t} ORDER BY ALL", conn)
                   for t in ("sales_line", "journal_line", "ar_invoice", "inventory_snapshot", "budget_line")}
        engine.dispose()
        return out
    a, b, c = frame(1, "a.duckdb"), frame(1, "b.duckdb"), frame(2, "c.duckdb")
    for t in a:
        pd.testing.assert_frame_equal(a[t], b[t])
    assert not a["sales_line"].equals(c["sales_line"])


def test_scale_knob_gives_exactly_the_rows_asked_for(tmp_path):
    engine = store.get_engine(f"duckdb:///{tmp_path / 's.duckdb'}")
    result = demo.build(engine, rows=12_345, as_of=DEMO_AS_OF)
    assert result.rows["sales_line"] == 12_345 == store.row_counts(engine)["sales_line"]
    engine.dispose()


def test_rebuild_needs_replace_and_replaces_everything(empty_engine):
    demo.build(empty_engine, rows=2_000, as_of=DEMO_AS_OF)
    with pytest.raises(InvalidArgument, match="--replace"):
        demo.build(empty_engine, rows=3_000, as_of=DEMO_AS_OF)
    assert store.row_counts(empty_engine)["sales_line"] == 2_000
    demo.build(empty_engine, rows=3_000, as_of=DEMO_AS_OF, replace=True)
    counts = store.row_counts(empty_engine)
    assert counts["sales_line"] == 3_000 and counts["org_unit"] == 22


@pytest.mark.parametrize("rows", [0, 999, 60_000_000])
def test_rows_outside_the_range_are_refused(rows, tmp_path):
    engine = store.get_engine(f"duckdb:///{tmp_path / 'r.duckdb'}")
    with pytest.raises(InvalidArgument, match="--rows must be between"):
        demo.build(engine, rows=rows)
    assert not any(store.row_counts(engine).values())
    engine.dispose()


def test_filter_indexes_are_back_after_a_bulk_build(demo_engine):
    import sqlalchemy as sa
    with demo_engine.connect() as conn:
        names = {ix["name"] for t in ("sales_line", "journal_line") for ix in sa.inspect(conn).get_indexes(t)}
    if demo_engine.dialect.name == "duckdb":
        assert not names  # by design, see schema.FACT_INDEXES
    else:
        assert {"ix_sales_line_date", "ix_sales_line_unit", "ix_journal_line_acct"} <= names
