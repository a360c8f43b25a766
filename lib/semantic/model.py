"""The semantic layer: datasets, dimensions and metrics from ``data/semantic/*.yaml``, validated as a whole.

Every problem is collected with its file and item before anything is used; expressions are parsed
with sqlglot and checked node by node against the dataset's columns and an allow-list of functions.
"""
from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa
import sqlglot
import yaml
from sqlglot import exp

from lib.core import config, schema
from lib.core.errors import WorkbenchError

SEMANTIC_DIR = config.DATA_DIR / "semantic"
TIME_GRAINS = ("day", "week", "month", "quarter", "year")
READ_FROM = ("store", "warehouse")
"""Where a dataset is read: the app's own store, or the warehouse connection when one is configured."""


class SemanticError(WorkbenchError):
    """The declarations are inconsistent; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        text = "\n".join(str(i) for i in issues)
        super().__init__(f"{len(issues)} problem(s) in the metric declarations:\n{text}",
                         f"指标声明中有 {len(issues)} 处问题：\n{text}")


class UnknownName(WorkbenchError):
    """A metric or dimension id that is not declared; the message lists close matches."""


@dataclass(frozen=True)
class Issue:
    file: str
    item: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.item}: {self.message}"


class MetricType(enum.StrEnum):
    SIMPLE = "simple"
    RATIO = "ratio"
    DERIVED = "derived"
    CUMULATIVE = "cumulative"


class Format(enum.StrEnum):
    CURRENCY = "currency"
    PERCENT = "percent"
    PERCENT_POINTS = "percent_points"
    DAYS = "days"
    NUMBER = "number"


class Direction(enum.StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"
    NEUTRAL = "neutral"


class Status(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    DEPRECATED = "deprecated"


class DatasetKind(enum.StrEnum):
    FLOW = "flow"
    RECEIVABLE = "receivable"
    SNAPSHOT = "snapshot"


class TimeAgg(enum.StrEnum):
    """How a balance is taken over a period: at its close, or the mean of opening and closing."""

    CLOSING = "closing"
    AVERAGE = "average"


FILTER_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between")
ALLOWED_AGGREGATES = {exp.Sum: "sum", exp.Count: "count", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}
VIRTUAL_COLUMNS = {
    DatasetKind.RECEIVABLE: ("open_amount", "overdue_amount", "period_days"),
    DatasetKind.SNAPSHOT: ("period_days",),
    DatasetKind.FLOW: (),
}
OFFSET_RE = re.compile(r"^\s*(\d+)\s+(year|quarter|month|week|day)s?\s*$")


@dataclass(frozen=True)
class ColumnRef:
    """``alias.column`` (alias None for the base table), or a coalesce of several."""

    alias: str | None
    column: str
    coalesce: tuple[ColumnRef, ...] = ()

    @staticmethod
    def parse(value: object) -> ColumnRef:
        if isinstance(value, Mapping) and "coalesce" in value:
            parts = tuple(ColumnRef.parse(v) for v in value["coalesce"])
            return ColumnRef(None, "", parts)
        text = str(value)
        alias, _, column = text.rpartition(".")
        return ColumnRef(alias or None, column)

    def __str__(self) -> str:
        if self.coalesce:
            return f"coalesce({', '.join(map(str, self.coalesce))})"
        return f"{self.alias}.{self.column}" if self.alias else self.column


@dataclass(frozen=True)
class Join:
    alias: str
    table: str
    on: tuple[tuple[ColumnRef, str], ...]


@dataclass(frozen=True)
class Dimension:
    id: str
    label_zh: str
    label_en: str
    group: str
    parent: str | None = None
    synonyms: tuple[str, ...] = ()
    """Other words for the dimension in questions (地区, by area); its members' aliases are stored apart."""

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en


