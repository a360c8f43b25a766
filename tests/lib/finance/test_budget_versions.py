"""Budget versions: creation, copy, the status workflow, grid edits, permissions and the change log,
on a writable copy of the hand-checkable finance store (each test makes its own versions)."""
from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.access import audit
from lib.access.scope import User
from lib.core import store
from lib.core.errors import Forbidden, InvalidArgument
from lib.core.schema import budget_line
from lib.finance import budget_versions as bv
from lib.finance.budget_versions import LinesRejected, VersionLocked
from tests.conftest import BACKENDS, _new_url
from tests.lib import fixtures_finance as ff

D = dt.date
FINANCE = User("fp_and_a", "finance")
VIEWER = User("reader", "viewer")
HEAD = User("east_head", "dept_head")


@pytest.fixture(scope="module", params=BACKENDS)
def eng(request, tmp_path_factory):
    """A writable finance store per backend for this module; tests add versions with unique names."""
    engine = store.get_engine(_new_url(request.param, tmp_path_factory, request))
    ff.build(engine)
    yield engine
    engine.dispose()


def name(prefix: str = "v") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def lines(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(bv.LINE_COLUMNS))


BASE = lines((D(2025, 1, 1), 4, "660101", 100.0), (D(2025, 2, 1), 4, "660101", 110.0),
             (D(2025, 1, 1), 5, "6001", 500.0))


def snapshot(engine) -> tuple:
    """Row count and a checksum of every budget line, to prove a refused write changed nothing."""
    b = budget_line.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(b.version_id, b.period, b.org_unit_id, b.account_code, b.amount)
                            .order_by(b.version_id, b.period, b.org_unit_id, b.account_code)).all()
    return len(rows), hash(tuple((r[0], str(r[1]), r[2], r[3], float(r[4])) for r in rows))


def stored(engine, vid) -> set:
    df = bv.lines(engine, vid)
    return {(r.period, int(r.org_unit_id), r.account_code, float(r.amount)) for r in df.itertuples()}


def test_create_with_lines_and_read_them_back(eng):
    vid = bv.create_version(eng, FINANCE, name=name(), kind="budget", fiscal_year=2025, lines=BASE)
    v = bv.version(eng, vid)
    assert (v.kind.value, v.status.value, v.fiscal_year, v.editable) == ("budget", "draft", 2025, True)
    assert stored(eng, vid) == {(D(2025, 1, 1), 4, "660101", 100.0), (D(2025, 2, 1), 4, "660101", 110.0),
                                (D(2025, 1, 1), 5, "6001", 500.0)}
    got = bv.lines(eng, vid)
    assert set(got["org_name"]) == {"上海营业部", "成都营业部"} and "account_name" in got
    row = bv.versions(eng).set_index("id").loc[vid]
    assert (row["lines"], row["total"], row["created_by"]) == (3, pytest.approx(710.0), "fp_and_a")
    log = bv.changes(eng, vid)
    assert list(log["action"]) == ["create"] and log.iloc[0]["username"] == "fp_and_a" and log.iloc[0]["rows"] == 3


def test_copy_makes_a_draft_based_on_the_source(eng):
    # a revised budget: kind budget, based_on the approved version 1 of the fixture
    vid = bv.copy_version(eng, FINANCE, 1, name("FY2025 修订预算"))
    v = bv.version(eng, vid)
    assert (v.kind.value, v.status.value, v.based_on, v.fiscal_year) == ("budget", "draft", 1, 2025)
    assert {x[:3] for x in stored(eng, vid)} == {x[:3] for x in stored(eng, 1)}
    assert stored(eng, vid) == stored(eng, 1)
    scen = bv.copy_version(eng, FINANCE, 1, name("scenario"), kind="scenario")
    assert bv.version(eng, scen).kind.value == "scenario"


