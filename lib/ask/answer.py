"""问数: a question answered through the one read path, within the asker's scope, with its reading.

``vocabulary_for`` gathers the words a user's questions can use; ``ask`` reads a question, and when every
word was understood runs its spec through ``lib.semantic.query`` as that user (scopes, denied metrics and
row caps exactly as in Explore). A spec that can't be answered as asked, a metric the role may not see, or a
member outside the scope gives no figure and says why.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import pandas as pd
import sqlalchemy as sa

from lib.access.scope import User
from lib.ask import lexicon
from lib.ask import parser as ps
from lib.ask import words as w
from lib.ask.vocabulary import DIMENSION, MEMBER, METRIC, Entry, Vocabulary, build
from lib.core import clock, schema
from lib.core.errors import Forbidden, WorkbenchError
from lib.explore import charts
from lib.explore.evaluate import BUDGET_COUNTERPART, field_label
from lib.semantic import model as semantic
from lib.semantic import query
from lib.semantic.model import DatasetKind, MetricType, SemanticModel
from lib.semantic.spec import Calc, ChartSpec, Comparison, Field, Mark, QuerySpec

SCOPE_AXES = ("region", "department", "category")
"""Dimensions a scope is drawn on. Their members are recognised company-wide (the org chart and the product
tree are names, not figures), so a question about another region is understood, and answered with nothing
but the notice that it is outside the asker's scope. Other members are recognised within the scope only."""


@dataclass(frozen=True)
class Answer:
    reading: ps.Reading
    rows: pd.DataFrame | None = None     # None: no answer
    message: str = ""                    # why there is no figure, or what to know about the rows
    outside_scope: tuple[str, ...] = ()  # members asked for that the asker's scope does not hold

    @property
    def understood(self) -> bool:
        return self.reading.understood

    @property
    def answered(self) -> bool:
        return self.rows is not None

    @property
    def spec(self) -> QuerySpec | None:
        return self.reading.spec


# ---- the vocabulary of one reader -----------------------------------------------------------------

def _names_en(engine: sa.Engine) -> dict[str, dict[str, str]]:
    """English names the store keeps for org units and accounts (name → English), for members' aliases."""
    out: dict[str, dict[str, str]] = {}
    with engine.connect() as conn:
        org = dict(conn.execute(sa.select(schema.org_unit.c.name, schema.org_unit.c.name_en)).all())
        acct = dict(conn.execute(sa.select(schema.account.c.name, schema.account.c.name_en)).all())
    for d in ("region", "department"):
        out[d] = {k: v for k, v in org.items() if v}
    for d in ("account", "expense_type"):
        out[d] = {k: v for k, v in acct.items() if v}
    return out


def vocabulary_for(engine: sa.Engine, user: User | None, model: SemanticModel | None = None,
                   values: Callable[[str, User | None], list] | None = None) -> Vocabulary:
    """The words ``user``'s questions can use: the metrics they may see, every dimension, the members of the
    scope axes company-wide and the other members within their scope, English names and saved aliases.

    ``values(dimension, user)`` lists a dimension's members (default: ``query.dimension_values``; pages pass
    their cached one)."""
    model = model or query.default_model()
    values = values or (lambda d, u: query.dimension_values(engine, d, u, model))
    members: dict[str, list] = {}
    for d in model.dimensions:
        if d in ("org_unit", "account_code"):
            continue
        try:
            members[d] = values(d, None if d in SCOPE_AXES else user)
        except (WorkbenchError, Forbidden):
            members[d] = []
    english = {d: {k: v for k, v in names.items() if k in set(map(str, members.get(d, ())))}
               for d, names in _names_en(engine).items()}
    saved = lexicon.latest(engine)
    aliases = {d: x.get("aliases", {}) for d, x in saved.items()}
    aliases = {d: {m: a for m, a in by.items() if m in set(map(str, members.get(d, ())))} for d, by in aliases.items()}
    synonyms = {d: x.get("synonyms", []) for d, x in saved.items()}
    # Metrics the role may not see are named too: asked for, the compiler refuses them by name; a word left
    # unread would instead suggest the metric does not exist.
    return build(model, members, english, aliases, synonyms)


# ---- asking ------------------------------------------------------------------------------------

