"""Self-service analysis (自助分析): a ChartSpec evaluated through the read path, with top N + 其他 and quick calcs.

Shelves, presets and drill paths live in ``lib.explore.state``, links in ``lib.explore.link``; both are
re-exported here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from lib.core.errors import Forbidden, ResultTooLarge
from lib.core.i18n import t
from lib.explore.link import Parsed, default_chart, from_query_params, parse_query_params, to_query_params
from lib.explore.state import (
    SHELVES,
    SINGLE,
    TIME_ITEM,
    Options,
    Preset,
    Shelves,
    Step,
    apply_selection,
    build_chart,
    children,
    drill_down,
    drill_path,
    drill_up,
    field_label,
    from_value,
    last_date,
    options_of,
    pane,
    picked,
    preset_range,
    remove_filter,
    set_filter,
    shelves_of,
    to_value,
    with_grain,
)
from lib.semantic import model as semantic
from lib.semantic import query
from lib.semantic.model import Format, MetricType, SemanticModel
from lib.semantic.spec import Calc, ChartSpec, Comparison, FilterSpec, InvalidSpec, QuerySpec, Sort

__all__ = [  # the Explore API in one place: these come from lib.explore.state and lib.explore.link
    "SHELVES", "SINGLE", "TIME_ITEM", "Options", "Parsed", "Preset", "Shelves", "Step", "apply_selection",
    "build_chart", "children", "default_chart", "drill_down", "drill_path", "drill_up", "field_label", "from_value",
    "from_query_params", "last_date", "options_of", "parse_query_params", "picked", "preset_range", "remove_filter",
    "set_filter", "shelves_of", "pane", "to_value", "to_query_params", "with_grain",
    "BUDGET_COUNTERPART", "OTHER", "additive", "caption", "evaluate", "has_metric_ranges", "other_label",
    "pivot_totals", "too_large_message", "without_metric_ranges"]

BUDGET_COUNTERPART: dict[str, str] = {
    "actual": "budget",  # GL actuals ↔ the approved budget, by the same period, org unit and account
}
"""Metrics that have a budget, and the metric holding it (declared here as data, not coded per metric)."""

OTHER = {"zh": "其他", "en": "Other"}
COMPARISON = {Calc.YOY: Comparison.YOY, Calc.MOM: Comparison.PREVIOUS}


def other_label(lang: str) -> str:
    return OTHER.get(lang, OTHER["zh"])


def additive(metric_id: str, model: SemanticModel, over_time: bool = False) -> bool:
    """Whether values of the metric may be added across rows (and, with ``over_time``, across periods):
    no ratios, percentages, day counts, distinct counts or averages; balances only across non-time rows."""
    m = model.metric(metric_id)
    if m.type in (MetricType.RATIO, MetricType.CUMULATIVE) or m.format not in (Format.CURRENCY, Format.NUMBER):
        return False
    for leaf in model.leaf_metrics(metric_id):
        expr = (leaf.expr or "").lower().replace(" ", "")
        if "distinct" in expr or not expr.startswith(("sum(", "count(")):
            return False
        if leaf.time_agg is not None and over_time:
            return False
    return True


def _calcs(chart: ChartSpec, model: SemanticModel) -> list[tuple[str, Calc]]:
    """(metric, calc) pairs on the shelves, each once, checked against what the metric allows."""
    out = list(dict.fromkeys((f.name, f.calc) for f in chart.fields() if f.calc and f.name in model.metrics))
    has_time = any(d in semantic.TIME_GRAINS for d in chart.query.dimensions)
    for m, c in out:
        label = model.metric(m)
        if c in (Calc.PCT_TOTAL, Calc.RUNNING_TOTAL) and not additive(m, model, over_time=has_time):
            raise InvalidSpec(
                f"'{m}' ({label.label_en}) can't be added up across rows, so '{c.value}' would be wrong. "
                "Use rank, YoY or MoM on it, or a quick calc on an amount such as revenue.",
                f"“{label.label_zh}”不能跨行相加，“{t(f'explore.calc.{c.value}', 'zh')}”会得出错误结果。"
                "请改用排名、同比或环比，或对金额类指标（如营业收入）做该计算。")
        if c is Calc.VS_BUDGET and m not in BUDGET_COUNTERPART:
            known = ", ".join(BUDGET_COUNTERPART)
            raise InvalidSpec(f"'{m}' ({label.label_en}) has no budget to compare with. Metrics with a budget: {known}.",
                              f"“{label.label_zh}”没有对应的预算数。有预算的指标：{known}（实际数）。")
    return out


def _without_metric_filters(spec: QuerySpec, model: SemanticModel) -> QuerySpec:
    return replace(spec, filters=tuple(f for f in spec.filters if f.dimension not in model.metrics))


def has_metric_ranges(chart: ChartSpec, model: SemanticModel) -> bool:
    return any(f.dimension in model.metrics for f in chart.query.filters)


def without_metric_ranges(chart: ChartSpec, model: SemanticModel) -> ChartSpec:
    """The chart for code that compiles its query as it is (dashboards, exports): metric ranges are
    Explore's own filter on aggregated rows, which ``lib.semantic.query`` does not take."""
    return replace(chart, query=_without_metric_filters(chart.query, model))


