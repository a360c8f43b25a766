"""Who is asking: the user, their row scope and the sources their role may not read, as the compiler applies them.

Costs are denied by what the data *is* — a table, some of its columns, or its rows of some account
types — not by metric name: every metric, derived metric, filter and value list that would read a denied
source is refused by the query compiler (``lib.semantic.query``). ``denied_metrics`` stays as the
vocabulary of a role file that names metrics.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model is passed in; access sits below the semantic layer and never imports it
    from lib.semantic.model import SemanticModel


@dataclass(frozen=True)
class Scope:
    """Rows a user may read: org units (already expanded to whole subtrees) and, optionally, categories.

    ``None`` means no restriction on that axis; an empty set means nothing.
    """

    org_unit_ids: frozenset[int] | None = None
    categories: frozenset[str] | None = None


@dataclass(frozen=True)
class DeniedSource:
    """Data a role may not read: a whole ``table``; some of its ``columns``; or its rows whose semantic
    ``dimension`` has one of ``values`` (rows where that dimension is unknown are denied too)."""

    table: str
    columns: frozenset[str] = frozenset()
    dimension: str | None = None
    values: frozenset[str] = frozenset()
    label_zh: str = ""
    label_en: str = ""

    @property
    def by_rows(self) -> bool:
        return self.dimension is not None

    def covers(self, table: str, column: str) -> bool:
        """Whether reading ``table.column`` at all is denied (row denials never deny a whole column)."""
        return not self.by_rows and table == self.table and (not self.columns or column in self.columns)

    def label(self, lang: str) -> str:
        what = self.label_zh if lang == "zh" else self.label_en
        if what:
            return what
        if self.by_rows:
            return f"{self.table}（{self.dimension} ∈ {', '.join(sorted(self.values))}）"
        return f"{self.table}.{', '.join(sorted(self.columns))}" if self.columns else self.table

    @staticmethod
    def parse(raw: Mapping) -> DeniedSource:
        """One entry of a role's ``deny_sources`` in data/roles.yaml."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("table"), str):
            raise ValueError(f"A denied source names its table: {raw!r}")
        rows = raw.get("rows") or {}
        if rows and (len(rows) != 1 or raw.get("columns")):
            raise ValueError(f"A denied source is a table, some columns, or rows of one dimension: {raw!r}")
        dim, values = next(iter(rows.items())) if rows else (None, ())
        return DeniedSource(raw["table"], frozenset(raw.get("columns") or ()), dim,
                            frozenset(str(v) for v in (values or ())), str(raw.get("label_zh") or ""),
                            str(raw.get("label_en") or ""))


@dataclass(frozen=True)
class User:
    username: str
    role: str = "viewer"
    scope: Scope | None = None
    denied_metrics: frozenset[str] = frozenset()
    denied_sources: tuple[DeniedSource, ...] = ()

    def denial(self, reads: Iterable[tuple[str, str]]) -> DeniedSource | None:
        """The first whole-table or column denial among ``(table, column)`` reads, or None."""
        pairs = list(reads)
        for d in self.denied_sources:
            if any(d.covers(table, column) for table, column in pairs):
                return d
        return None

    def row_denials(self, table: str) -> tuple[DeniedSource, ...]:
        return tuple(d for d in self.denied_sources if d.by_rows and d.table == table)

    def may_see_metric(self, metric_id: str, model: SemanticModel) -> bool:
        """False when the metric, or any metric it is computed from, is denied by name, or reads a denied
        table or column. (Row denials leave a metric visible: its rows are filtered in the compiler.)"""
        if self.denied_metrics:
            seen, todo = set(), [metric_id]
            while todo:
                mid = todo.pop()
                if mid in self.denied_metrics:
                    return False
                if mid not in seen:
                    seen.add(mid)
                    todo.extend(model.metric(mid).references())
        if self.denied_sources:
            for leaf in model.leaf_metrics(metric_id):
                if self.denial(model.reads_of(leaf)) is not None:
                    return False
        return True
