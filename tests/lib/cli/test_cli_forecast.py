"""`python -m lib.cli forecast`: csv/json/table output, scope with --as, one-line errors (exit 2).

Runs in-process with fewer candidate models, so the suite stays fast; the model choice itself is
tested in test_forecast.py.
"""
from __future__ import annotations

import datetime as dt
import io
import json

import pandas as pd
import pytest

from lib.cli import main as cli
from lib.core import store
from lib.demo import build as demo
from lib.finance import forecast_models as fm
from lib.semantic import query
from lib.semantic.spec import QuerySpec, TimeRange

END = ["--end", "2026-11-24"]   # the demo data runs to 2026-11-23: October 2026 is the last complete month


@pytest.fixture
def few_models(monkeypatch):
    monkeypatch.setattr(fm, "COMBINATION", fm.Combination(fixed=(fm.BASELINE, fm.ETS_ADD_DAMPED)))


@pytest.fixture
def baseline_only(monkeypatch):   # a combination of seasonal naive alone: its forecast is seasonal naive's
    monkeypatch.setattr(fm, "COMBINATION", fm.Combination(fixed=(fm.BASELINE,)))


def test_csv_by_region_is_last_years_months_under_seasonal_naive(demo_url, demo_engine, capsys, baseline_only):
    assert cli.main(["--url", demo_url, "forecast", "--metric", "revenue", "--by", "region", "--horizon", "3",
                     "--origins", "1", "--format", "csv", *END]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(df.columns) == ["series", "period", "model", "value", "lo80", "hi80", "lo95", "hi95",
                                "mase", "smape", "mase_seasonal_naive"]
    assert set(df["period"]) == {"2026-11", "2026-12", "2027-01"} and (df["model"] == "combination").all()
    last_year = query.run(demo_engine, QuerySpec(("revenue",), ("month", "region"),
                                                 time_range=TimeRange(dt.date(2025, 11, 1), dt.date(2026, 1, 31))))
    assert len(df) == len(last_year) == 3 * last_year["region"].nunique()
    for r in last_year.itertuples():   # seasonal naive: each month is the same month a year earlier
        got = df[(df["series"] == r.region) & (df["period"] == f"{r.month + pd.DateOffset(years=1):%Y-%m}")]
        assert got["value"].iloc[0] == pytest.approx(round(r.revenue, 2))
    assert (df["lo95"] <= df["lo80"]).all() and (df["hi80"] <= df["hi95"]).all()
    assert (df["mase"] == df["mase_seasonal_naive"]).all()


def test_json_has_the_forecast_the_model_and_every_candidates_accuracy(demo_url, capsys, few_models):
    assert cli.main(["--url", demo_url, "forecast", "--metric", "cogs", "--horizon", "2", "--origins", "2",
                     "--format", "json", "--lang", "en", *END]) == 0
    [total] = json.loads(capsys.readouterr().out)
    assert total["series"] == "" and total["model"] == "combination"
    assert [r["period"] for r in total["forecast"]] == ["2026-11", "2026-12"]
    assert set(total["forecast"][0]) == {"period", "value", "lo80", "hi80", "lo95", "hi95"}
    assert [a["model"] for a in total["accuracy"]] == ["combination", "seasonal_naive", "ets_add_damped"]
    assert sum(a["chosen"] for a in total["accuracy"]) == 1
    assert (total["backtest_origins"], total["backtest_horizon"]) == (2, 2)


def test_table_is_labelled_and_formatted(demo_url, capsys, baseline_only):
    assert cli.main(["--url", demo_url, "forecast", "--metric", "revenue", "--horizon", "2", "--origins", "1",
                     "--lang", "en", *END]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Net revenue · total · combination (backtest: 1 × 2 months)")
    assert "2026-11" in out and "¥" in out and "mase" in out


@pytest.mark.parametrize("args, message", [
    (["--metric", "gross_margin"], "'gross_margin' doesn't add up over months"),
    (["--metric", "revnue"], "Did you mean: revenue"),
    (["--metric", "revenue", "--by", "regoin"], "Did you mean: region"),
    (["--metric", "revenue", "--horizon", "0"], "horizon must be a whole number from 1 to 36"),
])
def test_mistakes_exit_2_with_one_line(demo_url, capsys, args, message):
    assert cli.main(["--url", demo_url, "forecast", *args, *END]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_as_a_region_head_forecasts_only_their_region(empty_url, capsys, baseline_only):
    engine = store.get_engine(empty_url)
    demo.build(engine, rows=1000, as_of=dt.date(2026, 11, 24))
    engine.dispose()
    assert cli.main(["--url", empty_url, "forecast", "--metric", "revenue", "--by", "region", "--horizon", "1",
                     "--origins", "1", "--format", "csv", "--as", "demo_east", *END]) == 0
    assert set(pd.read_csv(io.StringIO(capsys.readouterr().out))["series"]) == {"华东大区"}
    assert cli.main(["--url", empty_url, "forecast", "--metric", "cogs", "--as", "demo_viewer", *END]) == 2
    assert "may not see" in capsys.readouterr().err


def test_to_budget_drafts_a_version_as_a_finance_user(small_demo_url, capsys, baseline_only):
    from lib.finance import budget_versions as bv
    args = ["--url", small_demo_url, "forecast", "--to-budget", "FY2027 CLI 草案", "--target", "next_year",
            "--workers", "1", *END]
    assert cli.main(args) == 2 and "--as" in capsys.readouterr().err        # who drafts it must be named
    assert cli.main([*args, "--as", "demo_viewer", "--lang", "en"]) == 2
    assert "may not edit budgets" in capsys.readouterr().err
    assert cli.main([*args, "--as", "demo_finance", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Drafted budget version" in out and "FY2027" in out and "data to 2026-10" in out and "total" in out
    engine = store.get_engine(small_demo_url)
    v = bv.versions(engine)
    engine.dispose()
    row = v[v["name"] == "FY2027 CLI 草案"].iloc[0]
    assert (row["kind"], row["status"], int(row["fiscal_year"])) == ("budget", "draft", 2027) and row["lines"] > 0


def test_workers_fit_in_spawned_processes_from_the_command_line(small_demo_url):
    # A real `python -m lib.cli` run with a pool of spawned processes (the in-process tests use one): the workers
    # start clean, fit, and the rows come back complete and in the series' order.
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "lib.cli", "--url", small_demo_url, "forecast", "--metric", "revenue",
                           "--by", "region", "--horizon", "2", "--origins", "1", "--workers", "2", "--format", "csv",
                           *END], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(io.StringIO(done.stdout))
    assert (df["model"] == "combination").all() and len(df) == 8
    assert df["series"].drop_duplicates().tolist() == sorted(df["series"].unique())   # series order kept
