"""The CLI: init, demo, info; bad input exits non-zero with a message, never a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

from lib import cli, config, store


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
