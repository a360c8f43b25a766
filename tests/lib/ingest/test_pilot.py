"""The pilot path on an empty store: one small sales file ticks the steps, and margins are the hand-computed ones."""
from __future__ import annotations

import pytest

from lib.access import auth
from lib.core import store
from lib.core.errors import InvalidArgument
from lib.ingest import batch as ingest
from lib.ingest import pilot
from lib.ingest.pilot import Step
from lib.semantic import query
from lib.semantic.spec import QuerySpec

HEADER = "销售日期,订单号,行号,部门,客户名称,存货名称,数量,无税单价,折扣额,无税金额,成本金额"
# By hand (net = quantity × price − discount):
#   September: A/1 甲 矿泉水 10 × 3 − 0 = 30, cost 18 | A/2 甲 可乐 5 × 4 − 2 = 18, cost 10 | B/1 乙 矿泉水 20 × 3 = 60, cost 42
#   October:   C/1 乙 可乐 10 × 4 − 0 = 40, cost 22
#   矿泉水: revenue 90, cost 60, GP 30, GM 1/3;   可乐: revenue 58, cost 32, GP 26, GM 26/58
#   甲: revenue 48, cost 28, GP 20;                乙: revenue 100, cost 64, GP 36
SEPTEMBER = ["2026-09-03,A,1,试点部,甲,矿泉水,10,3,0,30,18", "2026-09-03,A,2,试点部,甲,可乐,5,4,2,18,10",
             "2026-09-20,B,1,试点部,乙,矿泉水,20,3,0,60,42"]
OCTOBER = ["2026-10-08,C,1,试点部,乙,可乐,10,4,0,40,22"]


def _import(engine, user, rows: list[str], name: str) -> int:
    raw = ingest.read_file("\n".join([HEADER, *rows]).encode("utf-8"), name)
    prepared = ingest.prepare(engine, raw, "sales_line", ingest.suggest_mapping(raw, "sales_line"), create_missing=True)
    assert prepared.ok, prepared.problems
    return ingest.commit(engine, user, prepared, filename=name, file_hash=raw.sha256)


@pytest.fixture
def pilot_engine(empty_engine):
    store.init_schema(empty_engine)
    auth.add_user(empty_engine, "fin", "finance", "finance-pass-123")
    return empty_engine


def test_checklist_from_empty_store_to_bridge(pilot_engine):
    e = pilot_engine
    run = lambda spec: query.run(e, spec)  # noqa: E731
    empty = pilot.checklist(run, store.row_counts(e))
    assert [s.done for s in empty.steps] == [False, False, False] and empty.next_step.step is Step.IMPORT_SALES
    assert {m.page: m.tables for m in pilot.missing_data(e)} == {
        "overview": ("sales_line", "journal_line"), "explore": ("sales_line",), "margin": ("sales_line",),
        "budget": ("budget_line", "journal_line"), "receivables": ("ar_invoice",), "inventory": ("inventory_snapshot",)}

    fin = auth.load_user(e, "fin")
    _import(e, fin, SEPTEMBER, "sep.csv")
    one = pilot.checklist(run, store.row_counts(e))
    assert [s.done for s in one.steps] == [True, True, False] and one.sales_months == 1
    assert one.next_step.step is Step.BRIDGE and one.next_step.page == "pages/margin.py"
    # Works with the one file: margin needs nothing else; pages that need GL or budget say so.
    missing = {m.page: m.tables for m in pilot.missing_data(e)}
    assert "margin" not in missing and "explore" not in missing
    assert missing["overview"] == ("journal_line",) and missing["budget"] == ("budget_line", "journal_line")

    by_product = query.run(e, QuerySpec(("revenue", "cogs", "gross_profit", "gross_margin"), ("product",)))
    got = {r.product: (r.revenue, r.cogs, r.gross_profit, round(r.gross_margin, 6)) for r in by_product.itertuples()}
    assert got == {"矿泉水": (90.0, 60.0, 30.0, round(30 / 90, 6)), "可乐": (18.0, 10.0, 8.0, round(8 / 18, 6))}
    by_customer = query.run(e, QuerySpec(("gross_profit",), ("customer",)))
    assert dict(zip(by_customer["customer"], by_customer["gross_profit"])) == {"甲": 20.0, "乙": 18.0}

    _import(e, fin, OCTOBER, "oct.csv")
    two = pilot.checklist(run, store.row_counts(e))
    assert two.done and two.steps[2].months == ("2026-09", "2026-10") and two.next_step is None
    by_product = query.run(e, QuerySpec(("gross_profit", "gross_margin"), ("product",)))
    got = {r.product: (r.gross_profit, round(r.gross_margin, 6)) for r in by_product.itertuples()}
    assert got == {"矿泉水": (30.0, round(30 / 90, 6)), "可乐": (26.0, round(26 / 58, 6))}

    no_cost = pilot.checklist(run, store.row_counts(e), allowed=lambda m: m != "cogs")
    assert [(s.done, s.blocked) for s in no_cost.steps] == [(True, False), (False, True), (False, True)]
    assert no_cost.next_step is None