def evaluate(chart: ChartSpec, run: Callable[[QuerySpec], pd.DataFrame], model: SemanticModel,
             lang: str = "zh") -> pd.DataFrame:
    """The chart's figures: one row per member (top N and 其他/Other when asked), one column per
    dimension, metric and quick calc (``f"{metric}__{calc}"``).

    Every figure comes from ``run`` (the read path); 其他 is queried with a ``not_in`` filter so ratios in
    it are divided after aggregation; quick calcs work on the aggregated rows. Metric range filters
    (``FilterSpec(metric, "gte"|"lte"|"between", ...)``) keep aggregated rows, like SQL's HAVING.
    """
    q = chart.query
    if not q.metrics:
        raise InvalidSpec("Put at least one metric on a shelf.", "请至少把一个指标拖到货架上。")
    calcs = _calcs(chart, model)
    budgets = tuple(dict.fromkeys(BUDGET_COUNTERPART[m] for m, c in calcs if c is Calc.VS_BUDGET))
    base = replace(_without_metric_filters(q, model), comparison=None,
                   metrics=(*q.metrics, *(b for b in budgets if b not in q.metrics)))
    comps = list(dict.fromkeys(COMPARISON[c] for _, c in calcs if c in COMPARISON))
    keys = list(q.dimensions)
    df = _fetch(replace(base, comparison=comps[0] if comps else None), chart.top_n, run, lang, model)
    for cmp_ in comps[1:]:
        wanted = tuple(dict.fromkeys(m for m, c in calcs if COMPARISON.get(c) is cmp_))
        extra = _fetch(replace(base, metrics=wanted, comparison=cmp_), chart.top_n, run, lang, model)
        extra = extra[keys + [f"{m}__chg" for m in wanted]].rename(columns={f"{m}__chg": f"{m}__chg2" for m in wanted})
        df = df.merge(extra, on=keys, how="left") if keys else pd.concat([df, extra], axis=1)
    first = comps[0] if comps else None
    grain = next((d for d in keys if d in semantic.TIME_GRAINS), None)
    others = [d for d in keys if d != grain]
    for m, c in calcs:
        col = f"{m}__{c.value}"
        if c in COMPARISON:
            df[col] = df[f"{m}__chg"] if COMPARISON[c] is first else df[f"{m}__chg2"]
        elif c is Calc.PCT_TOTAL:
            total = df[m].sum(min_count=1)
            df[col] = df[m] / total if total and not pd.isna(total) else float("nan")
        elif c is Calc.RUNNING_TOTAL:
            if grain:
                ordered = df.sort_values(grain, kind="stable")
                run_sum = (ordered.groupby(others, dropna=False, sort=False)[m].cumsum() if others
                           else ordered[m].cumsum())
                df[col] = run_sum.reindex(df.index)
            else:
                df[col] = df[m].cumsum()
        elif c is Calc.RANK:
            ranks = df.groupby(grain, dropna=False)[m] if grain else df[m]
            df[col] = ranks.rank(ascending=False, method="min").astype("Int64")
        elif c is Calc.VS_BUDGET:
            df[col] = df[m] - df[BUDGET_COUNTERPART[m]]
    for f in q.filters:
        if f.dimension in model.metrics and f.dimension in df.columns:
            df = df[_in_range(df[f.dimension], f)]
    cols = keys + list(q.metrics) + [f"{m}__{c.value}" for m, c in calcs]
    return df[cols].reset_index(drop=True)


