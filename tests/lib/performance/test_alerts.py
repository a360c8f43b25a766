"""Alerts in the store: de-duplication, resolving, routing to the row's owner, notifications, scope, permissions,
the preview, seeding, the CLI; and the demo rules finding exactly the demo company's stories (read-only demo).

Writes go to ONE small demo store per backend for the module; every test makes its own rules (unique names)
and looks only at their alerts, so the tests don't depend on their order.
"""
from __future__ import annotations

import argparse
import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.cli import alerts as alerts_cli
from lib.core import store
from lib.core.errors import Forbidden, InvalidArgument
from lib.core.tables.alerts import alert, alert_rule
from lib.performance.alerts import admin as alert_admin
from lib.performance.alerts import center as alerts
from lib.performance.alerts import rules as ar
from lib.performance.alerts import run as alert_run
from lib.performance.notify import outbox as notify
from lib.semantic import query
from tests.conftest import DEMO_AS_OF, copy_store

AS_OF = dt.date(2026, 11, 24)
ADMIN = User("demo_admin", "admin")


@pytest.fixture(scope="module")
def wb(small_demo_template, tmp_path_factory, request):
    """A writable 3,000-row demo store of this module's own (as of AS_OF: a copy of the session's template)."""
    engine = store.get_engine(copy_store(small_demo_template, tmp_path_factory, request))
    yield engine
    engine.dispose()


def _save(engine, name: str, **kw) -> int:
    return alert_admin.save_rule(engine, auth.load_user(engine, "demo_finance"), ar.Rule.from_dict({"name": name, **kw}))


def _of_rule(engine, rule_id: int) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.select(alert).where(alert.c.rule_id == rule_id)
                                         .order_by(alert.c.id)).mappings().all())


def test_seed_demo_stores_the_yaml_rules_once(wb):
    alert_admin.seed_demo(wb)
    assert alert_admin.seed_demo(wb) == 0
    stored = {r.name: r for r in alerts.rules(wb)}
    for rule in alert_admin.load_rules_file():
        assert stored[rule.name].to_dict() == rule.to_dict()
        # switched off again: the other tests evaluate only their own rules (and stay fast)
        alert_admin.set_enabled(wb, ADMIN, stored[rule.name].id, False)
    assert not any(r.enabled for r in alerts.rules(wb) if r.name in stored and r.name[:2] != "t-")


def test_routing_dedup_and_resolve(wb):
    rid = _save(wb, "t-route", kind="threshold", metric="revenue", value=0, dimension="region", window="last_month")
    alerts.run_all(wb, as_of=AS_OF)
    first = _of_rule(wb, rid).set_index("member")
    assert sorted(first.index) == ["华东大区", "华北大区", "华南大区", "西部大区"]
    # each row goes to the dept head whose scope covers it; without one, to finance
    assert first.loc["西部大区", "assignee"] == "demo_west" and first.loc["西部大区", "owners"] == "demo_west"
    assert first.loc["华东大区", "assignee"] == "demo_east"
    assert first.loc["华北大区", "owners"] == "demo_finance"      # no dept head for 华北; viewers own nothing
    assert set(first["status"]) == {"open"}
    summary = alerts.run_all(wb, as_of=AS_OF)                    # the same breaches again: no new alerts
    again = _of_rule(wb, rid)
    assert len(again) == 4 and sorted(again["id"]) == sorted(first["id"]) and summary.still_open >= 4
    _save_existing(wb, rid, value=1e15)                          # nothing breaches any more: resolved
    alerts.run_all(wb, as_of=AS_OF)
    assert set(_of_rule(wb, rid)["status"]) == {"resolved"}
    _save_existing(wb, rid, value=0)                             # breaching again: the same alerts reopened
    summary = alerts.run_all(wb, as_of=AS_OF)
    after = _of_rule(wb, rid)
    assert sorted(after["id"]) == sorted(first["id"]) and set(after["status"]) == {"open"}
    assert summary.reopened == 4 and summary.new == 0
    hist = alerts.comments(wb, ADMIN, int(first.loc["西部大区", "id"]))["body"].tolist()
    assert hist[-1] == "再次触发 / breached again" and "resolved: no longer breaching" in hist


def _save_existing(engine, rule_id: int, **changes) -> None:
    rule = next(r for r in alerts.rules(engine) if r.id == rule_id)
    alert_admin.save_rule(engine, ADMIN, ar.Rule.from_dict({**rule.to_dict(), **changes}, rule_id=rule_id))