@dataclass(frozen=True)
class Dataset:
    id: str
    label_zh: str
    label_en: str
    table: str
    kind: DatasetKind
    time: str | None
    org_column: str | None
    joins: tuple[Join, ...]
    dimensions: Mapping[str, ColumnRef]
    columns: tuple[ColumnRef, ...] = ()
    receivable: Mapping[str, str] = field(default_factory=dict)
    file: str = "datasets.yaml"
    period_grain: str | None = None
    """'month' when rows are whole months (budgets): ranges must then cover whole months."""
    table_def: sa.Table | None = field(default=None, compare=False, repr=False)
    """The table itself when it is not part of the canonical model (a registered ext_ table)."""
    read_from: str = "store"
    """'warehouse' when the dataset (its table and the tables it joins) is read from the warehouse connection
    whenever one is configured (lib.core.warehouse); 'store' (the default) reads the app's own store."""

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the dataset reads: its own, then the joined ones."""
        return tuple(dict.fromkeys((self.table, *(j.table for j in self.joins))))


@dataclass(frozen=True)
class Filter:
    """A condition on a dimension id or a dataset column: structured data, never SQL text."""

    op: str
    values: tuple
    dimension: str | None = None
    column: ColumnRef | None = None

    @staticmethod
    def parse(raw: Mapping) -> Filter:
        values = raw.get("values", raw.get("value"))
        values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        col = raw.get("column")
        return Filter(op=str(raw.get("op", "eq")), values=values, dimension=raw.get("dimension"),
                      column=ColumnRef.parse(col) if col else None)

    def to_dict(self) -> dict:
        out: dict = {"op": self.op, "values": list(self.values)}
        if self.dimension:
            out["dimension"] = self.dimension
        if self.column:
            out["column"] = str(self.column)
        return out


@dataclass(frozen=True)
class Input:
    metric: str
    offset: str | None = None


@dataclass(frozen=True)
class Metric:
    id: str
    label_zh: str
    label_en: str
    description: str
    owner: str
    type: MetricType
    format: Format
    decimals: int
    direction: Direction
    status: Status
    subject: str
    dataset: str | None = None
    expr: str | None = None
    filters: tuple[Filter, ...] = ()
    time_column: str | None = None
    time_agg: TimeAgg | None = None
    numerator: str | None = None
    denominator: str | None = None
    inputs: Mapping[str, Input] = field(default_factory=dict)
    metric: str | None = None
    period: str | None = None
    synonyms: tuple[str, ...] = ()
    """Other words finance accepts for this metric in a question (营收, sales); a word not declared is not it."""

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def references(self) -> tuple[str, ...]:
        """Ids of the metrics this one is computed from (its direct inputs)."""
        if self.type is MetricType.RATIO:
            return tuple(x for x in (self.numerator, self.denominator) if x)
        if self.type is MetricType.CUMULATIVE:
            return (self.metric,) if self.metric else ()
        if self.type is MetricType.DERIVED:
            names = expression_names(self.expr or "")
            return tuple(dict.fromkeys(self.inputs[n].metric if n in self.inputs else n for n in names))
        return ()

    def to_dict(self) -> dict:
        """The declaration as plain data (YAML/JSON), as stored in a metric version."""
        out: dict = {"id": self.id, "label_zh": self.label_zh, "label_en": self.label_en,
                     "description": self.description, "owner": self.owner, "status": self.status.value,
                     "type": self.type.value, "format": self.format.value, "decimals": self.decimals,
                     "direction": self.direction.value}
        for key in ("dataset", "expr", "time_column", "numerator", "denominator", "metric", "period"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.time_agg:
            out["time_agg"] = self.time_agg.value
        if self.filters:
            out["filters"] = [f.to_dict() for f in self.filters]
        if self.synonyms:
            out["synonyms"] = list(self.synonyms)
        if self.inputs:
            out["inputs"] = {k: ({"metric": v.metric, "offset": v.offset} if v.offset else {"metric": v.metric})
                             for k, v in self.inputs.items()}
        return out


@dataclass(frozen=True)
class SemanticModel:
    dimensions: Mapping[str, Dimension]
    datasets: Mapping[str, Dataset]
    metrics: Mapping[str, Metric]

    def metric(self, metric_id: str) -> Metric:
        if metric_id not in self.metrics:
            raise _unknown("metric", metric_id, self.metrics)
        return self.metrics[metric_id]

    def dimension(self, dim_id: str) -> Dimension:
        if dim_id not in self.dimensions:
            raise _unknown("dimension", dim_id, [*self.dimensions, *TIME_GRAINS])
        return self.dimensions[dim_id]

    def warehouse_tables(self) -> tuple[str, ...]:
        """The canonical tables the warehouse must hold: those of every dataset read from it."""
        return tuple(dict.fromkeys(t for ds in self.datasets.values() if ds.read_from == "warehouse"
                                   for t in ds.tables))

    def leaf_metrics(self, metric_id: str) -> tuple[Metric, ...]:
        """The simple metrics a metric is computed from (itself if simple)."""
        seen: dict[str, Metric] = {}
        visited: set[str] = set()

        def walk(mid: str) -> None:
            if mid in visited:  # a cycle is a validation error; never loop on it
                return
            visited.add(mid)
            m = self.metric(mid)
            if m.type is MetricType.SIMPLE:
                seen.setdefault(m.id, m)
            for ref in m.references():
                walk(ref)
        walk(metric_id)
        return tuple(seen.values())

    def datasets_of(self, metric_id: str) -> tuple[Dataset, ...]:
        ids = dict.fromkeys(m.dataset for m in self.leaf_metrics(metric_id))
        return tuple(self.datasets[i] for i in ids)

    def dimensions_of(self, metric_id: str) -> tuple[str, ...]:
        """Dimension ids every dataset behind the metric can be broken down by (time grains included)."""
        sets = [set(d.dimensions) | (set(TIME_GRAINS) if _has_time(d) else set()) for d in self.datasets_of(metric_id)]
        shared = set.intersection(*sets) if sets else set()
        order = [*TIME_GRAINS, *self.dimensions]
        return tuple(x for x in order if x in shared)

    def reads_of(self, leaf: Metric) -> set[tuple[str, str]]:
        """The (table, column) pairs a simple metric reads (see :func:`metric_reads`)."""
        return metric_reads(leaf, self.datasets[leaf.dataset])

    def used_by(self, metric_id: str) -> tuple[str, ...]:
        """Ids of the metrics that reference this one directly."""
        return tuple(m.id for m in self.metrics.values() if metric_id in m.references())

    def with_metric(self, metric: Metric) -> SemanticModel:
        """A copy with ``metric`` added or replaced, validated as a whole (raises SemanticError)."""
        metrics = {**self.metrics, metric.id: metric}
        issues = _validate_metrics(self.dimensions, self.datasets, metrics)
        if issues:
            raise SemanticError(issues)
        return replace(self, metrics=metrics)


def _has_time(d: Dataset) -> bool:
    return d.kind is not DatasetKind.FLOW or d.time is not None


def _unknown(kind: str, name: str, known: Iterable[str]) -> UnknownName:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint_en = f" Did you mean: {', '.join(close)}?" if close else ""
    hint_zh = f" 是否是：{'、'.join(close)}？" if close else ""
    return UnknownName(f"Unknown {kind} '{name}'.{hint_en} Known: {', '.join(sorted(known))}",
                       f"未知的{'指标' if kind == 'metric' else '维度'} '{name}'。{hint_zh}")


def expression_names(text: str) -> tuple[str, ...]:
    """Identifiers referenced by an expression.

    >>> expression_names("(revenue - revenue_ly) / revenue_ly")
    ('revenue', 'revenue_ly')
    """
    try:
        tree = sqlglot.parse_one(text)
    except sqlglot.errors.ParseError:
        return ()
    return tuple(dict.fromkeys(c.name for c in tree.walk(bfs=False) if isinstance(c, exp.Column)))


def parse_offset(text: str | None) -> tuple[int, str] | None:
    """'1 year' -> (1, 'year').

    >>> parse_offset("1 year"), parse_offset("3 months"), parse_offset(None)
    ((1, 'year'), (3, 'month'), None)
    """
    if text is None:
        return None
    m = OFFSET_RE.match(str(text))
    if not m:
        raise ValueError(f"offset must look like '1 year' or '3 months', got {text!r}")
    if not 1 <= int(m.group(1)) <= 100:
        raise ValueError(f"offset must be 1 to 100 {m.group(2)}s, got {text!r}")
    return int(m.group(1)), m.group(2)


# ---- loading -------------------------------------------------------------------------------

def load(directory: Path = SEMANTIC_DIR, overrides: Iterable[Mapping] = (),
         documents: Iterable[tuple[str, Mapping]] = (), tables: Mapping[str, sa.Table] | None = None) -> SemanticModel:
    """Load every YAML file of ``directory``, apply stored metric edits (``overrides``), validate all.

    ``documents`` are (name, document) pairs shaped like a YAML file, loaded after the files (datasets
    registered in the store); ``tables`` defines the tables they use that are not canonical.
    """
    issues: list[Issue] = []
    dims: dict[str, Dimension] = {}
    datasets: dict[str, Dataset] = {}
    metrics: dict[str, Metric] = {}
    docs: list[tuple[str, str, Mapping]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            docs.append((path.name, path.stem, yaml.safe_load(path.read_text(encoding="utf-8")) or {}))
        except yaml.YAMLError as exc:
            issues.append(Issue(path.name, "(file)", f"not valid YAML: {exc}"))
    docs += [(name, name, doc) for name, doc in documents]
    for file, subject, doc in docs:
        for did, raw in (doc.get("dimensions") or {}).items():
            dims[did] = Dimension(did, raw.get("label_zh", did), raw.get("label_en", did),
                                  raw.get("group", "other"), raw.get("parent"),
                                  _words(raw.get("synonyms"), file, did, issues))
        for dsid, raw in (doc.get("datasets") or {}).items():
            ds = _dataset(file, dsid, raw, issues, tables or {})
            if ds:
                datasets[dsid] = ds
        for raw in doc.get("metrics") or []:
            m = metric_from_dict(raw, subject=subject, file=file, issues=issues)
            if m is None:
                continue
            if m.id in metrics:
                issues.append(Issue(file, m.id, f"declared twice (also in {metrics[m.id].subject}.yaml)"))
            metrics[m.id] = m
    for raw in overrides:
        m = metric_from_dict(raw, subject=raw.get("subject", "edits"), file="(store)", issues=issues)
        if m is not None:
            metrics[m.id] = m
    issues += _validate_datasets(dims, datasets)
    issues += _validate_metrics(dims, datasets, metrics)
    if issues:
        raise SemanticError(issues)
    return SemanticModel(dims, datasets, metrics)


def _dataset(file: str, dsid: str, raw: Mapping, issues: list[Issue],
             tables: Mapping[str, sa.Table] | None = None) -> Dataset | None:
    try:
        kind = DatasetKind(raw.get("kind", "flow"))
    except ValueError:
        issues.append(Issue(file, dsid, f"unknown kind {raw.get('kind')!r}; use one of {[k.value for k in DatasetKind]}"))
        return None
    joins = []
    for alias, j in (raw.get("joins") or {}).items():
        # YAML 1.1 reads a bare `on:` key as the boolean True.
        on = tuple((ColumnRef.parse(k), str(v)) for k, v in (j.get("on") or j.get(True) or {}).items())
        if not on:
            issues.append(Issue(file, f"{dsid}.joins.{alias}", "a join needs `on: {fact_column: joined_column}`"))
        joins.append(Join(alias, str(j.get("table")), on))
    return Dataset(
        id=dsid, label_zh=raw.get("label_zh", dsid), label_en=raw.get("label_en", dsid),
        table=str(raw.get("table")), kind=kind, time=raw.get("time"), org_column=raw.get("org_column"),
        joins=tuple(joins), dimensions={k: ColumnRef.parse(v) for k, v in (raw.get("dimensions") or {}).items()},
        columns=tuple(ColumnRef.parse(c) for c in raw.get("columns") or ()),
        receivable=dict(raw.get("receivable") or {}), file=file, period_grain=raw.get("grain"),
        table_def=(tables or {}).get(str(raw.get("table"))), read_from=str(raw.get("read_from") or "store"))


def metric_from_dict(raw: Mapping, subject: str, file: str, issues: list[Issue]) -> Metric | None:
    """A Metric from its declaration, or None with the problems appended to ``issues``."""
    mid = str(raw.get("id") or "").strip()
    if not re.fullmatch(r"[a-z][a-z0-9_]*", mid) or "__" in mid or mid.startswith(("m_", "d_")):
        issues.append(Issue(file, mid or "(no id)", "id must be lower_snake_case letters, digits and single _ "
                                                    "(no '__', not starting with m_ or d_)"))
        return None
    bad = []

    def enum_of(cls, key, default):
        value = raw.get(key, default)
        if value is None:
            return None
        try:
            return cls(value)
        except ValueError:
            bad.append(f"{key} {value!r} is not one of {[x.value for x in cls]}")
            return None
    mtype = enum_of(MetricType, "type", None)
    if mtype is None and "type" not in raw:
        bad.append("type is missing")
    fmt = enum_of(Format, "format", "number")
    direction = enum_of(Direction, "direction", "neutral")
    status = enum_of(Status, "status", "published")
    time_agg = enum_of(TimeAgg, "time_agg", None)
    decimals = raw.get("decimals", 2)
    if not isinstance(decimals, int) or not 0 <= decimals <= 6:
        bad.append(f"decimals must be a whole number 0–6, got {decimals!r}")
    for key in ("label_zh", "label_en", "description", "owner"):
        if not str(raw.get(key) or "").strip():
            bad.append(f"{key} is missing")
    inputs = {}
    for name, spec in (raw.get("inputs") or {}).items():
        spec = spec if isinstance(spec, Mapping) else {"metric": spec}
        inputs[str(name)] = Input(str(spec.get("metric")), spec.get("offset"))
    try:
        filters = tuple(Filter.parse(f) for f in raw.get("filters") or ())
    except Exception as exc:  # noqa: BLE001  (malformed filter entries)
        bad.append(f"filters are malformed: {exc}")
        filters = ()
    synonyms = _words(raw.get("synonyms"), file, mid, issues, bad)
    for b in bad:
        issues.append(Issue(file, mid, b))
    if bad:
        return None
    return Metric(
        id=mid, label_zh=str(raw["label_zh"]), label_en=str(raw["label_en"]), description=str(raw["description"]),
        owner=str(raw["owner"]), type=mtype, format=fmt, decimals=decimals, direction=direction, status=status,
        subject=subject, dataset=raw.get("dataset"), expr=raw.get("expr"), filters=filters,
        time_column=raw.get("time_column"), time_agg=time_agg, numerator=raw.get("numerator"),
        denominator=raw.get("denominator"), inputs=inputs, metric=raw.get("metric"), period=raw.get("period"),
        synonyms=synonyms)


def _words(raw: object, file: str, item: str, issues: list[Issue], bad: list[str] | None = None) -> tuple[str, ...]:
    """A list of synonyms: distinct non-blank words of at most 50 characters (a text is split at commas)."""
    if raw in (None, ""):
        return ()
    if isinstance(raw, str):
        raw = re.split(r"[,，、;；\n]", raw)
    problem = None
    if not isinstance(raw, (list, tuple)) or not all(isinstance(w, str) for w in raw):
        problem = f"synonyms must be a list of words, got {raw!r}"
    elif any(len(w.strip()) > 50 for w in raw):
        problem = "a synonym is at most 50 characters"
    if problem:
        (bad.append(problem) if bad is not None else issues.append(Issue(file, item, problem)))
        return ()
    return tuple(dict.fromkeys(w.strip() for w in raw if w.strip()))


# ---- validation ----------------------------------------------------------------------------

def _table_columns(table: str, table_def: sa.Table | None = None) -> set[str] | None:
    t = table_def if table_def is not None else schema.metadata.tables.get(table)
    return None if t is None else set(t.c.keys())


def base_table(ds: Dataset) -> sa.Table:
    """The SQLAlchemy table a dataset reads: its own definition, else the canonical model's."""
    return ds.table_def if ds.table_def is not None else schema.metadata.tables[ds.table]


