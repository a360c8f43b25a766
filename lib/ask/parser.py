"""A question in words → a QuerySpec, with the reading shown token by token and nothing guessed.

The question is read left to right; at each place the longest thing it can be wins: a time expression,
comparison, ranking or grain (``lib.ask.words``), a metric, dimension or member (``lib.ask.vocabulary``),
or a filler word (的, 多少, show me). What is none of these is *not understood*; a near-name (a typo) is
read as the name only when one name is clearly closest, and the token says so. Any word not understood
means no answer: the reading says what could not be read and which metrics come closest.

Where a word names several things (a product and a customer of the same name; 毛利 and 毛利率), the reading
keeps the one it chose and the others as alternatives; ``overrides`` (span → entry) takes another.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from lib.ask import words as w
from lib.ask.vocabulary import DIMENSION, MEMBER, METRIC, Entry, Vocabulary
from lib.semantic import model as semantic
from lib.semantic.model import MetricType, SemanticModel
from lib.semantic.spec import Comparison, FilterSpec, QuerySpec, Sort, TimeRange

UNKNOWN = "unknown"
KINDS = (METRIC, DIMENSION, MEMBER, w.TIME, w.COMPARISON, w.RANKING, w.GRAIN, w.FILLER, UNKNOWN)
FUZZY_LATIN, FUZZY_CJK = 80.0, 75.0
"""Scores (rapidfuzz ratio, 0–100) a near-name needs to be read as the name: one slip in a word of five
letters, or one character in four Chinese ones. Below them a word is not understood. A near-name is also at
most one slip (a letter changed, added, dropped or two swapped) per five letters of the name away."""
DEFAULT_RANGES = {"day": (30, "day"), "week": (12, "week"), "month": (12, "month"), "quarter": (8, "quarter")}
"""A grain with no time asked: the last N whole periods ending with the current one (years: all of them)."""


PERIOD_GRAIN = {"month": "month", "quarter": "quarter", "year": "year", "ytd": "year", "week": "week", "day": "day"}
"""The grain a single named period is compared by with 环比 (its previous period)."""


@dataclass(frozen=True)
class Token:
    text: str                 # as typed
    start: int
    end: int
    kind: str                 # one of KINDS
    entry: Entry | None = None          # metric / dimension / member
    value: object = None                # time Span, comparison, Rank, grain
    read_as: str | None = None          # a near-name: the name it was read as
    alternatives: tuple[Entry, ...] = ()

    def to_dict(self, labels) -> dict:
        out: dict = {"text": self.text, "kind": self.kind}
        if self.entry is not None:
            out["target"] = self.entry.target
            if self.entry.dimension:
                out["dimension"] = self.entry.dimension
        elif isinstance(self.value, w.Span):
            out["target"] = {"start": self.value.start.isoformat(), "end": self.value.end.isoformat()}
        elif isinstance(self.value, w.Rank):
            out["target"] = {"descending": self.value.descending, "n": self.value.n}
        elif self.value is not None:
            out["target"] = self.value
        if self.kind not in (w.FILLER, UNKNOWN):
            out["label"] = labels(self)
        if self.read_as:
            out["read_as"] = self.read_as
        if self.alternatives:
            out["alternatives"] = [{"kind": a.kind, "target": a.target, **({"dimension": a.dimension} if a.dimension else {})}
                                   for a in self.alternatives]
        return out


@dataclass(frozen=True)
class Problem:
    en: str
    zh: str

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Reading:
    question: str
    tokens: tuple[Token, ...]
    spec: QuerySpec | None
    problems: tuple[Problem, ...] = ()
    suggestions: tuple[str, ...] = ()      # metric ids closest to what was not understood
    defaults: tuple[str, ...] = ()         # what was assumed: "time" when no time was asked
    ranking: w.Rank | None = None
    notes: tuple[Problem, ...] = field(default=())

    @property
    def understood(self) -> bool:
        return self.spec is not None and not self.problems

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.tokens if t.kind == UNKNOWN)


# ---- scanning --------------------------------------------------------------------------------

def _separator(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PSZ" and ch not in "%"


def _filler_at(text: str, i: int) -> int:
    for f in w.FILLER_ZH:
        if text.startswith(f, i):
            return len(f)
    if text[i].isascii() and text[i].isalpha() and (i == 0 or not (text[i - 1].isascii() and text[i - 1].isalnum())):
        m = re.match(r"[a-z']+", text[i:])
        if m and m.group(0) in w.FILLER_EN:
            return len(m.group(0))
    return 0


def scan(question: str, vocab: Vocabulary, today: dt.date) -> list[Token]:
    """The question cut into tokens: at each place the longest reading; ties go to fixed words, then names."""
    text = w.normalise(question)
    hits: dict[int, list[w.Hit]] = {}
    for h in w.find(text, today):
        hits.setdefault(h.start, []).append(h)
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        if _separator(text[i]):
            i += 1
            continue
        best: tuple | None = None
        for h in hits.get(i, ()):
            cand = (h.end - i, 2, Token(question[i:h.end], i, h.end, h.kind, value=h.value))
            best = cand if best is None or cand[:2] > best[:2] else best
        for n, entries in vocab.at(text, i):
            cand = (n, 1, Token(question[i:i + n], i, i + n, entries[0].kind, entry=entries[0],
                                alternatives=tuple(entries[1:])))
            best = cand if best is None or cand[:2] > best[:2] else best
            break  # longest first
        if (n := _filler_at(text, i)) and (best is None or n > best[0]):
            best = (n, 0, Token(question[i:i + n], i, i + n, w.FILLER))
        if best is not None:
            tokens.append(best[2])
            i += best[0]
            continue
        j = i + 1
        if text[i].isascii() and text[i].isalnum():
            while j < len(text) and text[j].isascii() and (text[j].isalnum() or text[j] in "'&"):
                j += 1
        prev = tokens[-1] if tokens else None
        if prev is not None and prev.kind == UNKNOWN and prev.end == i and not text[i].isascii():
            tokens[-1] = Token(question[prev.start:j], prev.start, j, UNKNOWN)
        else:
            tokens.append(Token(question[i:j], i, j, UNKNOWN))
        i = j
    return [_near_name(t, vocab) if t.kind == UNKNOWN else t for t in tokens]


def _latin(text: str) -> bool:
    return all(ch.isascii() for ch in text)


def _near_name(tok: Token, vocab: Vocabulary) -> Token:
    """An unknown word read as a name when exactly one name is close enough (a typo), else left unknown."""
    word = w.normalise(tok.text)
    latin = _latin(word)
    if len(word) < 4:
        return tok
    choices = [k for k in vocab.terms if _latin(k) == latin and len(k) >= 3]
    found = process.extract(word, choices, scorer=fuzz.ratio, limit=2,
                            score_cutoff=FUZZY_LATIN if latin else FUZZY_CJK)
    if not found or (len(found) > 1 and found[1][1] >= found[0][1]):
        return tok
    name = found[0][0]
    if OSA.distance(word, name) > max(1, len(name) // 5):
        return tok  # not a slip but another word: EBITDA is not EBIT, market is not marketing
    entries = vocab.terms[name]
    return replace(tok, kind=entries[0].kind, entry=entries[0], alternatives=tuple(entries[1:]), read_as=name)


def suggest(words_: tuple[str, ...], vocab: Vocabulary, model: SemanticModel, n: int = 3) -> tuple[str, ...]:
    """Metrics whose names come closest to the words not understood (the commonest when none comes close)."""
    metric_terms = vocab.texts([METRIC])
    scores: dict[str, float] = {}
    for word in words_:
        for name, score, _ in process.extract(w.normalise(word), list(metric_terms), scorer=fuzz.WRatio, limit=8,
                                              score_cutoff=45):
            for e in metric_terms[name]:
                scores[e.target] = max(scores.get(e.target, 0), score)
    ranked = sorted(scores, key=lambda k: -scores[k])
    common = [m for m in ("revenue", "gross_margin", "opex", "ar_balance") if m in model.metrics]
    return tuple(dict.fromkeys([*ranked, *common]))[:n]


# ---- the reading -------------------------------------------------------------------------------

def _choose_members(tokens: list[Token], model: SemanticModel, metrics: list[str]) -> list[Token]:
    """A member word naming members of several dimensions: the one every asked metric can be cut by wins."""
    if not metrics:
        return tokens
    ok = set.intersection(*[set(model.dimensions_of(m)) for m in metrics])
    out = []
    for t in tokens:
        if t.kind == MEMBER and t.entry.dimension not in ok:
            better = [a for a in t.alternatives if a.kind == MEMBER and a.dimension in ok]
            if better:
                rest = tuple(a for a in (t.entry, *t.alternatives) if a != better[0])
                t = replace(t, entry=better[0], alternatives=rest)
        out.append(t)
    return out


def _related_metrics(t: Token, vocab: Vocabulary) -> tuple[Entry, ...]:
    """Metrics whose names contain the word or are contained in it (毛利 ↔ 毛利率): offered as corrections."""
    word = w.normalise(t.text)
    if len(word) < 2:
        return ()
    out = []
    for name, entries in vocab.texts([METRIC]).items():
        if name != word and (name.startswith(word) or word.startswith(name)) and len(name) >= 2:
            out += [e for e in entries if e.kind == METRIC and e.target != t.entry.target]
    return tuple(dict.fromkeys(out))[:4]


def _merge_member_words(tokens: list[Token]) -> list[Token]:
    """'华东 区域', 'West region': a dimension word right after (or before) a member of it names the member."""
    out: list[Token] = []
    for t in tokens:
        prev = out[-1] if out else None
        if prev is not None and t.kind == DIMENSION and prev.kind == DIMENSION and t.start - prev.end <= 1:
            prev = out[-1] = _dimension_as_member(prev, t.entry.target)  # 门店渠道: the channel 门店
        if prev is not None and t.kind == DIMENSION and prev.kind == MEMBER and t.start - prev.end <= 1:
            prev = out[-1] = _as_member_of(prev, t.entry.target)  # 电商渠道: the channel 电商, not the segment
        if prev is not None and t.kind == MEMBER and prev.kind == DIMENSION and t.start - prev.end <= 1:
            t = _as_member_of(t, prev.entry.target)
        if (prev is not None and t.kind == DIMENSION and prev.kind == MEMBER
                and prev.entry.dimension == t.entry.target and t.start - prev.end <= 1):
            out[-1] = replace(prev, end=t.end, text=prev.text + (" " if t.start > prev.end else "") + t.text)
            continue
        if (prev is not None and t.kind == MEMBER and prev.kind == DIMENSION
                and t.entry.dimension == prev.entry.target and t.start - prev.end <= 1):
            out[-1] = replace(t, start=prev.start, text=prev.text + (" " if t.start > prev.end else "") + t.text)
            continue
        out.append(t)
    return out


def _dimension_as_member(t: Token, dim: str) -> Token:
    """A dimension word read as a member of ``dim`` when it also names one (门店: the department dimension, and
    a channel)."""
    other = next((a for a in t.alternatives if a.kind == MEMBER and a.dimension == dim), None)
    return t if other is None else replace(t, kind=MEMBER, entry=other, alternatives=tuple(
        a for a in (t.entry, *t.alternatives) if a != other))


def _as_member_of(t: Token, dim: str) -> Token:
    """The member token read in ``dim`` when one of its readings is a member of it."""
    if t.entry.dimension == dim:
        return t
    other = next((a for a in t.alternatives if a.kind == MEMBER and a.dimension == dim), None)
    return t if other is None else replace(t, entry=other, alternatives=tuple(
        a for a in (t.entry, *t.alternatives) if a != other))


def _times(tokens: list[Token], text: str) -> list[tuple[w.Span, str]]:
    """Time tokens as spans; two joined by 到/至/to make one range (2025年3月到6月: the second takes the year)."""
    out: list[tuple[w.Span, str]] = []
    times = _in_years([t for t in tokens if t.kind == w.TIME], text)
    k = 0
    while k < len(times):
        a = times[k]
        span, label = a.value, a.text
        if k + 1 < len(times):
            b = times[k + 1]
            between = w.normalise(text[a.end:b.start])
            if (w.RANGE_JOIN.fullmatch(between) and between.strip()) or (
                    w.BETWEEN_AND.fullmatch(between) and w.BETWEEN.search(w.normalise(text[:a.start]))):
                end = b.value
                if end.bare and not span.bare:
                    end = _rebase(end, span.start.year)
                    if end.end < span.start:
                        end = _rebase(end, span.start.year + 1)
                elif span.bare and (not end.bare or end.end < span.start):
                    # January to March 2025: the start takes the end's year; 10月到2月: the October before
                    span = _rebase(span, end.start.year)
                    if span.start > end.end:
                        span = _rebase(span, end.start.year - 1)
                # A range that ends before it starts is kept as asked, and refused.
                what = "range" if end.end >= span.start else "reversed"
                out.append((w.Span(span.start, end.end, what), f"{a.text}{between}{b.text}"))
                k += 2
                continue
        out.append((span, label))
        k += 1
    return out


def _in_years(times: list[Token], text: str) -> list[Token]:
    """A month, quarter or half named without its year next to a year (今年3月, 去年Q4, 去年上半年, March last
    year): one time, that part of that year."""
    out: list[Token] = []
    for t in times:
        prev = out[-1] if out else None
        if prev is not None and w.IN_YEAR.fullmatch(w.normalise(text[prev.end:t.start])):
            year, part = ((prev, t) if prev.value.what in w.YEARS and t.value.bare else
                          (t, prev) if t.value.what in w.YEARS and prev.value.bare else (None, None))
            if year is not None:
                out[-1] = replace(prev, end=t.end, text=text[prev.start:t.end],
                                  value=_rebase(part.value, year.value.start.year))
                continue
        out.append(t)
    return out


def _rebase(span: w.Span, year: int) -> w.Span:
    try:
        return w.Span(span.start.replace(year=year), span.end.replace(year=year), span.what)
    except ValueError:  # 29 February
        return w.Span(span.start.replace(year=year, day=28), span.end.replace(year=year, day=28), span.what)


def _round_months(tr: TimeRange) -> TimeRange:
    start = tr.start.replace(day=1)
    nxt = dt.date(tr.end.year + (tr.end.month == 12), tr.end.month % 12 + 1, 1)
    return TimeRange(start, nxt - dt.timedelta(days=1))


def _accounts_of(mid: str, model: SemanticModel, actual: str, budget: str) -> list[FilterSpec] | None:
    """When ``mid`` is the ``actual`` amount of some accounts (期间费用: the GL amount of the opex accounts), the
    filters naming those accounts, which the budget lines have too; else None."""
    m, act = model.metric(mid), model.metric(actual)
    budget_dims = set(model.datasets_of(budget)[0].dimensions)
    if (m.type is MetricType.SIMPLE and m.dataset == act.dataset and m.expr == act.expr and m.filters
            and all(f.dimension in budget_dims and f.op in ("eq", "in") for f in m.filters)):
        return [FilterSpec(f.dimension, "in", tuple(f.values)) for f in m.filters]
    return None


def _budget_of_accounts(metrics: list[str], model: SemanticModel, counterparts: Mapping[str, str]) -> list[FilterSpec]:
    """费用预算, opex and budget: a budget asked with the actual of some accounts is the budget of those accounts
    (not of every account), so their filters hold for the question."""
    if not counterparts:
        return []
    actual, budget = next(iter(counterparts.items()))
    if not any(mid == budget or budget in model.metric(mid).references() for mid in metrics):
        return []
    return [f for mid in metrics for f in (_accounts_of(mid, model, actual, budget) or [])]


def _budget_metrics(metrics: list[str], model: SemanticModel, counterparts: Mapping[str, str]
                    ) -> tuple[list[str], list[FilterSpec], Problem | None]:
    """'vs budget': the actuals with their budget and the variance. A metric is compared with a budget when it
    has a budget counterpart, or when it is the actual amount of some accounts (a GL metric filtered by
    dimensions the budget lines have): then it is that actual, budget and variance under those filters."""
    if not counterparts:
        return metrics, [], Problem("No metric has a budget to compare with.", "没有可对比预算的指标。")
    actual, budget = next(iter(counterparts.items()))
    variance = next((m.id for m in model.metrics.values() if m.type is MetricType.DERIVED
                     and set(m.references()) == {actual, budget} and m.format is semantic.Format.CURRENCY), None)
    pair = [actual, budget, *([variance] if variance else [])]
    filters: list[FilterSpec] = []
    for mid in metrics:
        m = model.metric(mid)
        if mid == actual or actual in m.references() or mid == budget:
            continue
        act = model.metric(actual)
        if (accounts := _accounts_of(mid, model, actual, budget)) is not None:
            filters += accounts
            continue
        return metrics, [], Problem(
            f"{m.label_en} has no budget to compare with: budgets are kept by account, as {model.metric(budget).label_en} "
            f"against {act.label_en}. Ask for example “{act.label_en} vs budget by account type”.",
            f"“{m.label_zh}”没有对应的预算：预算按科目编制，以“{model.metric(budget).label_zh}”对比“{act.label_zh}”。"
            f"可以这样问：“各科目类型的{act.label_zh}对比预算”。")
    return pair, filters, None


def read(question: str, vocab: Vocabulary, model: SemanticModel, today: dt.date,
         overrides: Mapping[tuple[int, int], Entry] | None = None,
         budget_counterparts: Mapping[str, str] | None = None) -> Reading:
    """The reading of ``question``: its tokens and, when every word was understood, its QuerySpec."""
    tokens = scan(question, vocab, today)
    if overrides:
        tokens = [_override(t, overrides[(t.start, t.end)]) if (t.start, t.end) in overrides else t for t in tokens]
    tokens = [replace(t, alternatives=(*t.alternatives, *_related_metrics(t, vocab))) if t.kind == METRIC else t
              for t in tokens]
    tokens = [replace(t, alternatives=_distinct(t)) if t.alternatives else t for t in tokens]
    metrics = list(dict.fromkeys(t.entry.target for t in tokens if t.kind == METRIC))
    if not metrics and budget_counterparts and any(
            t.kind == w.COMPARISON and t.value == w.BUDGET and w.NAMES_ACTUAL.search(w.normalise(t.text)) for t in tokens):
        metrics = [next(iter(budget_counterparts))]  # 实际与预算对比, budget vs actual: the actual is named
    tokens = _choose_members(tokens, model, metrics)
    tokens = _merge_member_words(tokens)
    problems: list[Problem] = []
    unknown = tuple(t.text for t in tokens if t.kind == UNKNOWN)
    if unknown:
        problems.append(Problem(f"Not understood: {', '.join(unknown)}.", f"无法理解：{'、'.join(unknown)}。"))
    if not metrics:
        problems.append(Problem("No metric was named.", "没有识别到指标。"))
    spec, defaults, rank = None, [], None
    if not problems:
        spec, defaults, rank, more = _spec(question, tokens, metrics, model, today, budget_counterparts or {})
        problems += more
        if more:
            spec = None
    suggestions = suggest(unknown, vocab, model) if problems and (unknown or not metrics) else ()
    return Reading(question, tuple(tokens), spec, tuple(problems), suggestions, tuple(defaults), rank)


def _distinct(t: Token) -> tuple[Entry, ...]:
    """Alternatives naming other things than the token's reading, each once (a label and a synonym are one)."""
    seen = {(t.entry.kind, t.entry.target, t.entry.dimension)} if t.entry is not None else set()
    out = []
    for a in t.alternatives:
        key = (a.kind, a.target, a.dimension)
        if key not in seen:
            seen.add(key)
            out.append(a)
    return tuple(out)


