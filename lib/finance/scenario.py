"""What-if scenarios (情景模拟): price, volume, unit cost and expense drivers applied to a base P&L.

The base is an approved budget version (read through the ``budget`` metric, by account type) or the
actuals of a period (revenue and COGS from the sales lines, expenses from the GL), both through
``lib.semantic.query``. A driver of +3% is 0.03. For each line:

    revenue × (1 + price) × (1 + volume)
    COGS    × (1 + volume) × (1 + unit cost)
    opex    × (1 + the expense type's %)

Drivers can be set apart for some regions, or categories when the base has them (actuals).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from lib.access import auth
from lib.access.scope import User
from lib.core import clock
from lib.core.errors import InvalidArgument
from lib.core.i18n import t
from lib.core.schema import account, budget_version, org_flat
from lib.core.tables.finance import scenario as scenario_table
from lib.finance import budget_versions
from lib.semantic.spec import FilterSpec, QuerySpec, TimeRange

Runner = Callable[[QuerySpec], pd.DataFrame]
MAX_SCENARIOS = 3
ALL_TYPES = "*"
BY = ("region", "category")
LINE_COLUMNS = ["period", "region", "department", "category", "line", "expense_type", "account", "amount"]


class BaseKind(enum.StrEnum):
    BUDGET = "budget"
    ACTUAL = "actual"


def _pct(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not -1.0 <= value <= 10.0:
        raise InvalidArgument(f"{what} must be a change between -100% and +1000%, got {value!r}.",
                              f"{what}须为 -100% 到 +1000% 之间的变动，收到 {value!r}。")
    return float(value)


@dataclass(frozen=True)
class Override:
    """Drivers for one region or category; None keeps the scenario-wide driver. ``opex_pct`` (regions only)
    replaces the by-type expense drivers for that region."""

    value: str
    price_pct: float | None = None
    volume_pct: float | None = None
    unit_cost_pct: float | None = None
    opex_pct: float | None = None

    def __post_init__(self) -> None:
        for f in ("price_pct", "volume_pct", "unit_cost_pct", "opex_pct"):
            _pct(getattr(self, f), f)


@dataclass(frozen=True)
class Drivers:
    price_pct: float = 0.0
    volume_pct: float = 0.0
    unit_cost_pct: float = 0.0
    opex_pct: tuple[tuple[str, float], ...] = ()   # (expense type or "*", change)
    by: str | None = None                          # "region" or "category": what ``overrides`` are keyed by
    overrides: tuple[Override, ...] = ()

    def __post_init__(self) -> None:
        for f in ("price_pct", "volume_pct", "unit_cost_pct"):
            _pct(getattr(self, f), f)
        for name, v in self.opex_pct:
            _pct(v, f"opex {name}")
        if self.by is not None and self.by not in BY:
            raise InvalidArgument(f"Drivers can be set by {', '.join(BY)}, not {self.by!r}.",
                                  f"驱动因素只能按区域或品类分别设置，而不是“{self.by}”。")
        if self.overrides and self.by is None:
            raise InvalidArgument("Say whether the overrides are by region or by category.", "请说明分别设置的是区域还是品类。")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Drivers:
        raw = json.loads(text)
        return Drivers(raw.get("price_pct", 0.0), raw.get("volume_pct", 0.0), raw.get("unit_cost_pct", 0.0),
                       tuple((str(k), float(v)) for k, v in raw.get("opex_pct", ())), raw.get("by"),
                       tuple(Override(**o) for o in raw.get("overrides", ())))


@dataclass(frozen=True)
class Base:
    """The lines a scenario starts from: LINE_COLUMNS, ``line`` one of revenue / cogs / opex."""

    kind: BaseKind
    label: str
    lines: pd.DataFrame
    specs: tuple[QuerySpec, ...]
    version: str | None = None

    @property
    def has_category(self) -> bool:
        return bool(self.lines["category"].notna().any())

    def expense_types(self) -> list[str]:
        o = self.lines[self.lines["line"] == "opex"]
        return sorted({str(x) for x in o["expense_type"].dropna()})

    def values(self, by: str) -> list[str]:
        return sorted({str(x) for x in self.lines[by].dropna()})


def _frame(rows: list[pd.DataFrame]) -> pd.DataFrame:
    rows = [r.reindex(columns=LINE_COLUMNS) for r in rows if len(r)]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "amount" else object) for c in LINE_COLUMNS})
    df = pd.concat(rows, ignore_index=True)
    df["amount"] = pd.to_numeric(df["amount"], errors="coerce").astype(float).fillna(0.0)
    df["period"] = pd.to_datetime(df["period"]).dt.date
    for c in ("region", "department", "category", "expense_type", "account"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df[df["amount"] != 0].reset_index(drop=True)


def budget_base_spec(version: str) -> QuerySpec:
    return QuerySpec(("budget",), ("month", "region", "department", "account_type", "expense_type", "account"),
                     (FilterSpec("budget_version", "eq", (version,)),
                      FilterSpec("account_type", "in", ("revenue", "cogs", "opex"))))


def load_budget_base(run: Runner, version: str) -> Base:
    """An approved (or locked) budget version's revenue, COGS and expense lines, by month, unit and account."""
    spec = budget_base_spec(version)
    df = run(spec).rename(columns={"month": "period", "account_type": "line", "budget": "amount"})
    df.loc[df["line"] != "opex", "expense_type"] = None
    return Base(BaseKind.BUDGET, version, _frame([df]), (spec,), version)