def dataset_columns(ds: Dataset) -> dict[str | None, set[str]]:
    """Columns reachable from a dataset: alias (None = base) -> column names."""
    out: dict[str | None, set[str]] = {None: _table_columns(ds.table, ds.table_def) or set()}
    for j in ds.joins:
        out[j.alias] = _table_columns(j.table) or set()
    return out


# Virtual receivable columns and the role columns (ar_invoice) they are computed from.
RECEIVABLE_ROLES = {"open_amount": ("issued", "paid", "amount", "paid_amount"),
                    "overdue_amount": ("issued", "due", "paid", "amount", "paid_amount")}


def expression_columns(expr: str) -> tuple[str, ...]:
    """Column names read by an aggregate expression.

    >>> expression_columns("sum(quantity * list_price)")
    ('quantity', 'list_price')
    """
    try:
        tree = sqlglot.parse_one(expr)
    except sqlglot.errors.SqlglotError:
        return ()
    return tuple(dict.fromkeys(c.name for c in tree.find_all(exp.Column)))


def leaf_columns(m: Metric, ds: Dataset) -> list[str]:
    """Base-table columns a simple metric reads: its expression (virtual balance columns as the columns
    they are computed from), its column filters on the base table, and its time column."""
    cols: list[str] = []
    for c in expression_columns(m.expr or ""):
        if ds.kind is DatasetKind.RECEIVABLE and c in RECEIVABLE_ROLES:
            cols += [ds.receivable[r] for r in RECEIVABLE_ROLES[c] if r in ds.receivable]
        elif c not in VIRTUAL_COLUMNS[ds.kind]:
            cols.append(c)
    cols += [str(f.column) for f in m.filters if f.column]
    if m.time_column or ds.time:
        cols.append(m.time_column or ds.time)
    return cols