def _in_range(s: pd.Series, f: FilterSpec) -> pd.Series:
    try:
        v = [float(x) for x in f.values]
    except (TypeError, ValueError) as exc:
        raise InvalidSpec(f"A range on '{f.dimension}' needs numbers, got {list(f.values)!r}.",
                          f"“{f.dimension}”的范围须为数字，收到 {list(f.values)!r}。") from exc
    need = {"gte": 1, "lte": 1, "between": 2}.get(f.op)
    if need is None or len(v) != need:
        raise InvalidSpec(f"A metric range is gte, lte or between with 1, 1 or 2 numbers; got {f.op} {v}.",
                          f"指标范围筛选须为 gte、lte 或 between（1、1、2 个数字），收到 {f.op} {v}。")
    lo = v[0] if f.op in ("gte", "between") else float("-inf")
    hi = v[-1] if f.op in ("lte", "between") else float("inf")
    return s.between(lo, hi).fillna(False).astype(bool)


def _fetch(spec: QuerySpec, top_n: int | None, run: Callable[[QuerySpec], pd.DataFrame], lang: str,
           model: SemanticModel) -> pd.DataFrame:
    """Run ``spec``; with ``top_n``, only the top members of its first non-time dimension, plus one 其他 row
    (per remaining key, e.g. per month) holding the rest.

    The members are ranked on the whole result when it fits under the row cap and the ranking metric
    adds up (else by a ranking query with a limit). 其他 is summed from the result only when every column
    adds up; otherwise (ratios, distinct counts, comparisons) it is queried with a ``not_in`` filter.
    """
    dims = [d for d in spec.dimensions if d not in semantic.TIME_GRAINS]
    if not top_n or not dims:
        return run(spec)
    d0 = dims[0]
    by = next((s.field for s in spec.sort if s.field in spec.metrics), spec.metrics[0])
    keys = [d for d in spec.dimensions if d != d0]
    cols = [*spec.dimensions, *spec.metrics]
    full = None
    # 其他 is summed from the one result when every metric adds up, or is a ratio of two parts that do (毛利率 =
    # 毛利 ÷ 营业收入: the parts are fetched alongside and 其他's ratio divided after summing them).
    parts = {m: _summable_parts(m, model) for m in spec.metrics if not additive(m, model)}
    summable = spec.comparison is None and all(p is not None for p in parts.values())
    extra = tuple(dict.fromkeys(x for p in parts.values() if p for x in p if x not in spec.metrics)) if summable else ()
    if spec.limit is None and additive(by, model):
        try:
            try:
                full = run(replace(spec, metrics=(*spec.metrics, *extra)))
            except Forbidden:  # a part the reader may not see on its own: 其他 is queried instead
                summable, full = False, run(spec)
        except ResultTooLarge:  # too many members × keys: rank with a limited query instead
            full = None
    if full is not None:
        totals = full.groupby(d0, dropna=False, sort=False)[by].sum(min_count=1)
        order = totals.sort_values(ascending=False, na_position="last", kind="stable")
        top = tuple(None if pd.isna(v) else str(v) for v in order.index[:top_n])
        if len(order) <= top_n:
            return full[cols]
        inside = full[d0].isin([v for v in top if v is not None]) | (full[d0].isna() & (None in top))
        main = full.loc[inside, cols]
        if summable:
            return _with_other(main, _other_summed(full[~inside], keys, spec.metrics, parts), d0, spec, lang)
    else:
        ranked = run(QuerySpec((by,), (d0,), spec.filters, spec.time_range, sort=(Sort(by, True),), limit=top_n))
        top = tuple(None if pd.isna(v) else str(v) for v in ranked[d0].tolist())
        main = run(replace(spec, filters=(*spec.filters, FilterSpec(d0, "in", top))))
        if len(top) < top_n:
            return main
    rest = run(replace(spec, dimensions=tuple(keys), filters=(*spec.filters, FilterSpec(d0, "not_in", top)),
                       sort=tuple(s for s in spec.sort if s.field != d0), limit=None))
    return _with_other(main, rest, d0, spec, lang)


