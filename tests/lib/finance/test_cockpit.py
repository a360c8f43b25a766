"""The management cockpit: tile statuses by hand, known values on the hand-checkable store, scope and denials."""
from __future__ import annotations

import datetime as dt

import pytest

from lib.access import auth
from lib.finance import cockpit
from lib.finance.cockpit import TILES, Status
from lib.semantic import query
from lib.semantic.spec import QuerySpec, TimeRange

DEFS = {d.key: d for d in TILES}


@pytest.mark.parametrize("key, value, target, expected, gap", [
    ("revenue", 100.0, 100.0, Status.GOOD, 0.0),            # on target is on target
    ("revenue", 95.0, 100.0, Status.WATCH, -0.05),          # short by exactly the 5 % tolerance
    ("revenue", 94.0, 100.0, Status.BAD, -0.06),
    ("revenue", 120.0, -50.0, Status.GOOD, 3.4),            # a loss budget beaten: relative to |target|
    ("gross_margin", 0.35, 0.36, Status.WATCH, -0.01),      # percents: percentage points, not relative
    ("gross_margin", 0.345, 0.36, Status.BAD, -0.015),
    ("opex_execution", 0.98, 1.0, Status.GOOD, -0.02),      # lower is better: under budget is good
    ("opex_execution", 1.03, 1.0, Status.WATCH, 0.03),
    ("opex_execution", 1.08, 1.0, Status.BAD, 0.08),
    ("dso", 40.0, 50.0, Status.GOOD, -0.2),
    ("dso", 52.0, 50.0, Status.WATCH, 0.04),
    ("dso", 60.0, 50.0, Status.BAD, 0.2),
    ("dso", 60.0, None, Status.NONE, None),                 # no last year: no status, not a fake one
    ("revenue", 10.0, 0.0, Status.NONE, None),              # a zero target has no relative gap
])
def test_status_by_hand(key, value, target, expected, gap):
    st, g = cockpit.status(value, target, DEFS[key])
    assert st is expected
    assert g == (None if gap is None else pytest.approx(gap))


def test_known_values_on_the_hand_checkable_store(fin):
    c = cockpit.build(lambda spec: query.run(fin, spec))
    assert c.month == dt.date(2025, 2, 1)       # March has sales only to the 15th
    t = {x.key: x for x in c.tiles}
    assert t["revenue"].value == pytest.approx(700.0)                   # Jan 400 + Feb 300
    assert t["revenue"].target == pytest.approx(250.0)                  # v1 revenue budget; drafts/forecasts out
    assert t["revenue"].status is Status.GOOD
    assert t["gross_margin"].value == pytest.approx(310 / 700)         # (700 − 390) / 700, after aggregation
    assert t["gross_margin"].target is None                             # no COGS budget: no margin target
    assert t["operating_profit"].value == pytest.approx(185.0)         # 310 − opex 125
    assert t["opex_execution"].value == pytest.approx(125 / 130)       # v1 120 + locked v4 10
    assert t["opex_execution"].target == 1.0 and t["opex_execution"].status is Status.GOOD
    assert t["revenue"].spark[-3:] == (320.0, 400.0, 300.0)             # Dec, Jan, Feb
    assert len(t["revenue"].spark) == cockpit.SPARK_MONTHS
    assert t["dso"].target is None and t["dso"].status is Status.NONE   # no receivables a year earlier
    s = cockpit.outlook_summary(c.outlook).set_index("account_type")
    assert s.loc["opex", "ytd_actual"] == pytest.approx(125.0)
    assert s.loc["opex", "budget"] == pytest.approx(130.0)              # the full year's approved budget
    assert s.loc["operating_profit", "outlook"] == pytest.approx(
        s.loc["revenue", "outlook"] - s.loc["cogs", "outlook"] - s.loc["opex", "outlook"])


def test_a_dept_head_sees_their_region_and_a_viewer_only_what_they_may(demo_engine):
    east = auth.load_user(demo_engine, "demo_east")
    c = cockpit.build(lambda spec: query.run(demo_engine, spec, user=east),
                      lambda m: east.may_see_metric(m, query.default_model()))
    ytd = TimeRange(dt.date(c.month.year, 1, 1), (c.month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
                    - dt.timedelta(days=1))
    east_rev = query.run(demo_engine, QuerySpec(("revenue",), ("region",), time_range=ytd))
    tile = next(x for x in c.tiles if x.key == "revenue")
    assert tile.value == pytest.approx(float(east_rev.loc[east_rev["region"] == "华东大区", "revenue"].iloc[0]))
    viewer = auth.load_user(demo_engine, "demo_viewer")
    v = cockpit.build(lambda spec: query.run(demo_engine, spec, user=viewer),
                      lambda m: viewer.may_see_metric(m, query.default_model()))
    assert {x.key for x in v.tiles} == {"revenue", "dso"}   # COGS and GL actuals denied: margin, profit, opex out
    assert v.outlook is None
