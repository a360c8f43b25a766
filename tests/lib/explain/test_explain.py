"""归因 through the store, on both engines: the totals are the compiler's figures for the two periods, every
dimension's contributions add up to the change, scopes hold (tried by asking around them), and the CLI."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from lib.access import auth
from lib.cli import main as cli
from lib.core.errors import Forbidden
from lib.explain import words
from lib.explain.explain import Ask, explain
from lib.explain.forms import NotExplainable
from lib.semantic import query
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange

TODAY = dt.date(2026, 11, 24)
MODEL = query.default_model()
YTD = ("2026-01", "2026-10")


def runner(engine, user=None):
    return lambda spec: query.run(engine, spec, user, MODEL)


def value(engine, metric, tr, filters=(), user=None):
    df = query.run(engine, QuerySpec((metric,), (), filters, tr), user, MODEL)
    return 0.0 if df.empty or pd.isna(df[metric].iloc[0]) else float(df[metric].iloc[0])


CASES = [("revenue", "yoy"), ("gross_profit", "previous"), ("operating_profit", "yoy"), ("gross_margin", "yoy"),
         ("opex_ratio", "previous"), ("dso", "yoy"), ("inventory_days", "previous"), ("ar_balance", "yoy"),
         ("orders", "previous"), ("aov", "yoy"), ("collection_rate", "previous"), ("opex", "budget"),
         ("operating_profit", "budget"), ("revenue_ytd", "yoy"), ("budget_variance", "previous"),
         ("budget_execution", "previous")]


@pytest.mark.parametrize(("metric", "vs"), CASES)
def test_the_totals_are_the_compilers_and_every_dimension_adds_up(demo_engine, metric, vs):
    e = explain(runner(demo_engine), MODEL, Ask.months(metric, *YTD, vs), today=TODAY)
    cur = TimeRange(dt.date(2026, 1, 1), dt.date(2026, 10, 31))
    assert e.current_range == cur
    assert e.base_range == (cur if vs == "budget" else TimeRange(dt.date(2025, 1, 1) if vs == "yoy" else
                                                                 dt.date(2025, 3, 1),
                                                                 dt.date(2025, 10, 31) if vs == "yoy" else
                                                                 dt.date(2025, 12, 31)))
    assert e.current == pytest.approx(value(demo_engine, e.metric, cur), rel=1e-12, abs=1e-9)   # YTD: revenue from 1 Jan
    if vs != "budget":
        assert e.base == pytest.approx(value(demo_engine, e.metric, e.base_range), rel=1e-12, abs=1e-9)
    assert len(e.dimensions) >= 2
    tol = 0.005 if e.kind == "linear" and MODEL.metric(e.metric).format.value == "currency" else 1e-9
    for s in e.dimensions:
        assert abs(sum(m.contribution for m in s.members) - e.change) <= tol * (1 if tol == 0.005 else max(1, abs(e.base))), s.dimension
        if e.kind == "ratio":
            for m in s.members:
                if m.kind != "overlap":
                    assert m.rate_effect + m.mix_effect == pytest.approx(m.contribution, abs=1e-12)
    if e.parts:
        assert sum(p.contribution for p in e.parts) == pytest.approx(e.change, abs=1e-6 * max(1, abs(e.base)))
    assert words.narrative(e, MODEL, "zh") and words.narrative(e, MODEL, "en")


def test_opex_against_the_budget_is_the_cockpits_target(demo_engine):
    e = explain(runner(demo_engine), MODEL, Ask.months("opex", *YTD, "budget"), today=TODAY)
    tr = TimeRange(dt.date(2026, 1, 1), dt.date(2026, 10, 31))
    assert e.base == pytest.approx(value(demo_engine, "budget", tr, (FilterSpec("account_type", "in", ("opex",)),)))
    assert {s.dimension for s in e.dimensions} <= {"region", "department", "expense_type", "account"}


def test_a_month_not_over_is_compared_like_for_like(demo_engine):
    e = explain(runner(demo_engine), MODEL, Ask.months("revenue", "2026-11", "2026-11", "yoy"), today=TODAY)
    assert e.partial and e.current_range == TimeRange(dt.date(2026, 11, 1), dt.date(2026, 11, 23))
    assert e.base_range == TimeRange(dt.date(2025, 11, 1), dt.date(2025, 11, 23))
    p = explain(runner(demo_engine), MODEL, Ask.months("revenue", "2026-10", "2026-11", "previous"), today=TODAY)
    assert p.base_range == TimeRange(dt.date(2026, 8, 1), dt.date(2026, 9, 23))
    assert p.base == pytest.approx(value(demo_engine, "revenue", p.base_range))
    assert "截至 2026-11-23" in words.narrative(e, MODEL, "zh")
    with pytest.raises(NotExplainable, match="budget is by whole months"):
        explain(runner(demo_engine), MODEL, Ask.months("revenue", "2026-11", "2026-11", "budget"), today=TODAY)


@pytest.mark.parametrize(("args", "match"), [
    (("revenue_yoy", "2026-01", "2026-10", "yoy"), "explain 'Net revenue'"),
    (("dso", "2026-01", "2026-10", "budget"), "no budget to compare"),
    (("revenue_ytd", "2026-01", "2026-10", "previous"), "compare it with last year"),
    (("revenue", "2026-13", "2026-10", "yoy"), "not a month"),
    (("revenue", "2026-10", "2026-01", "yoy"), "ends"),
    (("revenue", "2026-01", "2026-10", "lastweek"), "previous, yoy or budget"),
    (("revenue", "2027-01", "2027-02", "yoy"), "No day of 2027-01"),
])
def test_what_cant_be_explained_says_why(demo_engine, args, match):
    with pytest.raises(NotExplainable, match=match) as exc:
        explain(runner(demo_engine), MODEL, Ask.months(*args), today=TODAY)
    assert exc.value.message_zh != str(exc.value)


def test_the_drill_path_follows_the_first_cause_and_adds_up_within_it(demo_engine):
    e = explain(runner(demo_engine), MODEL, Ask.months("opex", *YTD, "budget"), today=TODAY, depth=3)
    assert 1 <= len(e.path) <= 2
    step = e.path[0]
    top = e.dimensions[0]
    assert step.dimension == top.dimension and step.member in top.causes
    child = step.explanation
    assert child.ask.filters[-1] == FilterSpec(top.dimension, "in", (step.member,))
    assert child.change == pytest.approx(next(m.contribution for m in top.members if m.member == step.member))
    assert top.dimension not in {s.dimension for s in child.dimensions}


# ---- scopes -----------------------------------------------------------------------------------

def _names(d: dict) -> set:
    return {m["member"] for s in d["dimensions"] for m in s["members"] if "kind" not in m} | \
        {c for s in d["dimensions"] for c in s["causes"]} | {t["member"] for t in d["tree"]}


@pytest.mark.parametrize(("username", "region"), [("demo_east", "华东大区"), ("demo_west", "西部大区")])
@pytest.mark.parametrize("metric", ["revenue", "gross_margin", "dso", "operating_profit"])
def test_a_scoped_explanation_names_and_counts_only_members_in_scope(demo_engine, username, region, metric):
    user = auth.load_user(demo_engine, username)
    mine = explain(runner(demo_engine, user), MODEL, Ask.months(metric, *YTD, "yoy"), today=TODAY, depth=3)
    as_admin = explain(runner(demo_engine), MODEL,
                       Ask.months(metric, *YTD, "yoy", (FilterSpec("region", "in", (region,)),)), today=TODAY, depth=3)
    assert mine.current == pytest.approx(as_admin.current) and mine.base == pytest.approx(as_admin.base)
    assert ("region", region) in mine.single and "region" not in {s.dimension for s in mine.dimensions}
    d = words.to_dict(mine, MODEL)
    allowed = set()
    for s in mine.dimensions:
        df = query.run(demo_engine, QuerySpec(("revenue",), (s.dimension,), (FilterSpec("region", "in", (region,)),)),
                       None, MODEL) if s.dimension in MODEL.datasets["sales"].dimensions else None
        if df is not None:
            allowed |= set(df[s.dimension].dropna())
            in_scope = df[s.dimension].nunique()
            counted = sum(m.count for m in s.members if m.kind in ("member", "other"))
            assert counted <= in_scope + 1, s.dimension   # + a blank member
    named = {n for n in _names(d) if n is not None}
    assert named <= allowed | {"（空白）"}
    assert not any(other in json.dumps(d, ensure_ascii=False)
                   for other in {"华东大区", "西部大区", "华北大区", "华南大区"} - {region})
    assert [s.dimension for s in mine.dimensions] == [s.dimension for s in as_admin.dimensions]


def test_asking_around_the_scope_gives_nothing_away(demo_engine):
    user = auth.load_user(demo_engine, "demo_east")
    outside = Ask.months("revenue", *YTD, "yoy", (FilterSpec("region", "in", ("华北大区",)),))
    e = explain(runner(demo_engine, user), MODEL, outside, today=TODAY)
    assert (e.current, e.base, e.dimensions) == (0.0, 0.0, ())
    with pytest.raises(NotExplainable):
        explain(runner(demo_engine, user), MODEL, Ask.months("gross_margin", *YTD, "yoy", outside.filters), today=TODAY)


def test_a_viewer_gets_revenue_against_its_budget_but_no_costs(demo_engine):
    viewer = auth.load_user(demo_engine, "demo_viewer")
    e = explain(runner(demo_engine, viewer), MODEL, Ask.months("revenue", *YTD, "budget"), today=TODAY)
    assert e.base > 0 and e.dimensions
    with pytest.raises(Forbidden):
        explain(runner(demo_engine, viewer), MODEL, Ask.months("gross_margin", *YTD, "yoy"), today=TODAY)


# ---- the CLI ----------------------------------------------------------------------------------

def test_cli_json_is_one_object_as_specified(demo_url, capsys):
    code = cli.main(["--url", demo_url, "explain", "--metric", "gross_margin", "--from", "2026-01", "--to", "2026-10",
                     "--vs", "yoy", "--where", "channel=经销", "--format", "json"])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    assert {"metric", "current", "base", "change", "dimensions", "narrative"} <= set(d)
    assert d["metric"] == "gross_margin" and d["change"] == pytest.approx(d["current"] - d["base"])
    scores = [s["score"] for s in d["dimensions"] if s["qualified"]]
    assert scores == sorted(scores, reverse=True)
    for s in d["dimensions"]:
        assert {"dimension", "score", "members"} <= set(s)
        contrib = [abs(m["contribution"]) for m in s["members"] if "kind" not in m]
        assert contrib == sorted(contrib, reverse=True)
        assert all({"member", "contribution", "rate_effect", "mix_effect"} <= set(m) for m in s["members"]
                   if m.get("kind") != "overlap")
        assert sum(m["contribution"] for m in s["members"]) == pytest.approx(d["change"], abs=1e-9)
    assert "channel" not in {s["dimension"] for s in d["dimensions"]}
    assert d["narrative"].startswith("毛利率同比")


def test_cli_table_scoped_and_errors(demo_url, capsys):
    assert cli.main(["--url", demo_url, "explain", "--metric", "opex", "--from", "2026-01", "--to", "2026-10",
                     "--vs", "budget", "--as", "demo_east", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Operating expenses vs budget:") and "华北大区" not in out
    assert cli.main(["--url", demo_url, "explain", "--metric", "revenue_mom", "--from", "2026-01", "--to", "2026-10",
                     "--vs", "yoy"]) == 2
    assert "itself a comparison" in capsys.readouterr().err
    assert cli.main(["--url", demo_url, "explain", "--metric", "no_such", "--from", "2026-01", "--to", "2026-10",
                     "--vs", "yoy"]) == 2


def test_a_sum_over_datasets_explains_its_largest_input_by_that_inputs_own_dimensions(demo_engine):
    e = explain(runner(demo_engine), MODEL, Ask.months("operating_profit", *YTD, "budget"), today=TODAY)
    top = max(e.parts, key=lambda p: abs(p.contribution))
    assert e.detail is not None and e.detail.metric == top.metric
    assert e.detail.change == pytest.approx(top.current - top.base)
    own = {s.dimension for s in e.detail.dimensions}
    assert own and not own & {s.dimension for s in e.dimensions}
    for s in e.detail.dimensions:
        assert sum(m.contribution for m in s.members) == pytest.approx(e.detail.change, abs=0.005)
    assert words.to_dict(e, MODEL)["detail"]["metric"] == top.metric
