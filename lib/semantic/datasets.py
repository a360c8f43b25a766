"""Any table as a dataset: a file imported as is into its own ``ext_<slug>`` table, offered to Explore.

Column names and the table name come from the file, so they are slugified to ``[a-z0-9_]`` and
always quoted by SQLAlchemy; nothing from the file is formatted into SQL. Columns are classified
automatically (dates → time or dimension, text → dimension, numbers → measure) and the roles can
be edited. :func:`semantic_documents` turns the registry into the same dict shapes as a
``data/semantic/*.yaml`` file, so the semantic layer loads registered datasets with the YAML ones.
"""
from __future__ import annotations

import datetime as dt
import enum
import json
import re
import unicodedata
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from lib.access import audit, auth
from lib.access.scope import User
from lib.core import clock, store
from lib.core.errors import InvalidArgument
from lib.core.tables.sources import ext_dataset
from lib.core.values import parse_numbers

PREFIX = "ext_"
IMPORTED_ON = "imported_on"
"""Every ext table gets this date column: the time column of files that have no date of their own."""
MAX_IDENT = 40


class ColType(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"


class Role(enum.StrEnum):
    TIME = "time"
    DIMENSION = "dimension"
    MEASURE = "measure"
    IGNORE = "ignore"


_SQL_TYPES = {ColType.TEXT: sa.String(500), ColType.INTEGER: sa.BigInteger(),
              ColType.NUMBER: sa.Numeric(20, 4), ColType.DATE: sa.Date()}
_ARROW_TYPES = {ColType.TEXT: pa.string(), ColType.INTEGER: pa.int64(),
                ColType.NUMBER: pa.float64(), ColType.DATE: pa.date32()}
_CODE_HINT = re.compile(r"(^|_)(id|code|no|num|year|month|zip)($|_)|编码|编号|代码|单号|年份|月份|邮编", re.I)


@dataclass(frozen=True)
class ExtColumn:
    name: str
    """Column name in the ext table: a slug, safe as an identifier."""
    label: str
    """The header as the file has it (shown to people)."""
    type: ColType
    role: Role

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "type": self.type.value, "role": self.role.value}


@dataclass(frozen=True)
class ExtDataset:
    table_name: str
    label_zh: str
    label_en: str
    columns: tuple[ExtColumn, ...]
    time_column: str
    source: str | None = None
    row_count: int | None = None
    created_by: str | None = None
    created_at: dt.datetime | None = None


# ---- names and types ---------------------------------------------------------------------------

def slugify(text: str, fallback: str = "col") -> str:
    """A lower-case ``[a-z0-9_]`` identifier from any header; ``fallback`` when nothing is left.

    >>> slugify("Unit Price (CNY)"), slugify("２０２４ Sales"), slugify("城市", "c3"), slugify("__a__b__")
    ('unit_price_cny', 'x2024_sales', 'c3', 'a_b')
    """
    text = unicodedata.normalize("NFKC", str(text)).lower()
    slug = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    slug = slug[:MAX_IDENT].strip("_")
    if not slug:
        return fallback
    return slug if slug[0].isalpha() else f"x{slug}"[:MAX_IDENT]


def table_name(name: str) -> str:
    """``ext_<slug>`` of a dataset name; refuses a name with no letters or digits to keep.

    >>> table_name("Store visits 2025")
    'ext_store_visits_2025'
    """
    slug = slugify(name, "")
    if not slug:
        raise InvalidArgument(
            f"The dataset name {name!r} needs Latin letters or digits (it becomes the table name ext_…).",
            f"数据集名称 {name!r} 需要包含英文字母或数字（用作表名 ext_…）。")
    return PREFIX + slug.removeprefix(PREFIX)


def _numbers(s: pd.Series) -> pd.Series:
    """Numbers as finance writes them (``lib.core.values.parse_numbers``: 1,234 · ¥ · (1,234) · 5% · full width); NaN if not one."""
    if pd.api.types.is_numeric_dtype(s):
        return pd.Series(s, dtype="float64")
    values, _bad = parse_numbers(s.fillna("").astype(str))
    return pd.Series(values, index=s.index)


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S")
_DATEISH = re.compile(r"^\s*\d{4}([-/.年]\d{1,2}|\d{4}$)")
SAMPLE = 2000
"""Rows a column's type is guessed from; the whole column is then checked against the guess."""