def test_save_lines_writes_only_the_difference(eng):
    vid = bv.create_version(eng, FINANCE, name=name(), kind="budget", fiscal_year=2025, lines=BASE)
    grid = bv.lines(eng, vid)
    grid.loc[grid["amount"] == 100.0, "amount"] = 150.0                     # changed
    grid = grid[grid["amount"] != 500.0]                                    # deleted
    grid = pd.concat([grid, lines((D(2025, 3, 1), 5, "660201", 30.0))], ignore_index=True)  # added
    result = bv.save_lines(eng, FINANCE, vid, grid)
    assert (result.added, result.changed, result.deleted) == (1, 1, 1)
    assert stored(eng, vid) == {(D(2025, 1, 1), 4, "660101", 150.0), (D(2025, 2, 1), 4, "660101", 110.0),
                                (D(2025, 3, 1), 5, "660201", 30.0)}
    again = bv.save_lines(eng, FINANCE, vid, bv.lines(eng, vid))            # nothing changed: nothing logged
    assert again.rows == 0
    log = bv.changes(eng, vid)
    assert list(log["action"]) == ["edit", "create"] and log.iloc[0]["rows"] == 3
    entries = audit.entries(eng, action="budget_edit")
    assert (entries["target"] == f"budget_version:{vid}").sum() == 2


def test_bad_lines_are_rejected_with_every_problem_and_nothing_changes(eng):
    vid = bv.create_version(eng, FINANCE, name=name(), kind="budget", fiscal_year=2025, lines=BASE)
    before = snapshot(eng)
    bad = lines((D(2025, 1, 1), 99, "660101", 1.0),            # unknown unit
                (D(2025, 1, 1), 4, "9999", 1.0),               # unknown account
                (D(2026, 1, 1), 4, "660101", 1.0),             # another year
                (D(2025, 1, 15), 4, "660101", 1.0),            # not a month start
                (D(2025, 5, 1), 4, "660101", "abc"),           # not a number
                (D(2025, 6, 1), 4, "660101", 1.0),
                (D(2025, 6, 1), 4, "660101", 2.0))             # duplicate of the row before
    with pytest.raises(LinesRejected) as err:
        bv.save_lines(eng, FINANCE, vid, bad)
    got = {(p.row, p.column) for p in err.value.problems}
    assert got == {(1, "org_unit_id"), (2, "account_code"), (3, "period"), (4, "period"), (5, "amount"), (7, None)}
    assert err.value.problems[0].message("zh") == "组织不存在。"
    assert err.value.problems[-1].message("en") == "the same month, unit and account as row 6."
    assert "6 problem" in str(err.value) and "未做任何修改" in err.value.message_zh
    assert snapshot(eng) == before
    with pytest.raises(LinesRejected):
        bv.create_version(eng, FINANCE, name=name(), kind="budget", fiscal_year=2025, lines=bad)
    assert snapshot(eng) == before


def test_workflow_and_locked_versions_refuse_edits(eng):
    vid = bv.create_version(eng, FINANCE, name=name(), kind="budget", fiscal_year=2025, lines=BASE)
    bv.set_status(eng, FINANCE, vid, "submitted")
    with pytest.raises(VersionLocked, match="only drafts"):
        bv.save_lines(eng, FINANCE, vid, BASE)
    bv.set_status(eng, FINANCE, vid, "draft")                              # returned for rework
    bv.save_lines(eng, FINANCE, vid, BASE.assign(amount=BASE["amount"] + 1))
    for s in ("submitted", "approved", "locked"):
        bv.set_status(eng, FINANCE, vid, s)
    before = snapshot(eng)
    with pytest.raises(VersionLocked) as err:
        bv.save_lines(eng, FINANCE, vid, BASE)
    assert "locked" in str(err.value) and "已锁定" in err.value.message_zh
    with pytest.raises(VersionLocked):
        bv.replace_lines(eng, FINANCE, vid, BASE)
    for s in ("draft", "submitted", "approved"):
        with pytest.raises(VersionLocked, match="locked is final"):
            bv.set_status(eng, FINANCE, vid, s)
    assert snapshot(eng) == before
    assert bv.version(eng, vid).status.value == "locked"
    log = bv.changes(eng, vid)
    moves = [d for a, d in zip(log["action"], log["detail"]) if a == "status"]
    assert len(moves) == 5