def reads(ds: Dataset, refs: Iterable[ColumnRef]) -> set[tuple[str, str]]:
    """(table, column) pairs behind column references of a dataset, through its joins."""
    tables = {None: ds.table} | {j.alias: j.table for j in ds.joins}
    out: set[tuple[str, str]] = set()
    for ref in refs:
        for part in (ref.coalesce or (ref,)):
            out.add((tables.get(part.alias, ds.table), part.column))
    return out


def metric_reads(m: Metric, ds: Dataset) -> set[tuple[str, str]]:
    """Every (table, column) a simple metric reads, its filters' joined columns and dimensions included:
    what access control checks against a role's denied sources."""
    out = {(ds.table, c) for c in leaf_columns(m, ds)}
    refs = [f.column for f in m.filters if f.column and f.column.alias]
    refs += [ds.dimensions[f.dimension] for f in m.filters if f.dimension and f.dimension in ds.dimensions]
    return out | reads(ds, refs)


def _check_ref(ref: ColumnRef, cols: Mapping[str | None, set[str]]) -> str | None:
    if ref.coalesce:
        for part in ref.coalesce:
            problem = _check_ref(part, cols)
            if problem:
                return problem
        return None
    if ref.alias not in cols:
        return f"unknown join alias {ref.alias!r} in {ref}"
    if ref.column not in cols[ref.alias]:
        return f"unknown column {ref}"
    return None


