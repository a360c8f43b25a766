"""问数 on the 500k-line demo store (DuckDB): building a reader's vocabulary, reading a question, and the whole
answer (reading + compiled query + rows), for every question of the test table; beside it, jieba (the
segmenter the issue suggested) cutting the same questions with the same vocabulary as its user dictionary.

    python bench/bench_ask.py [--rows 500k] [--repeat 5]

The store is built once, in a child process, into bench/out/ask_<rows>.duckdb and reused. Prints medians and
maxima, and how often jieba cuts a vocabulary word the question holds into pieces; asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.access import auth
from lib.ask import answer as ask
from lib.ask import parser as ps
from lib.ask import words as w
from lib.cli.main import _rows
from lib.core import store
from lib.explore.evaluate import BUDGET_COUNTERPART
from lib.semantic import query

OUT = ROOT / "bench" / "out"
AS_OF = dt.date(2026, 11, 24)


def questions(engine, model) -> list[str]:
    """The questions of the test table (tests/lib/ask/questions.yaml), refusals included, with its customer
    placeholders filled by the store's first customer."""
    table = yaml.safe_load((ROOT / "tests" / "lib" / "ask" / "questions.yaml").read_text(encoding="utf-8"))
    customer = str(query.dimension_values(engine, "customer", None, model)[0])
    names = {"customer": customer, "customer_short": customer.removesuffix("有限公司")}
    return [str(row["q"]).format(**names) for row in table["questions"] if str(row["q"]).strip()]


def _timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=_rows, default=500_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"ask_{args.rows}.duckdb"
    url = f"duckdb:///{path}"
    if not path.exists():
        print(f"building the demo store ({args.rows:,} lines) …", flush=True)
        subprocess.run([sys.executable, "-m", "lib.cli", "--url", url, "demo", "--rows", str(args.rows),
                        "--as-of", AS_OF.isoformat()], cwd=ROOT, check=True, capture_output=True)
    engine = store.get_engine(url)
    model = query.default_model()
    qs = questions(engine, model)
    print(f"{len(qs)} questions, {args.rows:,}-line DuckDB demo, today pinned at {AS_OF}")
    for username in (None, "demo_east"):
        user = auth.load_user(engine, username) if username else None
        t0 = time.perf_counter()
        vocab = ask.vocabulary_for(engine, user, model)
        build = time.perf_counter() - t0
        parse, whole = [], []
        understood = 0
        for q in qs:
            tp, reading = _timed(lambda q=q, v=vocab: ps.read(q, v, model, AS_OF, budget_counterparts=BUDGET_COUNTERPART),
                                 args.repeat)
            parse.append(tp)
            understood += reading.understood
            ta, _ = _timed(lambda q=q, u=user, v=vocab: ask.ask(engine, q, u, v, model, today=AS_OF),
                           max(1, args.repeat // 2))
            whole.append(ta)
        who = username or "all data"
        print(f"\n[{who}] vocabulary: {len(vocab.terms):,} words, built in {build * 1000:.0f} ms "
              "(once per data/metric/user version; the page caches it)")
        print(f"  read a question : median {statistics.median(parse) * 1000:6.2f} ms   max {max(parse) * 1000:6.2f} ms")
        print(f"  whole answer    : median {statistics.median(whole) * 1000:6.1f} ms   max {max(whole) * 1000:6.1f} ms")
        print(f"  understood      : {understood}/{len(qs)}")
    _jieba(qs, vocab, args.repeat)


def _jieba(qs: list[str], vocab, repeat: int) -> None:
    try:
        import jieba
    except ImportError:
        print("\njieba is not installed (requirements-bench.txt): peer not run")
        return
    jieba.setLogLevel(60)
    t0 = time.perf_counter()
    tok = jieba.Tokenizer()
    tok.initialize()
    for word in vocab.terms:
        if not word.isascii():
            tok.add_word(word, freq=100_000)
    load = time.perf_counter() - t0
    times, split = [], 0
    for q in qs:
        tq, pieces = _timed(lambda q=q: list(tok.cut(w.normalise(q), HMM=True)), repeat)
        times.append(tq)
        bounds, pos = set(), 0
        for p in pieces:
            bounds.add(pos)
            pos += len(p)
        bounds.add(pos)
        text = w.normalise(q)
        ours = [t for t in ps.scan(q, vocab, AS_OF) if t.entry is not None and t.read_as is None]
        if any(t.start not in bounds or t.end not in bounds for t in ours if not text[t.start:t.end].isascii()):
            split += 1
    print(f"\njieba {jieba.__version__} (peer), same questions, vocabulary as its user dictionary:")
    print(f"  dictionary load + {sum(1 for x in vocab.terms if not x.isascii()):,} user words: {load * 1000:.0f} ms")
    print(f"  cut a question  : median {statistics.median(times) * 1000:6.2f} ms   max {max(times) * 1000:6.2f} ms "
          "(segmentation only: no reading, no spec)")
    print(f"  questions where jieba cuts a vocabulary word our reading keeps whole: {split}/{len(qs)}")


if __name__ == "__main__":
    main()