def ask(engine: sa.Engine, question: str, user: User | None, vocab: Vocabulary, model: SemanticModel | None = None,
        lang: str = "zh", today: dt.date | None = None, overrides: Mapping[tuple[int, int], Entry] | None = None,
        run: Callable[[QuerySpec], pd.DataFrame] | None = None,
        in_scope: Callable[[str], list] | None = None) -> Answer:
    """Read ``question`` and answer it as ``user``. ``run`` executes a spec as that user (default: the
    compiler with ``user``); ``in_scope(dimension)`` lists the members the user may read (default: the
    compiler's ``dimension_values`` as the user)."""
    model = model or query.default_model()
    reading = ps.read(question, vocab, model, today or clock.today(), overrides, BUDGET_COUNTERPART)
    if not reading.understood:
        return Answer(reading, None, " ".join(p.text(lang) for p in reading.problems))
    spec = reading.spec
    run = run or (lambda s: query.run(engine, s, user, model))
    in_scope = in_scope or (lambda d: query.dimension_values(engine, d, user, model))
    outside = []
    if user is not None and user.scope is not None:
        for f in spec.filters:
            if f.dimension in SCOPE_AXES:
                mine = set(map(str, in_scope(f.dimension)))
                outside += [str(v) for v in f.values if str(v) not in mine]
    try:
        rows = run(spec)
    except WorkbenchError as exc:  # denied metric, too many rows, or a spec that can't be answered as asked
        return Answer(reading, None, exc.message(lang))
    if outside:
        # The compiler already kept the rows to the scope; nothing of the other units is shown, not even zeros.
        rows = rows.iloc[0:0]
        names = "、".join(outside) if lang == "zh" else ", ".join(outside)
        return Answer(reading, rows, (f"{names} 不在您的数据范围内，没有可显示的数据。" if lang == "zh"
                                      else f"{names}: outside your data scope; nothing to show."), tuple(outside))
    return Answer(reading, rows)


# ---- words about an answer -------------------------------------------------------------------------

GRAIN_WORDS = {"day": ("按日", "daily"), "week": ("按周", "weekly"), "month": ("按月", "monthly"),
               "quarter": ("按季度", "quarterly"), "year": ("按年", "yearly"), w.TREND: ("趋势（按月）", "trend (monthly)")}
COMPARISON_WORDS = {w.YOY: ("同比（去年同期）", "vs same period last year"), w.PREVIOUS: ("环比（上期）", "vs previous period"),
                    w.BUDGET: ("对比预算", "vs budget")}


def token_label(t: ps.Token, model: SemanticModel, lang: str) -> str:
    """What a token was read as, in words: 营业收入 · 区域 · 区域：华东大区 · 2025-03-01 至 2025-03-31 · 前5."""
    zh = lang == "zh"
    if t.kind == METRIC:
        return model.metric(t.entry.target).label(lang)
    if t.kind == DIMENSION:
        return model.dimension(t.entry.target).label(lang)
    if t.kind == MEMBER:
        return f"{model.dimension(t.entry.dimension).label(lang)}{'：' if zh else ': '}{t.entry.target}"
    if t.kind == w.TIME:
        return f"{t.value.start} 至 {t.value.end}" if zh else f"{t.value.start} to {t.value.end}"
    if t.kind == w.COMPARISON:
        return COMPARISON_WORDS[t.value][0 if zh else 1]
    if t.kind == w.RANKING:
        r = t.value
        if r.n is None:
            return "排名（从高到低）" if r.descending and zh else "排名（从低到高）" if zh else \
                ("ranked, highest first" if r.descending else "ranked, lowest first")
        return (f"前{r.n}名" if r.descending else f"后{r.n}名") if zh else (f"top {r.n}" if r.descending else f"bottom {r.n}")
    if t.kind == w.GRAIN:
        return GRAIN_WORDS[t.value][0 if zh else 1]
    return t.text


def entry_label(e: Entry, model: SemanticModel, lang: str) -> str:
    if e.kind == METRIC:
        return model.metric(e.target).label(lang)
    if e.kind == DIMENSION:
        return model.dimension(e.target).label(lang)
    return f"{model.dimension(e.dimension).label(lang)}{'：' if lang == 'zh' else ': '}{e.target}"


def restated(answer: Answer, model: SemanticModel, lang: str) -> str:
    """The spec in words (``describe``), with what was assumed: '营业收入 · 按 区域 · 2026-01-01 至 2026-11-24（默认：年初至今）'."""
    spec = answer.spec
    if spec is None:
        return ""
    text = query.describe(spec, lang, model)
    if spec.sort and spec.limit is None:
        text += " · " + ("从高到低" if spec.sort[0].descending else "从低到高") if lang == "zh" else \
            " · " + ("highest first" if spec.sort[0].descending else "lowest first")
    if "time" in answer.reading.defaults:
        text += "（未指定时间，默认如上）" if lang == "zh" else " (no time asked: the default above)"
    return text


def to_dict(answer: Answer, model: SemanticModel, lang: str) -> dict:
    """The CLI's JSON: question, understood, spec, interpretation, restated, rows (and why, when none)."""
    rows = []
    if answer.rows is not None:
        rows = json.loads(answer.rows.to_json(orient="records", date_format="iso", force_ascii=False))
    out = {"question": answer.reading.question, "understood": answer.understood,
           "spec": answer.spec.to_dict() if answer.spec else None,
           "interpretation": [t.to_dict(lambda tok: token_label(tok, model, lang)) for t in answer.reading.tokens],
           "restated": restated(answer, model, lang), "rows": rows}
    if answer.message:
        out["message"] = answer.message
    if not answer.understood:
        out["not_understood"] = list(answer.reading.unknown)
        out["closest_metrics"] = list(answer.reading.suggestions)
    return out


