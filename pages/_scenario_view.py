"""情景模拟 / What-if scenarios: ``render()`` draws the scenario tab of the budget page (widget keys "scn_")."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.access import auth
from lib.core import i18n
from lib.core.errors import WorkbenchError
from lib.finance import margin as mg
from lib.finance import scenario as sc
from lib.semantic import query
from lib.semantic.spec import QuerySpec, TimeRange
from pages import _shared as sh


def _t(key: str, **kw: object) -> str:
    return i18n.t(f"margin.scenario.{key}", sh.lang(), **kw)


def _base() -> sc.Base | None:
    """The base the user picks: an approved budget version, or the actuals of a period."""
    kind = sc.BaseKind(st.radio(_t("base"), [k.value for k in sc.BaseKind], index=1, horizontal=True,
                                key="scn_base_kind", format_func=lambda k: _t(f"base.{k}")))
    if kind is sc.BaseKind.BUDGET:
        v = sh.run(QuerySpec(("budget",), ("budget_version",)))
        names = v.loc[v["budget"].notna(), "budget_version"].dropna().tolist()
        if not names:
            return None
        return sc.load_budget_base(sh.run, st.selectbox(_t("version"), names, key="scn_version"))
    months = sh.run(QuerySpec(("revenue",), ("month",)))
    months = [d.date() for d in months.loc[months["revenue"].notna(), "month"]]
    if not months:
        return None
    last = mg.period_of(sh.as_of().month or max(months), mg.Grain.MONTH).end
    start = (pd.Timestamp(last) + pd.Timedelta(days=1) - pd.DateOffset(months=12)).date()
    options = {_t("last12", start=start, end=last): TimeRange(max(start, min(months)), last)}
    for label, tr in mg.period_options(months, mg.Grain.YEAR, last):
        options[_t("fy", year=label)] = tr
    picked = st.selectbox(_t("period"), list(options), key="scn_period")
    return sc.load_actual_base(sh.run, options[picked])


def _pct(label: str, key: str) -> float:
    return st.number_input(label, -100.0, 1000.0, 0.0, step=0.5, format="%.1f", key=key) / 100


def _drivers(i: int, base: sc.Base) -> tuple[str, sc.Drivers]:
    name = st.text_input(_t("name"), _t("default_name", n=i + 1), key=f"scn_name_{i}").strip()
    price, volume = _pct(_t("price"), f"scn_price_{i}"), _pct(_t("volume"), f"scn_volume_{i}")
    cost = _pct(_t("unit_cost"), f"scn_cost_{i}")
    opex = tuple((e, _pct(_t("opex", type=e), f"scn_opex_{i}_{j}")) for j, e in enumerate(base.expense_types()))
    bys = ["", "region", *(["category"] if base.has_category else [])]
    by = st.selectbox(_t("by"), bys, key=f"scn_by_{i}", format_func=lambda b: _t(f"by.{b or 'none'}"))
    overrides: list[sc.Override] = []
    if by:
        cols = ["price", "volume", "unit_cost", *(["opex"] if by == "region" else [])]
        grid = pd.DataFrame({"value": base.values(by), **{c: [None] * len(base.values(by)) for c in cols}},
                            dtype=object).astype({c: float for c in cols})
        st.caption(_t("overrides"))
        edited = st.data_editor(grid, key=f"scn_over_{by}_{i}", hide_index=True, disabled=["value"],
                                column_config={"value": _t("col.value"), "price": _t("price"),
                                               "volume": _t("volume"), "unit_cost": _t("unit_cost"),
                                               "opex": _t("col.opex")})
        for r in edited.to_dict("records"):
            vals = {c: (None if pd.isna(r.get(c)) else float(r[c]) / 100) for c in cols}
            if any(v is not None for v in vals.values()):
                overrides.append(sc.Override(str(r["value"]), vals["price"], vals["volume"], vals["unit_cost"],
                                             vals.get("opex")))
    return name or _t("default_name", n=i + 1), sc.Drivers(price, volume, cost, opex, by or None,
                                                                    tuple(overrides))


def _save(base: sc.Base, scenarios: dict[str, sc.Drivers]) -> None:
    user = sh.current_user()
    st.markdown(f"**{_t('save')}**")
    if not auth.may(user, "edit_budgets"):
        st.caption(_t("save.readonly"))
        return
    years = sorted({p.year for p in base.lines["period"]})
    year = years[0] if base.kind is sc.BaseKind.BUDGET and years else (years[-1] + 1 if years else 2026)
    a, b, c = st.columns([1, 2, 1])
    pick = a.selectbox(_t("save.pick"), list(scenarios), key="scn_save_pick")
    name = b.text_input(_t("save.name"), key="scn_save_name")
    fy = c.number_input(_t("save.year"), 1900, 2200, year, step=1, key="scn_save_year",
                        disabled=base.kind is sc.BaseKind.BUDGET)
    if st.button(_t("save.submit"), key="scn_save_submit", type="primary"):
        try:
            vid = sc.save(sh.engine(), user, name or pick, base, scenarios[pick], int(fy))
            st.success(_t("save.done", id=vid))
        except WorkbenchError as exc:
            sh.show_error(exc)


def render() -> None:
    """The scenario tab: base, up to three scenarios' drivers, the side-by-side P&L and saving one."""
    st.subheader(_t("title"))
    st.caption(_t("caption"))
    if not sh.current_user().may_see_metric("cogs", sh.model()):
        st.info(_t("no_cogs"))
        return
    try:
        base = _base()
        if base is None or base.lines.empty:
            st.info(_t("no_base"))
            return
        n = int(st.number_input(_t("count"), 1, sc.MAX_SCENARIOS, 2, step=1, key="scn_count"))
        scenarios: dict[str, sc.Drivers] = {}
        for i, col in enumerate(st.columns(n)):
            with col:
                name, drivers = _drivers(i, base)
            scenarios[name if name not in scenarios else f"{name} ({i + 1})"] = drivers
        st.dataframe(sc.comparison_frame(sc.compare(base, scenarios), sh.lang()), hide_index=True, key="scn_table")
        st.caption("  \n".join(sh.plain(query.describe(s, sh.lang(), sh.model())) for s in base.specs))
        sh.explain(base.specs[0], key="scn_explain")
        _save(base, scenarios)
    except WorkbenchError as exc:
        sh.show_error(exc)
