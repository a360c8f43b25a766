"""AppTest: the app with a warehouse configured (WORKBENCH_WAREHOUSE_URL → the run's Spark) shows the cockpit a
dept head sees on the embedded store alone: the same tiles, the same figures, within his scope."""
from __future__ import annotations

import shutil

from lib.core import fmt
from tests import spark
from tests.pages.conftest import open_app


def _spark_statements() -> int:
    """Statements the run's Thrift Server has been sent so far (its log names each one it runs)."""
    log = spark.folder() / "spark" / "thriftserver.log"
    return log.read_text(errors="replace").count("Submitting query 'WITH")


def test_the_cockpit_read_from_spark_shows_the_embedded_figures(monkeypatch, spark_warehouse, tmp_path):
    shown = {}
    for name, warehouse_url in (("alone", ""), ("with_warehouse", spark_warehouse.url)):
        target = tmp_path / name / "wb.duckdb"
        target.parent.mkdir()
        shutil.copyfile(spark_warehouse.store_file, target)
        monkeypatch.setenv("WORKBENCH_WAREHOUSE_URL", warehouse_url)
        before = _spark_statements()
        at = open_app(monkeypatch, f"duckdb:///{target}", "demo_east")
        assert not at.exception and not at.error, [e.value for e in at.error]
        shown[name] = [(m.label, m.value, m.delta) for m in at.metric]
        if warehouse_url:   # the figures were asked of Spark (other workers' tests may ask it too meanwhile)
            assert _spark_statements() > before
    assert shown["with_warehouse"] == shown["alone"]
    assert len(shown["alone"]) >= 6 and shown["alone"][0][1] != fmt.money(None)
