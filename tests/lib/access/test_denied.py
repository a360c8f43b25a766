"""Denied means denied: a role's denied sources (tables, columns, rows of account types) are refused by the
compiler whatever metric, filter or value list asks for them, and README's visibility table says exactly that."""
from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.sql import visitors

from lib.access import auth
from lib.access.scope import User
from lib.core import config
from lib.core.errors import Forbidden, WorkbenchError
from lib.semantic import query
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange

YEAR = TimeRange(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
ROLES = ("admin", "finance", "dept_head", "viewer")


def role_user(role: str, scope=None) -> User:
    spec = auth.roles()[auth.Role(role)]
    return User(role, role, scope, spec.deny_metrics, spec.deny_sources)


@pytest.fixture(scope="module")
def viewer(demo_engine) -> User:
    return auth.load_user(demo_engine, "demo_viewer")


@pytest.fixture(scope="module")
def same_rows(viewer) -> User:
    """Finance's reading of the viewer's rows: the same scope, nothing denied."""
    return User("ref", "finance", viewer.scope)


def tables_read(stmt: sa.Select) -> set[tuple[str, str]]:
    """Every (table, column) a compiled statement touches, through aliases and subqueries."""
    out = set()
    for el in visitors.iterate(stmt, {"column_collections": False}):
        if isinstance(el, sa.Column) and el.table is not None:
            t = el.table
            while hasattr(t, "element") and not isinstance(t, sa.Table):
                t = t.element
            if isinstance(t, sa.Table):
                out.add((t.name, el.name))
    return out


def test_the_three_leaks_found_are_refused(demo_engine, viewer):
    # 1. budgeted COGS through the budget metric's account-type filter
    with pytest.raises(Forbidden, match="budget lines of cost and expense accounts"):
        query.run(demo_engine, QuerySpec(("budget",), filters=(FilterSpec("account_type", "in", ("cogs",)),),
                                         time_range=YEAR), viewer)
    # 2. GL actuals through opex (the same postings as `actual`)
    for spec in (QuerySpec(("opex",), ("account",), time_range=YEAR), QuerySpec(("actual",), time_range=YEAR),
                 QuerySpec(("opex_ratio",), time_range=YEAR)):
        with pytest.raises(Forbidden, match="GL postings"):
            query.run(demo_engine, spec, viewer)
    # the cost of sales, and what is computed from it
    for mid in ("cogs", "gross_margin", "inventory_days"):
        with pytest.raises(Forbidden, match="cost amount of sales lines"):
            query.compile(QuerySpec((mid,), time_range=YEAR), viewer)
    # (3. scores that solve back to a margin: tests/lib/performance/test_scorecard.py)


def test_a_viewer_walking_every_metric_and_account_type_reads_no_denied_source(demo_engine, demo_tables, viewer,
                                                                               same_rows):
    model = query.default_model()
    types = sorted(demo_tables["account"]["type"].unique())
    assert set(types) >= {"revenue", "cogs", "opex"}
    allowed_types = [x for x in types if x not in ("cogs", "opex")]
    answered = refused = 0
    for mid in model.metrics:
        for value in (None, *types):
            filters = (FilterSpec("account_type", "in", (value,)),) if value else ()
            spec = QuerySpec((mid,), filters=filters, time_range=YEAR)
            try:
                stmt = query.compile(spec, viewer)
            except Forbidden:
                refused += 1
                continue
            except WorkbenchError:  # a metric that has no account type: not a question about costs
                continue
            read = tables_read(stmt)
            assert not {t for t, _ in read} & {"journal_line"}, (mid, value)
            assert ("sales_line", "cost_amount") not in read, (mid, value)
            assert value not in ("cogs", "opex"), (mid, value)
            # The figure is the one computed from the allowed rows alone.
            datasets = {d.id for d in model.datasets_of(mid)}
            ref_filters = filters or ((FilterSpec("account_type", "in", tuple(allowed_types)),)
                                      if "budget" in datasets else ())
            got = query.run(demo_engine, spec, viewer)
            want = query.run(demo_engine, QuerySpec((mid,), filters=ref_filters, time_range=YEAR), same_rows)
            pd.testing.assert_frame_equal(got, want, check_dtype=False)
            answered += 1
    assert answered >= 20 and refused >= 20


def test_denied_rows_stay_out_of_breakdowns_and_value_lists(demo_engine, demo_tables, viewer, same_rows):
    df = query.run(demo_engine, QuerySpec(("budget",), ("account_type", "account"), time_range=YEAR), viewer)
    assert set(df["account_type"]) == {"revenue"}
    ref = query.run(demo_engine, QuerySpec(("budget",), ("account_type", "account"), time_range=YEAR), same_rows)
    ref = ref[ref["account_type"] == "revenue"].reset_index(drop=True)
    pd.testing.assert_frame_equal(df, ref, check_dtype=False)
    assert query.dimension_values(demo_engine, "account_type", viewer) == ["revenue"]
    revenue_accounts = set(demo_tables["account"].query("type == 'revenue'")["name"])
    assert set(query.dimension_values(demo_engine, "account", viewer)) <= revenue_accounts
    assert set(query.dimension_values(demo_engine, "account_type", same_rows)) >= {"revenue", "cogs", "opex"}
    # a filter that only mentions a denied type among others is refused too, not quietly narrowed
    with pytest.raises(Forbidden):
        query.run(demo_engine, QuerySpec(("budget",), filters=(FilterSpec("account_type", "in",
                                                                          ("revenue", "opex")),),
                                         time_range=YEAR), viewer)
    # excluding denied types is a question the viewer may ask
    query.run(demo_engine, QuerySpec(("budget",), filters=(FilterSpec("account_type", "not_in", ("opex",)),),
                                     time_range=YEAR), viewer)


def _readme_table() -> list[dict]:
    text = (config.ROOT / "README.md").read_text(encoding="utf-8")
    head = "| data | metrics | admin | finance | dept_head | viewer |"
    assert head in text
    rows = []
    for line in text[text.index(head):].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append({"data": cells[0], "metrics": re.findall(r"`([a-z_]+)`", cells[1]),
                     **dict(zip(ROLES, cells[2:]))})
    return rows


def test_readme_visibility_table_is_what_the_roles_do():
    model = query.default_model()
    rows = _readme_table()
    listed = [m for r in rows for m in r["metrics"]]
    assert set(listed) == set(model.metrics), set(model.metrics) ^ set(listed)
    assert rows[0]["data"] == "rows"
    for role in ROLES:
        scoped = not auth.roles()[auth.Role(role)].all_data
        assert (rows[0][role] == "own org subtrees") == scoped, role
    for r in rows[1:]:
        types = re.findall(r"`([a-z]+)`", r["data"].partition("account type")[2])
        for role in ROLES:
            user, sees = role_user(role), r[role] == "✓"
            assert r[role] in ("✓", "—"), r
            for mid in r["metrics"]:
                if not types:
                    assert user.may_see_metric(mid, model) == sees, (role, mid)
                    continue
                spec = QuerySpec((mid,), filters=(FilterSpec("account_type", "in", tuple(types)),), time_range=YEAR)
                try:
                    query.compile(spec, user)
                    got = True
                except Forbidden:
                    got = False
                assert got == sees, (role, mid, types)


def test_a_figure_computed_for_someone_else_over_denied_rows_is_recognised():
    viewer, finance = role_user("viewer"), role_user("finance")
    revenue_only = (FilterSpec("account_type", "in", ("revenue",)),)
    assert query.over_denied_rows(("budget",), (), viewer)                      # every account type: holds costs
    assert not query.over_denied_rows(("budget",), revenue_only, viewer)
    assert query.over_denied_rows(("budget",), (FilterSpec("account_type", "not_in", ("opex",)),), viewer)
    assert query.over_denied_rows(("budget",), (FilterSpec("account_type", "in", ("revenue", "cogs")),), viewer)
    assert not query.over_denied_rows(("revenue", "ar_balance"), (), viewer)    # no row denial on their tables
    assert not query.over_denied_rows(("budget",), (), finance)
