"""The demo company's stories, found by the explanations without being told where they are.

Read on a 100,000-line demo (DuckDB, built once for this module, ~10 s): at the suite's 20,000 lines a
region holds a few dozen customers and DSO by region is mostly noise. What is checked is the data's story,
so one engine is enough; both engines are checked against each other in test_explain.py.
"""
from __future__ import annotations

import pytest

from lib.core import store
from lib.demo import build as demo
from lib.explain import words
from lib.explain.explain import Ask, explain
from lib.semantic import query
from tests.conftest import DEMO_AS_OF, DEMO_SEED

MODEL = query.default_model()
YTD = ("2026-01", "2026-10")          # the cockpit's months: this year to the latest complete month


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    engine = store.get_engine(f"duckdb:///{tmp_path_factory.mktemp('story') / 'wb.duckdb'}")
    told = demo.build(engine, rows=100_000, seed=DEMO_SEED, as_of=DEMO_AS_OF).story
    run = lambda spec: query.run(engine, spec, None, MODEL)  # noqa: E731
    yield run, told
    engine.dispose()


def first(split):
    return next(m for m in split.members if m.kind == "member")


def test_the_gross_margin_fall_is_dairy_by_its_rate(story):
    run, _ = story
    e = explain(run, MODEL, Ask.months("gross_margin", *YTD, "yoy"), today=DEMO_AS_OF)
    assert e.change < 0
    dairy = first(e.split("category"))
    assert dairy.member == "乳制品"
    assert dairy.rate_effect < 0 and abs(dairy.rate_effect) > abs(dairy.mix_effect)
    rates = sorted((m for m in e.split("category").members if m.kind == "member"), key=lambda m: m.rate_effect)
    assert rates[0].member == "乳制品"


def test_opex_over_budget_this_year_is_north_china(story):
    run, told = story
    e = explain(run, MODEL, Ask.months("opex", *YTD, "budget"), today=DEMO_AS_OF, depth=2)
    assert e.change > 0
    region = e.split("region")
    assert told["over_budget_region"] == "R30"       # 华北
    assert first(region).member == "华北大区" and region.causes[0] == "华北大区"
    assert "华北大区" in words.narrative(e, MODEL, "zh") or e.dimensions[0].dimension != "region"


def test_the_advertising_month_is_the_marketing_departments_advertising(story):
    run, told = story
    cost_center, account, month = told["expense_spike"].split()
    assert (cost_center, account) == ("H04", "660102")
    e = explain(run, MODEL, Ask.months("opex", month, month, "previous"), today=DEMO_AS_OF, depth=2)
    assert e.change > 0
    assert first(e.split("department")).member == "市场部"
    assert first(e.split("account")).member == "销售费用-广告宣传费"
    top = e.dimensions[0]
    assert (top.dimension, top.causes[0]) in {("department", "市场部"), ("account", "销售费用-广告宣传费")}
    assert e.path[0].member in {"市场部", "销售费用-广告宣传费"}
    text = words.narrative(e, MODEL, "zh")
    assert "广告宣传费" in text and "市场部" in text


def test_the_dso_rise_is_the_west(story):
    run, told = story
    e = explain(run, MODEL, Ask.months("dso", *YTD, "yoy"), today=DEMO_AS_OF)
    assert e.change > 0
    assert told["slow_payer_region"] == "R40"        # 西部
    region = e.split("region")
    assert first(region).member == "西部大区" and region.causes[0] == "西部大区"
    assert first(region).rate_effect > first(region).mix_effect
