"""Rendering helpers of the budget page: variance styling, the outlook, and the version manager."""
from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from lib.access import auth
from lib.core import fmt, i18n
from lib.core.errors import WorkbenchError
from lib.finance import budget
from lib.finance import budget_upload as bu
from lib.finance import budget_versions as bv
from lib.finance.budget_versions import LinesRejected
from pages import _shared as sh

GREEN, RED = "color: #1a7f37; font-weight: 600", "color: #cf222e; font-weight: 600"
MONEY = ("actual", "budget", "variance", "fy_budget", "impact", "ytd_actual", "forecast", "outlook")


def t(key: str, **kw: object) -> str:
    return i18n.t(key, sh.lang(), **kw)


def versions() -> pd.DataFrame:
    """Version metadata (names, kinds, statuses: no figures), read fresh each run."""
    return bv.versions(sh.engine())


def approved_budgets(df: pd.DataFrame, year: int) -> list[str]:
    """Approved or locked budget versions of ``year``, newest first: what variance can compare with."""
    ok = df[(df["kind"] == "budget") & df["status"].isin(["approved", "locked"]) & (df["fiscal_year"] == year)]
    return ok.sort_values("id", ascending=False)["name"].tolist()


def _label(v) -> str:
    return t("budget.self") if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def styled(rows: pd.DataFrame, by: tuple[str, ...], lang: str, fy: bool):
    """A variance or outlook frame for st.dataframe: translated headers, CNY formats, and colour on the
    variance of material lines only (green favourable, red unfavourable)."""
    keys = [k for k in (*by, "unit") if k in rows.columns and k != "account_type"]
    cols = [*keys, "account_type", *(c for c in ("ytd_actual", "forecast", "outlook", "actual", "budget", "variance",
                                                  "variance_pct", "execution", "impact") if c in rows.columns)]
    if fy and "fy_budget" in rows.columns:
        cols.append("fy_budget")
    df = rows[cols].copy()
    for k in keys:
        df[k] = [_label(v) for v in df[k]]
    df["account_type"] = [t(f"budget.type.{x}") for x in df["account_type"]]
    df["assessment"] = [t("budget.favourable") if i > 0 else t("budget.unfavourable") if i < 0
                        else t("budget.on_budget") for i in rows["impact"]]
    material = rows["material"].to_numpy()
    favourable = rows["favourable"].to_numpy()

    def colour(col: pd.Series) -> list[str]:
        return [(GREEN if f else RED) if m else "" for m, f in zip(material, favourable)]

    names = {c: (budget_dim_label(c) if c in keys else t(f"budget.col.{c}")) for c in df.columns}
    df = df.rename(columns=names)
    sty = df.style.apply(colour, subset=[names[c] for c in ("variance", "variance_pct", "impact", "assessment")])
    # One format() call: under pandas 3 a second call resets the formats of the first.
    formats = {names[c]: (lambda x: fmt.money(x, lang)) for c in names if c in MONEY}
    formats.update({names[c]: fmt.percent for c in ("variance_pct", "execution") if c in names})
    return sty.format(formats)


def budget_dim_label(dim: str) -> str:
    try:
        return sh.model().dimension(dim).label(sh.lang())
    except WorkbenchError:
        return dim


def outlook(result: budget.Outlook, lang: str) -> None:
    """The outlook table per unit, the totals, the largest overspend, and the company path through the year."""
    by = (result.by,) if result.by else ()
    rows = result.rows
    worst = budget.top_unfavourable(rows[rows["account_type"] != "revenue"], 1, budget.Rank.AMOUNT, material_only=False)
    if len(worst):
        w = worst.iloc[0]
        st.warning(t("budget.ol.overspend", unit=_label(w[result.by]) if result.by else t("budget.company"),
                     type=t(f"budget.type.{w['account_type']}"), amount=fmt.money(w["variance"], lang),
                     pct=fmt.percent(w["variance_pct"])))
    st.dataframe(styled(rows, by, lang, fy=False), hide_index=True, key="bud_ol_table")
    st.dataframe(styled(result.totals, (), lang, fy=False), hide_index=True, key="bud_ol_totals")
    types = [x for x in budget.TYPES if x in set(result.monthly["account_type"])]
    if not types:
        return
    pick = st.selectbox(t("budget.ol.chart_type"), types, key="bud_ol_chart_type",
                        format_func=lambda x: t(f"budget.type.{x}"))
    m = result.monthly[result.monthly["account_type"] == pick]
    long = m.melt(id_vars=["month"], value_vars=["actual", "forecast", "budget"], var_name="series").dropna()
    long["series"] = [t(f"budget.col.{s}") for s in long["series"]]
    chart = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("yearmonth(month):T", title=t("budget.col.month")),
        y=alt.Y("value:Q", title=t("budget.col.value")),
        color=alt.Color("series:N", title=t("budget.col.series")),
        strokeDash=alt.StrokeDash("series:N", legend=None))
    st.altair_chart(chart, width="stretch", key="bud_ol_chart")


