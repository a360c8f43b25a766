"""From forecast to budget: a draft version whose lines add up to the forecasts to the fen, recorded, audited,
refused to roles that can't edit budgets, and then approved like any budget (the ``budget`` metric reads it).

The combination is cut to seasonal naive and the mean here (113 unit × account series): what is tested is the
draft, not the forecaster (test_forecast.py and bench/bench_forecast.py are about that)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core import schema, store
from lib.core.errors import Forbidden, InvalidArgument
from lib.core.tables.access import audit as audit_table
from lib.finance import budget_versions as bv
from lib.finance import forecast_budget as fb
from lib.finance import forecast_models as fm
from lib.semantic import query
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange

END = dt.date(2026, 11, 23)   # the small demo's last day: October 2026 is the last complete month


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(fm, "COMBINATION", fm.Combination(fixed=(fm.BASELINE, fm.MEAN)))


@pytest.fixture
def engine(small_demo_url):
    e = store.get_engine(small_demo_url)
    yield e
    e.dispose()


def _run(engine, user=None):
    return lambda spec: query.run(engine, spec, user=user)


def test_months_of_each_target():
    oct26, today = dt.date(2026, 10, 1), dt.date(2026, 11, 24)
    assert fb.months_of("rest_of_year", oct26, today) == (2026, [dt.date(2026, 11, 1), dt.date(2026, 12, 1)])
    year, months = fb.months_of("next_year", oct26, today)
    assert year == 2027 and months == [dt.date(2027, m, 1) for m in range(1, 13)]
    assert fb.months_of("rest_of_year", dt.date(2026, 12, 1), dt.date(2026, 12, 20)) == (2026, [])
    # data a year behind: the version still covers only its own year's months
    assert fb.months_of("rest_of_year", dt.date(2025, 6, 1), today)[1][0] == dt.date(2026, 1, 1)


def test_lines_round_to_the_fen_and_add_up_to_the_rounded_total():
    values = pd.Series([1000.004, 2000.333, 0.004, 12.126]).to_numpy()
    lines = fb._cent_lines(values)
    assert all(round(v, 2) == v for v in lines)
    assert round(float(lines.sum()), 2) == round(float(values.sum()), 2)


def test_a_next_year_draft_adds_up_to_the_forecast_and_moves_through_approval(engine, fast):
    finance = auth.load_user(engine, "demo_finance")
    draft = fb.draft_budget(engine, _run(engine, finance), finance, name="FY2027 草案", target="next_year", end=END)
    v = bv.version(engine, draft.version_id)
    assert (v.kind.value, v.fiscal_year, v.status.value, v.name) == ("budget", 2027, "draft", "FY2027 草案")
    meta = bv.versions(engine).set_index("id").loc[draft.version_id]
    assert meta["method"].startswith("forecast: combination×") and str(meta["data_date"])[:10] == "2026-10-01"
    stored = bv.lines(engine, draft.version_id)
    months = [dt.date(2027, m, 1) for m in range(1, 13)]
    assert sorted(set(stored["period"])) == months and len(stored) == 12 * len(draft.forecasts) == len(draft.lines)
    assert set(draft.lines["account_type"]) == {"revenue", "cogs", "opex"}
    # every series' twelve lines add up to its forecast over 2027, to the fen
    by_key = stored.groupby([stored["org_unit_id"].astype(str) + "|" + stored["account_code"]])["amount"].sum()
    for key, f in draft.forecasts.items():
        assert round(float(by_key[key]), 2) == fb.forecast_total(f, months), key
    totals = draft.totals().set_index("account_type")["amount"]
    assert totals["total"] == round(float(stored["amount"].sum()), 2)
    assert totals["total"] == pytest.approx(totals[["revenue", "cogs", "opex"]].sum(), abs=0.005)
    with engine.connect() as conn:
        logged = conn.execute(sa.select(audit_table.c.detail).where(audit_table.c.action == "budget_from_forecast")).all()
    assert len(logged) == 1 and '"lines": ' + str(len(stored)) in logged[0][0]
    assert bv.changes(engine, draft.version_id)["action"].tolist() == ["create"]

    # finance takes it through the workflow; once approved the budget metric reports it
    for status in ("submitted", "approved"):
        bv.set_status(engine, finance, draft.version_id, status)
    budget = query.run(engine, QuerySpec(("budget",), ("account_type",), (), TimeRange(dt.date(2027, 1, 1),
                                                                                      dt.date(2027, 12, 31))))
    reported = budget.set_index("account_type")["budget"].astype(float)
    for kind in ("revenue", "cogs", "opex"):
        assert reported[kind] == pytest.approx(totals[kind], abs=0.005)


def test_a_rolling_forecast_covers_the_rest_of_the_year_and_is_not_the_budget(engine, fast):
    finance = auth.load_user(engine, "demo_finance")
    spec = QuerySpec(("budget",), (), (FilterSpec("account_type", "eq", "revenue"),),
                     TimeRange(dt.date(2026, 1, 1), dt.date(2026, 12, 31)))
    before = float(query.run(engine, spec)["budget"].iloc[0])
    draft = fb.draft_budget(engine, _run(engine, finance), finance, name="滚动预测 11月", target="rest_of_year", end=END)
    assert (draft.kind, draft.fiscal_year) == ("forecast", 2026)
    assert sorted(set(draft.lines["period"])) == [dt.date(2026, 11, 1), dt.date(2026, 12, 1)]
    for status in ("submitted", "approved"):
        bv.set_status(engine, finance, draft.version_id, status)
    assert float(query.run(engine, spec)["budget"].iloc[0]) == pytest.approx(before)   # a forecast, not the budget
    with pytest.raises(InvalidArgument, match="already exists"):
        fb.draft_budget(engine, _run(engine, finance), finance, name="滚动预测 11月", target="rest_of_year", end=END)


def test_refused_to_roles_that_cannot_edit_budgets_and_to_an_empty_year(engine, fast):
    count = len(bv.versions(engine))
    for username in ("demo_viewer", "demo_east"):
        user = auth.load_user(engine, username)
        with pytest.raises(Forbidden):
            fb.draft_budget(engine, _run(engine, user), user, name="x", target="next_year", end=END)
    admin = User("admin_x", "admin")
    with pytest.raises(InvalidArgument, match="no month left"):     # actuals to December: 2026 is over
        fb.draft_budget(engine, _run(engine), admin, name="x", target="rest_of_year", end=dt.date(2026, 12, 31))
    with pytest.raises(InvalidArgument, match="rest_of_year"):
        fb.draft_budget(engine, _run(engine), admin, name="x", target="someday", end=END)
    assert len(bv.versions(engine)) == count                        # nothing was written
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.budget_line)
                            .where(schema.budget_line.c.version_id > count)).scalar_one() == 0
