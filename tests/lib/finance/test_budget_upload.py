"""Budget Excel upload and download: a valid file round-trips; every kind of bad file is rejected with
its row-by-row report and the store is left exactly as it was."""
from __future__ import annotations

import datetime as dt
import io
import uuid

import openpyxl
import pandas as pd
import pytest

from lib.access.scope import User
from lib.core import store
from lib.core.errors import Forbidden
from lib.demo import build as demo
from lib.finance import budget_upload as bu
from lib.finance import budget_versions as bv
from lib.finance.budget_versions import LinesRejected, VersionLocked
from tests.conftest import BACKENDS, _new_url
from tests.lib.finance.test_budget_versions import FINANCE, snapshot, stored

D = dt.date
VIEWER = User("reader", "viewer")


@pytest.fixture(scope="module", params=BACKENDS)
def eng(request, tmp_path_factory):
    """A small demo store per backend (its own: tests write to it)."""
    engine = store.get_engine(_new_url(request.param, tmp_path_factory, request))
    demo.build(engine, rows=1000, seed=3, as_of=D(2026, 11, 24))
    yield engine
    engine.dispose()


def xlsx(rows: list[list]) -> bytes:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


MONTHS = [f"{m}月" for m in range(1, 13)]


def draft(eng) -> int:
    return bv.copy_version(eng, FINANCE, 2, f"upload-{uuid.uuid4().hex[:8]}")  # FY2026 年度预算 → a draft


def test_download_then_upload_gives_identical_lines(eng):
    vid = draft(eng)
    before = stored(eng, vid)
    assert len(before) > 100
    for lang in ("zh", "en"):
        data = bu.download(eng, vid, lang)
        n = bu.upload(eng, FINANCE, vid, data)
        assert n == len(before)
        assert stored(eng, vid) == before
    ws = openpyxl.load_workbook(io.BytesIO(bu.download(eng, vid, "zh"))).active
    header = [c.value for c in ws[1]]
    assert header[:4] == ["组织编码", "组织名称", "科目编码", "科目名称"] and header[4:16] == MONTHS
    assert header[16] == "合计"
    assert bv.changes(eng, vid)["action"].tolist()[:2] == ["upload", "upload"]


def test_upload_by_names_and_iso_month_headers_replaces_the_lines(eng):
    vid = draft(eng)
    data = xlsx([["组织", "科目", "2026-01", "2026-02", "合计"],
                 ["华北经销部", "销售费用-职工薪酬", 1000, "1,500.5", None],
                 ["D12", "660103", None, 300, None],
                 [None, None, None, None, None]])                       # blank rows are skipped
    assert bu.upload(eng, FINANCE, vid, data) == 3
    got = stored(eng, vid)
    units = bv.units(eng).set_index("code")["id"]
    assert got == {(D(2026, 1, 1), int(units["D31"]), "660101", 1000.0),
                   (D(2026, 2, 1), int(units["D31"]), "660101", 1500.5),
                   (D(2026, 2, 1), int(units["D12"]), "660103", 300.0)}


BAD = [
    ("unknown_unit", [["组织", "科目", "1月"], ["火星分部", "6001", 10]], [(2, "组织", "unknown org unit")]),
    ("unknown_account", [["组织", "科目", "1月"], ["D11", "9999", 10]], [(2, "科目", "unknown account")]),
    ("non_numeric", [["组织", "科目", "1月", "2月"], ["D11", "6001", 10, "abc"]], [(2, "2月", "not a number")]),
    ("duplicate", [["组织", "科目", "1月"], ["D11", "6001", 10], ["华东经销部", "主营业务收入", 5]],
     [(3, None, "the same org unit and account as row 2")]),
    ("wrong_year", [["组织", "科目", "2025-01"], ["D11", "6001", 10]], [(1, "2025-01", "another year")]),
    ("wrong_month", [["组织", "科目", "13月"], ["D11", "6001", 10]], [(1, "13月", "no such month")]),
    ("unknown_header", [["组织", "科目", "备注"], ["D11", "6001", 10]], [(1, "备注", "not a month header")]),
    ("no_unit_column", [["名称", "科目", "1月"], ["D11", "6001", 10]], [(1, "名称", "not a month header"), (1, None, "no org unit column")]),
    ("header_only", [["组织", "科目", "1月"]], [(None, None, "the file is empty")]),
    ("no_amounts", [["组织", "科目", "1月"], ["D11", "6001", None]], [(None, None, "no amounts")]),
]


