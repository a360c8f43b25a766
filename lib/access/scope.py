"""Who is asking: the user and their row scope, as the query compiler applies them.

The access-control issue adds log-in, roles and scope storage; the compiler already takes a
``User`` so that every read is scoped in one place.
"""
from __future__ import annotations

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
class User:
    username: str
    role: str = "viewer"
    scope: Scope | None = None
    denied_metrics: frozenset[str] = frozenset()

    def may_see_metric(self, metric_id: str, model: SemanticModel) -> bool:
        """False when the metric, or any metric it is computed from, is denied to this user."""
        if not self.denied_metrics:
            return True
        seen, todo = set(), [metric_id]
        while todo:
            mid = todo.pop()
            if mid in self.denied_metrics:
                return False
            if mid not in seen:
                seen.add(mid)
                todo.extend(model.metric(mid).references())
        return True