# ---- version management ---------------------------------------------------------------------------

def _flash() -> None:
    kind, text = st.session_state.pop("bud_v_flash", (None, None))
    if kind == "success":
        st.success(text)
    elif kind == "error":
        st.error(text)


def _do(fn, ok_text, select: bool = False) -> None:
    try:
        out = fn()
    except LinesRejected as exc:
        st.session_state["bud_v_problems"] = exc.problems
        st.session_state["bud_v_flash"] = ("error", sh.message(exc))
    except WorkbenchError as exc:
        st.session_state["bud_v_flash"] = ("error", sh.message(exc))
    else:
        st.session_state.pop("bud_v_problems", None)
        st.session_state["bud_v_flash"] = ("success", ok_text(out))
        if select:  # picked on the next run, before the selectbox exists
            st.session_state["bud_v_select_next"] = out
    st.rerun()


def render_versions(df: pd.DataFrame) -> None:
    """List versions; finance also copies, moves status, edits lines, uploads/downloads and reads the history."""
    user = sh.current_user()
    _flash()
    if df.empty:
        st.info(t("budget.v.none"))
        return
    can_edit = auth.may(user, "edit_budgets")
    # Line counts and totals are company-wide figures read outside lib.semantic.query: finance only.
    figures = ["lines", "total"] if can_edit else []
    shown = df[["id", "name", "kind", "fiscal_year", "status", "based_on", *figures, "method", "data_date",
                "updated_by", "updated_at"]].copy()   # method / data date: where a version drafted from a forecast came from
    shown["kind"] = [t(f"budget.kind.{k}") for k in shown["kind"]]
    shown["status"] = [t(f"budget.status.{s}") for s in shown["status"]]
    shown = shown.rename(columns={c: t(f"budget.v.col.{c}") for c in shown.columns})
    st.dataframe(shown, hide_index=True, key="bud_v_table")
    if not can_edit:
        st.info(t("budget.v.readonly"))
        return
    if "bud_v_select_next" in st.session_state:
        st.session_state["bud_v_pick"] = st.session_state.pop("bud_v_select_next")
    ids = df["id"].astype(int).tolist()
    names = dict(zip(ids, df["name"]))
    vid = st.selectbox(t("budget.v.pick"), ids, key="bud_v_pick", format_func=lambda i: f"{i} · {names[i]}")
    v = bv.version(sh.engine(), vid)
    with st.expander(t("budget.v.copy")):
        st.caption(t("budget.v.copy_help"))
        c1, c2, c3 = st.columns([2, 1, 1])
        new_name = c1.text_input(t("budget.v.new_name"), key="bud_v_copy_name")
        kind = c2.selectbox(t("budget.v.new_kind"), ["budget", "forecast", "scenario"], key="bud_v_copy_kind",
                            format_func=lambda k: t(f"budget.kind.{k}"))
        if c3.button(t("budget.v.copy_btn"), key="bud_v_copy_btn"):
            _do(lambda: bv.copy_version(sh.engine(), user, vid, new_name, kind),
                lambda _: t("budget.v.copied", name=new_name.strip()), select=True)
    st.markdown(f"**{t('budget.v.status_title')}** · {t(f'budget.status.{v.status.value}')}")
    nexts = sorted(bv.TRANSITIONS[v.status], key=list(bv.TRANSITIONS).index)
    if not nexts:
        st.caption(t("budget.v.final"))
    for col, s in zip(st.columns(max(len(nexts), 1)), nexts):
        if col.button(t(f"budget.v.to.{s.value}"), key=f"bud_v_to_{s.value}"):
            _do(lambda s=s: bv.set_status(sh.engine(), user, vid, s.value),
                lambda _, s=s: t("budget.v.status_done", name=v.name, status=t(f"budget.status.{s.value}")))
    _grid(v, user)
    _excel(v, user)
    _history(vid)