def test_a_rule_on_one_unit_is_routed_to_that_unit(wb):
    rid = _save(wb, "t-one-unit", kind="threshold", metric="revenue", value=0, window="last_month",
                filters=[{"dimension": "region", "values": ["西部大区"]}])
    alerts.run_all(wb, as_of=AS_OF)
    (row,) = _of_rule(wb, rid).itertuples()
    assert row.member == "西部大区" and row.assignee == "demo_west" and row.message_zh.startswith("西部大区：")


def test_new_alerts_are_notified_once(wb):
    notify.set_email(wb, ADMIN, "demo_west", "west@example.com")
    rid = _save(wb, "t-notify", kind="balance", metric="overdue_ar_ratio", value=0, dimension="region", window="day")
    alerts.run_all(wb, as_of=AS_OF)
    west = _of_rule(wb, rid).set_index("member").loc["西部大区", "id"]
    box = notify.outbox(wb, limit=10_000)
    mine = box[box["ref"] == f"alert:{west}"]
    assert mine["recipient"].tolist() == ["west@example.com"]
    assert "西部大区" in mine["body"].iloc[0] and "explore?" in mine["body"].iloc[0]
    alerts.run_all(wb, as_of=AS_OF)
    box = notify.outbox(wb, limit=10_000)
    assert (box["ref"] == f"alert:{west}").sum() == 1


def test_people_see_and_act_within_their_scope(wb):
    rid = _save(wb, "t-scope", kind="threshold", metric="revenue", value=0, dimension="region", window="last_month")
    _save(wb, "t-scope-total", kind="threshold", metric="revenue", value=0, window="last_month")
    _save(wb, "t-scope-actual", kind="threshold", metric="actual", value=0, dimension="region", window="last_month")
    alerts.run_all(wb, as_of=AS_OF)
    west, east, viewer = (auth.load_user(wb, u) for u in ("demo_west", "demo_east", "demo_viewer"))
    seen = alerts.open_alerts(wb, west)
    assert set(seen["unit"]) <= {"西部大区", "西部经销部", "西部商超部", "成都春熙路店"} and "西部大区" in set(seen["unit"])
    assert "t-scope-total" not in set(seen["rule"])             # company-wide alerts are finance's
    theirs = alerts.open_alerts(wb, viewer)
    assert set(theirs["unit"]) <= {"华南大区", "华南经销部", "华南电商部", "广州天河店"}
    assert "t-scope" in set(theirs["rule"]) and "t-scope-actual" not in set(theirs["rule"])   # viewers: no GL actuals
    everyone = alerts.open_alerts(wb, auth.load_user(wb, "demo_finance"))
    assert {"t-scope", "t-scope-total"} <= set(everyone["rule"])
    ids = _of_rule(wb, rid).set_index("member")["id"]
    with pytest.raises(Forbidden):
        alerts.update(wb, east, int(ids["西部大区"]), status="acknowledged")
    with pytest.raises(Forbidden):
        alerts.update(wb, viewer, int(ids["华南大区"]), comment="?")
    alerts.update(wb, west, int(ids["西部大区"]), status="acknowledged", comment="在跟进")
    hist = alerts.comments(wb, west, int(ids["西部大区"]))
    assert hist["kind"].tolist() == ["status", "comment"] and hist["body"].iloc[1] == "在跟进"
    assert (audit.entries(wb, "demo_west", "alert_update")["target"] == f"alert:{ids['西部大区']}").any()
    alerts.run_all(wb, as_of=AS_OF)                              # still breaching: stays acknowledged, one alert
    assert _of_rule(wb, rid).set_index("member").loc["西部大区", "status"] == "acknowledged"


def test_an_alert_on_denied_rows_is_not_shown_to_a_reader_denied_them(wb):
    # A finance rule on the budget of COGS accounts: its message quotes the cost budget a viewer may not read.
    cost = _save(wb, "t-cost-budget", kind="threshold", metric="budget", value=0, dimension="region",
                 window="last_month", filters=[{"dimension": "account_type", "op": "in", "values": ["cogs"]}])
    sales = _save(wb, "t-revenue-budget", kind="threshold", metric="budget", value=0, dimension="region",
                  window="last_month", filters=[{"dimension": "account_type", "op": "in", "values": ["revenue"]}])
    every = _save(wb, "t-all-budget", kind="threshold", metric="budget", value=0, dimension="region",
                  window="last_month")   # every account type: the total holds the cost budget too
    alerts.run_all(wb, as_of=AS_OF)
    assert not _of_rule(wb, cost).empty and not _of_rule(wb, sales).empty and not _of_rule(wb, every).empty
    viewer, west = auth.load_user(wb, "demo_viewer"), auth.load_user(wb, "demo_west")
    theirs = set(alerts.open_alerts(wb, viewer)["rule"])
    assert "t-revenue-budget" in theirs and not theirs & {"t-cost-budget", "t-all-budget"}
    assert {"t-revenue-budget", "t-cost-budget", "t-all-budget"} <= set(alerts.open_alerts(wb, west)["rule"])