def actual_base_specs(period: TimeRange) -> tuple[QuerySpec, QuerySpec]:
    return (QuerySpec(("revenue", "cogs"), ("month", "region", "department", "category"), (), period),
            QuerySpec(("opex",), ("month", "region", "department", "expense_type", "account"), (), period))


def load_actual_base(run: Runner, period: TimeRange) -> Base:
    """Actual revenue and COGS (sales lines, by category) and expenses (GL, by account) of a period."""
    sales_spec, opex_spec = actual_base_specs(period)
    s = run(sales_spec).rename(columns={"month": "period"})
    parts = [s.drop(columns=["cogs"]).rename(columns={"revenue": "amount"}).assign(line="revenue"),
             s.drop(columns=["revenue"]).rename(columns={"cogs": "amount"}).assign(line="cogs")]
    o = run(opex_spec).rename(columns={"month": "period", "opex": "amount"}).assign(line="opex")
    return Base(BaseKind.ACTUAL, f"{period.start} – {period.end}", _frame([*parts, o]), (sales_spec, opex_spec))


def apply(base: Base, drivers: Drivers) -> pd.DataFrame:
    """The base lines with each amount moved by the drivers (same columns)."""
    if drivers.by == "category" and drivers.overrides and not base.has_category:
        raise InvalidArgument("This base has no categories (budgets are kept by unit and account): "
                              "set drivers by region.",
                              "该基准没有品类（预算按组织和科目编制）：请按区域分别设置。")
    over = {o.value: o for o in drivers.overrides}
    opex = dict(drivers.opex_pct)
    df = base.lines.copy()
    factors = []
    for line, key, etype in zip(df["line"], df[drivers.by] if drivers.by else [None] * len(df), df["expense_type"]):
        o = over.get(key) if key is not None else None
        def pick(f: str, o: Override | None = o) -> float:
            return getattr(o, f) if o is not None and getattr(o, f) is not None else getattr(drivers, f)
        if line == "revenue":
            factors.append((1 + pick("price_pct")) * (1 + pick("volume_pct")))
        elif line == "cogs":
            factors.append((1 + pick("volume_pct")) * (1 + pick("unit_cost_pct")))
        else:
            own = o.opex_pct if o is not None and drivers.by == "region" and o.opex_pct is not None else None
            factors.append(1 + (own if own is not None else opex.get(etype, opex.get(ALL_TYPES, 0.0))))
    df["amount"] = df["amount"] * pd.Series(factors, index=df.index, dtype=float)
    return df


@dataclass(frozen=True)
class PnL:
    revenue: float
    cogs: float
    opex: float
    opex_by_type: tuple[tuple[str, float], ...]

    @property
    def gross_profit(self) -> float:
        return self.revenue - self.cogs

    @property
    def operating_profit(self) -> float:
        return self.gross_profit - self.opex

    @property
    def gross_margin(self) -> float | None:
        return self.gross_profit / self.revenue if self.revenue else None

    @property
    def operating_margin(self) -> float | None:
        return self.operating_profit / self.revenue if self.revenue else None