def _validate_datasets(dims: Mapping[str, Dimension], datasets: Mapping[str, Dataset]) -> list[Issue]:
    issues = []
    for did, d in dims.items():
        if d.parent and d.parent not in dims:
            issues.append(Issue("datasets.yaml", did, f"parent dimension {d.parent!r} is not declared"))
    for ds in datasets.values():
        file = ds.file
        if _table_columns(ds.table, ds.table_def) is None:
            issues.append(Issue(file, ds.id, f"unknown table {ds.table!r}"))
            continue
        cols = dataset_columns(ds)
        for j in ds.joins:
            if _table_columns(j.table) is None:
                issues.append(Issue(file, f"{ds.id}.joins.{j.alias}", f"unknown table {j.table!r}"))
                continue
            for left, right in j.on:
                problem = _check_ref(left, cols)
                if problem:
                    issues.append(Issue(file, f"{ds.id}.joins.{j.alias}", problem))
                if right not in cols[j.alias]:
                    issues.append(Issue(file, f"{ds.id}.joins.{j.alias}", f"unknown column {j.alias}.{right}"))
        for key in ("time", "org_column"):
            value = getattr(ds, key)
            if value and value not in cols[None]:
                issues.append(Issue(file, ds.id, f"{key} {value!r} is not a column of {ds.table}"))
        if ds.read_from not in READ_FROM:
            issues.append(Issue(file, ds.id, f"read_from must be one of {list(READ_FROM)}, got {ds.read_from!r}"))
        elif ds.read_from == "warehouse" and ds.table_def is not None:
            issues.append(Issue(file, ds.id, "a registered table lives in the app's store: it can't be read_from the "
                                             "warehouse"))
        if ds.period_grain not in (None, "month"):
            issues.append(Issue(file, ds.id, f"grain must be month (or absent), got {ds.period_grain!r}"))
        if ds.kind is DatasetKind.FLOW and not ds.time:
            issues.append(Issue(file, ds.id, "a flow dataset needs a time column"))
        if ds.kind is DatasetKind.RECEIVABLE:
            for role in ("issued", "due", "paid", "amount", "paid_amount"):
                if ds.receivable.get(role) not in cols[None]:
                    issues.append(Issue(file, ds.id, f"receivable.{role} must name a column of {ds.table}"))
        for dim, ref in ds.dimensions.items():
            if dim not in dims:
                issues.append(Issue(file, f"{ds.id}.dimensions", f"unknown dimension {dim!r}"))
            problem = _check_ref(ref, cols)
            if problem:
                issues.append(Issue(file, f"{ds.id}.dimensions.{dim}", problem))
        for ref in ds.columns:
            problem = _check_ref(ref, cols)
            if problem:
                issues.append(Issue(file, f"{ds.id}.columns", problem))
    return issues