def _dates(s: pd.Series) -> pd.Series:
    """Dates from text in the usual Chinese and ISO forms (no Excel serials: an id is not a date); NaT if not one."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.normalize()
    text = s.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    for f in _DATE_FORMATS:
        todo = out.isna() & text.notna()
        if not todo.any():
            break
        out[todo] = pd.to_datetime(text[todo], format=f, errors="coerce")
    return out


def _blank(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype("string").str.strip() == "").fillna(True)


def _guess(filled: pd.Series) -> ColType:
    if pd.api.types.is_bool_dtype(filled):
        return ColType.TEXT
    if pd.api.types.is_datetime64_any_dtype(filled):
        return ColType.DATE
    numeric = pd.api.types.is_numeric_dtype(filled)
    text = filled.astype("string")
    if not numeric and text.str.match(_DATEISH).all() and _dates(filled).notna().all():
        return ColType.DATE
    if not numeric and text.str.match(r"\s*0\d").any():
        return ColType.TEXT  # codes with leading zeros (门店编码 001) stay text
    nums = _numbers(filled)
    if nums.notna().all():
        whole = bool((nums == nums.round()).all()) and nums.abs().max() < 2 ** 53
        return ColType.INTEGER if whole and (numeric or not text.str.contains(r"[.%]").any()) else ColType.NUMBER
    return ColType.TEXT


def infer_type(s: pd.Series) -> ColType:
    """The narrowest type every non-blank value of ``s`` fits: date, integer, number, else text.

    Guessed from the first rows, then checked on the whole column (a late value that does not fit
    widens the type: integer → number → text), so no value is ever dropped on import.
    """
    filled = s[~_blank(s)]
    if filled.empty:
        return ColType.TEXT
    guess = _guess(filled.head(SAMPLE))
    if len(filled) <= SAMPLE or guess is ColType.TEXT:
        return guess
    if guess is ColType.DATE:
        return ColType.DATE if _dates(filled).notna().all() else ColType.TEXT
    return _guess(filled)  # numbers: the whole column decides integer, number or text (vectorised)


def infer_columns(frame: pd.DataFrame) -> tuple[ExtColumn, ...]:
    """Slugged names, types and default roles of a file's columns.

    The first date column is the dataset's time; text and other dates are dimensions; numbers are
    measures unless the header reads like a code or id (编码, 单号, id, year …).
    """
    used = {IMPORTED_ON}
    out, has_time = [], False
    for i, header in enumerate(frame.columns):
        base = slugify(header, f"c{i + 1}")
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        ctype = infer_type(frame[header])
        if ctype is ColType.DATE:
            role = Role.DIMENSION if has_time else Role.TIME
            has_time = True
        elif ctype in (ColType.INTEGER, ColType.NUMBER) and not _CODE_HINT.search(str(header)):
            role = Role.MEASURE
        else:
            role = Role.DIMENSION
        out.append(ExtColumn(name, str(header), ctype, role))
    return tuple(out)


def with_roles(columns: tuple[ExtColumn, ...], roles: dict[str, Role | str]) -> tuple[ExtColumn, ...]:
    """``columns`` with the roles people chose (by column name), checked against each column's type."""
    out = []
    for c in columns:
        role = Role(roles.get(c.name, c.role))
        if role is Role.MEASURE and c.type not in (ColType.INTEGER, ColType.NUMBER):
            raise InvalidArgument(f"Column {c.label!r} holds {c.type.value}, not numbers: it can't be a measure.",
                                  f"列“{c.label}”不是数值，不能作为度量。")
        if role is Role.TIME and c.type is not ColType.DATE:
            raise InvalidArgument(f"Column {c.label!r} holds {c.type.value}, not dates: it can't be the time column.",
                                  f"列“{c.label}”不是日期，不能作为时间列。")
        out.append(replace(c, role=role))
    if sum(c.role is Role.TIME for c in out) > 1:
        raise InvalidArgument("Choose one time column.", "只能选择一个时间列。")
    return tuple(out)


def _typed(frame: pd.DataFrame, columns: tuple[ExtColumn, ...], today: dt.date) -> pa.Table:
    """The frame as typed Arrow columns (blank → NULL), plus ``imported_on``; vectorised, no per-cell Python."""
    arrays, names = [], []
    for header, c in zip(frame.columns, columns):
        s = frame[header].where(~_blank(frame[header]))
        if c.type is ColType.DATE:
            arr = pa.array(_dates(s).astype("datetime64[us]"), from_pandas=True).cast(pa.date32())
        elif c.type in (ColType.INTEGER, ColType.NUMBER):
            arr = pa.array(_numbers(s).to_numpy(), from_pandas=True)
            arr = arr.cast(pa.int64()) if c.type is ColType.INTEGER else arr
        else:
            arr = pa.array(s.astype("string").str.slice(0, 500), from_pandas=True)
        arrays.append(arr.cast(_ARROW_TYPES[c.type]))
        names.append(c.name)
    arrays.append(pa.array(np.full(len(frame), np.datetime64(today, "D"))).cast(pa.date32()))
    names.append(IMPORTED_ON)
    return pa.Table.from_arrays(arrays, names=names)