def _grid(v: bv.Version, user) -> None:
    st.subheader(t("budget.v.grid"))
    lines = bv.lines(sh.engine(), v.id)
    units, accounts = bv.units(sh.engine()), bv.accounts(sh.engine())
    cols = {"period": st.column_config.DateColumn(t("budget.v.col.period"), format="YYYY-MM"),
            "org_code": st.column_config.SelectboxColumn(t("budget.v.col.org_code"), options=units["code"].tolist()),
            "org_name": st.column_config.TextColumn(t("budget.v.col.org_name"), disabled=True),
            "account_code": st.column_config.SelectboxColumn(t("budget.v.col.account_code"),
                                                             options=accounts["code"].tolist()),
            "account_name": st.column_config.TextColumn(t("budget.v.col.account_name"), disabled=True),
            "amount": st.column_config.NumberColumn(t("budget.v.col.amount"), format="%.2f")}
    view = lines[list(cols)].astype({"org_code": object, "org_name": object, "account_code": object,
                                     "account_name": object})
    if not v.editable:
        st.caption(t("budget.v.not_editable", status=t(f"budget.status.{v.status.value}")))
        st.dataframe(view, hide_index=True, column_config=cols, key=f"bud_v_lines_{v.id}")
        return
    edited = st.data_editor(view, hide_index=True, column_config=cols, num_rows="dynamic", key=f"bud_v_grid_{v.id}")
    if st.button(t("budget.v.save"), key="bud_v_save"):
        code_to_id = dict(zip(units["code"], units["id"].astype(int)))
        out = edited.assign(org_unit_id=[code_to_id.get(c) for c in edited["org_code"]])
        _do(lambda: bv.save_lines(sh.engine(), user, v.id, out),
            lambda r: t("budget.v.saved", added=r.added, changed=r.changed, deleted=r.deleted))


def _excel(v: bv.Version, user) -> None:
    st.subheader(t("budget.v.excel"))
    st.download_button(t("budget.v.download"), bu.download(sh.engine(), v.id, sh.lang()),
                       file_name=f"budget_{v.id}_{v.fiscal_year}.xlsx", key="bud_v_download",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if not v.editable:
        return
    up = st.file_uploader(t("budget.v.upload"), type=["xlsx"], key="bud_v_upload", help=t("budget.v.upload_help"))
    if st.button(t("budget.v.upload_btn"), key="bud_v_upload_btn", disabled=up is None) and up is not None:
        _do(lambda: bu.upload(sh.engine(), user, v.id, up.getvalue()), lambda n: t("budget.v.uploaded", n=n))
    problems = st.session_state.get("bud_v_problems")
    if problems:
        st.error(t("budget.v.rejected"))
        st.dataframe(problem_table(problems, sh.lang()), hide_index=True, key="bud_v_problem_table")


def problem_table(problems: list[bv.Problem], lang: str) -> pd.DataFrame:
    return pd.DataFrame({t("budget.v.col.row"): [p.row if p.row is not None else "" for p in problems],
                         t("budget.v.col.column"): [p.column or "" for p in problems],
                         t("budget.v.col.value"): ["" if p.value is None else str(p.value) for p in problems],
                         t("budget.v.col.problem"): [p.message(lang) for p in problems]})


def _history(vid: int) -> None:
    st.subheader(t("budget.v.history"))
    h = bv.changes(sh.engine(), vid)
    if h.empty:
        return
    h = h[["changed_at", "username", "action", "rows", "detail"]].copy()
    h["action"] = [t(f"budget.action.{a}") if f"budget.action.{a}" in i18n.MESSAGES else a for a in h["action"]]
    h["detail"] = [", ".join(f"{k}={v}" for k, v in json.loads(d).items()) if d else "" for d in h["detail"]]
    st.dataframe(h.rename(columns={c: t(f"budget.v.col.{c}") for c in h.columns}), hide_index=True,
                 key="bud_v_history")