def test_the_assignee_picker_offers_only_who_may_own_the_alerts_rows(wb):
    rid = _save(wb, "t-assign", kind="threshold", metric="revenue", value=0, dimension="region", window="last_month")
    alerts.run_all(wb, as_of=AS_OF)
    ids = _of_rule(wb, rid).set_index("member")["id"]
    west_alert, east_alert = int(ids["西部大区"]), int(ids["华东大区"])
    west, finance = auth.load_user(wb, "demo_west"), auth.load_user(wb, "demo_finance")
    # a dept head sees only the dept heads of the alert's unit: no finance or admin names, no other region
    assert alerts.assignable(wb, west, west_alert) == ["demo_west"]
    assert alerts.assignable(wb, finance, east_alert) == ["demo_admin", "demo_east", "demo_finance"]
    assert alerts.assignable(wb, finance, west_alert) == ["demo_admin", "demo_finance", "demo_west"]
    with pytest.raises(InvalidArgument) as err:   # and the refusal doesn't list who exists
        alerts.update(wb, west, west_alert, assignee="demo_finance")
    assert "demo_admin" not in str(err.value) and "demo_east" not in err.value.message("zh")
    with pytest.raises(InvalidArgument):
        alerts.update(wb, finance, west_alert, assignee="demo_east")     # east may not act on the west's rows
    alerts.update(wb, finance, west_alert, assignee="demo_west")
    alerts.update(wb, west, west_alert, assignee="demo_west")            # unchanged: fine


def test_a_broken_rule_is_reported_and_the_others_still_run(wb):
    now = dt.datetime(2026, 11, 24, 8, 0)
    with wb.begin() as conn:
        conn.execute(alert_rule.insert().values(
            name="t-broken", kind="threshold", metric="gone", enabled=True,
            spec='{"name": "t-broken", "kind": "threshold", "metric": "gone", "value": 1}',
            created_by="t", created_at=now, updated_by="t", updated_at=now))
    try:
        rid = _save(wb, "t-still-runs", kind="threshold", metric="revenue", value=0, window="last_month")
        summary = alerts.run_all(wb, as_of=AS_OF)
        assert any("t-broken" in e and "gone" in e for e in summary.errors)
        assert len(_of_rule(wb, rid)) == 1
    finally:
        with wb.begin() as conn:
            conn.execute(alert_rule.update().where(alert_rule.c.name == "t-broken").values(enabled=False))


def test_only_finance_and_admin_edit_rules(wb):
    with pytest.raises(Forbidden):
        alert_admin.save_rule(wb, auth.load_user(wb, "demo_west"),
                              ar.Rule("t-no", ar.Kind.THRESHOLD, "revenue", 1.0))


def test_cli_run_and_list(wb, capsys):
    parser = argparse.ArgumentParser()
    alerts_cli.add_parser(parser.add_subparsers(dest="command"))
    assert alerts_cli.main(parser.parse_args(["alerts", "run", "--as-of", "2026-11-24", "--no-deliver"]), wb) in (0, 1)
    assert "alerts as of 2026-11-24" in capsys.readouterr().out
    assert alerts_cli.main(parser.parse_args(["alerts", "list", "--as", "demo_west", "--lang", "en"]), wb) == 0
    out = capsys.readouterr().out
    assert "西部大区" in out and "华东大区" not in out


# ---- the demo company's stories (read-only 20k demo) -------------------------------------------------

EXPECTED = {
    "区域费用预算执行超进度": [("华北大区", "2026-01-01~2026-10-31")],   # R30 overspends its opex budget (to the last closed month)
    "区域应收账款周转天数同比上升": [("西部大区", "2026-08-01~2026-10-31")],          # R40 pays ever later
    "区域逾期应收占比过高": [("西部大区", "2026-11-23")],                          # … and leaves invoices unpaid
    "部门月度费用异常": [("市场部", "2026-09")],                                  # H04 660102 ×3.5
    "每日订单数异常下降": [(None, "2026-10-12")],                                 # the collapsed order day
}


