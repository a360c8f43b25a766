"""预算与预测 / Budget & forecast: budget vs actual with drill and materiality, full-year outlook,
forecasts, budget versions and scenarios. Figures come from lib.finance.budget through sh.run (the user's scope)."""
import datetime as dt

import pandas as pd
import streamlit as st

from lib.core import fmt, i18n
from lib.core.errors import WorkbenchError
from lib.finance import budget
from lib.semantic.spec import FilterSpec
from pages import _budget_view as bview
from pages import _shared as sh
from pages import _why_parts as why_parts

lang = sh.lang()
ss = st.session_state


def t(key: str, **kw: object) -> str:
    return i18n.t(key, lang, **kw)


def _variance_tab(latest: dt.date, versions: pd.DataFrame) -> None:
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
    months = list(pd.date_range(dt.date(latest.year - 1, 1, 1), latest, freq="MS").date)[::-1]
    month = c1.selectbox(t("budget.month"), months, key="bud_month", format_func=lambda d: f"{d:%Y-%m}")
    names = bview.approved_budgets(versions, month.year)
    version = c2.selectbox(t("budget.version"), [*names, ""], key="bud_version",
                           format_func=lambda n: n or t("budget.version.all"))
    ytd = c3.radio(t("budget.period"), ["month", "ytd"], key="bud_period", horizontal=True,
                   format_func=lambda p: t(f"budget.period.{p}")) == "ytd"
    detail = c4.radio(t("budget.detail"), ["account", "expense_type"], key="bud_detail", horizontal=True,
                      format_func=lambda d: t(f"budget.detail.{d}"))
    c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1])
    types = c1.multiselect(t("budget.types"), list(budget.TYPES), default=list(budget.TYPES), key="bud_types",
                           format_func=lambda x: t(f"budget.type.{x}"))
    regions = [""] + [r for r in _values("region") if r is not None]
    region = c2.selectbox(t("budget.region"), regions, key="bud_region", format_func=lambda r: r or t("budget.all"))
    department = None
    if region:
        depts = ["", *_values("department", region)]
        department = c3.selectbox(t("budget.department"), depts, key="bud_dept",
                                  format_func=lambda d: t("budget.all") if d == "" else (d or t("budget.self")))
    amount = c4.number_input(t("budget.mat_amount"), 0.0, value=1000.0, step=1000.0, key="bud_mat_amount",
                             help=t("budget.mat_help"))
    pct = c5.number_input(t("budget.mat_pct"), 0.0, 1000.0, 5.0, step=1.0, key="bud_mat_pct")
    level = (budget.Level.ACCOUNT if department != "" and region else
             budget.Level.DEPARTMENT if region else budget.Level.REGION)
    by, filters = budget.drill(level, region or None, department, detail)
    st.caption(t("budget.drill_hint"))
    try:
        rep = budget.variance(sh.run, month, by, filters, version or None, budget.Materiality(amount, pct / 100),
                              tuple(types))
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    rows = rep.rows(ytd)
    k1, k2, k3 = st.columns(3)
    tot = rep.totals[rep.totals["period"] == ("ytd" if ytd else "month")]
    k1.metric(t("budget.impact"), fmt.money(rep.impact(ytd), lang), help=t("budget.impact.help"))
    k2.metric(t("budget.n_unfavourable"), int(((rows["impact"] < 0) & rows["material"]).sum()))
    opex = tot[tot["account_type"] == "opex"]
    if len(opex):
        k3.metric(t("budget.col.execution") + " · " + t("budget.type.opex"), fmt.percent(opex["execution"].iloc[0]))
    first = dt.date(month.year, 1, 1) if ytd else month
    scope = tuple(f for f in (FilterSpec("region", "in", (region,)) if region else None,
                              FilterSpec("department", "in", (department,)) if region and department else None) if f)
    w1, w2 = st.columns(2)
    with w1:
        why_parts.button("budget", "opex", first, month, "budget", scope, key="opex",
                         label=t("explain.why_metric", metric=sh.model().metric("opex").label(lang)))
    with w2:
        why_parts.button("budget", "operating_profit", first, month, "budget", scope, key="op",
                         label=t("explain.why_metric", metric=sh.model().metric("operating_profit").label(lang)))
    why_parts.section("budget")
    rank = st.radio(t("budget.rank"), list(budget.Rank), key="bud_rank", horizontal=True,
                    format_func=lambda r: t(f"budget.rank.{r}"))
    top = budget.top_unfavourable(rows, 5, budget.Rank(rank))
    st.subheader(t("budget.top"))
    if top.empty:
        st.info(t("budget.none_unfavourable"))
    else:
        st.dataframe(bview.styled(top, by, lang, fy=False), hide_index=True, key="bud_top_table")
    if st.toggle(t("budget.only_material"), key="bud_only_material"):
        rows = rows[rows["material"]]
    st.dataframe(bview.styled(rows, by, lang, fy=True), hide_index=True, key="bud_table")
    st.dataframe(bview.styled(tot.drop(columns="period"), (), lang, fy=True), hide_index=True, key="bud_totals")
    sh.explain(rep.actual_spec, key="bud_explain_actual")
    sh.explain(rep.budget_spec, key="bud_explain_budget")


