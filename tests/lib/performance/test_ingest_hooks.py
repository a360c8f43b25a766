"""Alerts follow the data: an import that breaches a rule opens an alert routed to the row's owner,
rolling the import back resolves it, and approving a budget re-evaluates, with no one pressing "evaluate"."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from lib.access.scope import User
from lib.core import clock, store
from lib.demo import build as demo
from lib.finance import budget_versions
from lib.ingest import stream as ingest_stream
from lib.ingest import undo as ingest_undo
from lib.performance.alerts import admin as alert_admin
from lib.performance.alerts import center as alerts
from lib.performance.alerts import rules as ar
from lib.performance.notify import outbox as notify
from tests.lib import ingest_files as F

ADMIN = User("tester", "admin")
RULE = "测试：区域单日收入过高"


def test_an_import_opens_an_alert_and_its_rollback_resolves_it(empty_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_BASE_URL", "https://bi.example.com/")   # links in messages leave the app
    engine = store.get_engine(empty_url)
    today = clock.today()                         # the hook evaluates as of today: the data must be recent
    demo.build(engine, rows=2_000, as_of=today)
    alert_admin.save_rule(engine, ADMIN, ar.Rule(RULE, ar.Kind.THRESHOLD, "revenue", 10_000_000.0,
                                                 dimension="region", window=ar.Window.DAY, op=ar.Op.ABOVE,
                                                 severity=ar.Severity.HIGH))
    with engine.connect() as conn:              # a real south-China department, customer and product
        dept, customer, sku, name = conn.execute(sa.text(
            "SELECT o.name, c.name, p.sku, p.name FROM org_unit o JOIN org_unit r ON r.id = o.parent_id "
            "JOIN customer c ON c.org_unit_id = o.id CROSS JOIN product p "
            "WHERE r.code = 'R20' ORDER BY o.id, c.id, p.id LIMIT 1")).one()
    yesterday = today - dt.timedelta(days=1)
    line = f"{yesterday:%Y-%m-%d},SO-BIG,1,{dept},{customer},{sku},{name},100000,200.00,0,20000000.00,12000000.00,13%"
    result = ingest_stream.import_file(engine, ADMIN, F.pilot_csv(tmp_path, [line]), "sales_line")
    assert result.ok, result.problems
    mine = lambda: alerts.alerts(engine, ADMIN, lang="zh").query("rule == @RULE")  # noqa: E731
    opened = mine()
    assert list(opened["unit"]) == ["华南大区"] and list(opened["status"]) == ["open"]
    assert opened["assignee"].iloc[0] == "demo_finance"    # nobody heads 华南 in the demo: finance gets it
    mail = notify.outbox(engine).query("ref == @ref", local_dict={"ref": f"alert:{opened['id'].iloc[0]}"})
    assert list(mail["recipient"]) == ["demo.finance@yecai.example"]
    assert "华南大区" in mail["body"].iloc[0] and "\nhttps://bi.example.com/explore?" in mail["body"].iloc[0]
    ingest_undo.rollback(engine, ADMIN, result.batch_id)
    assert list(mine()["status"]) == ["resolved"]       # the same alert, resolved: history kept, not deleted

    runs = lambda: alerts.last_run(engine)["id"]  # noqa: E731
    before = runs()
    fy = budget_versions.versions(engine).query("status == 'approved'").iloc[0]
    revision = budget_versions.copy_version(engine, ADMIN, int(fy["id"]), "修订预算（测试）")
    budget_versions.set_status(engine, ADMIN, revision, "submitted")
    assert runs() == before                              # a submitted draft is not in the budget metric
    budget_versions.set_status(engine, ADMIN, revision, "approved")
    assert runs() == before + 1                          # an approved one is: the rules run again
    engine.dispose()
