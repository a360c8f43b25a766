"""Canonical rows per target table: which fields feed which stored columns, and the checks on them.

Sales lines keep the identity net_revenue = quantity × list_price − discount_amount: a file may give
the price, the revenue or both (then they must agree within a tolerance), tax-inclusive or not
(net = gross / (1 + tax rate), the rate from a column or the import's setting).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from lib.core import clock, schema
from lib.ingest.mapping import ALTERNATIVES, ImportOptions, Mapping, field_of, fields
from lib.ingest.read import parse_dates, parse_numbers
from lib.ingest.rows import (
    ACCOUNT_TYPES,
    DIM_LABELS,
    KEYS,
    ORG_KINDS,
    Problem,
    Problems,
    Resolver,
    guess_account_type,
    store_duplicates,
)


def stored_columns(table: str) -> list[str]:
    return [c.name for c in schema.metadata.tables[table].columns if c.name != "batch_id"]


class RowBuilder:
    """Builds the stored rows of one import, chunk after chunk; problems go to ``problems``."""

    def __init__(self, table: str, mapping: Mapping, options: ImportOptions, resolver: Resolver,
                 problems: Problems, file_hash: str = "", header_row: int = 0) -> None:
        self.table, self.mapping, self.options, self.resolver, self.problems = table, mapping, options, resolver, problems
        self.tag = (file_hash or "0" * 8)[:8]
        self.first_row = header_row + 2            # the spreadsheet row of the first data row
        self.line_counter: dict[str, int] = {}
        self.key_hashes: list[np.ndarray] = []
        self.key_rows: list[np.ndarray] = []
        self.date_max = options.date_max or clock.today() + dt.timedelta(days=366)

    # ---- column checks -----------------------------------------------------------------------

    def check_columns(self, columns: tuple[str, ...]) -> bool:
        """Report required fields with no column (or a column the file lacks); True when all are there."""
        m, ok = self.mapping, True
        for name, source in m.columns.items():
            if source not in columns:
                f = field_of(self.table, name)
                self._missing(f"{f.label_zh} ← {source}", f"{f.label_en} ← {source}")
                ok = False
        for f in fields(self.table):
            alts = ALTERNATIVES.get((self.table, f.name), ())
            if not f.required or f.name in m.columns or any(a in m.columns for a in alts):
                continue
            if f.name == "org_unit" and self.options.default_org_unit:
                continue
            self._missing(f.label_zh, f.label_en)
            ok = False
        if self.table == "sales_line" and not any(
                n in m.columns for n in ("list_price", "price_incl_tax", "net_revenue", "amount_incl_tax")):
            self._missing("单价或金额（无税金额/价税合计）", "price or revenue (net amount / amount incl. tax)")
            ok = False
        if self.table == "budget_line" and "version" not in m.columns and not self.options.budget_version:
            self._missing("预算版本（列或导入设置）", "budget version (a column or the import setting)")
            ok = False
        return ok

    def _missing(self, zh: str, en: str) -> None:
        self.problems.counts[Problem.MISSING_COLUMN.name] += 1
        self.problems.rows.append((None, "", "", Problem.MISSING_COLUMN.value[0].format(x=zh),
                                   Problem.MISSING_COLUMN.value[1].format(x=en), Problem.MISSING_COLUMN.name))

    # ---- field access ------------------------------------------------------------------------

    def _src(self, name: str) -> str | None:
        return self.mapping.source(name)

    def txt(self, name: str, required: bool = False) -> pd.Series | None:
        src = self._src(name)
        if src is None:
            return None
        s = self.chunk[src].astype(str).str.strip()
        if required:
            self._empty(s == "", src)
        return s

    def _empty(self, mask, src: str) -> None:
        mask = np.asarray(mask)
        if mask.any():
            self.problems.add(Problem.EMPTY, self.rows[mask], src, np.full(mask.sum(), ""))

    def num(self, name: str, required: bool = False, nonneg: bool = False) -> np.ndarray | None:
        src = self._src(name)
        if src is None:
            return None
        raw = self.chunk[src]
        vals, bad = parse_numbers(raw)
        if bad.any():
            self.problems.add(Problem.BAD_NUMBER, self.rows[bad], src, raw.to_numpy()[bad])
        if required:
            self._empty(np.isnan(vals) & ~bad, src)
        if nonneg:
            neg = vals < 0
            if neg.any():
                self.problems.add(Problem.NEGATIVE, self.rows[neg], src, raw.to_numpy()[neg])
        return vals

    def date(self, name: str, required: bool = False) -> np.ndarray | None:
        src = self._src(name)
        if src is None:
            return None
        raw = self.chunk[src]
        vals, bad = parse_dates(raw)
        if bad.any():
            self.problems.add(Problem.BAD_DATE, self.rows[bad], src, raw.to_numpy()[bad])
        if required:
            self._empty(np.isnat(vals) & ~bad, src)
        lo, hi = np.datetime64(self.options.date_min, "D"), np.datetime64(self.date_max, "D")
        out = ~np.isnat(vals) & ((vals < lo) | (vals > hi))
        if out.any():
            self.problems.add(Problem.DATE_RANGE, self.rows[out], src, raw.to_numpy()[out], x=f"{lo} – {hi}")
        return vals

    def dim(self, name: str, dim: str, required: bool = True, names: pd.Series | None = None,
            extra: dict | None = None) -> np.ndarray:
        src = self._src(name)
        if src is None and name == "org_unit" and self.options.default_org_unit:
            values = pd.Series([self.options.default_org_unit] * len(self.chunk))
            src = name
        elif src is None:
            return np.full(len(self.chunk), np.nan)
        else:
            values = self.chunk[src]
            if required:
                self._empty(values.astype(str).str.strip() == "", src)
        ids, unknown = self.resolver.resolve(dim, values, names, extra)
        if unknown.any():
            self._unknown(unknown, src, values, *DIM_LABELS[dim])
        return ids

    def _unknown(self, mask, src, values, zh, en) -> None:
        rows, vals = self.rows[mask], values.to_numpy()[mask]
        self.problems.counts[Problem.UNKNOWN.name] += len(rows)
        room = max(self.problems.cap - len(self.problems.rows), 0)
        for r, v in zip(rows[:room], vals[:room]):
            self.problems.rows.append((int(r), src, str(v), Problem.UNKNOWN.value[0].format(x=zh),
                                       Problem.UNKNOWN.value[1].format(x=en), Problem.UNKNOWN.name))

    def _line_no(self, keys: pd.Series, name: str = "line_no") -> np.ndarray:
        given = self.num(name)
        if given is not None:
            self._empty(np.isnan(given), self._src(name))
            return given
        # Line numbers within each order, continuing across chunks.
        k = keys.reset_index(drop=True)
        seq = k.groupby(k, sort=False).cumcount().to_numpy() + 1
        offset = k.map(self.line_counter).fillna(0).to_numpy()
        counts = k.value_counts(sort=False)
        for key, n in counts.items():
            self.line_counter[key] = self.line_counter.get(key, 0) + int(n)
        return seq + offset

    def _doc_no(self, name: str, required: bool = False) -> pd.Series:
        s = self.txt(name, required=required)
        if s is None:
            return pd.Series([f"{self.tag}-{r}" for r in self.rows])
        return s

    # ---- building ----------------------------------------------------------------------------

    def build(self, chunk: pd.DataFrame, offset: int) -> pd.DataFrame:
        """The stored rows of ``chunk`` (data rows ``offset``… of the file)."""
        self.chunk = chunk.reset_index(drop=True)
        self.rows = self.first_row + offset + np.arange(len(chunk))
        out = getattr(self, f"_{self.table}")()
        frame = pd.DataFrame({c: out[c] for c in stored_columns(self.table)})
        table = schema.metadata.tables[self.table]
        for c in frame.columns:  # whole numbers as integers, so the preview shows 3, not 3.0
            if isinstance(table.c[c].type, sa.Integer) and pd.api.types.is_float_dtype(frame[c]):
                frame[c] = frame[c].round().astype("Int64")
        self._lengths(frame)
        self._remember_keys(frame)
        return frame

    def _org(self) -> np.ndarray:
        return self.dim("org_unit", "org_unit")

    def _sales_line(self) -> dict:
        o, n = self.options, len(self.chunk)
        org = self._org()
        cust = self.dim("customer", "customer", names=self.txt("customer_name"), extra={"org_unit_id": org})
        prod = self.dim("product", "product", names=self.txt("product_name"), extra={"category": self.txt("category")})
        date = self.date("order_date", required=True)
        q = self.num("quantity", required=True, nonneg=not o.allow_negative_quantity)
        rate = self.num("tax_rate")
        rate = np.full(n, o.tax_rate or 0.0) if rate is None else np.where(np.isnan(rate), o.tax_rate or 0.0, rate)
        rate = np.where(rate > 1, rate / 100, rate)        # "13" in a rate column means 13 %
        gf = 1 + rate
        incl = o.prices_include_tax
        price, gross_price = self.num("list_price"), False
        if price is not None and incl:
            price, gross_price = price / gf, True
        elif price is None and (p := self.num("price_incl_tax")) is not None:
            price, gross_price = p / gf, True
        disc = self.num("discount_amount")
        disc = np.zeros(n) if disc is None else np.nan_to_num(disc)
        if gross_price:
            disc = disc / gf
        net = self.num("net_revenue")
        if net is not None and incl:
            net = net / gf
        elif net is None and (g := self.num("amount_incl_tax")) is not None:
            net = g / gf
        qz = np.nan_to_num(q)
        if price is None:
            price = np.full(n, np.nan)
        if net is None:
            net = np.full(n, np.nan)
        both = ~np.isnan(price) & ~np.isnan(net) & ~np.isnan(q)
        tol = 1.0 + o.revenue_tolerance * np.abs(np.nan_to_num(net)) + 0.005 * np.abs(qz)
        diff = np.nan_to_num(net - (qz * price - disc))
        off = both & (np.abs(diff) > tol)
        if off.any():
            src = self._src("net_revenue") or self._src("amount_incl_tax")
            for r, v, d in zip(self.rows[off], net[off], diff[off]):
                self.problems.add(Problem.REVENUE, r, src, f"{v:.2f}", x=f"{d:,.2f}")
        no_net = np.isnan(net) & ~np.isnan(price)
        net = np.where(no_net, qz * price - disc, net)
        no_price = np.isnan(price) & ~np.isnan(net)
        price = np.where(no_price & (qz != 0), (net + disc) / np.where(qz == 0, 1, qz), price)
        zero_q = no_price & (qz == 0)
        price, disc = np.where(zero_q, 0.0, price), np.where(zero_q, -net, disc)
        neither = np.isnan(price) & np.isnan(net)
        self._empty(neither, self._src("net_revenue") or self._src("list_price") or "net_revenue")
        cost = self.num("cost_amount", required=self._src("unit_cost") is None)
        if cost is None:
            uc = self.num("unit_cost", required=True)
            cost = None if uc is None else uc * qz
        order_no = self._doc_no("order_no")
        channel = self.txt("channel")
        return {"order_no": order_no, "line_no": self._line_no(order_no), "order_date": date,
                "org_unit_id": org, "customer_id": cust, "product_id": prod,
                "channel": channel if channel is not None else pd.Series([None] * n, dtype=object),
                "quantity": np.round(q, 3), "list_price": np.round(price, 4), "discount_amount": np.round(disc, 2),
                "net_revenue": np.round(net, 2), "cost_amount": np.round(cost, 2) if cost is not None else np.full(n, np.nan)}

    def _journal_line(self) -> dict:
        n = len(self.chunk)
        org = self._org()
        acct = self.dim("account", "account", names=self.txt("account_name"))
        date = self.date("posting_date", required=True)
        amount = self.num("amount", required=True)
        if amount is None:
            d, c = self.num("debit"), self.num("credit")
            d = np.zeros(n) if d is None else np.nan_to_num(d)
            c = np.zeros(n) if c is None else np.nan_to_num(c)
            revenue = np.array([self.resolver.account_type.get(a) == "revenue" for a in acct])
            amount = np.where(revenue, c - d, d - c)
        entry = self._doc_no("entry_no")
        source, desc = self.txt("source"), self.txt("description")
        return {"entry_no": entry, "line_no": self._line_no(entry), "posting_date": date, "account_code": acct,
                "org_unit_id": org, "amount": np.round(amount, 2),
                "source": source if source is not None else pd.Series(["import"] * n),
                "description": desc if desc is not None else pd.Series([None] * n, dtype=object)}

    def _budget_line(self) -> dict:
        n = len(self.chunk)
        if self._src("version"):
            version = self.dim("version", "budget_version")
        else:
            version, _ = self.resolver.resolve("budget_version", pd.Series([self.options.budget_version or ""] * n))
            if n and np.isnan(version[0]):
                self._unknown(np.ones(n, bool), "budget_version", pd.Series([self.options.budget_version] * n),
                              *DIM_LABELS["budget_version"])
        # Only drafts take lines: approved and locked versions are what the budget metric reports, and
        # a submitted one is under review (the same rule as lib.finance.budget_versions).
        locked = np.array([self.resolver.version_status.get(int(v)) != "draft" if not np.isnan(v) else False
                           for v in version], dtype=bool)
        if locked.any():
            self.problems.add(Problem.LOCKED, self.rows[locked], self._src("version") or "budget_version", version[locked])
        period = self.date("period", required=True)
        period = period.astype("datetime64[M]").astype("datetime64[D]")
        return {"version_id": version, "period": period, "org_unit_id": self._org(),
                "account_code": self.dim("account", "account", names=self.txt("account_name")),
                "amount": np.round(self.num("amount", required=True), 2)}

    def _ar_invoice(self) -> dict:
        org = self._org()
        cust = self.dim("customer", "customer", names=self.txt("customer_name"), extra={"org_unit_id": org})
        inv, due = self.date("invoice_date", required=True), self.date("due_date", required=True)
        amount = self.num("amount", required=True)
        paid = self.num("paid_amount", nonneg=True)
        paid = np.zeros(len(self.chunk)) if paid is None else np.nan_to_num(paid)
        over = paid > np.nan_to_num(amount) + 0.005
        if over.any():
            self.problems.add(Problem.PAID_EXCEEDS, self.rows[over], self._src("paid_amount"), paid[over])
        early = ~np.isnat(inv) & ~np.isnat(due) & (due < inv)
        if early.any():
            self.problems.add(Problem.DUE_BEFORE, self.rows[early], self._src("due_date"), due[early].astype(str))
        paid_date = self.date("paid_date")
        return {"invoice_no": self.txt("invoice_no", required=True), "customer_id": cust, "org_unit_id": org,
                "invoice_date": inv, "due_date": due, "amount": np.round(amount, 2), "paid_amount": np.round(paid, 2),
                "paid_date": paid_date if paid_date is not None else np.full(len(self.chunk), np.datetime64("NaT"), "datetime64[D]")}

    def _inventory_snapshot(self) -> dict:
        prod = self.dim("product", "product", names=self.txt("product_name"), extra={"category": self.txt("category")})
        return {"period_end": self.date("period_end", required=True), "product_id": prod, "org_unit_id": self._org(),
                "quantity": np.round(self.num("quantity", required=True, nonneg=True), 3),
                "value": np.round(self.num("value", required=True, nonneg=True), 2)}

    # ---- dimension tables --------------------------------------------------------------------

    def _new_ids(self, dim: str) -> np.ndarray:
        self.resolver._load(dim)
        start = self.resolver.next_id[dim]
        self.resolver.next_id[dim] += len(self.chunk)
        return np.arange(start, start + len(self.chunk))

    def _opt(self, name: str) -> pd.Series:
        s = self.txt(name)
        return pd.Series([None] * len(self.chunk), dtype=object) if s is None else s.where(s != "", None)

    def _choice(self, name: str, values: pd.Series, table: dict[str, str], valid: tuple[str, ...],
                default: pd.Series) -> pd.Series:
        mapped = values.map(lambda v: v if v in valid else table.get(v, table.get(str(v).lower())))
        bad = values.notna() & (values != "") & mapped.isna()
        if bad.any():
            self.problems.add(Problem.BAD_VALUE, self.rows[bad.to_numpy()], self._src(name), values[bad].to_numpy(),
                              x="、".join(valid))
        return mapped.where(values.notna() & (values != ""), default)

    def _org_unit(self) -> dict:
        code, name = self.txt("code", required=True), self.txt("name", required=True)
        ids = self._new_ids("org_unit")
        by_code, by_name = self.resolver._load("org_unit")
        file_code = dict(zip(code, ids))
        file_name = dict(zip(name, ids))
        parent = self._opt("parent")
        pid = parent.map(lambda p: None if p is None else file_code.get(p, by_code.get(p, file_name.get(p, by_name.get(p)))))
        unknown = (parent.notna() & pid.isna()).to_numpy()
        if unknown.any():
            self._unknown(unknown, self._src("parent"), parent, "上级组织", "parent unit")
        kinds = ("company", "region", "department", "store", "cost_center")
        default = pd.Series(np.where(parent.isna(), "company", "department"))
        kind = self._choice("kind", self._opt("kind"), ORG_KINDS, kinds, default)
        return {"id": ids, "code": code, "name": name, "name_en": self._opt("name_en"),
                "parent_id": pid.astype("float64"), "kind": kind}

    def _product(self) -> dict:
        cat = self._opt("category")
        return {"id": self._new_ids("product"), "sku": self.txt("sku", required=True),
                "name": self.txt("name", required=True), "category": cat.fillna("未分类"),
                "brand": self._opt("brand"), "unit": self._opt("unit")}

    def _customer(self) -> dict:
        org = self.dim("org_unit", "org_unit", required=False) if self._src("org_unit") else np.full(len(self.chunk), np.nan)
        days = self.num("credit_days", nonneg=True)
        return {"id": self._new_ids("customer"), "code": self.txt("code", required=True),
                "name": self.txt("name", required=True), "segment": self._opt("segment"), "region": self._opt("region"),
                "org_unit_id": org, "credit_days": np.full(len(self.chunk), np.nan) if days is None else days}

    def _account(self) -> dict:
        code = self.txt("code", required=True)
        types = ("revenue", "cogs", "opex", "other")
        typ = self._choice("type", self._opt("type"), ACCOUNT_TYPES, types, code.map(guess_account_type))
        by_code, _ = self.resolver._load("account")
        parent = self._opt("parent_code")
        known = set(code) | set(by_code)
        unknown = (parent.notna() & ~parent.isin(known)).to_numpy()
        if unknown.any():
            self._unknown(unknown, self._src("parent_code"), parent, "上级科目", "parent account")
        return {"code": code, "name": self.txt("name", required=True), "name_en": self._opt("name_en"),
                "type": typ, "parent_code": parent}

    # ---- row-set checks ----------------------------------------------------------------------

    def _lengths(self, frame: pd.DataFrame) -> None:
        for col in schema.metadata.tables[self.table].columns:
            n = getattr(col.type, "length", None)
            if n and col.name in frame and not pd.api.types.is_numeric_dtype(frame[col.name]):
                long = frame[col.name].astype(str).str.len().to_numpy() > n
                long &= frame[col.name].notna().to_numpy()
                if long.any():
                    self.problems.add(Problem.TOO_LONG, self.rows[long], self._src_of(col.name),
                                      frame[col.name].to_numpy()[long], x=n)

    def _src_of(self, column: str) -> str:
        for name in (column, column.removesuffix("_id"), column.removesuffix("_code")):
            if self._src(name):
                return self._src(name)
        return column

    def _remember_keys(self, frame: pd.DataFrame) -> None:
        keys = frame[list(KEYS[self.table])]
        self.key_hashes.append(pd.util.hash_pandas_object(keys, index=False).to_numpy())
        self.key_rows.append(self.rows.copy())

    def finish(self) -> None:
        """Report keys repeated within the file (across every chunk)."""
        if not self.key_hashes:
            return
        h, rows = np.concatenate(self.key_hashes), np.concatenate(self.key_rows)
        _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
        dup = counts[inverse] > 1
        if dup.any():
            key = "+".join(KEYS[self.table])
            self.problems.add(Problem.DUPLICATE_FILE, rows[dup], key, rows[dup], x=f"({key})")


__all__ = ["ALTERNATIVES", "RowBuilder", "stored_columns", "store_duplicates"]
