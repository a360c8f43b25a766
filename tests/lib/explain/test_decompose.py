"""The arithmetic of 归因 on hand-worked figures, and as properties on random data: members' contributions add
up to the change (to the fen for money, 1e-9 for ratios) for every form a metric can take."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.explain import decompose as dc
from lib.explain import forms
from lib.explain.forms import Linear, NotExplainable, Ratio
from lib.semantic.query import default_model

MODEL = default_model()


def frame(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index")


def totals(df: pd.DataFrame) -> dict[str, float]:
    return {k: float(v) for k, v in df.sum().items()}


def test_an_additive_metric_splits_into_each_members_own_change():
    f = Linear((("revenue", 1.0),))
    cur = frame({"华东": {"revenue": 120.0}, "西部": {"revenue": 70.0}, "新区": {"revenue": 15.0}})
    base = frame({"华东": {"revenue": 100.0}, "西部": {"revenue": 80.0}, "旧区": {"revenue": 5.0}})
    got = {m.member: m.contribution for m in dc.split(f, cur, base, totals(cur), totals(base))}
    assert got == {"华东": 20.0, "西部": -10.0, "新区": 15.0, "旧区": -5.0}
    assert sum(got.values()) == 205.0 - 185.0


def test_a_difference_splits_by_member_and_by_input():
    f = forms.form(MODEL, "operating_profit")
    assert dict(f.terms) == {"revenue": 1.0, "cogs": -1.0, "opex": -1.0}
    cur = frame({"A": {"revenue": 100.0, "cogs": 60.0, "opex": 30.0}, "B": {"revenue": 50.0, "cogs": 30.0, "opex": 5.0}})
    base = frame({"A": {"revenue": 90.0, "cogs": 50.0, "opex": 20.0}, "B": {"revenue": 50.0, "cogs": 35.0, "opex": 5.0}})
    got = {m.member: m.contribution for m in dc.split(f, cur, base, totals(cur), totals(base))}
    assert got == {"A": -10.0, "B": 5.0}      # A: +10 revenue, +10 cogs, +10 opex; B: cogs −5
    parts = {k: x for k, _, x in dc.parts(f, totals(cur), totals(base))}
    assert parts == {"revenue": 10.0, "cogs": -5.0, "opex": -10.0}


def test_a_ratio_splits_into_rate_and_mix_as_the_glossary_says():
    """Gross margin over two categories, worked by hand.

    Base: A revenue 100, gp 40 (40 %); B revenue 100, gp 10 (10 %); R0 = 25 %.
    Now:  A revenue 150, gp 54 (36 %); B revenue 50, gp 5 (10 %);  R1 = 59/200 = 29.5 %.
    w: A 0.5 → 0.75, B 0.5 → 0.25. A: mix (0.25)(0.40 − 0.25) = 3.75 pp, rate 0.75 (0.36 − 0.40) = −3 pp.
    B: mix (−0.25)(0.10 − 0.25) = 3.75 pp, rate 0. Sum 4.5 pp = 29.5 − 25."""
    f = forms.form(MODEL, "gross_margin")
    cur = frame({"A": {"revenue": 150.0, "cogs": 96.0}, "B": {"revenue": 50.0, "cogs": 45.0}})
    base = frame({"A": {"revenue": 100.0, "cogs": 60.0}, "B": {"revenue": 100.0, "cogs": 90.0}})
    got = {m.member: m for m in dc.split(f, cur, base, totals(cur), totals(base))}
    assert got["A"].mix_effect == pytest.approx(0.0375, abs=1e-12)
    assert got["A"].rate_effect == pytest.approx(-0.03, abs=1e-12)
    assert got["B"].mix_effect == pytest.approx(0.0375, abs=1e-12)
    assert got["B"].rate_effect == pytest.approx(0.0, abs=1e-12)
    assert (got["A"].current, got["A"].base) == (pytest.approx(0.36), pytest.approx(0.40))
    assert sum(m.contribution for m in got.values()) == pytest.approx(0.295 - 0.25, abs=1e-12)


def test_a_new_member_is_all_rate_and_a_gone_member_all_mix():
    f = forms.form(MODEL, "gross_margin")
    cur = frame({"A": {"revenue": 100.0, "cogs": 60.0}, "N": {"revenue": 100.0, "cogs": 20.0}})
    base = frame({"A": {"revenue": 100.0, "cogs": 60.0}, "G": {"revenue": 100.0, "cogs": 90.0}})
    got = {m.member: m for m in dc.split(f, cur, base, totals(cur), totals(base))}
    assert got["N"].mix_effect == 0.0 and got["N"].base is None
    assert got["G"].rate_effect == pytest.approx(0.0, abs=1e-12) and got["G"].current is None
    assert sum(m.contribution for m in got.values()) == pytest.approx(0.6 - 0.25, abs=1e-12)


def test_days_metrics_scale_by_the_periods_days():
    """DSO = days × average AR ÷ revenue: 30 days, AR 50/50, revenue 100/50 → DSO 30 × 100 / 150 = 20;
    before 31 days, AR 40/20, revenue 100/100 → 31 × 60 / 200 = 9.3."""
    f = forms.form(MODEL, "dso")
    assert isinstance(f, Ratio) and f.scale == "ar_days_in_period"
    cur = frame({"A": {"ar_balance_avg": 50.0, "revenue": 100.0, "ar_days_in_period": 30.0},
                 "B": {"ar_balance_avg": 50.0, "revenue": 50.0, "ar_days_in_period": 30.0}})
    base = frame({"A": {"ar_balance_avg": 40.0, "revenue": 100.0, "ar_days_in_period": 31.0},
                  "B": {"ar_balance_avg": 20.0, "revenue": 100.0, "ar_days_in_period": 31.0}})
    tc = {"ar_balance_avg": 100.0, "revenue": 150.0, "ar_days_in_period": 30.0}
    tb = {"ar_balance_avg": 60.0, "revenue": 200.0, "ar_days_in_period": 31.0}
    assert dc.value(f, tc) == pytest.approx(20.0) and dc.value(f, tb) == pytest.approx(9.3)
    got = {m.member: m for m in dc.split(f, cur, base, tc, tb)}
    assert got["B"].current == pytest.approx(30.0) and got["B"].base == pytest.approx(6.2)
    assert sum(m.contribution for m in got.values()) == pytest.approx(20.0 - 9.3, abs=1e-9)
    parts = {k: x for k, _, x in dc.parts(f, tc, tb)}
    assert parts["ar_days_in_period"] == pytest.approx(-1 * 100 / 150)
    assert sum(parts.values()) == pytest.approx(20.0 - 9.3, abs=1e-9)


def test_distinct_counts_leave_an_overlap_row_so_the_bars_still_add_up():
    f = forms.form(MODEL, "customers")
    cur = frame({"线上": {"customers": 60.0}, "线下": {"customers": 50.0}})
    base = frame({"线上": {"customers": 40.0}, "线下": {"customers": 50.0}})
    got = dc.split(f, cur, base, {"customers": 95.0}, {"customers": 80.0})   # 15 shop in both channels now
    overlap = [m for m in got if m.kind == "overlap"]
    assert len(overlap) == 1 and overlap[0].contribution == pytest.approx(-5.0)
    assert sum(m.contribution for m in got) == pytest.approx(15.0)


def test_small_members_are_grouped_and_the_sum_is_unchanged():
    members = [dc.Member(f"m{i}", c) for i, c in enumerate([50.0, -30.0, 10.0, 0.2, 0.1, -0.1, 0.05])]
    got = dc.grouped(members)
    assert [m.member for m in got][:3] == ["m0", "m1", "m2"]
    assert got[-1].kind == "other" and got[-1].count == 4
    assert sum(m.contribution for m in got) == pytest.approx(sum(m.contribution for m in members), abs=1e-12)


def test_the_dimension_where_one_member_jumped_scores_first():
    # region: one member took the whole rise; segment: the same rise spread in proportion to size
    region = dc.split(Linear((("opex", 1.0),)),
                      frame({"华北": {"opex": 150.0}, "华东": {"opex": 100.0}, "西部": {"opex": 100.0}}),
                      frame({"华北": {"opex": 100.0}, "华东": {"opex": 100.0}, "西部": {"opex": 100.0}}),
                      {"opex": 350.0}, {"opex": 300.0})
    segment = dc.split(Linear((("opex", 1.0),)),
                       frame({"a": {"opex": 175.0}, "b": {"opex": 116.7}, "c": {"opex": 58.3}}),
                       frame({"a": {"opex": 150.0}, "b": {"opex": 100.0}, "c": {"opex": 50.0}}),
                       {"opex": 350.0}, {"opex": 300.0})
    r, s = dc.score(region, 50.0), dc.score(segment, 50.0)
    assert r.causes == ("华北",) and r.qualified
    assert dc.rank_key(r) < dc.rank_key(s)


def test_every_metric_has_a_form_or_says_what_to_explain_instead():
    for mid, m in MODEL.metrics.items():
        try:
            r = forms.resolve(MODEL, mid)
        except NotExplainable as exc:
            assert m.inputs and any(i.offset for i in m.inputs.values()), mid
            assert "explain" in str(exc) and "请改为解释" in exc.message_zh
            continue
        assert set(r.form.leaves) <= {x.id for x in MODEL.leaf_metrics(r.metric)}, mid
    assert forms.resolve(MODEL, "revenue_ytd").extend_to == "year"
    assert forms.resolve(MODEL, "revenue_ytd").metric == "revenue"
    assert dict(forms.form(MODEL, "budget_variance").terms) == {"actual": 1.0, "budget": -1.0}


# ---- properties on random data --------------------------------------------------------------

amounts = st.floats(min_value=0, max_value=1e7, allow_nan=False).map(lambda x: round(x, 2))
members = st.lists(st.tuples(amounts, amounts, amounts, amounts), min_size=1, max_size=12)
FORMS = {"operating_profit": forms.form(MODEL, "operating_profit"), "gross_margin": forms.form(MODEL, "gross_margin"),
         "opex_ratio": forms.form(MODEL, "opex_ratio"), "dso": forms.form(MODEL, "dso")}


def _frames(rows, leaves, present):
    """Member i has (a, b) now and (c, d) before for the two leaves; ``present`` drops some from one period."""
    cur, base = {}, {}
    for i, (a, b, c, d) in enumerate(rows):
        if present[i % len(present)] != "gone":
            cur[f"m{i}"] = {leaves[0]: a, leaves[1]: b}
        if present[i % len(present)] != "new":
            base[f"m{i}"] = {leaves[0]: c, leaves[1]: d}
    cols = list(leaves[:2])
    cur_df = pd.DataFrame.from_dict(cur, orient="index", columns=cols) if cur else pd.DataFrame(columns=cols)
    base_df = pd.DataFrame.from_dict(base, orient="index", columns=cols) if base else pd.DataFrame(columns=cols)
    return cur_df.astype(float), base_df.astype(float)


@settings(max_examples=150, deadline=None)
@given(rows=members, present=st.lists(st.sampled_from(["both", "new", "gone"]), min_size=1, max_size=4),
       metric=st.sampled_from(sorted(FORMS)), days=st.tuples(st.integers(28, 31), st.integers(28, 31)))
def test_contributions_add_up_to_the_change_for_any_data(rows, present, metric, days):
    f = FORMS[metric]
    leaves = [k for k in f.leaves if k != getattr(f, "scale", None)]
    if len(leaves) == 3:           # operating profit: revenue, cogs, opex; give opex a fixed share of cogs
        leaves = leaves[:2]
    cur, base = _frames(rows, leaves, present)
    if isinstance(f, Linear) and "opex" in f.leaves:
        cur["opex"], base["opex"] = cur[leaves[1]] * 0.3, base[leaves[1]] * 0.3
    tc, tb = totals(cur), totals(base)
    for k in f.leaves:
        tc.setdefault(k, 0.0)
        tb.setdefault(k, 0.0)
    if isinstance(f, Ratio) and f.scale:
        tc[f.scale], tb[f.scale] = float(days[0]), float(days[1])
    v1, v0 = dc.value(f, tc), dc.value(f, tb)
    if v1 is None or v0 is None:
        return                      # a ratio without a denominator in one period: explain() refuses it
    got = dc.split(f, cur, base, tc, tb)
    assert not [m for m in got if m.kind == "overlap"]
    total = sum(m.contribution for m in got)
    if isinstance(f, Linear):
        assert abs(total - (v1 - v0)) < 0.005
    else:
        # to 1e-9 of the terms summed (a member with a tiny denominator has huge rate and mix that nearly cancel)
        assert math.isclose(total, v1 - v0, rel_tol=1e-9, abs_tol=1e-9 * dc.magnitude(got, v1, v0))
        for m in got:
            assert m.rate_effect + m.mix_effect == m.contribution
    assert sum(m.contribution for m in dc.grouped(got)) == pytest.approx(total, abs=1e-6)
    assert sum(x for _, _, x in dc.parts(f, tc, tb)) == pytest.approx(v1 - v0, abs=1e-6 * max(1.0, abs(v1), abs(v0)))