def _values(dimension: str, region: str | None = None) -> list:
    spec = budget.dimension_spec(dimension, region)
    df = sh.run(spec)
    return [None if pd.isna(v) else v for v in df[dimension].tolist()]


@st.cache_data(show_spinner=False, max_entries=32)
def _outlook(through: dt.date, by: str | None, version: str | None, types: tuple, method: str,
             data: str, username: str, users: str, _progress=None) -> budget.Outlook:
    # data, username and users are in the cache key (Streamlit leaves out only _-prefixed arguments):
    # sh.run reads within the logged-in user's scope, so one user's outlook must never serve another.
    forecaster = budget.lib_forecaster(_progress) if method == "auto" else budget.seasonal_naive
    return budget.outlook(sh.run, through, forecaster, by, version, account_types=types)


def _outlook_tab(latest: dt.date, versions: pd.DataFrame) -> None:
    st.caption(t("budget.ol.caption", month=f"{latest:%Y-%m}"))
    with st.form("bud_ol_form"):
        c1, c2, c3, c4 = st.columns(4)
        by = c1.selectbox(t("budget.ol.by"), ["region", "department", ""], key="bud_ol_by",
                          format_func=lambda b: t(f"budget.{b}") if b else t("budget.company"))
        names = bview.approved_budgets(versions, latest.year)
        version = c2.selectbox(t("budget.version"), [*names, ""], key="bud_ol_version",
                               format_func=lambda n: n or t("budget.version.all"))
        types = c3.multiselect(t("budget.types"), list(budget.TYPES[:3]), default=list(budget.TYPES[:3]),
                               key="bud_ol_types", format_func=lambda x: t(f"budget.type.{x}"))
        method = c4.radio(t("budget.ol.method"), ["auto", "naive"], key="bud_ol_method",
                          format_func=lambda m: t(f"budget.ol.method.{m}"))
        go = st.form_submit_button(t("budget.ol.run"), key="bud_ol_run")
    if go:
        ss["bud_ol_args"] = (latest, by or None, version or None, tuple(types), method)
    if "bud_ol_args" not in ss:
        st.info(t("budget.ol.hint"))
        return
    if latest.month == 12:
        st.info(t("budget.ol.full_year"))
    bar = st.progress(0.0)
    try:
        result = _outlook(*ss["bud_ol_args"], data=sh.data_version(), username=sh.current_user().username,
                          users=sh.users_version(),
                          _progress=lambda d, n: bar.progress(d / n, text=t("budget.ol.progress", done=d, total=n)))
    except WorkbenchError as exc:
        bar.empty()
        sh.show_error(exc)
        return
    bar.empty()
    bview.outlook(result, lang)


st.title(t("budget.title"))
st.caption(t("budget.caption"))
tabs = st.tabs([t(f"budget.tab.{k}") for k in ("variance", "outlook", "forecast", "versions", "scenario")])
try:
    latest = sh.as_of_caption().month
    versions = bview.versions()
except WorkbenchError as exc:
    sh.show_error(exc)
    st.stop()
may_see_actual = sh.current_user().may_see_metric("actual", sh.model())
with tabs[0]:
    if latest is None:
        st.info(t("budget.no_data"))
    elif not may_see_actual:
        st.info(t("budget.no_actual"))
    else:
        _variance_tab(latest, versions)
with tabs[1]:
    if latest is None:
        st.info(t("budget.no_data"))
    elif not may_see_actual:
        st.info(t("budget.no_actual"))
    else:
        _outlook_tab(latest, versions)
with tabs[2]:
    from pages import _forecast_view
    _forecast_view.render()
with tabs[3]:
    bview.render_versions(versions)
with tabs[4]:
    from pages import _scenario_view
    _scenario_view.render()
