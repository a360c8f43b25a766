"""Scorecard templates (考核模板) and evaluation periods, as validated frozen data.

A template (data/scorecards.yaml, stored in app_scorecard_template) names the org-unit kind it
evaluates, its KPIs (metric or manual, weight, direction, target source, scoring rule), how the
ranking is shown to scoped readers, and the bonus pool settings.

Periods: ``2026-07`` (a month), ``2026-Q3`` (a quarter), ``2026-YTD10`` (January to October 2026,
year to date through month 10) and ``2026`` (the whole year).
"""
from __future__ import annotations

import calendar
import datetime as dt
import enum
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from lib.core import config
from lib.core.errors import InvalidArgument
from lib.performance.scorecards.scoring import Basis, BonusMethod, Direction, Rule, RuleKind, in_order
from lib.semantic.spec import FilterSpec, TimeRange

TEMPLATES_FILE = config.DATA_DIR / "scorecards.yaml"
UNIT_KINDS = {"region": "region", "store": "department", "department": "department", "cost_center": "department"}
"""org_unit.kind evaluated → the semantic-layer dimension that names those units (level 1 or level 2)."""


class TargetSource(enum.StrEnum):
    BUDGET = "budget"          # the budget of the KPI's accounts (account_type) in a budget version
    FIXED = "fixed"            # one value for every unit
    LAST_YEAR = "last_year"    # the same metric, same period last year, × (1 + change)


class Ranking(enum.StrEnum):
    NAMED = "named"
    ANONYMISED = "anonymised"  # scoped readers see other units as 单位 A, B, …


@dataclass(frozen=True)
class Target:
    source: TargetSource
    value: float | None = None            # fixed
    change: float = 0.0                   # last_year: +x (0.05 = +5 %)
    account_type: str | None = None       # budget: which accounts' budget
    version: str | None = None            # budget: version name (None: the approved/locked, not superseded)


@dataclass(frozen=True)
class Kpi:
    id: str
    label_zh: str
    label_en: str
    weight: float
    target: Target
    rule: Rule
    metric: str | None = None             # None: a manual KPI (entered by hand per unit and period)
    direction: Direction = Direction.HIGHER
    filters: tuple[FilterSpec, ...] = ()
    format: str = "number"                # how the page shows actual and target: currency | percent | days | number

    @property
    def manual(self) -> bool:
        return self.metric is None

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_zh


@dataclass(frozen=True)
class Bonus:
    pool: float = 0.0
    method: BonusMethod = BonusMethod.PROPORTIONAL
    bands: tuple[tuple[float, float], ...] = ()
    bases: dict = field(default_factory=dict, hash=False, compare=False)  # unit code -> base (default 1)


@dataclass(frozen=True)
class Template:
    id: str
    name_zh: str
    name_en: str
    unit_kind: str
    kpis: tuple[Kpi, ...]
    ranking: Ranking = Ranking.NAMED
    bonus: Bonus = Bonus()

    @property
    def dimension(self) -> str:
        return UNIT_KINDS[self.unit_kind]

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh

    def with_weights(self, weights: dict[str, float]) -> Template:
        """The template with some KPI weights replaced (the what-if, and saved weight edits)."""
        unknown = set(weights) - {k.id for k in self.kpis}
        if unknown:
            raise InvalidArgument(f"Unknown KPI(s) {sorted(unknown)}; valid: {[k.id for k in self.kpis]}.",
                                  f"未知指标 {sorted(unknown)}；可用：{[k.id for k in self.kpis]}。")
        return replace(self, kpis=tuple(replace(k, weight=float(weights.get(k.id, k.weight))) for k in self.kpis))


def _bad(what: str, value: object, valid: object) -> InvalidArgument:
    return InvalidArgument(f"Scorecard template: {what} {value!r} is not valid; valid: {valid}.",
                           f"考核模板：{what} {value!r} 无效；可用：{valid}。")


