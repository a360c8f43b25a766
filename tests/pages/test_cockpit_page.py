"""AppTest: the management cockpit per role: the tiles a reader may see, their alerts and ranking
within scope, the outlook, and the figures against the library."""
from __future__ import annotations

import pytest

from lib.access import auth
from lib.core import fmt, store
from lib.finance import cockpit
from lib.semantic import query
from tests.pages.conftest import open_app

TILES_ZH = ["营业收入（累计）", "毛利率（累计）", "营业利润（累计）", "费用预算执行率", "应收账款周转天数", "存货周转天数"]


COLUMNS = {"cockpit_alerts": ("级别", "Severity"), "cockpit_ranking": ("名次", "Rank"),
           "cockpit_outlook": ("全年预测", "Full-year outlook")}


def _frames(at) -> dict[str, object]:
    """The cockpit's tables by what they are (AppTest does not expose a dataframe's key)."""
    out = {}
    for d in at.dataframe:
        for name, cols in COLUMNS.items():
            if set(cols) & set(d.value.columns):
                out[name] = d.value
    return out


def _cockpit(url: str, username: str) -> cockpit.Cockpit:
    engine = store.get_engine(url)
    try:
        user = auth.load_user(engine, username)
        return cockpit.build(lambda spec: query.run(engine, spec, user=user),
                             lambda m: user.may_see_metric(m, query.default_model()))
    finally:
        engine.dispose()


def test_finance_sees_every_tile_the_company_alerts_the_ranking_and_the_outlook(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_finance")
    assert not at.exception and not at.error
    assert [m.label for m in at.metric][:6] == TILES_ZH
    expected = _cockpit(demo_url, "demo_finance")
    assert at.metric[0].value == fmt.money(expected.tiles[0].value)
    frames = _frames(at)
    alerts = frames["cockpit_alerts"]
    assert {"华北大区", "西部大区"} <= set(alerts["组织"])      # the overspending region, the slow payer
    ranking = frames["cockpit_ranking"]
    assert list(ranking["名次"]) == sorted(ranking["名次"]) and len(ranking) == 4   # the four sales regions
    assert not any(str(u).startswith("▶") for u in ranking["组织"])                # finance owns no row
    outlook = frames["cockpit_outlook"]
    assert list(outlook["项目"]) == ["营业收入", "营业成本", "期间费用", "营业利润"]
    assert any("季节性朴素" in c.value for c in at.caption)


def test_a_dept_head_sees_their_region_only(monkeypatch, demo_url):
    at = open_app(monkeypatch, demo_url, "demo_east", "en")
    assert not at.exception and not at.error
    assert at.metric[0].label == "Net revenue (YTD)"
    assert at.metric[0].value == fmt.money(_cockpit(demo_url, "demo_east").tiles[0].value, "en")
    frames = _frames(at)
    if "cockpit_alerts" in frames:                       # an alert elsewhere never shows in the east's cockpit
        assert set(frames["cockpit_alerts"]["Unit"]) <= {"华东大区"}
    ranking = frames["cockpit_ranking"]
    assert sum(str(u).startswith("▶") for u in ranking["Unit"]) == 1               # their own row, marked
    assert any("华东大区" in c.value for c in at.caption)
    own = ranking[ranking["Unit"].str.startswith("▶")].iloc[0]
    assert any(c.value == f"Your unit: {own['Unit'][2:]}: rank {own['Rank']} of {len(ranking)}" for c in at.caption), \
        [c.value for c in at.caption]


def _publish(url: str, template: str, period: str) -> int:
    from lib.performance.scorecards import center as scorecard
    engine = store.get_engine(url)
    try:
        fin = auth.load_user(engine, "demo_finance")
        return scorecard.save_run(engine, fin, scorecard.run_evaluation(engine, fin, template, period), publish=True)
    finally:
        engine.dispose()


def test_a_dept_head_is_told_their_rank_or_why_there_is_none(monkeypatch, own_url):
    """The newest published run is the stores': the east's store is named with its rank; a run that scored no
    unit says so instead of an empty table."""
    _publish(own_url, "store", "2026-Q3")
    at = open_app(monkeypatch, own_url, "demo_east", "zh")
    assert not at.exception and not at.error
    ranking = _frames(at)["cockpit_ranking"]
    mine = ranking[ranking["组织"].str.startswith("▶")]
    assert list(mine["组织"]) == ["▶ 上海旗舰店"]
    assert any(c.value == f"您的单位：上海旗舰店 第 {mine.iloc[0]['名次']} 名（共 {len(ranking)} 个）" for c in at.caption)
    # a run stored with no scored unit (e.g. its units sat at another level when it ran)
    run_id = _publish(own_url, "store", "2026-Q2")
    engine = store.get_engine(own_url)
    try:
        from lib.core.tables import scorecards as tables
        with engine.begin() as conn:
            conn.execute(tables.total.delete().where(tables.total.c.run_id == run_id))
    finally:
        engine.dispose()
    at = open_app(monkeypatch, own_url, "demo_east", "zh")
    assert not at.exception and not at.error
    assert "cockpit_ranking" not in _frames(at)
    assert any("没有参评单位" in i.value for i in at.info), [i.value for i in at.info]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_viewer_sees_what_their_role_allows_and_is_told_why_the_rest_is_missing(monkeypatch, demo_url, lang):
    at = open_app(monkeypatch, demo_url, "demo_viewer", lang)
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert labels[:2] == (["营业收入（累计）", "应收账款周转天数"] if lang == "zh"
                          else ["Net revenue (YTD)", "Days sales outstanding"])
    assert any(("总账" if lang == "zh" else "GL actuals") in i.value for i in at.info)   # no outlook, and why
    assert "cockpit_outlook" not in _frames(at)
