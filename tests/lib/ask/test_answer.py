"""问数 through the store, on both engines: answers equal the compiler's figures; scopes, denied metrics and row
caps hold exactly as in Explore (tried by asking around them); what finance teaches is read; the CLI."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest

from lib.access import auth
from lib.ask import answer as ask
from lib.ask import lexicon
from lib.cli import main as cli
from lib.core import store
from lib.semantic import metric_store, query
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange

TODAY = dt.date(2026, 11, 24)
YTD = TimeRange(dt.date(2026, 1, 1), TODAY)
OTHER_REGIONS = {"demo_east": ["华北大区", "西部大区", "华南大区"], "demo_west": ["华东大区", "华北大区"],
                 "demo_viewer": ["华东大区", "西部大区"]}


@pytest.fixture(scope="module")
def vocab_of(demo_engine):
    cache = {}

    def get(username):
        if username not in cache:
            user = auth.load_user(demo_engine, username) if username else None
            cache[username] = (user, ask.vocabulary_for(demo_engine, user))
        return cache[username]
    return get


def _ask(engine, vocab_of, question, username=None, lang="zh"):
    user, vocab = vocab_of(username)
    return ask.ask(engine, question, user, vocab, lang=lang, today=TODAY)


def test_an_answer_is_the_compilers_figure_for_its_spec(demo_engine, vocab_of):
    got = _ask(demo_engine, vocab_of, "今年华东大区各品类的营收")
    spec = QuerySpec(("revenue",), ("category",), (FilterSpec("region", "in", ("华东大区",)),), YTD)
    assert got.spec == spec
    assert got.rows.equals(query.run(demo_engine, spec))
    assert ask.restated(got, query.default_model(), "zh").startswith("营业收入 · 按 品类 · 2026-01-01 至 2026-11-24")


@pytest.mark.parametrize("username", sorted(OTHER_REGIONS))
def test_asking_about_another_region_gives_no_figure(demo_engine, vocab_of, username):
    for region in OTHER_REGIONS[username]:
        for question in (f"{region}今年营收", f"今年{region}各品类的销量", f"{region}上个月营收同比"):
            got = _ask(demo_engine, vocab_of, question, username)
            assert got.understood, question
            assert got.rows is not None and got.rows.empty, question
            assert region in got.outside_scope and "不在您的数据范围内" in got.message
    # their own region is answered, and equals the figure of their unfiltered scope
    own = {"demo_east": "华东大区", "demo_west": "西部大区", "demo_viewer": "华南大区"}[username]
    got = _ask(demo_engine, vocab_of, f"{own}今年营收", username)
    mine = _ask(demo_engine, vocab_of, "今年营收", username)
    assert got.rows["revenue"].iloc[0] == pytest.approx(mine.rows["revenue"].iloc[0]) and not got.outside_scope


def test_a_breakdown_lists_only_the_askers_own_rows(demo_engine, vocab_of):
    got = _ask(demo_engine, vocab_of, "今年各区域的营收", "demo_west")
    assert list(got.rows["region"]) == ["西部大区"]


@pytest.mark.parametrize("question", ["今年毛利率", "各区域的期间费用", "营业成本最高的5个产品", "实际数对比预算",
                                      "gross margin by region this year"])
def test_a_viewer_asking_for_denied_metrics_is_refused_by_name(demo_engine, vocab_of, question):
    got = _ask(demo_engine, vocab_of, question, "demo_viewer")
    assert got.understood and not got.answered
    assert "无权" in got.message


def test_the_row_cap_holds(demo_engine, vocab_of, monkeypatch):
    vocab_of(None)   # the module's shared vocabulary is read without the cap (it lists every region)
    monkeypatch.setenv("WORKBENCH_ROW_CAP", "3")
    got = _ask(demo_engine, vocab_of, "今年各产品的营收")
    assert got.understood and not got.answered and "3" in got.message


def test_words_not_understood_give_no_figure(demo_engine, vocab_of):
    got = _ask(demo_engine, vocab_of, "华东大区的员工满意度")
    assert not got.understood and got.rows is None and got.reading.unknown == ("员工满意度",)
    assert got.reading.suggestions


def test_what_finance_teaches_is_read_and_versioned(small_demo_url):
    engine = store.get_engine(small_demo_url)
    model = query.default_model()
    try:
        assert not _ask(engine, lambda u: (None, ask.vocabulary_for(engine, None)), "东区今年营收").understood
        v1 = lexicon.save(engine, "region", {"synonyms": ["战区"], "aliases": {"华东大区": ["东区", "East China"]}},
                          "财务部", model, "片区叫法")
        assert v1.version == 1
        vocab = ask.vocabulary_for(engine, None)
        got = ask.ask(engine, "东区今年营收", None, vocab, today=TODAY)
        assert got.spec.filters == (FilterSpec("region", "in", ("华东大区",)),)
        assert ask.ask(engine, "各战区营收", None, vocab, today=TODAY).spec.dimensions == ("region",)
        with pytest.raises(Exception, match="东区"):
            lexicon.save(engine, "region", {"aliases": {"华东大区": ["东区"], "华北大区": ["东区"]}}, "财务部", model)
        assert [v.version for v in lexicon.history(engine, "region", model)] == [1, 0]
        lexicon.restore(engine, "region", 0, "财务部", model)
        assert not ask.ask(engine, "东区今年营收", None, ask.vocabulary_for(engine, None), today=TODAY).understood
        # a metric synonym is saved with the metric, as a version of it
        m = model.metric("revenue").to_dict()
        metric_store.save(engine, {**m, "synonyms": [*m["synonyms"], "流水"]}, "财务部", "门店叫法")
        model2, _ = metric_store.load_model(engine)
        got = ask.ask(engine, "今年流水", None, ask.vocabulary_for(engine, None, model2), model2, today=TODAY)
        assert got.spec.metrics == ("revenue",)
    finally:
        engine.dispose()


def test_recent_questions_are_kept_per_user_newest_first(small_demo_url):
    engine = store.get_engine(small_demo_url)
    try:
        for q in ["a", "b", "a", *[f"q{i}" for i in range(25)]]:
            lexicon.remember(engine, "demo_east", q)
        lexicon.remember(engine, "demo_west", "mine")
        recent = lexicon.recent(engine, "demo_east", 30)
        assert recent[:2] == ["q24", "q23"] and len(recent) == lexicon.RECENT_KEPT and "a" not in recent
        assert lexicon.recent(engine, "demo_west") == ["mine"]
    finally:
        engine.dispose()


def test_the_answer_opens_in_explore_with_its_shelves():
    model = query.default_model()
    spec = QuerySpec(("revenue",), ("month", "region"), time_range=YTD, comparison=None)
    chart = ask.chart_of(spec, model)
    assert [f.name for f in chart.columns] == ["month"] and chart.color.name == "region"
    top = ask.chart_of(QuerySpec(("revenue",), ("product",), time_range=YTD,
                                 sort=(query.Sort("revenue", True),), limit=5), model)
    assert top.top_n == 5 and [f.name for f in top.rows] == ["revenue"]


# ---- the CLI ----------------------------------------------------------------------------------

@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def _cli(capsys):
    """The CLI in this process (a second process can't open the session's DuckDB file while it is open here)."""
    def run(url, *args):
        code = cli.main(["--url", url, "ask", *args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)
    return run


def test_cli_json_is_one_object_with_the_reading_and_the_rows(demo_url, _cli):
    out = _cli(demo_url, "今年各区域的营收", "--format", "json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert set(got) >= {"question", "understood", "spec", "interpretation", "restated", "rows"}
    assert got["understood"] is True
    assert got["spec"] == {"metrics": ["revenue"], "dimensions": ["region"],
                           "time_range": {"start": "2026-01-01", "end": "2026-11-24"}}
    assert [t["kind"] for t in got["interpretation"]] == ["time", "filler", "dimension", "filler", "metric"]
    assert {r["region"] for r in got["rows"]} >= {"华东大区", "华北大区"}


def test_cli_names_the_words_it_could_not_read_and_exits_2(demo_url, _cli):
    out = _cli(demo_url, "华东大区的员工满意度")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().count("\n") == 0 and "员工满意度" in out.stderr


def test_cli_as_a_dept_head_gives_no_figure_of_another_region(demo_url, _cli):
    out = _cli(demo_url, "华北大区今年营收", "--as", "demo_east", "--format", "json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["rows"] == [] and "不在您的数据范围内" in got["message"]
    denied = _cli(demo_url, "今年毛利率", "--as", "demo_viewer", "--lang", "en")
    assert denied.returncode == 2 and "may not see" in denied.stderr and denied.stdout == ""


def test_cli_table_and_csv(demo_url, _cli):
    table = _cli(demo_url, "2025年各季度营收", "--lang", "en")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("# Net revenue · by quarter · 2025-01-01 to 2025-12-31")
    assert "2025-Q4" in table.stdout
    csv = _cli(demo_url, "2025年各季度营收", "--format", "csv")
    assert csv.stdout.splitlines()[0] == "quarter,revenue" and len(csv.stdout.splitlines()) == 5


@pytest.mark.parametrize("username", ["demo_finance", "demo_east", "demo_west", "demo_viewer"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_example_questions_are_read_exactly_and_answered(demo_engine, vocab_of, username, lang):
    user, vocab = vocab_of(username)
    model = query.default_model()
    regions = query.dimension_values(demo_engine, "region", user)
    cats = query.dimension_values(demo_engine, "category", user)
    examples = ask.examples(model, user, lang, regions, cats)
    assert len(examples) >= 3
    for q in examples:
        got = ask.ask(demo_engine, q, user, vocab, model, lang, today=TODAY)
        assert got.answered and not got.outside_scope and not got.rows.empty, (q, got.message)