def _enum(cls: type[enum.StrEnum], value: object, what: str):
    try:
        return cls(value)
    except ValueError:
        raise _bad(what, value, [x.value for x in cls]) from None


def _pairs(raw: object, what: str) -> tuple[tuple[float, float], ...]:
    try:
        return tuple((float(a), float(b)) for a, b in raw or ())
    except (TypeError, ValueError):
        raise _bad(what, raw, "[[bound, score], ...]") from None


def _float(raw: object, what: str) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise _bad(what, raw, "a number") from None


def _check_rule(where: str, rule: Rule, direction: Direction, target: Target) -> None:
    """A linear rule's points must run threshold → target → stretch the KPI's way, checked when the
    template is saved rather than when a run meets them: relative multiples around 1 (threshold > 0),
    absolute values around a fixed target. An absolute rule on a per-unit target (budget, last year)
    can only be checked here for threshold vs stretch; evaluation leaves a unit it doesn't fit unscored."""
    if rule.kind is not RuleKind.LINEAR:
        return
    fixed = not rule.relative and target.source is TargetSource.FIXED
    if rule.relative:
        ok = rule.threshold > 0 and in_order(rule.threshold, 1.0, rule.stretch, direction)
    elif fixed:
        ok = in_order(rule.threshold, target.value, rule.stretch, direction)
    else:
        ok = in_order(rule.threshold, (rule.threshold + rule.stretch) / 2, rule.stretch, direction)
    if not ok:
        higher = direction is Direction.HIGHER
        got_en = f"threshold {rule.threshold:g}" + (f", target {target.value:g}" if fixed else "") + \
            f", stretch {rule.stretch:g}" + (" (multiples of the target)" if rule.relative else "")
        got_zh = f"门槛 {rule.threshold:g}" + (f"、目标 {target.value:g}" if fixed else "") + \
            f"、挑战 {rule.stretch:g}" + ("（目标的倍数）" if rule.relative else "")
        raise InvalidArgument(
            f"Scorecard template {where}: threshold, target and stretch must be in order for {direction.value} "
            f"({'threshold < target < stretch' if higher else 'threshold > target > stretch'}"
            f"{', threshold > 0' if rule.relative else ''}); got {got_en}.",
            f"考核模板 {where}：门槛、目标、挑战须符合“{'越高越好' if higher else '越低越好'}”的顺序"
            f"（{'门槛 < 目标 < 挑战' if higher else '门槛 > 目标 > 挑战'}{'，门槛大于 0' if rule.relative else ''}）；"
            f"收到{got_zh}。")
    if rule.cap < 100:
        raise _bad(f"{where}.rule.cap", rule.cap, "≥ 100 (the score at the stretch point)")


