"""The Data page (数据接入): upload through AppTest's file_uploader, map, check, preview, confirm; history and roles."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from lib.access import auth
from lib.core import schema, store
from lib.core.tables import sources as source_tables
from tests.pages.conftest import DEMO_PASSWORD, open_app

# A GBK export with a title row and Chinese headers. By hand: net = qty × price − discount;
# SO-9/1 = 3 × 100 − 0 = 300 (cost 180), SO-9/2 = 2 × 50 − 10 = 90 (cost 40); 390 revenue, 220 cost.
CSV = ("销售明细导出\r\n"
       "单据日期,订单号,行号,部门,客户名称,存货编码,存货名称,数量,无税单价,折扣额,无税金额,成本金额\r\n"
       "2026年10月5日,SO-9,1,试点一部,试点客户,PX1,试点产品,3,100.00,0,300.00,180.00\r\n"
       "2026/10/6,SO-9,2,试点一部,试点客户,PX2,试点产品二,2,50.00,10,90.00,40.00\r\n").encode("gbk")


@pytest.fixture
def data_url(empty_url):
    """An empty store with a root unit, a finance user and a viewer: the state a pilot team starts from."""
    engine = store.get_engine(empty_url)
    store.init_schema(engine)
    with engine.begin() as conn:
        source_tables.create_tables(conn)  # until migration 8 is in lib/core/store.py
        conn.execute(schema.org_unit.insert().values(id=1, code="HQ", name="总部", kind="company"))
        store.refresh_org_flat(conn)
    auth.add_user(engine, "demo_finance", "finance", DEMO_PASSWORD)
    auth.add_user(engine, "demo_viewer", "viewer", DEMO_PASSWORD, orgs=["HQ"])
    engine.dispose()
    return empty_url


def _two_sheets() -> bytes:
    import io

    import openpyxl
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表由 ERP 导出"])
    ws = wb.create_sheet("销售")
    ws.append(["销售日期", "订单号", "客户名称", "存货名称", "数量", "无税金额", "成本金额"])
    ws.append(["2026-10-05", "X-1", "甲", "乙", 1, 10, 6])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _frame(at, column: str):
    """The first dataframe on the page with ``column`` (AppTest finds dataframes by position, not key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _sales(url: str, order_no: str) -> list[tuple]:
    engine = store.get_engine(url)
    s = schema.sales_line.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(s.line_no, s.quantity, s.net_revenue, s.cost_amount, s.batch_id)
                            .where(s.order_no == order_no).order_by(s.line_no)).all()
    engine.dispose()
    return [(r[0], float(r[1]), float(r[2]), float(r[3]), r[4]) for r in rows]