def table_def(table: str, columns: tuple[ExtColumn, ...], metadata: sa.MetaData | None = None) -> sa.Table:
    """The SQLAlchemy definition of an ext table (its own MetaData: never the canonical model's)."""
    if not re.fullmatch(rf"{PREFIX}[a-z][a-z0-9_]{{0,{MAX_IDENT}}}", table):
        raise InvalidArgument(f"{table!r} is not an ext table name.", f"{table!r} 不是有效的外部表名。")
    cols = [sa.Column(c.name, _SQL_TYPES[c.type]) for c in columns]
    return sa.Table(table, metadata or sa.MetaData(), *cols, sa.Column(IMPORTED_ON, sa.Date, nullable=False))


# ---- the registry ------------------------------------------------------------------------------

def _row_to_dataset(r) -> ExtDataset:
    cols = tuple(ExtColumn(c["name"], c["label"], ColType(c["type"]), Role(c["role"])) for c in json.loads(r.columns))
    return ExtDataset(r.table_name, r.label_zh, r.label_en, cols, r.time_column, r.source, r.row_count,
                      r.created_by, r.created_at)


def registered(engine: sa.Engine) -> list[ExtDataset]:
    """Every registered ext dataset, by table name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ext_dataset).order_by(ext_dataset.c.table_name)).all()
    return [_row_to_dataset(r) for r in rows]


def get(engine: sa.Engine, table: str) -> ExtDataset:
    found = [d for d in registered(engine) if d.table_name == table]
    if not found:
        known = ", ".join(d.table_name for d in registered(engine)) or "none"
        raise InvalidArgument(f"No registered dataset {table!r}. Registered: {known}.",
                              f"没有已登记的数据集 {table!r}。已登记：{known}。")
    return found[0]


def _time_of(columns: tuple[ExtColumn, ...]) -> str:
    return next((c.name for c in columns if c.role is Role.TIME), IMPORTED_ON)


def import_as_is(engine: sa.Engine, user: User, frame: pd.DataFrame, name: str, *, label_zh: str | None = None,
                 label_en: str | None = None, columns: tuple[ExtColumn, ...] | None = None,
                 source: str | None = None, replace_existing: bool = False,
                 today: dt.date | None = None) -> ExtDataset:
    """Load ``frame`` into a new ``ext_<slug of name>`` table and register it, in one transaction.

    ``columns`` (from :func:`infer_columns`, roles possibly edited) must match ``frame``'s columns in
    order. An existing dataset of the same name is refused unless ``replace_existing``.
    """
    user = auth.load_user(engine, user.username)  # a role taken away a moment ago counts
    auth.require(user, "import_data")
    table = table_name(name)
    columns = columns or infer_columns(frame)
    if len(columns) != len(frame.columns):
        raise InvalidArgument(f"{len(columns)} column definitions for a file of {len(frame.columns)} columns.",
                              f"列定义 {len(columns)} 个，而文件有 {len(frame.columns)} 列。")
    columns = with_roles(columns, {})
    if frame.empty:
        raise InvalidArgument("The file has no rows to import.", "文件没有可导入的数据行。")
    data = _typed(frame, columns, today or clock.today())
    now = clock.now()
    t = table_def(table, columns)
    with engine.begin() as conn:
        exists = conn.execute(sa.select(ext_dataset.c.table_name).where(ext_dataset.c.table_name == table)).first()
        if exists or sa.inspect(conn).has_table(table):
            if not replace_existing:
                raise InvalidArgument(f"A dataset {table} already exists: choose another name or replace it.",
                                      f"数据集 {table} 已存在：请换一个名称，或选择替换。")
            t.drop(conn, checkfirst=True)
            conn.execute(ext_dataset.delete().where(ext_dataset.c.table_name == table))
        t.create(conn)
        store.bulk_load(conn, t, data)
        ds = ExtDataset(table, (label_zh or name).strip()[:200], (label_en or label_zh or name).strip()[:200], columns,
                        _time_of(columns), source, data.num_rows, user.username, now)
        conn.execute(ext_dataset.insert().values(
            table_name=table, label_zh=ds.label_zh, label_en=ds.label_en,
            columns=json.dumps([c.to_dict() for c in columns], ensure_ascii=False), time_column=ds.time_column,
            source=(source or "")[:300] or None, row_count=data.num_rows, created_by=user.username,
            created_at=now, updated_at=clock.now_precise()))  # to the microsecond: it versions the cached model
        audit.record(conn, user.username, "import", table,
                     {"kind": "dataset", "rows": data.num_rows, "file": source}, "data page")
    return ds


def set_roles(engine: sa.Engine, user: User, table: str, roles: dict[str, Role | str],
              label_zh: str | None = None, label_en: str | None = None) -> ExtDataset:
    """Change the roles (and labels) of a registered dataset's columns."""
    user = auth.load_user(engine, user.username)
    auth.require(user, "import_data")
    ds = get(engine, table)
    columns = with_roles(ds.columns, roles)
    ds = replace(ds, columns=columns, time_column=_time_of(columns),
                 label_zh=(label_zh or ds.label_zh).strip()[:200], label_en=(label_en or ds.label_en).strip()[:200])
    with engine.begin() as conn:
        conn.execute(ext_dataset.update().where(ext_dataset.c.table_name == table).values(
            columns=json.dumps([c.to_dict() for c in columns], ensure_ascii=False), time_column=ds.time_column,
            label_zh=ds.label_zh, label_en=ds.label_en, updated_at=clock.now_precise()))
    return ds