def parse_kpi(d: dict, template_id: str = "") -> Kpi:
    """One KPI from its dict form (see data/scorecards.yaml); errors name ``template_id/kpi``."""
    kid = str(d.get("id") or "")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kid):
        raise _bad("KPI id", kid, "lower-case letters, digits and _")
    where = f"{template_id}/{kid}" if template_id else kid
    t, r = d.get("target") or {}, d.get("rule") or {}
    target = Target(source=_enum(TargetSource, t.get("source"), f"{where}.target.source"),
                    value=None if t.get("value") is None else _float(t["value"], f"{where}.target.value"),
                    change=_float(t.get("change", 0), f"{where}.target.change"),
                    account_type=t.get("account_type") or None, version=t.get("version") or None)
    if target.source is TargetSource.FIXED and target.value is None:
        raise _bad(f"{where}.target.value", None, "a number for a fixed target")
    if target.source is TargetSource.BUDGET and not target.account_type:
        # without it the budget of every account (revenue and costs together) would be the target
        raise InvalidArgument(f"Scorecard template {where}: a budget target needs target.account_type (whose "
                              "budget: e.g. revenue or opex).",
                              f"考核模板 {where}：以预算为目标时须填写 target.account_type（哪类科目的预算，"
                              "如 revenue 或 opex）。")
    direction = _enum(Direction, d.get("direction", "higher_is_better"), f"{where}.direction")
    lower = direction is Direction.LOWER   # default points: 90 % / 110 % of target, mirrored for lower-is-better
    rule = Rule(kind=_enum(RuleKind, r.get("kind", "linear"), f"{where}.rule.kind"),
                threshold=_float(r.get("threshold", 1.1 if lower else 0.9), f"{where}.rule.threshold"),
                stretch=_float(r.get("stretch", 0.9 if lower else 1.1), f"{where}.rule.stretch"),
                cap=_float(r.get("cap", 120), f"{where}.rule.cap"), relative=bool(r.get("relative", True)),
                bands=_pairs(r.get("bands"), f"{where}.rule.bands"),
                basis=_enum(Basis, r.get("basis", "value"), f"{where}.rule.basis"))
    if rule.kind is RuleKind.BANDS and not rule.bands:
        raise _bad(f"{where}.rule.bands", [], "at least one [bound, score]")
    _check_rule(where, rule, direction, target)
    metric = d.get("metric")
    if metric is None and target.source is not TargetSource.FIXED:
        raise _bad(f"{where}.target.source", target.source.value, "fixed (a manual KPI has no data to compare with)")
    weight = _float(d.get("weight", 0), f"{where}.weight")
    if weight < 0:
        raise _bad(f"{where}.weight", weight, "≥ 0")
    filters = tuple(FilterSpec(f["dimension"], f.get("op", "in"), tuple(f.get("values", ())))
                    for f in d.get("filters", ()))
    return Kpi(id=kid, label_zh=d.get("label_zh", kid), label_en=d.get("label_en", kid), weight=weight,
               target=target, rule=rule, metric=metric, direction=direction, filters=filters,
               format=d.get("format", "number"))


def parse_template(d: dict) -> Template:
    """A template from its dict form; raises InvalidArgument naming the bad field and the valid values."""
    tid = str(d.get("id") or "")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", tid):
        raise _bad("id", tid, "lower-case letters, digits and _")
    if d.get("unit_kind") not in UNIT_KINDS:
        raise _bad("unit_kind", d.get("unit_kind"), list(UNIT_KINDS))
    kpis = tuple(parse_kpi(k, tid) for k in d.get("kpis") or ())
    if not kpis or sum(k.weight for k in kpis) <= 0:
        raise _bad(f"{tid}.kpis", len(kpis), "at least one KPI, with weights adding up to more than 0")
    ids = [k.id for k in kpis]
    if len(set(ids)) != len(ids):
        raise _bad(f"{tid}.kpis", ids, "unique KPI ids")
    b = d.get("bonus") or {}
    bonus = Bonus(pool=float(b.get("pool", 0)),
                  method=_enum(BonusMethod, b.get("method", "proportional"), "bonus.method"),
                  bands=_pairs(b.get("bands"), "bonus.bands"),
                  bases={str(k): float(v) for k, v in (b.get("bases") or {}).items()})
    return Template(id=tid, name_zh=d.get("name_zh", tid), name_en=d.get("name_en", tid), unit_kind=d["unit_kind"],
                    kpis=kpis, ranking=_enum(Ranking, d.get("ranking", "named"), "ranking"), bonus=bonus)


def to_dict(t: Template) -> dict:
    """The template's dict form (stored as JSON, read back by ``parse_template``)."""
    def kpi(k: Kpi) -> dict:
        r = k.rule
        return {"id": k.id, "label_zh": k.label_zh, "label_en": k.label_en, "metric": k.metric, "weight": k.weight,
                "direction": k.direction.value, "format": k.format,
                "filters": [{"dimension": f.dimension, "op": f.op, "values": list(f.values)} for f in k.filters],
                "target": {"source": k.target.source.value, "value": k.target.value, "change": k.target.change,
                           "account_type": k.target.account_type, "version": k.target.version},
                "rule": {"kind": r.kind.value, "threshold": r.threshold, "stretch": r.stretch, "cap": r.cap,
                         "relative": r.relative, "bands": [list(x) for x in r.bands], "basis": r.basis.value}}
    b = t.bonus
    return {"id": t.id, "name_zh": t.name_zh, "name_en": t.name_en, "unit_kind": t.unit_kind,
            "ranking": t.ranking.value, "kpis": [kpi(k) for k in t.kpis],
            "bonus": {"pool": b.pool, "method": b.method.value, "bands": [list(x) for x in b.bands], "bases": b.bases}}