def test_missing_for_is_per_page():
    counts = {"sales_line": 5, "product": 1, "customer": 1, "journal_line": 0}
    assert pilot.missing_for(counts, ("margin",)) == []
    assert pilot.missing_for(counts, ("overview", "budget")) == [
        pilot.Missing("overview", ("journal_line",)), pilot.Missing("budget", ("budget_line", "journal_line"))]


def test_a_files_departments_are_read_as_departments_not_regions(pilot_engine):
    """A pilot file's 部门 column on an empty store: the units are departments, under the region 未分区域 (the org
    levels are by depth, so right under the company they would have been read as 区域)."""
    e, fin = pilot_engine, auth.load_user(pilot_engine, "fin")
    raw = ingest.read_file("\n".join([HEADER, *SEPTEMBER]).encode("utf-8"), "sep.csv")
    prepared = ingest.prepare(e, raw, "sales_line", ingest.suggest_mapping(raw, "sales_line"), create_missing=True)
    assert prepared.ok, prepared.problems
    placed = ingest.new_org_units(e, prepared)
    assert placed.to_dict("records") == [{"name": "总公司", "level": "公司", "parent": "—"},
                                         {"name": "未分区域", "level": "区域", "parent": "总公司"},
                                         {"name": "试点部", "level": "部门/门店", "parent": "未分区域"}]
    ingest.commit(e, fin, prepared, filename="sep.csv", file_hash=raw.sha256)
    by_dept = query.run(e, QuerySpec(("revenue",), ("region", "department")))
    assert by_dept.to_dict("records") == [{"region": "未分区域", "department": "试点部", "revenue": 108.0}]
    # the next file's new store goes under the same region; its header names the level
    raw = ingest.read_file("\n".join([HEADER.replace("部门", "门店"), *[r.replace("试点部", "试点店") for r in OCTOBER]])
                           .encode("utf-8"), "oct.csv")
    prepared = ingest.prepare(e, raw, "sales_line", ingest.suggest_mapping(raw, "sales_line"), create_missing=True)
    assert ingest.new_org_units(e, prepared, "en").to_dict("records") == [
        {"name": "试点店", "level": "department / store", "parent": "未分区域"}]
    assert prepared.new_members["org_unit"][0]["kind"] == "store"


def test_new_units_go_where_the_user_says(pilot_engine):
    e = pilot_engine
    raw = ingest.read_file("\n".join([HEADER, *SEPTEMBER]).encode("utf-8"), "sep.csv")
    mapping = ingest.suggest_mapping(raw, "sales_line")
    as_regions = ingest.prepare(e, raw, "sales_line", mapping, create_missing=True,
                                options=ingest.ImportOptions(new_org_kind="region"))
    assert ingest.new_org_units(e, as_regions)["level"].tolist() == ["公司", "区域"]   # no 未分区域 in between
    with pytest.raises(InvalidArgument, match="Unknown org unit kind .team."):
        ingest.prepare(e, raw, "sales_line", mapping, create_missing=True,
                       options=ingest.ImportOptions(new_org_kind="team"))
