"""预测 tab of the budget page: monthly forecasts with intervals, the accuracy table vs seasonal naive,
saving a forecast version, and "forecast made in month M vs actual"."""
from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from lib.access import auth
from lib.core import fmt, i18n
from lib.core.errors import WorkbenchError
from lib.finance import forecast, forecast_budget
from lib.semantic import model as semantic
from pages import _shared as sh

BLUE, ORANGE = "#1f77b4", "#ff7f0e"
MAX_SERIES = 25  # the largest series by history total; a dimension with hundreds of values would take minutes


@st.cache_data(show_spinner=False, max_entries=512)
def _one(key: str, months: tuple, values: tuple, horizon: int, data_version: str) -> forecast.Forecast:
    """One series' forecast, cached by its values and the data version (backtests take seconds)."""
    return forecast.forecast_series(pd.Series(values, index=pd.DatetimeIndex(months)), horizon, series=key)


def _t(key: str, **kw) -> str:
    return i18n.t(key, sh.lang(), **kw)


def _money(metric: semantic.Metric):
    if metric.format is semantic.Format.CURRENCY:
        return lambda v: fmt.money(v, sh.lang())
    return lambda v: "—" if pd.isna(v) else f"{v:,.{metric.decimals}f}"


def _series_label(key: str) -> str:
    return key or _t("forecast.total")


def _chart(f: forecast.Forecast) -> alt.Chart:
    month, value, kind = _t("forecast.col.month"), _t("forecast.chart.value"), _t("forecast.chart.kind")
    actual, predicted = _t("forecast.chart.actual"), _t("forecast.chart.forecast")
    hist = pd.DataFrame({month: f.history.index, value: f.history.to_numpy(), kind: actual})
    fc = f.forecast.rename_axis(month).reset_index()
    line = pd.concat([hist, pd.DataFrame({month: fc[month], value: fc["value"], kind: predicted})])
    x = alt.X(f"{month}:T", title=month, axis=alt.Axis(format="%Y-%m"))
    tip = [alt.Tooltip(f"{month}:T", format="%Y-%m")]
    bands = [alt.Chart(fc).mark_area(opacity=op, color=ORANGE).encode(
        x=x, y=alt.Y(f"{lo}:Q", title=value), y2=f"{hi}:Q",
        tooltip=tip + [alt.Tooltip(f"{lo}:Q", format=",.0f", title=_t(f"forecast.col.{lo}")),
                       alt.Tooltip(f"{hi}:Q", format=",.0f", title=_t(f"forecast.col.{hi}"))])
        for lo, hi, op in (("lo95", "hi95", 0.15), ("lo80", "hi80", 0.3))]
    lines = alt.Chart(line).mark_line(point=True).encode(
        x=x, y=alt.Y(f"{value}:Q", title=value),
        color=alt.Color(f"{kind}:N", title=kind, scale=alt.Scale(domain=[actual, predicted], range=[BLUE, ORANGE])),
        tooltip=tip + [alt.Tooltip(f"{value}:Q", format=",.0f"), kind])
    return alt.layer(*bands, lines).properties(height=320)


def _accuracy_table(f: forecast.Forecast) -> pd.DataFrame:
    cols = {c: _t(f"forecast.col.{c}") for c in ("model", "mase", "smape", "chosen")}
    return f.accuracy.round({"mase": 3, "smape": 1}).rename(columns=cols)


def _forecast_table(f: forecast.Forecast, show) -> pd.DataFrame:
    df = f.forecast.copy()
    out = pd.DataFrame({_t("forecast.col.month"): [f"{d:%Y-%m}" for d in df.index]})
    for c in ("value", "lo80", "hi80", "lo95", "hi95"):
        out[_t(f"forecast.col.{c}")] = [show(v) for v in df[c]]
    return out


def _batch(series: dict[str, pd.Series], horizon: int) -> dict[str, forecast.Forecast]:
    bar = st.progress(0.0, text=_t("forecast.running", done=0, total=len(series)))
    version, out = sh.data_version(), {}
    for i, (key, s) in enumerate(series.items(), start=1):
        out[key] = _one(key, tuple(s.index), tuple(float(v) for v in s.to_numpy()), horizon, version)
        bar.progress(i / len(series), text=_t("forecast.running", done=i, total=len(series)))
    bar.empty()
    return out


def _actuals_end() -> dt.date:
    """The last day of actuals: it ends with the data, not the calendar (a month the load has not finished is
    not history yet)."""
    a = sh.as_of()
    return a.data_end or a.today - dt.timedelta(days=1)


def _method(model_id: str) -> str:
    return _t(f"forecast.method.{model_id}") if model_id == "combination" else model_id


def _coverage(f: forecast.Forecast) -> str:
    return _t("forecast.coverage.value", c80=fmt.percent(f.coverage80), c95=fmt.percent(f.coverage95))