def _override(t: Token, e: Entry) -> Token:
    rest = tuple(a for a in (t.entry, *t.alternatives) if a is not None and a != e)
    return replace(t, kind=e.kind, entry=e, value=None, alternatives=rest)


def _spec(question: str, tokens: list[Token], metrics: list[str], model: SemanticModel, today: dt.date,
          counterparts: Mapping[str, str]):
    problems: list[Problem] = []
    defaults: list[str] = []
    dims = list(dict.fromkeys(t.entry.target for t in tokens if t.kind == DIMENSION))
    members: dict[str, list[str]] = {}
    for t in tokens:
        if t.kind == MEMBER:
            members.setdefault(t.entry.dimension, [])
            if t.entry.target not in members[t.entry.dimension]:
                members[t.entry.dimension].append(t.entry.target)
    filters = [FilterSpec(d, "in", tuple(v)) for d, v in members.items()]
    grains = list(dict.fromkeys(t.value for t in tokens if t.kind == w.GRAIN))
    trend = w.TREND in grains
    grains = [g for g in grains if g != w.TREND]
    if len(grains) > 1:
        problems.append(Problem(f"Two time grains: {', '.join(grains)}; ask for one.", "出现了两个时间粒度，请只保留一个。"))
    grain = grains[0] if grains else ("month" if trend else None)
    if grain is None and any(model.metric(m).type is MetricType.CUMULATIVE for m in metrics):
        grain = "month"  # a running total is read month by month
        defaults.append("grain")
    comparisons = list(dict.fromkeys(t.value for t in tokens if t.kind == w.COMPARISON))
    spans = _times(tokens, question)
    if len(spans) > 1 and any(s.what == "last_year_ytd" for s, _ in spans) and not comparisons:
        spans = [(s, lb) for s, lb in spans if s.what != "last_year_ytd"]  # 今年…与去年同期: a comparison
        comparisons.append(w.YOY)
    if len(comparisons) > 1:
        problems.append(Problem("Two comparisons asked; ask for one.", "出现了两种对比，请只保留一种。"))
    if backwards := [label for s, label in spans if s.what == "reversed"]:
        problems.append(Problem(f"The range {backwards[0]} ends before it starts.", f"时间范围“{backwards[0]}”的结束早于开始。"))
        spans = []
    time_range = None
    if len(spans) == 1:
        time_range = TimeRange(spans[0][0].start, spans[0][0].end)
    elif len(spans) > 1:
        whats = {s.what for s, _ in spans}
        if len(whats) == 1 and (what := whats.pop()) in ("year", "quarter", "month"):
            time_range = TimeRange(min(s.start for s, _ in spans), max(s.end for s, _ in spans))
            grain = grain or what  # 2025年和2026年: both years, year by year
        else:
            problems.append(Problem("Several time ranges asked; ask for one range (e.g. 2025-01 to 2025-06).",
                                    "出现了多个时间范围，请只给一个（例如 2025年1月到6月）。"))
    previous = [t for t in tokens if t.kind == w.COMPARISON and t.value == w.PREVIOUS]
    unit = next((u for t in previous if (u := w.previous_unit(w.normalise(t.text)))), "month" if previous else None)
    if not spans and grain is None and unit and not problems:
        # 营收较上月, revenue vs last month: this month against the last (as 本月环比); 环比 alone: by month
        this = w.this_period(today, unit)
        spans = [(this, "")]
        time_range = TimeRange(this.start, this.end)
        defaults.append("time")
    if time_range is None and not problems:
        defaults.append("time")
        if grain in DEFAULT_RANGES:
            n, unit = DEFAULT_RANGES[grain]
            s = w.last_n(today, n, unit)
            time_range = TimeRange(s.start, s.end)
        elif grain != "year":
            s = w.ytd(today)
            time_range = TimeRange(s.start, s.end)
    comparison = None
    if comparisons and not problems:
        c = comparisons[0]
        if c == w.BUDGET:
            metrics, more, problem = _budget_metrics(metrics, model, counterparts)
            if problem:
                problems.append(problem)
            filters += [f for f in more if f.dimension not in members]
        else:
            comparison = Comparison.YOY if c == w.YOY else Comparison.PREVIOUS
    if not (comparisons and comparisons[0] == w.BUDGET):
        filters += [f for f in dict.fromkeys(_budget_of_accounts(metrics, model, counterparts))
                    if f.dimension not in members]
    ranks = [t.value for t in tokens if t.kind == w.RANKING]
    rank = ranks[0] if ranks else None
    sort, limit = (), None
    if len({(r.descending, r.n) for r in ranks}) > 1:
        problems.append(Problem("Two rankings asked; ask for one.", "出现了两种排名，请只保留一种。"))
    elif rank is not None:
        groups = len(dims) + (grain is not None)
        if groups == 0:
            problems.append(Problem("A ranking needs something to rank: say by what (e.g. by region).",
                                    "排名需要说明按什么排，例如“按区域”或“哪个产品”。"))
        elif groups > 1 and rank.n is not None:
            problems.append(Problem("A top N over two breakdowns is ambiguous; ask for one breakdown.",
                                    "同时按两个维度取前N名含义不明确，请只按一个维度排名。"))
        else:
            sort, limit = (Sort(metrics[0], rank.descending),), rank.n
    if problems:
        return None, defaults, rank, problems
    if time_range is not None and time_range.start <= today < time_range.end:
        # A period still running ends today, so a comparison sets like against like (1–24 Nov with 1–24 Nov).
        time_range = TimeRange(time_range.start, today)
    if comparison is Comparison.PREVIOUS and grain is None and len(spans) == 1:
        # 本月环比: the same days of the previous month, read as that period's grain (not the days before).
        grain = PERIOD_GRAIN.get(spans[0][0].what)
    if time_range is not None and any(ds.period_grain == "month" for m in metrics for ds in model.datasets_of(m)):
        time_range = _round_months(time_range)  # budget lines are whole months
    spec = QuerySpec(tuple(metrics), tuple(([grain] if grain else []) + dims), tuple(filters), time_range,
                     comparison, sort, limit)
    return spec, defaults, rank, []