def check_simple_expression(text: str, ds: Dataset) -> str | None:
    """Why ``text`` is not an allowed aggregate over ``ds``, or None if it is.

    >>> from lib.semantic.model import load
    >>> sales = load().datasets["sales"]
    >>> check_simple_expression("sum(net_revenue)", sales) is None
    True
    >>> check_simple_expression("sum(net_revenue)); drop table sales_line; --", sales)[:24]
    'not a single expression:'
    >>> check_simple_expression("sum(price)", sales)
    "unknown column 'price'; columns: batch_id, channel, cost_amount, customer_id, discount_amount, line_no, list_price, net_revenue, order_date, order_no, org_unit_id, product_id, quantity"
    """
    try:
        statements = sqlglot.parse(text)
    except sqlglot.errors.SqlglotError as exc:
        return f"not a single expression: {str(exc).splitlines()[0]}"
    if len(statements) != 1 or statements[0] is None:
        return "not a single expression: only one aggregate expression is allowed"
    tree = statements[0]
    base = set(dataset_columns(ds)[None]) | set(VIRTUAL_COLUMNS[ds.kind])
    aggregates = 0
    for node in tree.walk():
        if isinstance(node, tuple(ALLOWED_AGGREGATES)):
            aggregates += 1
            if node.this is None or any(isinstance(a, tuple(ALLOWED_AGGREGATES)) for a in node.this.walk()):
                return "aggregates cannot be nested"
            if node.expressions or (isinstance(node.this, exp.Distinct) and len(node.this.expressions) != 1):
                return f"{node.sql_name().lower()} takes exactly one argument"
        elif isinstance(node, exp.Literal) and not node.is_number:
            return f"text {node.sql()} is not allowed: use numbers"
        elif isinstance(node, exp.Column):
            if node.table:
                return f"use columns of {ds.table} only, not {node.sql()}"
            if node.name not in base:
                return f"unknown column '{node.name}'; columns: {', '.join(sorted(base))}"
        elif isinstance(node, exp.Func) and not isinstance(node, exp.Distinct):
            return f"function '{node.sql_name().lower()}' is not allowed; use {', '.join(ALLOWED_AGGREGATES.values())}"
        elif not isinstance(node, (exp.Identifier, exp.Literal, exp.Paren, exp.Add, exp.Sub, exp.Mul,
                                   exp.Div, exp.Neg, exp.Distinct)):
            return f"'{node.sql()}' is not allowed in a metric expression"
    if aggregates == 0:
        return "the expression must aggregate, e.g. sum(column)"
    for col in tree.find_all(exp.Column):
        if not any(isinstance(p, tuple(ALLOWED_AGGREGATES)) for p in _parents(col)):
            return f"column '{col.name}' must be inside an aggregate"
    return None