def pnl(lines: pd.DataFrame) -> PnL:
    """Revenue, COGS and opex (by type) of scenario or base lines."""
    total = lambda line: math.fsum(lines.loc[lines["line"] == line, "amount"])  # noqa: E731
    o = lines[lines["line"] == "opex"]
    by_type = o.groupby(o["expense_type"].fillna("—"), sort=True)["amount"].sum() if len(o) else pd.Series(dtype=float)
    return PnL(total("revenue"), total("cogs"), total("opex"), tuple((str(k), float(v)) for k, v in by_type.items()))


@dataclass(frozen=True)
class Comparison:
    base: PnL
    names: tuple[str, ...]
    scenarios: tuple[PnL, ...]


def compare(base: Base, scenarios: dict[str, Drivers]) -> Comparison:
    """The base P&L and up to three scenarios' P&Ls."""
    if len(scenarios) > MAX_SCENARIOS:
        raise InvalidArgument(f"Compare at most {MAX_SCENARIOS} scenarios, got {len(scenarios)}.",
                              f"最多对比 {MAX_SCENARIOS} 个情景，收到 {len(scenarios)} 个。")
    return Comparison(pnl(base.lines), tuple(scenarios), tuple(pnl(apply(base, d)) for d in scenarios.values()))


ROWS = ("revenue", "cogs", "gross_profit", "gross_margin", "opex", "operating_profit", "operating_margin")


def comparison_frame(c: Comparison, lang: str) -> pd.DataFrame:
    """One row per P&L line (and expense type); columns: the base, each scenario and its change.
    Money in 元 to the cent; margins and their changes in % / percentage points to 0.1."""
    def row_values(p: PnL) -> dict[str, float | None]:
        return {**{k: getattr(p, k) for k in ROWS}, **{f"opex:{k}": v for k, v in p.opex_by_type}}
    base = row_values(c.base)
    keys = list(ROWS[:5]) + sorted({k for p in (c.base, *c.scenarios) for k in row_values(p) if k.startswith("opex:")})
    keys += list(ROWS[5:])
    label = lambda k: ("  · " + k[5:]) if k.startswith("opex:") else t(f"margin.scenario.row.{k}", lang)  # noqa: E731
    out = {t("margin.scenario.col.line", lang): [label(k) for k in keys]}

    def show(k: str, v: float | None) -> float | None:
        if v is None:
            return None
        return round(v * 100, 1) if k.endswith("margin") else round(v, 2)
    out[t("margin.scenario.col.base", lang)] = [show(k, base.get(k, 0.0)) for k in keys]
    for name, p in zip(c.names, c.scenarios):
        vals = row_values(p)
        out[name] = [show(k, vals.get(k, 0.0)) for k in keys]
        out[t("margin.scenario.col.delta", lang, name=name)] = [
            None if vals.get(k, 0.0) is None or base.get(k, 0.0) is None
            else show(k, vals.get(k, 0.0) - base.get(k, 0.0)) for k in keys]
    return pd.DataFrame(out)


# ---- saving ---------------------------------------------------------------------------------------

def _cents(x: float) -> float:
    """Half up to the cent, after dropping float noise (250 × 1.03 × 0.95 = 244.62499999999997 → 244.63)."""
    return float(decimal.Decimal(repr(round(x, 6))).quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))


