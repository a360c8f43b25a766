"""AppTest: the budget & forecast page opens for every role in both languages and its main controls work."""
from __future__ import annotations

import pytest

from tests.pages.conftest import open_app

PAGE = "pages/budget.py"


def _page(monkeypatch, url, user, lang="zh"):
    at = open_app(monkeypatch, url, user=user, lang=lang)
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("user", ["demo_finance", "demo_east", "demo_viewer"])
def test_opens_for_every_role_in_both_languages(monkeypatch, demo_url, user):
    at = _page(monkeypatch, demo_url, user, "zh")
    for lang in ("zh", "en"):
        if lang == "en":
            at.session_state["lang"] = "en"
            at.run()
            assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        assert at.title[0].value == ("预算与预测" if lang == "zh" else "Budget & forecast")
        editing = [k for k in ("bud_v_copy_btn", "bud_v_pick") if k in at.session_state]
        if user == "demo_finance":
            assert editing
        else:  # read-only roles get no edit controls (and lib refuses their writes anyway)
            assert not editing
        if user == "demo_viewer":  # no actuals for viewers: the variance tab says so instead of failing
            assert any("实际数" in i.value or "actuals" in i.value for i in at.info)
        else:
            assert "bud_month" in at.session_state


def test_variance_controls_drill_and_rank(monkeypatch, demo_url):
    at = _page(monkeypatch, demo_url, "demo_finance")
    at.multiselect(key="bud_types").set_value(["opex"]).run()
    at.radio(key="bud_period").set_value("ytd").run()
    at.radio(key="bud_rank").set_value("percent").run()
    assert not at.exception, [e.value for e in at.exception]
    top = at.dataframe[0].value
    assert top.iloc[0]["区域"] == "华北大区"                     # the demo's over-budget region leads
    at.selectbox(key="bud_region").set_value("华北大区").run()   # drill to its departments
    assert not at.exception, [e.value for e in at.exception]
    assert "部门/门店" in at.dataframe[1].value.columns
    at.selectbox(key="bud_dept").set_value("华北经销部").run()   # … and to its accounts
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[1].value
    assert "科目" in table.columns and table["科目"].str.startswith("销售费用").any()
    at.toggle(key="bud_only_material").set_value(True).run()
    at.number_input(key="bud_mat_amount").set_value(1e9).run()
    assert not at.exception and any("没有达到重要性阈值" in i.value for i in at.info)


def test_outlook_runs_with_the_baseline_forecaster(monkeypatch, demo_url):
    at = _page(monkeypatch, demo_url, "demo_finance")
    at.radio(key="bud_ol_method").set_value("naive")
    at.multiselect(key="bud_ol_types").set_value(["opex"])
    at.button(key="bud_ol_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("华北大区" in w.value for w in at.warning)       # the largest expected overspend
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")


def test_version_copy_and_workflow_for_finance(monkeypatch, own_url):
    at = _page(monkeypatch, own_url, "demo_finance")
    at.selectbox(key="bud_v_pick").set_value(2).run()                    # FY2026 年度预算 (approved)
    at.text_input(key="bud_v_copy_name").input("FY2026 修订预算").run()
    at.button(key="bud_v_copy_btn").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("FY2026 修订预算" in s.value for s in at.success)
    assert at.selectbox(key="bud_v_pick").value == 3                      # the copy is picked
    assert "bud_v_save" in [b.key for b in at.button]                     # a draft: the grid can be saved
    at.button(key="bud_v_to_submitted").click().run()
    assert not at.exception and any("已提交" in s.value for s in at.success)
    assert "bud_v_save" not in [b.key for b in at.button]                 # submitted: no more editing
    history = next(d.value for d in at.dataframe if "操作" in d.value.columns)
    assert list(history["操作"]) == ["状态变更", "创建"]
    # (department heads get no version controls: test_opens_for_every_role_in_both_languages)


def test_variance_tables_show_money_and_percent_formats():
    """Both formats survive together (pandas 3 resets the first Styler.format when a second is applied)."""
    import pandas as pd

    from pages import _budget_view as bview
    rows = pd.DataFrame({"unit": ["华东大区"], "account_type": ["revenue"], "actual": [2639437.44],
                         "budget": [3076500.0], "variance": [-437062.56], "variance_pct": [-0.142],
                         "execution": [0.858], "impact": [-437062.56], "material": [True], "favourable": [False]})
    html = bview.styled(rows, (), "zh", fy=False).to_html()
    assert "¥263.94万" in html and "-¥43.71万" in html and "-14.2%" in html and "85.8%" in html
    assert "2639437.44" not in html