def drop(engine: sa.Engine, user: User, table: str) -> None:
    """Unregister a dataset and drop its table, in one transaction."""
    user = auth.load_user(engine, user.username)
    auth.require(user, "import_data")
    ds = get(engine, table)
    with engine.begin() as conn:
        table_def(ds.table_name, ds.columns).drop(conn, checkfirst=True)
        conn.execute(ext_dataset.delete().where(ext_dataset.c.table_name == table))
        audit.record(conn, user.username, "import", table, {"kind": "dataset_drop"}, "data page")


# ---- the semantic layer's view -----------------------------------------------------------------

def document(ds: ExtDataset) -> dict:
    """One registered dataset as a semantic YAML document: its dataset, dimensions and simple metrics.

    Ids are derived from the table and column slugs (``ext_visits_city``); every measure gets a
    ``sum``, and the dataset a row count (``ext_visits_rows``).
    """
    dsid = ds.table_name
    dims, dim_refs, metrics = {}, {}, []
    for c in ds.columns:
        cid = f"{dsid}_{c.name}"
        if c.role is Role.DIMENSION:
            dims[cid] = {"label_zh": c.label, "label_en": c.label, "group": dsid}
            dim_refs[cid] = c.name
        elif c.role is Role.MEASURE:
            metrics.append({
                "id": cid, "label_zh": f"{c.label}（{ds.label_zh}）", "label_en": f"{c.label} ({ds.label_en})",
                "description": f"数据集“{ds.label_zh}”（{dsid}）中“{c.label}”列的合计。原样导入，未经口径审核。",
                "owner": ds.created_by or "—", "status": "published", "type": "simple", "dataset": dsid,
                "expr": f"sum({c.name})", "format": "number", "decimals": 2 if c.type is ColType.NUMBER else 0})
    rows_id = f"{dsid}_rows"
    if rows_id not in dims and all(m["id"] != rows_id for m in metrics):
        metrics.append({
            "id": rows_id, "label_zh": f"行数（{ds.label_zh}）", "label_en": f"Rows ({ds.label_en})",
            "description": f"数据集“{ds.label_zh}”（{dsid}）的行数。", "owner": ds.created_by or "—",
            "status": "published", "type": "simple", "dataset": dsid, "expr": f"count({IMPORTED_ON})",
            "format": "number", "decimals": 0})
    return {
        "dimensions": dims,
        "datasets": {dsid: {"label_zh": ds.label_zh, "label_en": ds.label_en, "table": dsid, "kind": "flow",
                            "time": ds.time_column, "dimensions": dim_refs}},
        "metrics": metrics,
    }


def semantic_documents(engine: sa.Engine) -> tuple[list[tuple[str, dict]], dict[str, sa.Table]]:
    """The registered datasets as (file label, YAML-shaped document) pairs, with their table definitions.

    What ``semantic.load(documents=..., tables=...)`` takes (see the hook in the data-integration
    notes). Returns nothing when the registry table does not exist yet (an older store).
    """
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(ext_dataset.name):
            return [], {}
    docs, tables = [], {}
    for ds in registered(engine):
        docs.append((ds.table_name, document(ds)))
        tables[ds.table_name] = table_def(ds.table_name, ds.columns)
    return docs, tables


def valid_documents(engine: sa.Engine) -> tuple[list[tuple[str, dict]], dict[str, sa.Table]]:
    """:func:`semantic_documents` without those that don't load with the YAML model (e.g. an id that
    clashes with a declared one), so one bad registration never takes the metric center down."""
    from lib.semantic import model as semantic
    docs, tables = semantic_documents(engine)
    if not docs:
        return docs, tables
    try:
        semantic.load(documents=docs, tables=tables)
        return docs, tables
    except semantic.SemanticError:
        pass
    good: list[tuple[str, dict]] = []
    for doc in docs:
        try:
            semantic.load(documents=[*good, doc], tables=tables)
            good.append(doc)
        except semantic.SemanticError:
            continue
    return good, {name: tables[name] for name, _ in good}