@pytest.mark.parametrize("src, dst", [("draft", "approved"), ("draft", "locked"), ("submitted", "locked")])
def test_skipping_a_step_is_refused(eng, src, dst):
    vid = bv.create_version(eng, FINANCE, name=name(), kind="forecast", fiscal_year=2025, status=src)
    with pytest.raises(VersionLocked, match=f"can't go from {src} to {dst}"):
        bv.set_status(eng, FINANCE, vid, dst)


def test_roles_without_edit_budgets_are_refused_in_lib(eng):
    vid = bv.create_version(eng, FINANCE, name=name(), kind="budget", fiscal_year=2025, lines=BASE)
    before, n_versions = snapshot(eng), len(bv.versions(eng))
    for user in (VIEWER, HEAD):
        with pytest.raises(Forbidden):
            bv.create_version(eng, user, name=name(), kind="budget", fiscal_year=2025)
        with pytest.raises(Forbidden):
            bv.copy_version(eng, user, vid, name())
        with pytest.raises(Forbidden):
            bv.set_status(eng, user, vid, "submitted")
        with pytest.raises(Forbidden):
            bv.save_lines(eng, user, vid, BASE)
    assert snapshot(eng) == before and len(bv.versions(eng)) == n_versions
    assert bv.version(eng, vid).status.value == "draft"


def test_bad_arguments(eng):
    existing = bv.versions(eng)["name"].iloc[0]
    with pytest.raises(InvalidArgument, match="already exists"):
        bv.create_version(eng, FINANCE, name=existing, kind="budget", fiscal_year=2025)
    with pytest.raises(InvalidArgument, match="Unknown kind"):
        bv.create_version(eng, FINANCE, name=name(), kind="plan", fiscal_year=2025)
    with pytest.raises(InvalidArgument, match="fiscal year"):
        bv.create_version(eng, FINANCE, name=name(), kind="budget", fiscal_year="2025")
    with pytest.raises(InvalidArgument, match="No budget version"):
        bv.set_status(eng, FINANCE, 99999, "submitted")
    with pytest.raises(InvalidArgument, match="missing"):
        bv.create_version(eng, FINANCE, name=name(), kind="budget", fiscal_year=2025,
                          lines=pd.DataFrame({"period": [D(2025, 1, 1)]}))


def test_an_approved_revision_replaces_its_original_in_the_budget_metric(eng):
    """Copy → revise → approve must not add the original and the revision together in the budget metric.
    By hand: the approved 2025 budgets are v1 (revenue 250; opex 40 + 20 + 20 + 40 = 120) plus the locked
    adjustment v4; a revision of v1 with its 6001 line at 300 replaces v1 only: the total moves by +50."""
    from lib.semantic import query
    from lib.semantic.spec import QuerySpec, TimeRange
    spec = QuerySpec(("budget",), time_range=TimeRange(dt.date(2025, 1, 1), dt.date(2025, 12, 31)))
    before = float(query.run(eng, spec)["budget"].iloc[0])
    rev = bv.copy_version(eng, FINANCE, 1, name("FY2025 修订预算"))
    edited = bv.lines(eng, rev)
    edited.loc[edited["account_code"] == "6001", "amount"] = 300.0
    bv.save_lines(eng, FINANCE, rev, edited)
    for status in ("submitted", "approved"):
        bv.set_status(eng, FINANCE, rev, status)
    after = float(query.run(eng, spec)["budget"].iloc[0])
    assert after == pytest.approx(before + 50)
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT superseded_by FROM budget_version WHERE id = 1")).scalar_one() == rev