def _overview(results: dict[str, forecast.Forecast], show) -> pd.DataFrame:
    rows = []
    for key, f in results.items():
        acc = f.accuracy.set_index("model")["mase"]
        rows.append({_t("forecast.series"): _series_label(key), _t("forecast.chosen"): _method(f.model),
                     _t("forecast.col.mase"): round(float(acc.get(f.model, float("nan"))), 3),
                     _t("forecast.vs_baseline"): round(float(acc.get("seasonal_naive", float("nan"))), 3),
                     _t("forecast.col.versus"): f.versus_baseline(sh.lang()),
                     _t("forecast.coverage"): _coverage(f),
                     _t("forecast.next_total", h=len(f.forecast)): show(f.total())})
    return pd.DataFrame(rows)


def _save(user, metric: str, by: str | None, made_in: dt.date, results: dict) -> None:
    try:
        run_id = forecast.save_run(sh.engine(), user, metric, by, made_in, results, sh.data_version())
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    st.success(_t("forecast.saved", id=run_id, n=len(results)))


def _history(user, model, end: dt.date) -> None:
    if user.scope is not None:  # saved runs cover the whole company (lib refuses them too)
        return
    st.subheader(_t("forecast.history"))
    try:
        saved = forecast.runs(sh.engine())
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    saved = saved[[m in model.metrics and user.may_see_metric(m, model) for m in saved["metric"]]]
    if saved.empty:
        st.caption(_t("forecast.history.none"))
        return
    by_id = {int(r.id): r for r in saved.itertuples()}

    def label(i: int) -> str:
        r = by_id[i]
        by = model.dimension(r.dimension).label(sh.lang()) if r.dimension in model.dimensions else _t("forecast.by.none")
        return _t("forecast.history.label", id=i, made_in=f"{pd.Timestamp(r.made_in):%Y-%m}",
                  metric=model.metric(r.metric).label(sh.lang()), by=by, who=r.made_by)
    run_id = st.selectbox(_t("forecast.history.pick"), list(by_id), format_func=label, key="fc_run")
    r = by_id[run_id]
    try:
        actual = forecast.monthly_series(sh.run, r.metric, r.dimension, end, model=model)
        vs = forecast.run_vs_actual(sh.engine(), user, run_id, actual)
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    st.caption(_t("forecast.history.caption", made_in=f"{pd.Timestamp(r.made_in):%Y-%m}"))
    show = _money(model.metric(r.metric))
    summary = forecast.run_summary(vs)
    summary["series"] = summary["series"].map(_series_label)
    summary["mae"] = summary["mae"].map(show)
    for c in ("mape", "cover80", "cover95"):
        summary[c] = summary[c].map(fmt.percent)
    st.dataframe(summary.rename(columns=lambda c: _t("forecast.series") if c == "series" else _t(f"forecast.col.{c}")),
                 hide_index=True, key="fc_run_summary")
    known = vs[vs["actual"].notna()].copy()
    table = pd.DataFrame({_t("forecast.series"): known["series"].map(_series_label),
                          _t("forecast.col.month"): known["period"].dt.strftime("%Y-%m"),
                          _t("forecast.col.model"): known["model"],
                          _t("forecast.col.value"): known["forecast"].map(show),
                          _t("forecast.col.actual"): known["actual"].map(show),
                          _t("forecast.col.error"): known["error"].map(show),
                          _t("forecast.col.pct_error"): known["pct_error"].map(fmt.change_pct),
                          _t("forecast.col.in80"): known["in80"]})
    st.dataframe(table, hide_index=True, key="fc_run_lines")


def render() -> None:
    """The 预测 tab: forecasts of one metric; then, for those who may edit budgets, a draft budget from a forecast."""
    _forecasts()
    user = sh.current_user()
    if auth.may(user, "edit_budgets"):
        _draft(user)