def table(answer: Answer, model: SemanticModel, lang: str) -> pd.DataFrame:
    """The answer's rows as finance reads them: labelled headers, periods as 2025-03 / 2025-Q1, formatted values."""
    from lib.core.i18n import t
    from lib.semantic import metric_view, periods
    df = answer.rows.copy()
    for grain in semantic.TIME_GRAINS:
        if grain in df.columns:
            df[grain] = [periods.bucket_label(d, grain) for d in df[grain]]
    df = metric_view.formatted(df, model, lang)
    names = {}
    for col in df.columns:
        base, _, suffix = col.partition("__")
        if suffix in ("cmp", "chg") and base in model.metrics:
            names[col] = t(f"ask.{suffix}", lang, label=model.metric(base).label(lang))
        elif base in model.metrics or col in model.dimensions or col in semantic.TIME_GRAINS:
            names[col] = field_label(col, model, lang)
    return df.rename(columns=names)


# ---- into Explore, and a chart ---------------------------------------------------------------------

def chart_of(spec: QuerySpec, model: SemanticModel) -> ChartSpec:
    """The answer as Explore's shelves: the time grain (or the first dimension) across, the metrics up, a
    second breakdown as colour; a comparison as the metric's quick calculation, a top N as Explore's top N."""
    calc = {Comparison.YOY: Calc.YOY, Comparison.PREVIOUS: Calc.MOM, Comparison.MOM: Calc.MOM}.get(spec.comparison)
    grain = next((d for d in spec.dimensions if d in ("day", "week", "month", "quarter", "year")), None)
    dims = [d for d in spec.dimensions if d != grain]
    across = grain or (dims[0] if dims else None)
    color = (dims[0] if grain else dims[1] if len(dims) > 1 else None) if dims else None
    extra = [d for d in dims if d not in (across, color)]
    top = spec.limit if spec.sort and spec.sort[0].descending and spec.limit and not grain else None
    query_spec = QuerySpec(spec.metrics, spec.dimensions, spec.filters, spec.time_range, sort=spec.sort)
    return ChartSpec(query_spec, Mark.AUTO, columns=(Field(across),) if across else (),
                     rows=tuple(Field(m, calc) for m in spec.metrics), color=Field(color) if color else None,
                     tooltip=tuple(Field(d) for d in extra), top_n=top)


def drawn(spec: QuerySpec, model: SemanticModel) -> ChartSpec:
    """The chart of the answer's own rows: Explore's shelves for it, the mark Explore's 'auto' would choose,
    no quick calculation or top N (the rows already are the answer)."""
    c = chart_of(spec, model)
    plain = replace(c, rows=tuple(Field(f.name) for f in c.rows), top_n=None)
    return replace(plain, mark=charts.suggest_mark(plain, model))


# ---- example questions ------------------------------------------------------------------------------

def examples(model: SemanticModel, user: User | None, lang: str = "zh", regions: list | None = None,
             categories: list | None = None, n: int = 4) -> list[str]:
    """A few questions built from the reader's own metrics and members (``regions`` and ``categories`` in
    their scope), each one the box reads back exactly."""
    mine = [m for m in ("revenue", "gross_margin", "opex", "ar_balance", "orders")
            if m in model.metrics and (user is None or user.may_see_metric(m, model))]
    if not mine:
        mine = [m.id for m in model.metrics.values() if m.type is not MetricType.CUMULATIVE
                and (user is None or user.may_see_metric(m.id, model))][:3]
    if not mine:
        return []
    label = lambda mid: model.metric(mid).label(lang)  # noqa: E731
    flow = [m for m in mine if all(d.kind is DatasetKind.FLOW for d in model.datasets_of(m))]
    a = flow[0] if flow else mine[0]
    b = mine[1] if len(mine) > 1 else a
    region = next(iter(regions or ()), None)
    category = next(iter(categories or ()), None)
    if lang == "zh":
        out = [f"今年各区域的{label(a)}", f"近12个月{label(b)}趋势"]
        if region:
            out.append(f"{region}上个月{label(a)}同比")
        if category and "product" in model.dimensions_of(a):
            out.append(f"{category}{label(a)}最高的5个产品")
    else:
        out = [f"{label(a)} by region this year", f"{label(b)} trend last 12 months"]
        if region:
            out.append(f"{label(a)} {region} last month vs last year")
        if category and "product" in model.dimensions_of(a):
            out.append(f"top 5 products by {label(a)} in {category}")
    return out[:n]