def load_file(path: Path = TEMPLATES_FILE) -> list[Template]:
    """The templates of the YAML file, validated."""
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return [parse_template(d) for d in raw.get("templates", ())]


@dataclass(frozen=True)
class Period:
    label: str
    start: dt.date
    end: dt.date

    @property
    def time_range(self) -> TimeRange:
        return TimeRange(self.start, self.end)

    def last_year(self) -> TimeRange:
        """The same months a year earlier (month ends kept: Feb 29 → Feb 28)."""
        s = self.start.replace(year=self.start.year - 1)
        e = self.end.replace(year=self.end.year - 1, day=calendar.monthrange(self.end.year - 1, self.end.month)[1])
        return TimeRange(s, e)


PERIOD_FORMATS = "2026-07 (month), 2026-Q3 (quarter), 2026-YTD10 (Jan–Oct, year to date), 2026 (year)"


def parse_period(text: str) -> Period:
    """``2026-07`` | ``2026-Q3`` | ``2026-YTD10`` | ``2026`` → the period's inclusive dates.

    >>> p = parse_period("2026-q3"); (p.label, p.start, p.end)
    ('2026-Q3', datetime.date(2026, 7, 1), datetime.date(2026, 9, 30))
    >>> parse_period("2026-YTD10").end
    datetime.date(2026, 10, 31)
    """
    s = (text or "").strip().upper()
    m = re.fullmatch(r"(\d{4})(?:-(?:(\d{1,2})|Q([1-4])|YTD(\d{1,2})))?", s)
    month = m and (m.group(2) or m.group(4))
    if not m or (month and not 1 <= int(month) <= 12) or not 1900 <= int(m.group(1)) <= 2999:
        raise InvalidArgument(f"Unknown period {text!r}; use {PERIOD_FORMATS}, a year 1900–2999.",
                              f"无法识别的期间 {text!r}；格式：2026-07（月）、2026-Q3（季度）、2026-YTD10（1–10 月累计）、"
                              "2026（全年），年份 1900–2999。")
    year = int(m.group(1))
    if m.group(2):
        first, last, label = int(m.group(2)), int(m.group(2)), f"{year}-{int(m.group(2)):02d}"
    elif m.group(3):
        q = int(m.group(3))
        first, last, label = 3 * q - 2, 3 * q, f"{year}-Q{q}"
    elif m.group(4):
        first, last, label = 1, int(m.group(4)), f"{year}-YTD{int(m.group(4))}"
    else:
        first, last, label = 1, 12, str(year)
    return Period(label, dt.date(year, first, 1), dt.date(year, last, calendar.monthrange(year, last)[1]))


def periods_before(as_of: dt.date, n: int = 8) -> list[str]:
    """Labels to offer: the last complete quarters and months before ``as_of``, and this year to date."""
    out = []
    q_end = dt.date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1) - dt.timedelta(days=1)
    for _ in range(4):
        out.append(f"{q_end.year}-Q{(q_end.month - 1) // 3 + 1}")
        q_end = dt.date(q_end.year, 3 * ((q_end.month - 1) // 3) + 1, 1) - dt.timedelta(days=1)
    m_end = as_of.replace(day=1) - dt.timedelta(days=1)
    if m_end.year == as_of.year:
        out.append(f"{as_of.year}-YTD{m_end.month}")
    for _ in range(n - len(out)):
        out.append(f"{m_end.year}-{m_end.month:02d}")
        m_end = m_end.replace(day=1) - dt.timedelta(days=1)
    return out