def version_lines(engine: sa.Engine, base: Base, drivers: Drivers, fiscal_year: int) -> pd.DataFrame:
    """The scenario as budget lines [period, org_unit_id, account_code, amount] for ``fiscal_year``.

    Units: the region / department of each line (deeper units are summed into their department).
    Accounts: a budget base keeps its accounts; actual revenue and COGS go to the first revenue / COGS
    account of the chart, actual expenses to their own accounts. Actual months move to the same
    calendar month of ``fiscal_year`` (so the base may cover at most 12 distinct calendar months).
    Amounts are rounded to the cent, half up.
    """
    df = apply(base, drivers)
    with engine.connect() as conn:   # master data for ids, not figures: Core selects with no input in them
        org = conn.execute(sa.select(org_flat.c.org_unit_id, org_flat.c.depth, org_flat.c.l1_name,
                                     org_flat.c.l2_name)).all()
        accts = conn.execute(sa.select(account.c.code, account.c.name, account.c.type)
                             .order_by(account.c.code)).all()
    units = {}
    for uid, depth, l1, l2 in sorted(org, key=lambda r: (r[1], r[0])):
        key = (l1 if depth >= 1 else None, l2 if depth >= 2 else None)
        if depth <= 2:
            units.setdefault(key, uid)
    codes: dict[str, list[str]] = {}
    for code, name, _ in accts:
        codes.setdefault(name, []).append(code)
    first = {typ: next((c for c, _, ty in accts if ty == typ), None) for typ in ("revenue", "cogs")}
    out = []
    for r in df.itertuples(index=False):
        unit = units.get((r.region, r.department))
        if base.kind is BaseKind.ACTUAL and r.line in ("revenue", "cogs"):
            code = first[r.line]
        else:
            found = codes.get(r.account, [])
            if len(found) > 1:  # the base names accounts, not codes: refuse rather than book to the wrong one
                raise InvalidArgument(
                    f"The account name {r.account!r} belongs to several accounts ({', '.join(found)}); "
                    "give them distinct names in the chart of accounts before saving this scenario.",
                    f"科目名称“{r.account}”对应多个科目（{'、'.join(found)}）；请先在科目表中区分名称，再保存此情景。")
            code = found[0] if found else None
        if unit is None or code is None:
            what = f"{r.region}/{r.department}" if unit is None else str(r.account)
            raise InvalidArgument(f"Can't place the scenario line of {what} on a unit and account of the store.",
                                  f"无法将情景明细 {what} 对应到组织和科目。")
        period = r.period if base.kind is BaseKind.BUDGET else dt.date(fiscal_year, r.period.month, 1)
        out.append((period, unit, code, r.amount))
    lines = pd.DataFrame(out, columns=["period", "org_unit_id", "account_code", "amount"])
    if base.kind is BaseKind.ACTUAL and len({p.month for p in df["period"]}) != df["period"].nunique():
        raise InvalidArgument("The actuals cover the same calendar month twice: choose at most 12 months as the base.",
                              "实际数基准包含重复的月份：请选择不超过 12 个月的期间。")
    lines = lines.groupby(["period", "org_unit_id", "account_code"], as_index=False)["amount"].sum()
    lines["amount"] = [_cents(x) for x in lines["amount"]]
    return lines


def save(engine: sa.Engine, user: User, name: str, base: Base, drivers: Drivers, fiscal_year: int) -> int:
    """Save the drivers in app_scenario and the scenario as a draft budget version of kind ``scenario``;
    returns the new version id. Needs the ``edit_budgets`` right."""
    auth.require(user, "edit_budgets")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidArgument("Give the scenario a name of 1 to 100 characters.", "请为情景命名（1 到 100 个字符）。")
    lines = version_lines(engine, base, drivers, fiscal_year)
    with engine.begin() as conn:  # the version, its lines and the drivers: all or nothing
        if conn.execute(sa.select(scenario_table.c.id).where(scenario_table.c.name == name)).first():
            raise InvalidArgument(f"A scenario named '{name}' exists: choose another name.", f"已有名为“{name}”的情景，请换一个名称。")
        based_on = None
        if base.version:
            based_on = conn.execute(sa.select(budget_version.c.id)
                                    .where(budget_version.c.name == base.version)).scalar()
        vid = budget_versions.create_version(engine, user, name=name, kind="scenario", fiscal_year=fiscal_year,
                                             lines=lines, based_on=based_on, conn=conn)
        conn.execute(scenario_table.insert().values(
            name=name, base=f"{base.kind.value}:{base.label}"[:100], drivers=drivers.to_json(), version_id=vid,
            created_by=user.username, created_at=clock.now()))
    return vid


def saved(engine: sa.Engine) -> pd.DataFrame:
    """Saved scenarios (name, base, drivers JSON, version id, who, when), newest first."""
    c = scenario_table.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.name, c.base, c.drivers, c.version_id, c.created_by, c.created_at)
                            .order_by(c.id.desc())).all()
    return pd.DataFrame(rows, columns=["name", "base", "drivers", "version_id", "created_by", "created_at"])