def test_upload_map_preview_confirm(monkeypatch, data_url):
    at = open_app(monkeypatch, data_url, "demo_finance")
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="data_table").value == "sales_line"
    # A workbook whose data is on its second sheet: choosing the sheet re-reads and re-suggests.
    at.file_uploader(key="data_upload").set_value(("销售.xlsx", _two_sheets(), "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="data_sheet").options == ["说明", "销售"]
    at.selectbox(key="data_sheet").set_value("销售").run()
    assert at.selectbox(key="data_map_order_date").value == "销售日期"
    at.file_uploader(key="data_upload").set_value(("销售.csv", CSV, "text/csv")).run()
    assert not at.exception, at.exception
    assert any("gbk" in c.value.lower() or "gb18030" in c.value.lower() for c in at.caption)
    # Suggested from the Chinese headers; the file's 部门 is the sales unit.
    assert at.selectbox(key="data_map_order_date").value == "单据日期"
    assert at.selectbox(key="data_map_net_revenue").value == "无税金额"
    assert at.selectbox(key="data_map_cost_amount").value == "成本金额"
    assert at.selectbox(key="data_map_org_unit").value == "部门"

    at.button(key="data_check").click().run()  # unknown unit, customer, products: refused, listed
    assert not at.exception, at.exception
    assert at.error and at.get("download_button")
    assert _sales(data_url, "SO-9") == []

    at.checkbox(key="data_create_missing").check().run()
    at.button(key="data_check").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    preview = _frame(at, "net_revenue")
    assert list(preview["net_revenue"].astype(float)) == [300.0, 90.0]
    assert _sales(data_url, "SO-9") == []  # checking writes nothing
    # where the new unit lands, said before the commit: a department (the file's 部门), not a region
    units = _frame(at, "层级")
    assert units.to_dict("records") == [{"组织": "未分区域", "层级": "区域", "上级": "总部"},
                                        {"组织": "试点一部", "层级": "部门/门店", "上级": "未分区域"}]
    at.selectbox(key="data_org_kind").set_value("region").run()  # or, if the file's units are regions, say so
    at.button(key="data_check").click().run()
    assert _frame(at, "层级").to_dict("records") == [{"组织": "试点一部", "层级": "区域", "上级": "总部"}]
    at.selectbox(key="data_org_kind").set_value("").run()
    at.button(key="data_check").click().run()

    at.button(key="data_commit").click().run()
    assert not at.exception, at.exception
    assert at.success, "no confirmation shown"
    rows = _sales(data_url, "SO-9")
    assert [r[:4] for r in rows] == [(1, 3.0, 300.0, 180.0), (2, 2.0, 90.0, 40.0)]
    batch = rows[0][4]
    assert batch is not None and str(batch) in at.success[0].value

    # The pilot's question, answered on the margin page from this one file. By hand: 试点产品 300 − 180 = 120,
    # 120 / 300 = 40.0 %; 试点产品二 90 − 40 = 50, 50 / 90 = 55.6 %.
    at.switch_page("pages/margin.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="margin_dim").set_value("product").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    margins = _frame(at, "毛利率（%）")
    assert dict(zip(margins.iloc[:, 0], margins["毛利（元）"])) == {"试点产品": 120.0, "试点产品二": 50.0}
    assert dict(zip(margins.iloc[:, 0], margins["毛利率（%）"])) == {"试点产品": 40.0, "试点产品二": 55.6}

    at.switch_page("pages/data.py").run()  # the history lists the batch; rollback asks first, then undoes it
    assert batch in _frame(at, "batch_id")["batch_id"].tolist()
    at.selectbox(key="data_rb_batch").set_value(batch).run()
    at.button(key="data_rb").click().run()
    assert at.warning and _sales(data_url, "SO-9")
    at.button(key="data_rb_confirm").click().run()
    assert not at.exception, at.exception
    assert _sales(data_url, "SO-9") == []


VISITS = "日期,城市,客流\n2026-10-01,上海,120\n2026-10-02,北京,80\n".encode()


def test_a_file_as_is_becomes_a_dataset(monkeypatch, data_url):
    at = open_app(monkeypatch, data_url, "demo_finance")
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data_ext_upload").set_value(("visits.csv", VISITS, "text/csv")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="data_ext_role_c1").value == "time"
    assert at.selectbox(key="data_ext_role_c3").value == "measure"
    at.selectbox(key="data_ext_role_c2").set_value("ignore")
    at.text_input(key="data_ext_name").input("store visits")
    at.text_input(key="data_ext_label").input("门店客流")
    at.button(key="data_ext_import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "ext_store_visits" in at.success[0].value
    engine = store.get_engine(data_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(c3) FROM ext_store_visits")).scalar_one() == 200
    from lib.semantic import datasets as datasets_registry
    [ds] = datasets_registry.registered(engine)
    engine.dispose()
    assert (ds.label_zh, ds.time_column, [c.role.value for c in ds.columns]) == ("门店客流", "c1",
                                                                                 ["time", "ignore", "measure"])

    # A viewer is told they can't import and sees no store-wide history, sources or control at all.
    at = open_app(monkeypatch, data_url, "demo_viewer", lang="en")
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    assert at.info and "import permission" in at.info[0].value
    assert not at.tabs and not at.dataframe
    keys = {w.key for w in at.button} | {w.key for w in at.file_uploader}
    assert not {"data_upload", "data_ext_upload", "data_check", "data_commit", "data_rb", "data_src_save",
                "data_ext_drop_ext_store_visits"} & keys


PILOT_PROBE = """
import streamlit as st
from lib.access import auth
from pages import _shared as sh, _pilot


def home():
    state = _pilot.render()
    st.write("pilot-done" if state.done else "pilot-open")


st.session_state["_user"] = auth.load_user(sh.engine(), "demo_finance")
st.navigation([st.Page(home, title="home", default=True), st.Page("pages/data.py", url_path="data"),
               st.Page("pages/margin.py", url_path="margin")]).run()
"""


def test_pilot_checklist_renders_ticks(monkeypatch, data_url, tmp_path):
    """The checklist as the Overview shows it, from a probe app beside a link to pages/ (its links resolve
    against the entry script's folder); the log-in gate is skipped here, it is tested with app.py."""
    from streamlit.testing.v1 import AppTest

    from lib.access import auth
    from lib.core import config
    from lib.ingest import batch as ingest
    monkeypatch.setenv("WORKBENCH_DB_URL", data_url)
    (tmp_path / "pages").symlink_to(config.ROOT / "pages")
    (tmp_path / "probe.py").write_text(PILOT_PROBE, encoding="utf-8")
    at = AppTest.from_file(str(tmp_path / "probe.py"), default_timeout=60)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception, at.exception
    assert at.markdown[-1].value == "pilot-open"
    ticks = [m.value for m in at.markdown if "material/" in m.value]
    assert len(ticks) == 3 and not any(":material/check_circle:" in v for v in ticks), ticks

    engine = store.get_engine(data_url)  # one sales file of one month: steps 1 and 2 done
    raw = ingest.read_file(CSV, "sales.csv")
    prepared = ingest.prepare(engine, raw, "sales_line", ingest.suggest_mapping(raw, "sales_line"), create_missing=True)
    ingest.commit(engine, auth.load_user(engine, "demo_finance"), prepared, filename="sales.csv", file_hash=raw.sha256)
    engine.dispose()
    at.run()
    ticks = [m.value for m in at.markdown if "material/" in m.value]
    assert [":material/check_circle:" in v for v in ticks] == [True, True, False], ticks
    assert "needs two months of sales; 1 so far" in ticks[2]
    notes = " ".join(c.value for c in at.caption)
    assert "Budget & forecast needs budget lines, GL postings" in notes and "Margin analysis" not in notes


def test_a_database_source_is_registered_mapped_and_synced(monkeypatch, data_url, tmp_path):
    """The sources tab end to end, against a DuckDB file standing in for the ERP (the PostgreSQL ERP is
    tested in tests/lib/ingest/test_sources.py); the URL goes to a throw-away secrets.toml, never the store."""
    from lib.core import config
    monkeypatch.setattr(config, "SECRETS_FILE", tmp_path / "secrets.toml")
    monkeypatch.setenv("WORKBENCH_ALLOW_FILE_SOURCES", "1")
    erp_url = f"duckdb:///{tmp_path / 'erp.duckdb'}"
    erp = sa.create_engine(erp_url)
    with erp.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE so (单号 VARCHAR, 行 INT, 日期 DATE, 部门 VARCHAR, 客户 VARCHAR, 物料 VARCHAR, "
                             "数量 DECIMAL(12,3), 单价 DECIMAL(12,2), 金额 DECIMAL(12,2), 成本 DECIMAL(12,2), 版本 INT)")
        conn.exec_driver_sql("INSERT INTO so VALUES ('S1', 1, '2026-10-01', 'HQ', '客户甲', 'M1', 2, 10, 20, 12, 1), "
                             "('S1', 2, '2026-10-01', 'HQ', '客户甲', 'M2', 1, 5, 5, 3, 2)")
    erp.dispose()
    at = open_app(monkeypatch, data_url, "demo_finance")
    at.switch_page("pages/data.py").run()
    at.text_input(key="data_src_name").input("erp")
    at.text_input(key="data_src_url").input(erp_url)
    at.button(key="data_src_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "erp.duckdb" in (tmp_path / "secrets.toml").read_text(encoding="utf-8")

    at.selectbox(key="data_feed_target").set_value("sales_line")
    at.text_input(key="data_feed_table").input("so")
    at.text_input(key="data_feed_wm").input("版本")
    at.checkbox(key="data_feed_create").check()
    at.button(key="data_feed_preview").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    for field, col in {"order_no": "单号", "line_no": "行", "order_date": "日期", "org_unit": "部门", "customer": "客户",
                       "product": "物料", "quantity": "数量", "list_price": "单价", "net_revenue": "金额",
                       "cost_amount": "成本"}.items():
        at.selectbox(key=f"data_feed_map_{field}").set_value(col)
    at.button(key="data_feed_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="data_sync_erp_sales_line").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [r[:4] for r in _sales(data_url, "S1")] == [(1, 2.0, 20.0, 12.0), (2, 1.0, 5.0, 3.0)]
    at.button(key="data_sync_erp_sales_line").click().run()
    assert at.success and "没有新的" in at.success[0].value