def test_demo_rules_find_exactly_the_demo_stories(demo_engine):
    run = lambda spec: query.run(demo_engine, spec)  # noqa: E731
    found = {r.name: [(b.member, b.period) for b in ar.evaluate(r, run, DEMO_AS_OF)]
             for r in alert_admin.load_rules_file()}
    assert found == EXPECTED


def test_preview_counts_firings_once_per_persisting_breach(demo_engine):
    rule = next(r for r in alert_admin.load_rules_file() if r.name == "区域费用预算执行超进度")
    p = alert_admin.preview(demo_engine, ADMIN, rule, DEMO_AS_OF)
    assert p.evaluations == 12
    assert p.fired == 1 and p.firings["member"].tolist() == ["华北大区"]    # breaching since January: one alert
    daily = alert_admin.preview(demo_engine, ADMIN, next(r for r in alert_admin.load_rules_file()
                                                  if r.name == "每日订单数异常下降"), DEMO_AS_OF)
    assert daily.firings["period"].tolist() == ["2026-10-12"]      # no Spring Festival, no Double 11


# ---- review findings 4, 6, 7, 10, 12, 13, 14, 16 ------------------------------------------------------

def _comments(engine, alert_id) -> list[str]:
    return alerts.comments(engine, ADMIN, int(alert_id))["body"].tolist()


def test_rows_without_data_keep_their_alerts(wb):
    rid = _save(wb, "t-nodata", kind="threshold", metric="revenue", value=0, dimension="region", window="last_month")
    alerts.run_all(wb, as_of=AS_OF)
    summary = alerts.run_all(wb, as_of=dt.date(2020, 6, 1))      # before the demo's data: nothing to judge
    assert set(_of_rule(wb, rid)["status"]) == {"open"} and len(_of_rule(wb, rid)) == 4
    assert summary.new == 0


def test_a_resolved_anomaly_stays_resolved(wb):
    rid = _save(wb, "t-anomaly", kind="anomaly", metric="orders", grain="day", lookback=30, op="both", value=1)
    alerts.run_all(wb, as_of=AS_OF)
    first = _of_rule(wb, rid)
    assert len(first) >= 1
    one = int(first["id"].iloc[0])
    alerts.update(wb, ADMIN, one, status="resolved", comment="季节性，已核实")
    alerts.run_all(wb, as_of=AS_OF)
    again = _of_rule(wb, rid)
    assert sorted(again["id"]) == sorted(first["id"])             # no new alert for the same day
    assert again.set_index("id").loc[one, "status"] == "resolved"


def test_persisting_alert_records_a_material_change(wb):
    rid = _save(wb, "t-mtd", kind="threshold", metric="revenue", value=0, window="month_to_date")
    alerts.run_all(wb, as_of=dt.date(2026, 11, 10))
    alerts.run_all(wb, as_of=AS_OF)                                # 9 days of November, then 23: value moves
    (row,) = _of_rule(wb, rid).itertuples()
    assert row.period == "2026-11-01~2026-11-23"
    assert any(b.startswith("变化 / changed: 2026-11-01~2026-11-09") for b in _comments(wb, row.id))


def test_concurrent_runs_make_one_alert(wb, monkeypatch):
    import threading
    if wb.dialect.name != "postgresql":
        pytest.skip("DuckDB: one writer per process; PostgreSQL runs wait on the lock row")
    rid = _save(wb, "t-race", kind="threshold", metric="revenue", value=0, dimension="region", window="last_month")
    failures, both_writing = [], threading.Barrier(2, timeout=20)
    take_lock = alert_run._take_lock

    def in_step(*args):          # both runs have evaluated and opened their write transaction: then the lock
        both_writing.wait()
        take_lock(*args)
    monkeypatch.setattr(alert_run, "_take_lock", in_step)
    # only this rule: the other rules' open alerts would be updated first, and those row locks alone serialise
    race = [r for r in alerts.rules(wb) if r.id == rid]
    monkeypatch.setattr(alert_run, "rules", lambda engine, enabled_only=False: race)

    def go():
        try:
            alerts.run_all(wb, as_of=AS_OF)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(_of_rule(wb, rid)) == 4


