"""The CLI: init, demo, info; bad input exits non-zero with a message, never a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

from lib.cli import main as cli
from lib.core import config, store


def run_cli(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "lib.cli", *(["--url", url] if url else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=config.ROOT, timeout=300)


def test_init_then_demo_then_info(empty_url):
    first = run_cli("init", url=empty_url)
    assert first.returncode == 0, first.stderr
    assert f"schema version: {store.SCHEMA_VERSION}" in first.stdout
    assert run_cli("init", url=empty_url).returncode == 0  # idempotent
    built = run_cli("demo", "--rows", "2k", "--seed", "3", "--as-of", "2026-11-24", url=empty_url)
    assert built.returncode == 0, built.stderr
    assert "sales_line" in built.stdout and "2,000" in built.stdout
    info = run_cli("info", url=empty_url)
    assert info.returncode == 0, info.stderr
    lines = dict(line.split(None, 1) for line in info.stdout.splitlines() if line.startswith("  "))
    assert lines["sales_line"].strip() == "2,000"
    assert lines["customer"].strip() == "2,000"
    assert f"schema version: {store.SCHEMA_VERSION}" in info.stdout


def test_demo_if_empty_builds_once(tmp_path):
    url = f"duckdb:///{tmp_path / 'x.duckdb'}"
    first = run_cli("init", "--demo-if-empty", "--rows", "1500", url=url)
    assert first.returncode == 0 and "demo company built" in first.stdout, first.stderr
    again = run_cli("init", "--demo-if-empty", "--rows", "1500", url=url)
    assert again.returncode == 0 and "demo company built" not in again.stdout


@pytest.mark.parametrize("args, message", [
    (["demo", "--rows", "lots"], "not a row count"),
    (["demo", "--rows", "10"], "--rows must be between"),
    (["demo", "--as-of", "24/11/2026"], "not a date"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_non_zero_with_a_message(args, message, tmp_path):
    done = run_cli(*args, url=f"duckdb:///{tmp_path / 'y.duckdb'}")
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_store_is_one_line_not_a_traceback():
    done = run_cli("info", url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert done.returncode == 2
    assert done.stderr.startswith("error: Cannot open the store") and "Traceback" not in done.stderr


def test_rows_parser_accepts_the_usual_spellings():
    assert [cli._rows(x) for x in ("500000", "500_000", "500k", "1.5m", "10M")] == \
        [500_000, 500_000, 500_000, 1_500_000, 10_000_000]


def test_query_answers_margin_by_region_by_month_last_year_vs_the_year_before(demo_url, capsys):
    code = cli.main(["--url", demo_url, "query", "--metric", "gross_margin", "--by", "region", "--by", "month",
                     "--from", "2025-01", "--to", "2025-12", "--compare", "yoy", "--format", "csv"])
    assert code == 0
    import io

    import pandas as pd
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(df.columns) == ["month", "region", "gross_margin", "gross_margin__cmp", "gross_margin__chg"]
    assert set(df["month"]) == {f"2025-{m:02d}" for m in range(1, 13)}
    assert (df["gross_margin__chg"] - (df["gross_margin"] - df["gross_margin__cmp"])).abs().max() < 1e-12


def test_query_table_is_formatted_and_captioned(demo_url, capsys):
    assert cli.main(["--url", demo_url, "query", "--metric", "revenue", "--by", "year", "--where", "category=饮料",
                     "--from", "2025", "--to", "2025"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# 营业收入 · 按 年 · 2025-01-01 至 2025-12-31 · 品类 属于 饮料")
    assert "2025" in out and "¥" in out and "万" in out


@pytest.mark.parametrize("args, message", [
    (["query", "--metric", "gros_margin"], "Did you mean: gross_margin"),
    (["query", "--metric", "revenue", "--by", "regoin"], "Did you mean: region"),
    (["query", "--metric", "opex", "--by", "category"], "can't be broken down"),
    (["query", "--metric", "revenue", "--from", "2025-01"], "both --from and --to"),
    (["metrics", "show"], "needs a metric id"),
])
def test_query_mistakes_exit_2_with_close_matches(demo_url, capsys, args, message):
    assert cli.main(["--url", demo_url, *args]) == 2
    assert message in capsys.readouterr().err


def test_metrics_list_show_check(demo_url, capsys):
    assert cli.main(["--url", demo_url, "metrics", "check"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    assert cli.main(["--url", demo_url, "metrics", "list", "--lang", "en"]) == 0
    listing = capsys.readouterr().out
    assert "gross_margin" in listing and "Gross margin" in listing
    assert cli.main(["--url", demo_url, "metrics", "show", "dso"]) == 0
    shown = capsys.readouterr().out
    assert "uses:       ar_days_in_period, ar_balance_avg, revenue" in shown
    assert "version 0: seed" in shown


def test_query_sql_shows_bound_values_inlined_for_reading(demo_url, capsys):
    assert cli.main(["--url", demo_url, "query", "--metric", "revenue", "--by", "region", "--from", "2025",
                     "--to", "2025", "--sql"]) == 0
    out = capsys.readouterr().out
    assert "sum(f.net_revenue)" in out and "2025-01-01" in out