def _summable_parts(metric_id: str, model: SemanticModel) -> tuple[str, str] | None:
    """(numerator, denominator) of a ratio whose two parts add up across members, else None."""
    m = model.metric(metric_id)
    if m.type is MetricType.RATIO and m.numerator and m.denominator and additive(m.numerator, model) \
            and additive(m.denominator, model):
        return m.numerator, m.denominator
    return None


def _other_summed(rest: pd.DataFrame, keys: list[str], metrics: tuple[str, ...],
                  parts: dict[str, tuple[str, str] | None]) -> pd.DataFrame:
    """The 其他 rows from the members outside the top: sums per remaining key, and each ratio divided after
    summing its parts (no denominator: no figure), as the query layer divides."""
    summed = list(dict.fromkeys([*(m for m in metrics if m not in parts), *(x for p in parts.values() for x in p)]))
    out = (rest.groupby(keys, dropna=False, sort=False)[summed].sum(min_count=1).reset_index()
           if keys else rest[summed].sum(min_count=1).to_frame().T)
    for m, (num, den) in parts.items():
        d = pd.to_numeric(out[den], errors="coerce").astype("float64")
        out[m] = pd.to_numeric(out[num], errors="coerce").astype("float64") / d.where(d != 0)
    return out[[*keys, *metrics]]


def _with_other(main: pd.DataFrame, rest: pd.DataFrame, d0: str, spec: QuerySpec, lang: str) -> pd.DataFrame:
    """The top members followed by the 其他 rows (rows with no figure at all are dropped)."""
    values = [c for c in rest.columns if c not in spec.dimensions]
    rest = rest[rest[values].notna().any(axis=1)] if len(rest) else rest
    if rest.empty:
        return main.reset_index(drop=True)
    rest = rest.assign(**{d0: other_label(lang)})[list(main.columns)]
    out = pd.concat([main, rest], ignore_index=True)
    out[d0] = out[d0].astype("string")
    return out


def pivot_totals(chart: ChartSpec, run: Callable[[QuerySpec], pd.DataFrame],
                 model: SemanticModel) -> dict[tuple[str, ...], pd.DataFrame]:
    """The pivot's subtotals and totals, each re-aggregated by the query layer (ratios divided after
    aggregation, never summed); metric ranges are left out, as they apply to the chart's own rows."""
    from lib.explore.chart_tables import total_specs
    return {g: run(_without_metric_filters(spec, model)) for g, spec in total_specs(chart, model).items()}


def too_large_message(exc: ResultTooLarge, lang: str) -> str:
    """The row-cap refusal in words that say what to do: a filter, a coarser grain or top N."""
    return t("explore.too_large", lang, detail=exc.message(lang))


def caption(chart: ChartSpec, model: SemanticModel, lang: str) -> str:
    """``describe(spec)`` plus what Explore adds: top N, quick calcs and metric ranges."""
    parts = [query.describe(_without_metric_filters(chart.query, model), lang, model)]
    if chart.top_n:
        parts.append(t("explore.caption.top", lang, n=chart.top_n, other=other_label(lang)))
    for f in chart.query.filters:
        if f.dimension in model.metrics:
            parts.append(f"{model.metric(f.dimension).label(lang)} {f.op} {', '.join(map(str, f.values))}")
    for fld in chart.fields():
        if fld.calc and fld.name in model.metrics:
            parts.append(f"{model.metric(fld.name).label(lang)}：{t(f'explore.calc.{fld.calc.value}', lang)}"
                         if lang == "zh" else
                         f"{model.metric(fld.name).label(lang)}: {t(f'explore.calc.{fld.calc.value}', lang)}")
    return " · ".join(dict.fromkeys(parts))
