"""Imports into the store (both engines): the pilot file on an empty store, bad files leave the
store unchanged, re-import refused, replace, rollback restores the previous state exactly."""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.access import audit
from lib.access.scope import User
from lib.cli import ingest as ingest_cli
from lib.core import schema, store
from lib.core.errors import Forbidden
from lib.core.tables.ingest import import_member
from lib.ingest import batch as ingest
from lib.ingest import stream as ingest_stream
from lib.ingest import undo as ingest_undo
from tests.conftest import BACKENDS, _new_url
from tests.lib import ingest_files as F

ADMIN = User("tester", "admin")
FINANCE = User("fin", "finance")
VIEWER = User("viewer", "viewer")


def snapshot(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the sorted rows of every table an import touches."""
    tables = [*schema.CANONICAL_TABLES, schema.org_flat, schema.app_import_batch, import_member]
    out = {}
    with engine.connect() as conn:
        for t in tables:
            rows = sorted(tuple(str(v) for v in r) for r in conn.execute(sa.select(t)).all())
            out[t.name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def import_pilot(engine, folder, **kw) -> ingest.ImportResult:
    return ingest_stream.import_file(engine, ADMIN, F.pilot_csv(folder), "sales_line", create_missing=True, **kw)


@pytest.fixture(scope="module", params=BACKENDS)
def piloted(request, tmp_path_factory):
    """A store holding the pilot import (read-only for the tests that use it: only rejected imports run)."""
    engine = store.get_engine(_new_url(request.param, tmp_path_factory, request))
    store.init_schema(engine)
    folder = tmp_path_factory.mktemp("pilot")
    assert import_pilot(engine, folder).ok
    yield engine, folder
    engine.dispose()


def test_pilot_file_on_an_empty_store(empty_engine, tmp_path):
    store.init_schema(empty_engine)
    seen = []
    path = F.pilot_csv(tmp_path, [*F.ROWS, ",,,,,,合计,\"1,310\",,,\"3,325.00\",\"2,430.00\","])
    result = ingest_stream.import_file(empty_engine, ADMIN, path, "sales_line", create_missing=True,
                                progress=lambda n, f: seen.append(n))
    assert result.ok and result.rows == 4 and seen[-1] == 4, result.problems
    # the root 总公司, the region 未分区域 and the 2 departments the file's 部门 column names
    assert result.created == {"org_unit": 4, "customer": 2, "product": 3}
    with empty_engine.connect() as conn:
        sales = pd.read_sql(sa.select(schema.sales_line).order_by("order_date"), conn)
        orgs = pd.read_sql(sa.select(schema.org_flat), conn)
    sales["month"] = pd.to_datetime(sales["order_date"]).dt.strftime("%Y-%m")
    by_month = sales.groupby("month")[["net_revenue", "cost_amount"]].sum().astype(float)
    assert by_month["net_revenue"].to_dict() == F.PILOT_REVENUE
    assert by_month["cost_amount"].to_dict() == F.PILOT_COST
    assert float(sales["quantity"].sum()) == 1310
    assert sales["discount_amount"].astype(float).tolist() == [0, 5, 0, 0]
    assert set(sales["batch_id"]) == {result.batch_id}
    assert sorted(orgs["l2_name"].dropna()) == ["华东一部", "西部一部"]               # read as departments,
    assert set(orgs["l1_name"].dropna()) == {"未分区域"}                            # not as regions
    hist = ingest.history(empty_engine)
    assert hist.loc[0, ["table", "file", "rows", "status", "created_by"]].tolist() == [
        "sales_line", "pilot_sales.csv", 4, "committed", "tester"]
    assert hist.loc[0, "file_hash"] == hashlib.sha256(path.read_bytes()).hexdigest()
    logged = audit.entries(empty_engine, action="import")
    assert logged["target"].tolist() == ["sales_line:pilot_sales.csv"] and logged["username"].tolist() == ["tester"]


def test_reimport_refused_then_replaced_then_rolled_back_exactly(empty_engine, tmp_path):
    store.init_schema(empty_engine)
    before = snapshot(empty_engine)
    first = import_pilot(empty_engine, tmp_path)
    after_first = snapshot(empty_engine)
    again = import_pilot(empty_engine, tmp_path)
    assert not again.ok and "already imported as batch" in again.problems["problem_en"].iloc[0]
    assert snapshot(empty_engine) == after_first
    # The page path refuses it too, before anything else.
    raw = ingest.read_file(F.pilot_csv(tmp_path), "pilot_sales.csv")
    prepared = ingest.prepare(empty_engine, raw, "sales_line", ingest.suggest_mapping(raw, "sales_line"))
    assert prepared.previous_batch == first.batch_id
    with pytest.raises(ingest.ImportRejected, match="already imported"):
        ingest.commit(empty_engine, ADMIN, prepared, filename="pilot_sales.csv", file_hash=raw.sha256)
    replaced = import_pilot(empty_engine, tmp_path, replace_batch=first.batch_id)
    assert replaced.ok, replaced.problems
    hist = ingest.history(empty_engine).set_index("batch_id")
    assert hist.loc[first.batch_id, "status"] == "replaced"
    assert store.row_counts(empty_engine)["sales_line"] == 4
    assert ingest_undo.rollback(empty_engine, FINANCE, replaced.batch_id) == 4
    assert snapshot(empty_engine) | {"app_import_batch": None} == before | {"app_import_batch": None}
    assert ingest.history(empty_engine).set_index("batch_id").loc[replaced.batch_id, "status"] == "rolled_back"
    with pytest.raises(ingest.ImportRejected, match="rolled_back"):
        ingest_undo.rollback(empty_engine, ADMIN, replaced.batch_id)
    # A rolled-back file may be imported again.
    assert import_pilot(empty_engine, tmp_path).ok


def test_rollback_refused_while_a_later_import_uses_its_members(empty_engine, tmp_path):
    store.init_schema(empty_engine)
    first = import_pilot(empty_engine, tmp_path)
    later = ingest_stream.import_file(empty_engine, ADMIN, F.pilot_csv(tmp_path, [F.ROWS[0].replace("SO-1", "SO-9")], "more.csv"),
                               "sales_line")
    assert later.ok, later.problems
    state = snapshot(empty_engine)
    with pytest.raises(ingest.ImportRejected, match="still uses"):
        ingest_undo.rollback(empty_engine, ADMIN, first.batch_id)
    assert snapshot(empty_engine) == state
    assert ingest_undo.rollback(empty_engine, ADMIN, later.batch_id) == 1
    assert ingest_undo.rollback(empty_engine, ADMIN, first.batch_id) == 4
    assert not any(store.row_counts(empty_engine).values())


@pytest.mark.parametrize("name,rows,kind,column", F.BAD_FILES, ids=[b[0] for b in F.BAD_FILES])
def test_bad_file_reports_and_leaves_the_store_unchanged(piloted, tmp_path, name, rows, kind, column):
    engine, _ = piloted
    before = snapshot(engine)
    path = F.pilot_csv(tmp_path, rows, f"{name}.csv")
    result = ingest_stream.import_file(engine, ADMIN, path, "sales_line")   # no --create-missing
    assert not result.ok and result.batch_id is None
    assert snapshot(engine) == before
    hits = result.problems[result.problems["kind"] == kind]
    assert len(hits) >= 1, result.problems
    assert hits["column"].iloc[0] == column
    assert hits["row"].iloc[0] == 4 or kind == "DUPLICATE_FILE"   # the spreadsheet row after 2 titles and the header
    report = ingest.problems_report(result, "zh")
    assert report.startswith(b"\xef\xbb\xbf")
    assert pd.read_csv(io.BytesIO(report), encoding="utf-8-sig").columns.tolist() == ["行号", "列", "值", "问题"]


def test_store_duplicates_and_the_page_path(piloted, tmp_path):
    engine, _ = piloted
    before = snapshot(engine)
    rows = [F.ROWS[3]]   # SO-3/1 is in the store already; a different file, so a key clash, not a re-import
    raw = ingest.read_file(F.pilot_csv(tmp_path, rows, "dup.csv"), "dup.csv")
    prepared = ingest.prepare(engine, raw, "sales_line", ingest.suggest_mapping(raw, "sales_line"))
    assert not prepared.ok and prepared.problems["kind"].tolist() == ["DUPLICATE_STORE"]
    assert "SO-3" in prepared.problems["value"].iloc[0]
    with pytest.raises(ingest.ImportRejected):
        ingest.commit(engine, ADMIN, prepared, filename="dup.csv", file_hash=raw.sha256)
    xlsx = ingest.problems_report(prepared, "en", fmt="xlsx")
    assert pd.read_excel(io.BytesIO(xlsx)).columns.tolist() == ["row", "column", "value", "problem"]
    assert snapshot(engine) == before


def test_missing_columns_and_permissions(piloted, tmp_path):
    engine, _ = piloted
    before = snapshot(engine)
    path = tmp_path / "nocost.csv"
    path.write_text("日期,客户,产品,部门,数量,金额\n2024-03-05,甲超市,P01,华东一部,1,2.5\n", encoding="utf-8")
    result = ingest_stream.import_file(engine, ADMIN, path, "sales_line")
    assert result.problems["kind"].tolist() == ["MISSING_COLUMN"]
    assert "Cost amount" in result.problems["problem_en"].iloc[0]
    short = F.pilot_csv(tmp_path, [F.ROWS[0], "2024-03-07,SO-8,1,华东一部"], "short.csv")   # a row cut short
    result = ingest_stream.import_file(engine, ADMIN, short, "sales_line")
    assert result.problems["kind"].tolist() == ["MALFORMED"] and "13 expected" in result.problems["problem_en"].iloc[0]
    with pytest.raises(Forbidden):
        ingest_stream.import_file(engine, VIEWER, F.pilot_csv(tmp_path), "sales_line")
    with pytest.raises(Forbidden):
        ingest_undo.rollback(engine, VIEWER, 1)
    assert snapshot(engine) == before


def test_xlsx_second_sheet_with_tax_inclusive_prices(empty_engine, tmp_path):
    store.init_schema(empty_engine)
    path = F.two_sheet_xlsx(tmp_path)
    raw = ingest.read_file(path, path.name, sheet="销售")
    assert raw.sheets == ("说明", "销售") and raw.header_row == 1
    mapping = ingest.suggest_mapping(raw, "sales_line")
    opts = ingest.ImportOptions(prices_include_tax=True, tax_rate=0.25)
    prepared = ingest.prepare(empty_engine, raw, "sales_line", mapping, create_missing=True, options=opts)
    assert prepared.ok, prepared.problems
    # 125 incl. 25 % tax -> 100 net, price 2.5 -> 2.0; 60 -> 48, price 3 -> 2.4
    assert prepared.frame["net_revenue"].tolist() == [100.0, 48.0]
    assert prepared.frame["list_price"].tolist() == [2.0, 2.4]
    assert prepared.frame["order_date"].astype(str).tolist() == ["2024-04-10", "2024-04-11"]
    batch = ingest.commit(empty_engine, FINANCE, prepared, filename=path.name, file_hash=raw.sha256)
    assert store.row_counts(empty_engine)["sales_line"] == 2 and batch == 1


def test_other_tables(empty_engine, tmp_path):
    """Dimension files, then GL (debit/credit), budget, AR and inventory files that use them."""
    store.init_schema(empty_engine)

    def run(table, text, **kw):
        path = tmp_path / f"{table}.csv"
        path.write_text(text, encoding="utf-8-sig")
        result = ingest_stream.import_file(empty_engine, ADMIN, path, table, **kw)
        assert result.ok, result.problems.to_string()
        return result

    run("org_unit", "组织编码,组织名称,上级组织,组织类型\nHQ,总公司,,公司\nE,华东大区,HQ,区域\nE1,上海部,E,部门\n")
    run("account", "科目编码,科目名称,上级科目\n6001,主营业务收入,\n6601,销售费用,\n660101,广告费,6601\n")
    run("product", "存货编码,存货名称,存货分类\nP01,矿泉水,饮料\n")
    run("customer", "客户编码,客户名称,归属部门,信用天数\nC1,甲超市,上海部,30\n")
    run("journal_line", "凭证号,日期,科目编码,部门,借方金额,贷方金额,摘要\n"
                        "J1,2025-01-31,660101,上海部,\"1,200.00\",,广告\nJ1,2025-01-31,6001,上海部,,\"5,000\",收入\n")
    with empty_engine.begin() as conn:
        conn.execute(schema.budget_version.insert().values(id=1, name="2025预算", kind="budget", fiscal_year=2025,
                                                           status="draft"))
    run("budget_line", "期间,部门,科目,预算金额\n2025年1月,E1,660101,1000\n2025-02,E1,660101,\"（1,000）\"\n",
        options=ingest.ImportOptions(budget_version="2025预算"))
    run("ar_invoice", "发票号,客户编码,部门,开票日期,到期日,发票金额,已收金额\nI1,C1,E1,2025-01-05,2025-02-04,100,40\n")
    run("inventory_snapshot", "期末日期,存货编码,仓库,结存数量,结存金额\n2025-01-31,P01,E1,10,25\n")
    with empty_engine.connect() as conn:
        gl = dict(conn.execute(sa.select(schema.journal_line.c.account_code, schema.journal_line.c.amount)).all())
        budget = [float(v) for v in conn.execute(sa.select(schema.budget_line.c.amount).order_by("period")).scalars()]
        org = {r.code: r.parent_id for r in conn.execute(sa.select(schema.org_unit))}
        kinds = {r.code: r.kind for r in conn.execute(sa.select(schema.org_unit))}
        flat = {r.org_unit_id: r.l1_name for r in conn.execute(sa.select(schema.org_flat))}
        cust_org = conn.execute(sa.select(schema.customer.c.org_unit_id)).scalar_one()
    assert {k: float(v) for k, v in gl.items()} == {"660101": 1200.0, "6001": 5000.0}  # natural signs
    assert budget == [1000.0, -1000.0]
    assert org["E1"] == 3 - 1 and org["HQ"] is None and kinds == {"HQ": "company", "E": "region", "E1": "department"}
    assert flat[3] == "华东大区" and cust_org == 3
    sales = tmp_path / "sales_e2.csv"
    sales.write_text("日期,客户编码,存货编码,部门,数量,无税金额,成本金额\n2025-01-03,C1,P01,杭州部,1,10,6\n", encoding="utf-8")
    new_unit = ingest_stream.import_file(empty_engine, ADMIN, sales, "sales_line", create_missing=True,
                                  options=ingest.ImportOptions(org_parent="华东大区"))
    assert new_unit.ok and new_unit.created == {"org_unit": 1}, new_unit.problems
    with empty_engine.connect() as conn:
        unit = conn.execute(sa.select(schema.org_unit).where(schema.org_unit.c.name == "杭州部")).one()
        l1 = conn.execute(sa.select(schema.org_flat.c.l1_name).where(schema.org_flat.c.org_unit_id == unit.id)).scalar()
    assert unit.parent_id == 2 and unit.kind == "department" and l1 == "华东大区"
    assert ingest_undo.rollback(empty_engine, ADMIN, new_unit.batch_id) == 1
    hist = ingest.history(empty_engine).set_index("table")["batch_id"]
    with pytest.raises(ingest.ImportRejected, match="ar_invoice still uses"):
        ingest_undo.rollback(empty_engine, ADMIN, int(hist["customer"]))
    assert ingest_undo.rollback(empty_engine, ADMIN, int(hist["ar_invoice"])) == 1
    assert ingest_undo.rollback(empty_engine, ADMIN, int(hist["customer"])) == 1
    assert store.row_counts(empty_engine)["customer"] == 0


def test_streaming_in_chunks_matches_reading_at_once(empty_engine, tmp_path):
    store.init_schema(empty_engine)
    path = F.big_sales_csv(tmp_path / "big.csv", rows=3000, customers=50, products=20, units=3)
    progress = []
    result = ingest_stream.import_file(empty_engine, ADMIN, path, "sales_line", create_missing=True, chunk_rows=700,
                                progress=lambda n, f: progress.append((n, f)))
    assert result.ok, result.problems
    assert [n for n, _ in progress] == [700, 1400, 2100, 2800, 3000]
    assert all(0 < f <= 1 for _, f in progress)
    frame = pd.read_csv(path, encoding="gbk")
    with empty_engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(schema.sales_line.c.net_revenue),
                                       sa.func.count(sa.distinct(schema.sales_line.c.customer_id)))).one()
    assert float(total[0]) == pytest.approx(frame["无税金额"].sum(), abs=0.01)
    assert total[1] == frame["客户名称"].nunique()
    # A bad cell in the last chunk: nothing of the earlier chunks stays.
    before = snapshot(empty_engine)
    text = path.read_bytes().decode("gbk").replace("SO00000999,3", "SO00000999,x")
    bad = tmp_path / "bad_last.csv"
    bad.write_bytes(text.encode("gbk"))
    rejected = ingest_stream.import_file(empty_engine, ADMIN, bad, "sales_line", create_missing=True, chunk_rows=700)
    assert not rejected.ok and snapshot(empty_engine) == before


def _cli(argv: list[str], engine) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    ingest_cli.add_parser(sub)
    return ingest_cli.main(p.parse_args(argv), engine)


def test_cli_exit_codes(empty_engine, tmp_path, capsys):
    store.init_schema(empty_engine)
    bad = F.pilot_csv(tmp_path, [F.replace_cell(F.ROWS[0], "数量", "abc")], "bad.csv")
    assert _cli(["import", str(bad), "--table", "sales_line", "--create-missing"], empty_engine) == 2
    out = capsys.readouterr().out
    assert "REJECTED" in out and f"problem report: {bad}.problems.csv" in out
    assert (tmp_path / "bad.csv.problems.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    good = F.pilot_csv(tmp_path)
    assert _cli(["import", str(good), "--table", "sales_line", "--create-missing", "--dry-run"], empty_engine) == 0
    assert store.row_counts(empty_engine)["sales_line"] == 0
    assert _cli(["import", str(good), "--table", "sales_line", "--create-missing"], empty_engine) == 0
    assert "imported as batch 1" in capsys.readouterr().out
    assert _cli(["import", str(good), "--table", "sales_line"], empty_engine) == 2
    assert _cli(["imports", "list"], empty_engine) == 0
    assert _cli(["imports", "rollback", "1"], empty_engine) == 0
    assert store.row_counts(empty_engine)["sales_line"] == 0


def test_tax_rate_column_and_gross_amounts(piloted, tmp_path):
    engine, _ = piloted
    text = ("日期,客户名称,存货编码,部门,数量,含税单价,价税合计,税率,成本金额\n"
            "2024-05-01,甲超市,P01,华东一部,10,11.30,113.00,13%,60\n"      # 113 / 1.13 = 100; price 10
            "2024-05-02,甲超市,P01,华东一部,4,10.60,42.40,6,20\n")           # a rate written as 6 means 6 %
    raw = ingest.read_file(text.encode("utf-8"), "tax.csv")
    mapping = ingest.suggest_mapping(raw, "sales_line")
    assert {mapping.source(k) for k in ("price_incl_tax", "amount_incl_tax", "tax_rate")} == {"含税单价", "价税合计", "税率"}
    prepared = ingest.prepare(engine, raw, "sales_line", mapping)
    assert prepared.ok, prepared.problems
    assert prepared.frame["net_revenue"].tolist() == [100.0, 40.0]
    assert prepared.frame["list_price"].tolist() == [10.0, 10.0]
    assert prepared.frame["order_no"].str.startswith(raw.sha256[:8]).all()   # no order column: generated keys


def test_demo_batch_is_not_rolled_back(empty_engine):
    store.init_schema(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(schema.app_import_batch.insert().values(id=1, kind="demo", source="lib.demo", row_count=0,
                                                             created_at=dt.datetime(2026, 1, 1), created_by="system"))
    with pytest.raises(ingest.ImportRejected, match="demo --replace"):
        ingest_undo.rollback(empty_engine, ADMIN, 1)
    with pytest.raises(ingest.ImportRejected, match="No import batch 7"):
        ingest_undo.rollback(empty_engine, ADMIN, 7)


def test_budget_lines_only_go_into_and_leave_a_draft_version(empty_engine, tmp_path):
    """Approved versions are what the budget metric reports: an import can't change them, nor can a rollback."""
    store.init_schema(empty_engine)
    for table, text in (("org_unit", "组织编码,组织名称,上级组织,组织类型\nHQ,总公司,,公司\nE1,上海部,HQ,部门\n"),
                        ("account", "科目编码,科目名称,上级科目\n660101,广告费,\n")):
        (tmp_path / f"{table}.csv").write_text(text, encoding="utf-8")
        assert ingest_stream.import_file(empty_engine, ADMIN, tmp_path / f"{table}.csv", table).ok
    with empty_engine.begin() as conn:
        for vid, name, status in ((1, "2025预算", "approved"), (2, "2025草稿", "draft")):
            conn.execute(schema.budget_version.insert().values(id=vid, name=name, kind="budget", fiscal_year=2025,
                                                               status=status))
    path = tmp_path / "budget.csv"
    path.write_text("期间,部门,科目,预算金额\n2025-01,E1,660101,1000\n", encoding="utf-8")
    refused = ingest_stream.import_file(empty_engine, ADMIN, path, "budget_line", options=ingest.ImportOptions(budget_version="2025预算"))
    assert not refused.ok and "not a draft" in " ".join(refused.problems["problem_en"])
    assert store.row_counts(empty_engine)["budget_line"] == 0
    done = ingest_stream.import_file(empty_engine, ADMIN, path, "budget_line", options=ingest.ImportOptions(budget_version="2025草稿"))
    assert done.ok
    with empty_engine.begin() as conn:
        conn.execute(schema.budget_version.update().where(schema.budget_version.c.id == 2).values(status="approved"))
    with pytest.raises(ingest.ImportRejected, match="only a draft"):
        ingest_undo.rollback(empty_engine, ADMIN, done.batch_id)
    assert store.row_counts(empty_engine)["budget_line"] == 1