def test_owners_without_e_mail_are_noted(wb):
    before = notify.contact_email(wb, "demo_east")
    notify.set_email(wb, ADMIN, "demo_east", None)
    try:
        rid = _save(wb, "t-no-mail", kind="threshold", metric="revenue", value=0, window="last_month",
                    filters=[{"dimension": "region", "values": ["华东大区"]}])
        summary = alerts.run_all(wb, as_of=AS_OF)
        (row,) = _of_rule(wb, rid).itertuples()
        assert row.assignee == "demo_east" and summary.unreachable >= 1
        note = "未通知 / not notified: 用户 demo_east 没有邮箱地址 / user demo_east has no e-mail address"
        assert note in _comments(wb, row.id)
        box = notify.outbox(wb, limit=10_000)
        assert "failed" in box[box["ref"] == f"alert:{row.id}"]["status"].tolist()     # shown in the outbox
    finally:
        notify.set_email(wb, ADMIN, "demo_east", before)


def test_a_name_shared_by_two_units_goes_to_finance():
    Row = __import__("collections").namedtuple("Row", "l1_id l1_name l2_id l2_name")
    index = alerts.unit_index([Row(1, "华北大区", 11, "市场部"), Row(2, "西部大区", 21, "市场部"),
                               Row(2, "西部大区", 22, "西部商超部")])
    routing = alert_run._Routing(index, {"head": frozenset({11, 21})}, ("demo_finance",))
    rule = ar.Rule("t", ar.Kind.THRESHOLD, "opex", 0, dimension="department")
    assert routing.unit(rule, "市场部") is None and routing.ambiguous(rule, "市场部")
    assert routing.owners(routing.unit(rule, "市场部")) == ("demo_finance",)
    assert routing.unit(rule, "西部商超部") == 22 and not routing.ambiguous(rule, "西部商超部")
    b = ar.Breach("t", "市场部", "2026-10", 5.0, 0.0, 5.0, ar.window_range(ar.Window.LAST_MONTH, AS_OF))
    text = alert_run._message(rule, b, query.default_model(), "zh", routing)
    assert "“市场部”对应多个组织单元" in text


def test_people_need_the_right_to_preview_and_run(wb):
    east, finance = auth.load_user(wb, "demo_east"), auth.load_user(wb, "demo_finance")
    rule = ar.Rule("t-preview", ar.Kind.THRESHOLD, "revenue", 0.0, dimension="region")
    with pytest.raises(Forbidden):
        alert_admin.preview(wb, east, rule, AS_OF, months=1)
    with pytest.raises(Forbidden):
        alerts.run_now(wb, east, AS_OF)
    assert alert_admin.preview(wb, finance, rule, AS_OF, months=1).fired == 4
    summary = alerts.run_now(wb, finance, AS_OF)
    assert not summary.preview_only
    assert (audit.entries(wb, "demo_finance", "alert_update")["target"] == "alerts:run").any()


def test_an_earlier_as_of_from_a_person_is_a_preview(wb):
    finance = auth.load_user(wb, "demo_finance")
    rid = _save(wb, "t-history", kind="threshold", metric="revenue", value=0, dimension="region", window="last_month")
    alerts.run_now(wb, finance, AS_OF)
    stored, runs = _of_rule(wb, rid), alerts.last_run(wb)["id"]
    summary = alerts.run_now(wb, finance, dt.date(2025, 3, 1))    # would judge February 2025 instead
    assert summary.preview_only and summary.still_open >= 4
    assert _of_rule(wb, rid).equals(stored) and alerts.last_run(wb)["id"] == runs


def test_switching_a_rule_off_resolves_its_alerts(wb):
    rid = _save(wb, "t-off", kind="threshold", metric="revenue", value=0, dimension="region", window="last_month")
    alerts.run_all(wb, as_of=AS_OF)
    alert_admin.set_enabled(wb, ADMIN, rid, False)
    after = _of_rule(wb, rid)
    assert set(after["status"]) == {"resolved"}
    assert "规则已停用，预警关闭 / rule switched off: alert resolved" in _comments(wb, after["id"].iloc[0])


def test_anomaly_rules_ignore_days_after_the_data(demo_engine):
    """The 20k demo's data ends 2026-11-23: evaluated on 12-03 the nine days after are not a collapse."""
    run = lambda spec: query.run(demo_engine, spec)  # noqa: E731
    for rule in alert_admin.load_rules_file():
        if rule.kind is ar.Kind.ANOMALY:
            late = [(b.member, b.period) for b in ar.evaluate(rule, run, dt.date(2026, 12, 3))]
            assert late == EXPECTED[rule.name]