def check_derived_expression(text: str, allowed: set[str]) -> str | None:
    """Why ``text`` is not arithmetic over the ``allowed`` names, or None."""
    try:
        statements = sqlglot.parse(text)
    except sqlglot.errors.SqlglotError as exc:
        return f"not a single expression: {str(exc).splitlines()[0]}"
    if len(statements) != 1 or statements[0] is None:
        return "not a single expression"
    for node in statements[0].walk():
        if isinstance(node, exp.Literal) and not node.is_number:
            return f"text {node.sql()} is not allowed: use numbers"
        if isinstance(node, exp.Column):
            if node.table or node.name not in allowed:
                close = difflib.get_close_matches(node.name, sorted(allowed), n=3)
                return f"unknown metric '{node.name}'" + (f" (did you mean {', '.join(close)}?)" if close else "")
        elif not isinstance(node, (exp.Identifier, exp.Literal, exp.Paren, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg)):
            return f"'{node.sql()}' is not allowed: use + − × ÷, numbers and metric ids"
    return None


def _parents(node: exp.Expression):
    p = node.parent
    while p is not None:
        yield p
        p = p.parent


def _validate_metrics(dims, datasets, metrics: Mapping[str, Metric]) -> list[Issue]:
    issues: list[Issue] = []
    for m in metrics.values():
        file = f"{m.subject}.yaml"
        if m.id in dims or m.id in TIME_GRAINS:
            issues.append(Issue(file, m.id, "a metric id can't be the id of a dimension or time grain"))

        def add(msg: str) -> None:
            issues.append(Issue(file, m.id, msg))  # noqa: B023  (called within this iteration)
        if m.type is MetricType.SIMPLE:
            ds = datasets.get(m.dataset or "")
            if ds is None:
                add(f"unknown dataset {m.dataset!r}; known: {', '.join(sorted(datasets))}")
                continue
            problem = check_simple_expression(m.expr or "", ds)
            if problem:
                add(f"expr {m.expr!r}: {problem}")
            table = ds.table_def if ds.table_def is not None else schema.metadata.tables.get(ds.table)
            if m.time_column and (ds.kind is not DatasetKind.FLOW or table is None or m.time_column not in table.c
                                  or not isinstance(table.c[m.time_column].type, sa.Date)):
                add(f"time_column {m.time_column!r} must be a date column of the flow dataset {ds.id}")
            if ds.kind is DatasetKind.FLOW and m.time_agg:
                add("time_agg applies to balances (receivable or snapshot datasets) only")
            if ds.kind is not DatasetKind.FLOW and not m.time_agg and "period_days" not in (m.expr or ""):
                add("a balance needs time_agg: closing or average (balances are never summed over time)")
            cols = dataset_columns(ds)
            for f in m.filters:
                if f.op not in FILTER_OPS:
                    add(f"filter op {f.op!r} is not one of {FILTER_OPS}")
                if f.dimension and f.dimension not in ds.dimensions:
                    add(f"filter on unknown dimension {f.dimension!r} of dataset {ds.id}")
                if f.column:
                    problem = _check_ref(f.column, cols)
                    if problem:
                        add(f"filter: {problem}")
                if not f.dimension and not f.column:
                    add("a filter needs a dimension or a column")
        elif m.type is MetricType.RATIO:
            for part in ("numerator", "denominator"):
                ref = getattr(m, part)
                if ref not in metrics:
                    add(f"{part} {ref!r} is not a declared metric")
        elif m.type is MetricType.DERIVED:
            allowed = set(metrics) | set(m.inputs)
            problem = check_derived_expression(m.expr or "", allowed)
            if problem:
                add(f"expr {m.expr!r}: {problem}")
            for name, inp in m.inputs.items():
                if inp.metric not in metrics:
                    add(f"input {name}: {inp.metric!r} is not a declared metric")
                try:
                    parse_offset(inp.offset)
                except ValueError as exc:
                    add(f"input {name}: {exc}")
        elif m.type is MetricType.CUMULATIVE:
            if m.metric not in metrics:
                add(f"metric {m.metric!r} is not a declared metric")
            elif not _additive(m.metric, metrics, datasets):
                add(f"a running total needs a metric that adds up over time (sums and counts of flows, "
                    f"+ and − of such metrics); {m.metric!r} is not one: ratios, balances and distinct counts are not")
            if m.period not in ("month", "quarter", "year"):
                add(f"period must be month, quarter or year, got {m.period!r}")
    issues += _cycles(metrics)
    issues += _compatibility(dims, datasets, metrics, in_error={i.item for i in issues})
    return issues