@pytest.mark.parametrize("rows, expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_upload_is_rejected_and_nothing_changes(eng, rows, expected):
    vid = draft(eng)
    before, lines_before = snapshot(eng), stored(eng, vid)
    with pytest.raises(LinesRejected) as err:
        bu.upload(eng, FINANCE, vid, xlsx(rows))
    if expected is not None:
        got = [(p.row, p.column, p.message_en) for p in err.value.problems]
        for row, column, text in expected:
            assert any(r == row and c == column and text in m for r, c, m in got), got
    assert all(p.message_zh and p.message_en for p in err.value.problems)
    assert "nothing was changed" in str(err.value) and "未做任何修改" in err.value.message_zh
    assert snapshot(eng) == before and stored(eng, vid) == lines_before
    assert bv.changes(eng, vid)["action"].tolist() == ["create"]


def test_many_problems_are_all_reported_row_by_row(eng):
    vid = draft(eng)
    before = snapshot(eng)
    with pytest.raises(LinesRejected) as err:
        bu.upload(eng, FINANCE, vid, xlsx([["组织", "科目", "1月", "2月"],
                                           ["D11", "6001", 1, 2],
                                           ["X1", "6001", "x", 2],
                                           ["D11", "6001", 3, 4]]))
    got = sorted((p.row, p.column or "") for p in err.value.problems)
    assert got == [(3, "1月"), (3, "组织"), (4, "")]
    assert snapshot(eng) == before


@pytest.mark.parametrize("data", [b"", b"not a spreadsheet", xlsx([])], ids=["zero_bytes", "garbage", "empty_sheet"])
def test_empty_or_broken_files_are_rejected(eng, data):
    vid = draft(eng)
    before = snapshot(eng)
    with pytest.raises(LinesRejected) as err:
        bu.upload(eng, FINANCE, vid, data)
    assert err.value.problems[0].row is None
    assert snapshot(eng) == before


def test_upload_to_a_locked_version_or_without_the_right_is_refused(eng):
    vid = draft(eng)
    data = bu.download(eng, vid)
    for s in ("submitted", "approved", "locked"):
        bv.set_status(eng, FINANCE, vid, s)
    other = draft(eng)
    before = snapshot(eng)
    with pytest.raises(VersionLocked, match="locked"):
        bu.upload(eng, FINANCE, vid, data)
    with pytest.raises(Forbidden):
        bu.upload(eng, VIEWER, other, data)
    assert snapshot(eng) == before


def test_month_headers():
    assert [bu.month_of(h, 2026) for h in ("1月", "12月", "2026-07", "2026/7", "2026年7月", dt.datetime(2026, 3, 1))] == \
        [1, 12, 7, 7, 7, 3]
    assert [bu.month_of(h, 2026) for h in ("2025-01", "0月", "13月", "备注", None)] == ["year", "month", "month", None, None]


def test_parse_reads_amounts_as_lines():
    units = pd.DataFrame({"id": [7], "code": ["U7"], "name": ["七部"], "name_en": [None]})
    accounts = pd.DataFrame({"code": ["6001"], "name": ["收入"]})
    df, problems = bu.parse(xlsx([["组织编码", "科目编码", "1月", "3月"], ["U7", 6001, 12.345, 0]]), 2026, units, accounts)
    assert problems == []
    assert df.to_dict("records") == [{"period": D(2026, 1, 1), "org_unit_id": 7, "account_code": "6001", "amount": 12.35},
                                     {"period": D(2026, 3, 1), "org_unit_id": 7, "account_code": "6001", "amount": 0.0}]
