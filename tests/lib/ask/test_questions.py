"""问数 read back against questions.yaml: several hundred questions in Chinese and English to the demo company,
asked on 2026-11-24, each with the spec it must give written out by hand, or a refusal. A question gives
exactly its spec or is refused; a different spec is a wrong answer, and there must be none.

Run with ``-s`` to see the shares and the time per parse (printed, not asserted).
"""
from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path

import pytest
import yaml

from lib.ask import parser as ps
from lib.ask.answer import vocabulary_for
from lib.explore.evaluate import BUDGET_COUNTERPART
from lib.semantic import query
from lib.semantic.model import Status

TODAY = dt.date(2026, 11, 24)
TABLE = yaml.safe_load((Path(__file__).with_name("questions.yaml")).read_text(encoding="utf-8"))
QUESTIONS: list[dict] = TABLE["questions"]
PRODUCTS = ("优滋纯牛奶家庭装", "净朗洗衣液礼盒装")
"""Products named in the table: the demo's catalogue is the same whatever its seed."""


def _plain(value):
    """The YAML's dates as the ISO text QuerySpec.to_dict() gives."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _fill(value, names: dict[str, str]):
    if isinstance(value, str):
        return value.format(**names) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def _expected(row: dict, names: dict[str, str]) -> dict | None:
    if row["spec"] is None:
        return None
    spec = _fill(_plain(row["spec"]), names)
    return {"metrics": spec.pop("metrics"), "dimensions": spec.pop("dimensions", []), **spec}


def _customer(engine, model) -> str:
    """A customer of the store whose name without 有限公司 starts no other customer's name."""
    names = [str(c) for c in query.dimension_values(engine, "customer", None, model)]
    for name in names:
        short = name.removesuffix("有限公司")
        if name.endswith("有限公司") and len(short) >= 4 and sum(n.startswith(short) for n in names) == 1:
            return name
    pytest.fail("the demo has no customer named … 有限公司")


@pytest.fixture(scope="module")
def asked(demo_engine):
    """Every question of the table read once against the demo's vocabulary: (reading, expected, seconds)."""
    if demo_engine.dialect.name != "duckdb":
        pytest.skip("reading a question needs the vocabulary only: read on the DuckDB demo")
    model = query.default_model()
    products = set(map(str, query.dimension_values(demo_engine, "product", None, model)))
    assert set(PRODUCTS) <= products
    vocab = vocabulary_for(demo_engine, None, model)
    customer = _customer(demo_engine, model)
    names = {"customer": customer, "customer_short": customer.removesuffix("有限公司")}
    out = []
    for row in QUESTIONS:
        question = _fill(row["q"], names)
        started = time.perf_counter()
        reading = ps.read(question, vocab, model, TODAY, budget_counterparts=BUDGET_COUNTERPART)
        out.append((reading, _expected(row, names), time.perf_counter() - started))
    return out


def test_the_table_has_hundreds_of_questions_in_both_languages():
    assert len(QUESTIONS) >= 320
    texts = [row["q"] for row in QUESTIONS]
    assert len(set(texts)) == len(texts), [t for t in texts if texts.count(t) > 1]
    chinese = [t for t in texts if any("\u4e00" <= ch <= "\u9fff" for ch in t)]
    english = [t for t in texts if t and all(ord(ch) < 128 for ch in t)]
    assert len(chinese) >= 150 and len(english) >= 100
    assert sum(row["spec"] is None for row in QUESTIONS) >= 40


def test_every_metric_and_dimension_is_asked_for():
    """Each metric not deprecated is asked for by its labels and by at least one synonym; each dimension in Chinese
    and English, and the answers name them all."""
    model = query.default_model()
    texts = {row["q"].lower() for row in QUESTIONS}
    specs = [row["spec"] for row in QUESTIONS if row["spec"]]
    asked_metrics = {m for s in specs for m in s["metrics"]}
    asked_dims = {d for s in specs for d in s.get("dimensions", [])}
    filtered = {f["dimension"] for s in specs for f in s.get("filters", [])}
    for m in model.metrics.values():
        if m.status is Status.DEPRECATED:
            continue
        assert m.id in asked_metrics, m.id
        for label in (m.label_zh, m.label_en):
            assert any(label.lower() in t for t in texts), (m.id, label)
        others = {s.lower() for s in m.synonyms} - {m.label_zh.lower(), m.label_en.lower()}
        assert not others or any(s in t for s in others for t in texts), (m.id, "no synonym asked")
    for d in model.dimensions.values():
        assert d.id in asked_dims, d.id
        words = {w.lower() for w in (*d.label_zh.split("/"), *d.label_en.split(" / "), *d.synonyms)}
        assert any(w in t for w in words for t in texts if t.isascii()), (d.id, "no English word")
        assert any(w in t for w in words for t in texts if not t.isascii()), (d.id, "no Chinese word")
    assert {"region", "department", "category", "brand", "segment", "channel", "product", "customer",
            "expense_type", "account", "budget_version"} <= filtered
    assert {"day", "week", "month", "quarter", "year"} <= asked_dims


@pytest.mark.parametrize("n", range(len(QUESTIONS)), ids=[f"q{n:03d}" for n in range(len(QUESTIONS))])
def test_question(asked, n):
    reading, expected, _ = asked[n]
    if expected is None:
        assert reading.spec is None and not reading.understood, \
            f"{reading.question!r} should be refused, read as {reading.spec.to_dict()}"
        assert reading.problems, reading.question
    else:
        assert reading.understood, f"{reading.question!r} refused: {[p.en for p in reading.problems]}"
        assert reading.spec.to_dict() == expected, reading.question


def test_summary(asked):
    """The shares and the time per parse, printed (run with -s); not asserted beyond what test_question asserts."""
    exact = refused = wrong = missed = 0
    for reading, expected, _ in asked:
        got = reading.spec.to_dict() if reading.understood else None
        if expected is None:
            refused += got is None
            wrong += got is not None
        elif got is None:
            missed += 1
        else:
            exact += got == expected
            wrong += got != expected
    n = len(asked)
    times = [s * 1000 for _, _, s in asked]
    print(f"\n问数 over {n} questions: understood exactly {exact} ({exact / n:.1%}), refused correctly {refused} "
          f"({refused / n:.1%}), wrongly answered {wrong} ({wrong / n:.1%}), refused though answerable {missed} "
          f"({missed / n:.1%}); parse median {statistics.median(times):.2f} ms, max {max(times):.2f} ms")