def _draft(user) -> None:
    """滚动预测 → 预算草案: forecast every unit × revenue/COGS/opex account, save the months as a draft version."""
    st.subheader(_t("forecast.draft.title"))
    st.caption(_t("forecast.draft.caption"))
    end = _actuals_end()
    last = forecast.last_complete_month(end)
    years = {t: forecast_budget.months_of(t, last, sh.as_of().today) for t in forecast_budget.Target}
    c1, c2 = st.columns([1, 2])
    target = c1.radio(_t("forecast.draft.target"), list(forecast_budget.Target), key="fc_draft_target",
                      format_func=lambda t: _t(f"forecast.draft.{t}", year=years[t][0], n=len(years[t][1])))
    default = _t(f"forecast.draft.name.{target}", year=years[target][0], month=f"{last:%Y-%m}")
    name = c2.text_input(_t("forecast.draft.name"), value=default, max_chars=100, key=f"fc_draft_name_{target}")
    if not st.button(_t("forecast.draft.go"), key="fc_draft_go"):
        return
    bar = st.progress(0.0, text=_t("forecast.running", done=0, total="…"))

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=_t("forecast.running", done=done, total=total))
    try:
        draft = forecast_budget.draft_budget(sh.engine(), sh.run, user, name=name, target=target, end=end,
                                             progress=progress)
    except WorkbenchError as exc:
        bar.empty()
        sh.show_error(exc)
        return
    bar.empty()
    st.success(_t("forecast.draft.done", id=draft.version_id, name=sh.plain(name), n=len(draft.lines),
                  kind=_t(f"forecast.draft.kind.{draft.kind}"), month=f"{draft.data_date:%Y-%m}"))
    totals = draft.totals()
    totals["account_type"] = totals["account_type"].map(lambda k: _t(f"forecast.draft.type.{k}"))
    totals["amount"] = totals["amount"].map(lambda v: fmt.money(v, sh.lang()))
    st.dataframe(totals.rename(columns={"account_type": _t("forecast.draft.col.type"),
                                        "amount": _t("forecast.draft.col.amount")}),
                 hide_index=True, key="fc_draft_totals")


def _forecasts() -> None:
    """Pick a metric, a breakdown and a horizon; forecast every series; save; compare."""
    user, model, lang = sh.current_user(), sh.model(), sh.lang()
    st.caption(_t("forecast.caption"))
    metrics = forecast.additive_metrics(model, user)
    if not metrics:
        st.info(_t("forecast.empty"))
        return
    a, b, c = st.columns([2, 2, 1])
    metric = a.selectbox(_t("forecast.metric"), metrics, index=metrics.index("revenue") if "revenue" in metrics else 0,
                         format_func=lambda m: model.metric(m).label(lang), key="fc_metric")
    dims = [""] + [d for d in model.dimensions_of(metric) if d not in semantic.TIME_GRAINS]
    by = b.selectbox(_t("forecast.by"), dims, key="fc_by",
                     format_func=lambda d: model.dimension(d).label(lang) if d else _t("forecast.by.none")) or None
    horizon = int(c.number_input(_t("forecast.horizon"), 1, forecast.MAX_HORIZON, 12, step=1, key="fc_horizon"))
    end = _actuals_end()
    # Backtests take seconds per series: forecast on request, not on every open of the page.
    params = (metric, by, horizon)
    if st.button(_t("forecast.go"), key="fc_go", type="primary"):
        st.session_state["fc_params"] = params
    if st.session_state.get("fc_params") != params:
        st.caption(_t("forecast.go.hint"))
        _history(user, model, end)
        return
    try:
        series = forecast.monthly_series(sh.run, metric, by, end, model=model)
    except WorkbenchError as exc:
        sh.show_error(exc)
        return
    if not series:
        st.info(_t("forecast.empty"))
    else:
        if len(series) > MAX_SERIES:
            top = sorted(series, key=lambda k: -abs(float(series[k].sum())))[:MAX_SERIES]
            series = {k: series[k] for k in sorted(top)}
        results = _batch(series, horizon)
        show = _money(model.metric(metric))
        if by:
            st.dataframe(_overview(results, show), hide_index=True, key="fc_overview")
        keys = list(results)
        key = st.selectbox(_t("forecast.series"), keys, format_func=_series_label, key="fc_series") if len(keys) > 1 \
            else keys[0]
        f = results[key]
        m1, m2, m3, m4 = st.columns(4)
        acc = f.accuracy.set_index("model")["mase"]
        m1.metric(_t("forecast.chosen"), _method(f.model), help=_t("forecast.chosen.help", origins=f.backtest_origins,
                                                                   h=f.backtest_horizon))
        m2.metric(_t("forecast.col.mase"), fmt_num(acc.get(f.model)),
                  help=f"{_t('forecast.vs_baseline')}: {fmt_num(acc.get('seasonal_naive'))}")
        m3.metric(_t("forecast.coverage"), _coverage(f), help=_t("forecast.coverage.help"))
        m4.metric(_t("forecast.next_total", h=horizon), show(f.total()))
        st.caption(sh.plain(f.versus_baseline(lang)))
        if f.note(lang):
            st.info(f.note(lang))
        st.altair_chart(_chart(f), key="fc_chart")
        st.markdown(f"**{_t('forecast.accuracy')}**", help=_t("forecast.accuracy.help"))
        st.dataframe(_accuracy_table(f), hide_index=True, key="fc_accuracy")
        st.dataframe(_forecast_table(f, show), hide_index=True, key="fc_table")
        if auth.may(user, "edit_budgets"):
            if st.button(_t("forecast.save"), key="fc_save"):
                _save(user, metric, by, forecast.last_complete_month(end), results)
    _history(user, model, end)


def fmt_num(v) -> str:
    return "—" if v is None or pd.isna(v) else f"{float(v):.3f}"