def _additive(mid: str, metrics: Mapping[str, Metric], datasets, seen: frozenset = frozenset()) -> bool:
    """True when the metric's values over sub-periods add up to its value over the whole period."""
    m = metrics.get(mid)
    if m is None or mid in seen:
        return False
    if m.type is MetricType.SIMPLE:
        ds = datasets.get(m.dataset or "")
        if ds is None or ds.kind is not DatasetKind.FLOW:
            return False
        try:
            tree = sqlglot.parse_one(m.expr or "")
        except sqlglot.errors.SqlglotError:
            return False
        aggs = [n for n in tree.walk() if isinstance(n, tuple(ALLOWED_AGGREGATES))]
        if not aggs or any(not isinstance(a, (exp.Sum, exp.Count)) or isinstance(a.this, exp.Distinct) for a in aggs):
            return False
        return all(isinstance(n, (exp.Add, exp.Sub, exp.Paren, exp.Neg)) for n in tree.walk()
                   if not isinstance(n, (*ALLOWED_AGGREGATES, exp.Column, exp.Identifier, exp.Literal))
                   and not any(isinstance(p, tuple(ALLOWED_AGGREGATES)) for p in _parents(n)))
    if m.type is MetricType.DERIVED and not m.inputs:
        tree = sqlglot.parse_one(m.expr or "")
        if any(isinstance(n, (exp.Mul, exp.Div, exp.Literal)) for n in tree.walk()):
            return False
        return all(_additive(r, metrics, datasets, seen | {mid}) for r in m.references())
    return False


def additive(model: SemanticModel, metric_id: str) -> bool:
    """True when the metric's values over parts (months, units) add up to its value over the whole:
    sums and counts of flows and sums/differences of such metrics; never ratios, balances or distinct counts."""
    return _additive(metric_id, model.metrics, model.datasets)


def _cycles(metrics: Mapping[str, Metric]) -> list[Issue]:
    issues, state = [], {}

    def visit(mid: str, path: list[str]) -> None:
        if state.get(mid) == "done" or mid not in metrics:
            return
        if state.get(mid) == "active":
            cycle = path[path.index(mid):] + [mid]
            issues.append(Issue(f"{metrics[mid].subject}.yaml", mid, f"cycle between metrics: {' → '.join(cycle)}"))
            return
        state[mid] = "active"
        for ref in metrics[mid].references():
            visit(ref, path + [mid])
        state[mid] = "done"
    for mid in metrics:
        visit(mid, [])
    return issues


def _compatibility(dims, datasets, metrics, in_error: set[str] = frozenset()) -> list[Issue]:
    """A metric over several datasets needs at least one dimension they share (time counts)."""
    model = SemanticModel(dims, datasets, metrics)
    issues = []
    for m in metrics.values():
        if m.type is MetricType.SIMPLE or m.id in in_error:
            continue
        try:
            if len(model.datasets_of(m.id)) > 1 and not model.dimensions_of(m.id):
                names = ", ".join(d.id for d in model.datasets_of(m.id))
                issues.append(Issue(f"{m.subject}.yaml", m.id, f"its inputs come from datasets with no shared dimension: {names}"))
        except (UnknownName, KeyError):  # an input already reported as unknown
            continue
    return issues
