"""What a question's words can name: metrics, dimensions and members, from the semantic layer and the store.

A metric is named by its labels and the synonyms declared with it (``synonyms:`` in the YAML or saved in the
metric center); a word nobody declared is not that metric (GMV is not revenue). A dimension by its labels and
synonyms. A member by its value, the value without a generic suffix (华东大区 → 华东), its English name where
the store keeps one, and the aliases finance saved (``lib.ask.lexicon``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lib.ask.words import normalise
from lib.semantic import model as semantic
from lib.semantic.model import SemanticModel

METRIC, DIMENSION, MEMBER = "metric", "dimension", "member"
_PRIORITY = {METRIC: 0, DIMENSION: 1, MEMBER: 2}
MEMBER_SUFFIXES = ("有限公司", "公司", "大区", "区域", "地区", "事业部", "中心", "门店", "部", "店", "区")
"""Generic endings a member is also named without (华东大区 → 华东, 市场部 → 市场), when two characters remain."""
NOT_WORDS = ("org_unit", "account_code")
"""Dimensions whose members are codes, not words: never matched inside a question (a '5' is not unit 5)."""


@dataclass(frozen=True)
class Entry:
    """One thing a piece of text may name."""

    kind: str                 # metric | dimension | member
    target: str               # metric id, dimension id, or the member's value
    dimension: str | None = None  # of a member
    exact: bool = True        # the label or value itself (not a synonym, alias or shortened form)

    def sort_key(self, order: Mapping[str, int]) -> tuple:
        return (_PRIORITY[self.kind], not self.exact, order.get(self.dimension or self.target, 99))


@dataclass
class Vocabulary:
    terms: dict[str, list[Entry]] = field(default_factory=dict)
    max_len: int = 1
    dimension_order: dict[str, int] = field(default_factory=dict)

    def add(self, text: str, entry: Entry) -> None:
        key = re.sub(r"\s+", " ", normalise(text.strip()))
        if not key or (entry.kind == MEMBER and not _wordlike(key)):
            return
        entries = self.terms.setdefault(key, [])
        if entry not in entries:
            entries.append(entry)
            entries.sort(key=lambda e: e.sort_key(self.dimension_order))
        self.max_len = max(self.max_len, len(key))

    def at(self, text: str, i: int) -> list[tuple[int, list[Entry]]]:
        """Terms starting at ``i`` of the normalised ``text``, longest first, English words whole."""
        out = []
        for n in range(min(self.max_len, len(text) - i), 0, -1):
            piece = text[i:i + n]
            if piece in self.terms and _whole(text, i, i + n):
                out.append((n, self.terms[piece]))
        return out

    def texts(self, kinds: Iterable[str]) -> dict[str, list[Entry]]:
        kinds = set(kinds)
        return {k: [e for e in v if e.kind in kinds] for k, v in self.terms.items() if any(e.kind in kinds for e in v)}

    def names_of(self, entry: Entry) -> list[str]:
        return [k for k, v in self.terms.items() if entry in v]


def _wordlike(text: str) -> bool:
    """A member value worth matching in a sentence: two characters or more, not only digits and signs."""
    return len(text) >= 2 and not re.fullmatch(r"[\d\W_]+", text)


def _ascii_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _whole(text: str, i: int, j: int) -> bool:
    """An English term matches whole words only (east is not in 'least'); Chinese has no word boundaries."""
    if _ascii_word(text[i]) and i > 0 and _ascii_word(text[i - 1]):
        return False
    return not (_ascii_word(text[j - 1]) and j < len(text) and _ascii_word(text[j]))


def _plural(word: str) -> str | None:
    if not re.fullmatch(r"[a-z][a-z /-]*[a-z]", word.lower()):
        return None
    w = word.lower()
    if w.endswith("y") and not w.endswith(("ay", "ey", "oy")):
        return w[:-1] + "ies"
    return w + ("es" if w.endswith(("s", "x", "ch", "sh")) else "s")


def shortened(value: str) -> list[str]:
    """A member's value without a generic suffix, when at least two characters remain.

    >>> shortened("华东大区"), shortened("市场部"), shortened("上海旗舰店"), shortened("电商")
    (['华东'], ['市场'], ['上海旗舰'], [])
    """
    for suffix in MEMBER_SUFFIXES:
        if value.endswith(suffix) and len(value) - len(suffix) >= 2:
            return [value[: -len(suffix)]]
    return []


def build(model: SemanticModel, members: Mapping[str, Iterable[str]] | None = None,
          english: Mapping[str, Mapping[str, str]] | None = None,
          aliases: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
          dimension_synonyms: Mapping[str, Iterable[str]] | None = None,
          metrics: Iterable[str] | None = None) -> Vocabulary:
    """The vocabulary of ``model``: ``members`` by dimension, their ``english`` names, saved ``aliases`` (by
    dimension, member → words) and saved ``dimension_synonyms``. ``metrics`` limits which metrics are named
    (default: every metric not deprecated)."""
    v = Vocabulary(dimension_order={d: i for i, d in enumerate(model.dimensions)})
    wanted = set(metrics) if metrics is not None else None
    for m in model.metrics.values():
        if m.status is semantic.Status.DEPRECATED or (wanted is not None and m.id not in wanted):
            continue
        for text in (m.label_zh, m.label_en):
            v.add(text, Entry(METRIC, m.id))
        for text in m.synonyms:
            v.add(text, Entry(METRIC, m.id, exact=False))
    for d in model.dimensions.values():
        words = [*d.label_zh.split("/"), *d.label_en.split(" / ")]
        for text in words:
            v.add(text, Entry(DIMENSION, d.id))
        for text in [*d.synonyms, *(dimension_synonyms or {}).get(d.id, ())]:
            v.add(text, Entry(DIMENSION, d.id, exact=False))
        for text in [*words, *d.synonyms]:
            if (p := _plural(text)) is not None:
                v.add(p, Entry(DIMENSION, d.id, exact=False))
    for dim, values in (members or {}).items():
        if dim in NOT_WORDS:
            continue
        for value in values:
            value = str(value)
            v.add(value, Entry(MEMBER, value, dim))
            for short in shortened(value):
                v.add(short, Entry(MEMBER, value, dim, exact=False))
    for dim, names in (english or {}).items():
        for value, name in names.items():
            if name:
                v.add(name, Entry(MEMBER, value, dim, exact=False))
    for dim, by_member in (aliases or {}).items():
        for value, words in by_member.items():
            for text in words:
                v.add(text, Entry(MEMBER, value, dim, exact=False))
    return v
