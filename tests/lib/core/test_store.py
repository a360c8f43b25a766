"""Store: URL resolution, idempotent schema, migrations guard, locked-file message, bulk loads."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlalchemy as sa

from lib.core import clock, config, schema, store
from lib.core.errors import SchemaTooNew, StoreUnavailable


def test_schema_creation_is_idempotent(empty_engine):
    assert store.init_schema(empty_engine) == store.SCHEMA_VERSION
    assert store.init_schema(empty_engine) == store.SCHEMA_VERSION
    with empty_engine.connect() as conn:
        versions = conn.execute(sa.select(store.schema_version.c.version)).scalars().all()
        tables = set(sa.inspect(conn).get_table_names())
    assert versions == [m.version for m in store.MIGRATIONS]
    assert {t.name for t in schema.CANONICAL_TABLES} | {"app_import_batch", "app_schema_version"} <= tables
    assert set(store.row_counts(empty_engine).values()) == {0}


def test_server_databases_get_the_filter_indexes(empty_engine):
    store.init_schema(empty_engine)
    with empty_engine.connect() as conn:
        names = {ix["name"] for ix in sa.inspect(conn).get_indexes("sales_line")}
    if empty_engine.dialect.name == "duckdb":
        # By design: DuckDB prunes by zone maps; ART indexes would slow every bulk load.
        assert not names
        return
    assert {"ix_sales_line_date", "ix_sales_line_unit", "ix_sales_line_batch"} <= names


def test_a_store_from_a_newer_workbench_is_refused(empty_engine):
    store.init_schema(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(store.schema_version.insert().values(
            version=store.SCHEMA_VERSION + 1, description="from the future", applied_at=clock.now()))
    with pytest.raises(SchemaTooNew, match="newer than this workbench"):
        store.init_schema(empty_engine)


def test_check_constraints_reject_values_outside_the_enums(empty_engine):
    store.init_schema(empty_engine)
    with pytest.raises(sa.exc.DBAPIError):
        with empty_engine.begin() as conn:
            conn.execute(schema.account.insert().values(code="9999", name="x", type="assets"))


def test_every_table_and_column_has_zh_and_en_labels():
    for table in (*schema.CANONICAL_TABLES, schema.app_import_batch):
        assert table.info["label_zh"] and table.info["label_en"], table.name
        for column in table.c:
            assert column.info.get("label_zh") and column.info.get("label_en"), f"{table.name}.{column.name}"
    assert schema.label("sales_line", "net_revenue", "zh") == "净销售额"
    assert schema.label("sales_line", "net_revenue", "en") == "Net revenue"


def test_bulk_load_round_trips_dates_money_and_nulls(empty_engine):
    store.init_schema(empty_engine)
    data = pa.table({
        "invoice_no": ["A1", "A2"], "customer_id": [1, 2], "org_unit_id": [3, 3],
        "invoice_date": pa.array([dt.date(2025, 1, 31), dt.date(2025, 2, 28)]),
        "due_date": pa.array([dt.date(2025, 3, 2), dt.date(2025, 3, 30)]),
        "amount": [1234.56, 0.1], "paid_amount": [1234.56, 0.0],
        "paid_date": pa.array([dt.date(2025, 3, 1), None], type=pa.date32()),
    })
    with empty_engine.begin() as conn:
        assert store.bulk_load(conn, schema.ar_invoice, data) == 2
    with empty_engine.connect() as conn:
        rows = conn.execute(sa.select(schema.ar_invoice).order_by(schema.ar_invoice.c.invoice_no)).all()
    assert [str(r.amount) for r in rows] == ["1234.56", "0.10"]
    assert rows[0].paid_date == dt.date(2025, 3, 1) and rows[1].paid_date is None


def test_bulk_load_is_rolled_back_with_its_transaction(empty_engine):
    store.init_schema(empty_engine)
    data = pa.table({"code": ["6001"], "name": ["收入"], "type": ["revenue"]})
    with pytest.raises(RuntimeError):
        with empty_engine.begin() as conn:
            store.bulk_load(conn, schema.account, data)
            raise RuntimeError("a later step fails")
    assert store.row_counts(empty_engine)["account"] == 0


def test_bulk_load_refuses_unknown_columns(empty_engine):
    store.init_schema(empty_engine)
    with pytest.raises(ValueError, match="no columns"):
        with empty_engine.begin() as conn:
            store.bulk_load(conn, schema.account, pa.table({"code": ["1"], "colour": ["red"]}))


def test_store_url_comes_from_env_then_secrets_then_default(monkeypatch, tmp_path):
    secrets = tmp_path / "secrets.toml"
    monkeypatch.setattr(config, "SECRETS_FILE", secrets)
    monkeypatch.delenv("WORKBENCH_DB_URL", raising=False)
    assert config.store_url() == f"duckdb:///{config.ROOT / 'data' / 'workbench.duckdb'}"
    secrets.write_text('[store]\nurl = "postgresql+psycopg://u@h/db"\n', encoding="utf-8")
    assert config.store_url() == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("WORKBENCH_DB_URL", "duckdb:///:memory:")
    assert config.store_url() == "duckdb:///:memory:"


def test_bad_url_is_a_clear_error():
    with pytest.raises(StoreUnavailable, match="not a valid SQLAlchemy URL"):
        store.get_engine("not a url")
    with pytest.raises(StoreUnavailable, match="Cannot open the store"):
        store.get_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_a_duckdb_file_held_by_another_process_gets_advice(duckdb_held_by_another_process):
    path, pid = duckdb_held_by_another_process
    with pytest.raises(StoreUnavailable) as err:
        store.get_engine(f"duckdb:///{path}")
    assert f"process {pid}" in str(err.value)
    assert "stop that process" in str(err.value)
    assert "另一个进程" in err.value.message("zh")


def test_a_store_from_an_older_version_is_migrated_in_place(empty_engine, monkeypatch):
    # Build the store as version 1 of the workbench would have, with an org tree in it ...
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:1])
    monkeypatch.setattr(store, "SCHEMA_VERSION", 1)
    assert store.init_schema(empty_engine) == 1
    with empty_engine.begin() as conn:
        conn.execute(schema.org_unit.insert(), [
            {"id": 1, "code": "C", "name": "公司", "parent_id": None, "kind": "company"},
            {"id": 2, "code": "R", "name": "华东大区", "parent_id": 1, "kind": "region"},
            {"id": 3, "code": "D", "name": "华东经销部", "parent_id": 2, "kind": "department"}])
    monkeypatch.undo()
    # ... then open it with this one: the later migrations run and derive what they need.
    assert store.init_schema(empty_engine) == store.SCHEMA_VERSION
    with empty_engine.connect() as conn:
        flat = {r.org_unit_id: (r.l1_name, r.l2_name) for r in conn.execute(sa.select(schema.org_flat))}
        assert sa.inspect(conn).has_table("app_metric_version")
    assert flat == {1: (None, None), 2: ("华东大区", None), 3: ("华东大区", "华东经销部")}
