"""The demo company (示例消费品公司): a deterministic, realistic business-finance data set.

Driven by ``data/demo.yaml``. Sales lines are generated month by month with numpy (memory stays
at one month's lines whatever the size) and bulk-loaded; GL, budgets, receivables and inventory
are derived from the sales so that they tie: GL revenue and COGS equal the sales lines per month
and unit, invoices sum to sales, inventory flows never go negative.

The same (rows, seed, as_of) always gives the same data.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
import yaml

from lib.access import auth
from lib.core import clock, config, schema, store
from lib.core.errors import InvalidArgument
from lib.explore import dashboards
from lib.performance.alerts import admin as alert_admin
from lib.performance.alerts import center as alerts
from lib.performance.notify import outbox as notify
from lib.performance.scorecards import center as scorecard

DEFAULT_ROWS = 500_000
DEFAULT_SEED = 20240601
MIN_ROWS = 1_000
MAX_ROWS = 50_000_000
DEMO_BATCH_ID = 1
CONFIG_FILE = config.DATA_DIR / "demo.yaml"


@dataclass(frozen=True)
class DemoResult:
    """What a demo build wrote and how long it took."""

    rows: dict[str, int]
    seconds: float
    start: dt.date
    end: dt.date
    story: dict[str, str] = field(default_factory=dict)


def load_settings(path: Path = CONFIG_FILE) -> dict:
    """The demo company's structure and drivers."""
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def build(engine: sa.Engine, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED,
          as_of: dt.date | None = None, replace: bool = False) -> DemoResult:
    """Generate the demo company with ``rows`` sales lines and load it into the store in one transaction.

    Data runs from 1 January three years before ``as_of`` (default: today) to the day before it.
    Refuses a store that already holds business data unless ``replace`` is set, in which case the
    old rows are deleted in the same transaction (all or nothing).
    """
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise InvalidArgument(
            f"--rows must be between {MIN_ROWS:,} and {MAX_ROWS:,}, got {rows:,}.",
            f"--rows 须在 {MIN_ROWS:,} 到 {MAX_ROWS:,} 之间，收到 {rows:,}。")
    as_of = as_of or clock.today()
    t0 = time.perf_counter()
    store.init_schema(engine)
    counts = store.row_counts(engine)
    if any(counts.values()) and not replace:
        raise InvalidArgument(
            "The store already holds data; use --replace to rebuild the demo company "
            "(this deletes every business row in the store).",
            "存储中已有数据；如需重建示例公司请加 --replace（将删除存储中的全部业务数据）。")
    settings = load_settings()
    gen = _Generator(settings, rows, seed, as_of)
    with engine.begin() as conn:
        if replace:
            store.clear_tables(conn, (*schema.CANONICAL_TABLES, schema.org_flat, schema.app_import_batch))
        conn.execute(schema.app_import_batch.insert().values(
            id=DEMO_BATCH_ID, kind="demo", source="lib.demo",
            note=f"rows={rows} seed={seed} as_of={as_of.isoformat()}",
            row_count=rows, created_at=clock.now_precise(), created_by="system"))
        with store.fact_indexes_rebuilt(conn):
            written = gen.write(conn)
        store.refresh_org_flat(conn)
        written["app_user (demo)"] = auth.replace_demo_users(conn, settings["demo_users"], settings["demo_password"])
    _after_load(engine)
    dashboards.seed_demo(engine)  # 经营总览, 销售与毛利, 费用与预算 (idempotent by title and owner)
    notify.seed_demo(engine)      # the demo users' e-mail addresses (.example: never delivered)
    scorecard.seed_demo(engine)   # templates, manual KPIs, the last complete quarter published with its bonus
    alert_admin.seed_demo(engine)  # rules that find the demo company's stories
    alerts.run_all(engine, as_of=as_of, by="system")  # so the alert center and the cockpit show them from the first start
    return DemoResult(rows=written, seconds=time.perf_counter() - t0, start=gen.start, end=gen.end,
                      story=gen.story())


def _after_load(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "duckdb":
            conn.exec_driver_sql("CHECKPOINT")
        elif engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def _cents_to_yuan(a: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(a, dtype=np.int64) / 100.0, type=pa.float64())


class _Generator:
    """Holds the dimensions and drivers; ``write`` streams every table into a connection."""

    def __init__(self, cfg: dict, rows: int, seed: int, as_of: dt.date) -> None:
        self.cfg, self.rows, self.seed, self.as_of = cfg, rows, seed, as_of
        self.start = dt.date(as_of.year - 3, 1, 1)
        self.end = as_of - dt.timedelta(days=1)
        if self.end < self.start:
            raise InvalidArgument("as_of is too early", "as_of 过早")
        self.days = pd.date_range(self.start, self.end, freq="D")
        self._build_org()
        self._build_products()
        self._build_customers()
        self._build_calendar()

    def rng(self, *key: int) -> np.random.Generator:
        """An independent stream per purpose, so one table's draws never shift another's."""
        return np.random.default_rng([self.seed, *key])

    # ---- dimensions -------------------------------------------------------------------------
    def _build_org(self) -> None:
        c = self.cfg
        rows = [dict(id=1, code=c["company"]["code"], name=c["company"]["name"],
                     name_en=c["company"]["name_en"], parent_id=None, kind="company")]
        units = []  # sales units
        self.region_of: dict[int, str] = {}
        self.region_ids: dict[str, int] = {}
        for reg in c["regions"]:
            rid = len(rows) + 1
            self.region_ids[reg["code"]] = rid
            rows.append(dict(id=rid, code=reg["code"], name=reg["name"], name_en=reg["name_en"],
                             parent_id=1, kind="region"))
            self.region_of[rid] = reg["code"]
            for u in reg["units"]:
                uid = len(rows) + 1
                rows.append(dict(id=uid, code=u["code"], name=u["name"], name_en=u["name_en"],
                                 parent_id=rid, kind=u["kind"]))
                self.region_of[uid] = reg["code"]
                units.append(dict(id=uid, code=u["code"], kind=u["kind"], size=u["size"],
                                  mix=u.get("mix", {"门店零售": 1.0}), region=reg["code"],
                                  region_name=reg["name"], growth=reg["growth"], cities=reg["cities"]))
        ho = c["head_office"]
        hid = len(rows) + 1
        rows.append(dict(id=hid, code=ho["code"], name=ho["name"], name_en=ho["name_en"],
                         parent_id=1, kind="department"))
        self.cost_centers: dict[str, int] = {}
        for cc in ho["cost_centers"]:
            cid = len(rows) + 1
            rows.append(dict(id=cid, code=cc["code"], name=cc["name"], name_en=cc["name_en"],
                             parent_id=hid, kind="cost_center"))
            self.cost_centers[cc["code"]] = cid
        self.org = pd.DataFrame(rows)
        self.units = units
        self.unit_ids = np.array([u["id"] for u in units], dtype=np.int32)

    def _build_products(self) -> None:
        rng = self.rng(1)
        rows, price, cost, weight, cat_idx = [], [], [], [], []
        brands = self.cfg["brands"]
        specs = ["经典装", "家庭装", "礼盒装", "便携装", "量贩装", "轻享装", "特惠装"]
        for ci, cat in enumerate(self.cfg["categories"]):
            n = cat["products"]
            lo, hi = cat["price"]
            p = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
            p = np.round(p, 0) - 0.1  # x.90 price points
            w = 1.0 / np.arange(1, n + 1) ** 0.8
            rng.shuffle(w)
            w = w / w.sum() * cat["share"]
            for k in range(n):
                item = cat["items"][k % len(cat["items"])]
                spec = specs[(k // len(cat["items"])) % len(specs)]
                brand = brands[(ci + k) % len(brands)]
                rows.append(dict(id=len(rows) + 1, sku=f"SKU{ci + 1:02d}{k + 1:03d}",
                                 name=f"{brand}{item}{spec}", category=cat["name"], brand=brand,
                                 unit="件"))
            price.extend(np.round(p * 100).astype(np.int64))
            cost.extend(cat["cost"] * rng.uniform(0.9, 1.1, n))
            weight.extend(w)
            cat_idx.extend([ci] * n)
        self.products = pd.DataFrame(rows)
        self.price_cents = np.array(price, dtype=np.int64)
        self.cost_ratio = np.array(cost)
        self.prod_weight = np.array(weight)
        self.prod_cat = np.array(cat_idx)

    def _build_customers(self) -> None:
        rng = self.rng(2)
        c = self.cfg
        seg_names = list(c["segments"])
        self.seg_names = seg_names
        words = ["恒信", "佳禾", "鼎盛", "华联", "永辉", "百润", "嘉和", "盛达", "汇通", "隆源", "万家", "福满",
                 "新世纪", "金桥", "宏远", "和顺", "瑞丰", "东方", "万象", "益民", "天成", "锦华", "兴隆", "安达"]
        suffix = {"经销商": "商贸有限公司", "商超": "超市连锁", "电商": "网络科技有限公司",
                  "大客户": "集团股份有限公司", "门店零售": "会员组"}
        depts = [u for u in self.units if u["kind"] != "store"]
        stores = [u for u in self.units if u["kind"] == "store"]
        n_store = c["store_customers_per_store"]
        n_dept = c["customers"] - n_store * len(stores)
        sizes = np.array([u["size"] for u in depts])
        alloc = np.floor(sizes / sizes.sum() * n_dept).astype(int)
        alloc[: n_dept - alloc.sum()] += 1
        rows, seg_idx, w = [], [], []
        used: set[str] = set()
        for u, n in [*zip(depts, alloc), *((s, n_store) for s in stores)]:
            mix = u["mix"]
            segs = rng.choice(list(mix), size=n, p=np.array(list(mix.values())) / sum(mix.values()))
            for s in segs:
                spec = c["segments"][s]
                if s == "门店零售":
                    name = f"{u['cities'][0]}{u['code']}散客{len([r for r in rows if r['org_unit_id'] == u['id']]) + 1:02d}{suffix[s]}"
                else:
                    for _ in range(100):
                        name = f"{rng.choice(u['cities'])}{rng.choice(words)}{rng.choice(words)}{suffix[s]}"
                        if name not in used:
                            break
                    else:
                        name = f"{name}{len(rows) + 1}"
                used.add(name)
                rows.append(dict(id=len(rows) + 1, code=f"C{len(rows) + 1:05d}", name=name, segment=s,
                                 region=u["region_name"], org_unit_id=u["id"],
                                 credit_days=int(rng.choice(spec["credit_days"]))))
                seg_idx.append(seg_names.index(s))
                w.append(rng.lognormal(0.0, 1.0))
        self.customers = pd.DataFrame(rows)
        self.cust_seg = np.array(seg_idx)
        self.cust_weight = np.array(w)
        self.cust_unit = self.customers["org_unit_id"].to_numpy()

    # ---- calendar and demand ----------------------------------------------------------------
    def _build_calendar(self) -> None:
        c = self.cfg
        days = self.days
        d = days.to_numpy()
        n_days = len(days)
        # Spring Festival: pre-holiday stocking, a deep dip, a slow recovery; its date moves.
        fest = np.array([np.datetime64(c["spring_festival"][y]) for y in days.year], dtype="datetime64[D]")
        nxt = np.array([np.datetime64(c["spring_festival"].get(y + 1, c["spring_festival"][y]))
                        for y in days.year], dtype="datetime64[D]")
        off1 = (d.astype("datetime64[D]") - fest).astype(int)
        off2 = (d.astype("datetime64[D]") - nxt).astype(int)
        off = np.where(np.abs(off2) < np.abs(off1), off2, off1)
        cny = np.ones(n_days)
        cny[(off >= -21) & (off <= -3)] = 1.3
        cny[(off >= -2) & (off <= 7)] = 0.35
        cny[(off >= 8) & (off <= 15)] = 0.8
        # 618 and Double 11 (and 12.12): promotion intensity per day.
        month, dom = days.month.to_numpy(), days.day.to_numpy()
        promo = np.zeros(n_days)
        promo[(month == 6) & (dom <= 17)] = 0.8
        promo[(month == 6) & (dom == 18)] = 3.0
        promo[(month == 11) & (dom <= 10)] = 1.0
        promo[(month == 11) & (dom == 11)] = 5.0
        promo[(month == 12) & (dom == 12)] = 0.5
        self.promo_day = promo > 0
        # Anomaly: one collapsed order day (an ERP outage) in a recent month.
        story = c["story"]["anomaly_day"]
        self.anomaly_day = _add_months(_month_start(self.as_of), -story["months_before"]).replace(day=story["day"])
        anomaly = np.where(d.astype("datetime64[D]") == np.datetime64(self.anomaly_day), story["factor"], 1.0)
        years = ((d - np.datetime64(self.start)) / np.timedelta64(1, "D")) / 365.25
        dow = days.day_of_week.to_numpy()
        # Category seasonality and trends change the mix and the month's volume.
        self.month_index = (days.year.to_numpy() - self.start.year) * 12 + month - 1
        self.n_months = int(self.month_index[-1]) + 1
        self.month_starts = [_add_months(self.start, m) for m in range(self.n_months)]
        self.prod_probs = np.zeros((self.n_months, len(self.prod_weight)))
        for m, ms in enumerate(self.month_starts):
            f = np.array([cat.get("season", {}).get(ms.month, 1.0) for cat in c["categories"]])[self.prod_cat]
            f = f * self._slow_moving_factor(ms)
            self.prod_probs[m] = self.prod_weight * f
        month_volume = self.prod_probs.sum(axis=1)
        self.prod_probs /= month_volume[:, None]
        W = np.zeros((n_days, len(self.units)))
        for j, u in enumerate(self.units):
            wk = np.array(c["weekday_factor"]["store" if u["kind"] == "store" else "department"])[dow]
            online = u["mix"].get("电商", 0.0) + (0.15 if u["kind"] == "store" else 0.05)
            W[:, j] = (u["size"] * (1 + u["growth"]) ** years * wk * cny * (1 + promo * online)
                       * anomaly * month_volume[self.month_index])
        self.cell_weight = W

    def _slow_moving_factor(self, ms: dt.date) -> np.ndarray:
        f = np.ones(len(self.prod_weight))
        for ci, cat in enumerate(self.cfg["categories"]):
            sm = cat.get("slow_moving")
            if sm:
                k = (ms.year - sm["start"].year) * 12 + ms.month - sm["start"].month
                share = min(max(k, 0), sm["months"]) / sm["months"]
                f[self.prod_cat == ci] = 1 - sm["decline"] * share
        return f

    def _price_factor(self, day: np.ndarray, product: np.ndarray) -> np.ndarray:
        f = np.ones(len(product))
        for ci, cat in enumerate(self.cfg["categories"]):
            pi = cat.get("price_increase")
            if pi:
                hit = (self.prod_cat[product] == ci) & (day >= np.datetime64(pi["date"]))
                f[hit] = 1 + pi["pct"]
        return f

    def _unit_cost_cents(self, ms: dt.date, product: np.ndarray) -> np.ndarray:
        years = (ms - self.start).days / 365.25
        f = np.full(len(product), (1 + self.cfg["cost_inflation"]) ** years)
        for ci, cat in enumerate(self.cfg["categories"]):
            sq = cat.get("margin_squeeze")
            if sq:
                k = (ms.year - sq["start"].year) * 12 + ms.month - sq["start"].month
                share = min(max(k, 0), sq["months"]) / sq["months"]
                f[self.prod_cat[product] == ci] *= 1 + sq["cost_up"] * share
        return self.price_cents[product] * self.cost_ratio[product] * f

    # ---- sales lines, month by month --------------------------------------------------------
    def write(self, conn: sa.Connection) -> dict[str, int]:
        written = {}
        for table, frame in (("org_unit", self.org), ("product", self.products),
                             ("customer", self.customers), ("account", self._accounts())):
            written[table] = store.bulk_load(conn, schema.metadata.tables[table],
                                             pa.Table.from_pandas(frame, preserve_index=False))
        counts = self.rng(3).multinomial(self.rows, (self.cell_weight / self.cell_weight.sum()).ravel())
        counts = counts.reshape(self.cell_weight.shape)
        self.unit_rev = np.zeros((self.n_months, len(self.units)), dtype=np.int64)
        self.unit_cogs = np.zeros_like(self.unit_rev)
        self.cust_rev = np.zeros((self.n_months, len(self.customers)), dtype=np.int64)
        self.qty = np.zeros((self.n_months, len(self.products), len(self.units)))
        n_sales = 0
        for m in range(self.n_months):
            in_month = np.flatnonzero(self.month_index == m)
            lines = self._month_lines(m, in_month, counts[in_month])
            n_sales += store.bulk_load(conn, schema.sales_line, lines)
        written["sales_line"] = n_sales
        self.last_day = self.end
        for table, frame in (("journal_line", self._journal()), ("budget_version", self._budget_versions()),
                             ("budget_line", self._budget()), ("ar_invoice", self._invoices()),
                             ("inventory_snapshot", self._inventory())):
            written[table] = store.bulk_load(conn, schema.metadata.tables[table],
                                             pa.Table.from_pandas(frame, preserve_index=False))
        return written

    def _month_lines(self, m: int, day_rows: np.ndarray, counts: np.ndarray) -> pa.Table:
        rng = self.rng(1000 + m)
        seg_cfg = [self.cfg["segments"][s] for s in self.seg_names]
        n_units = len(self.units)
        cell_day = np.repeat(day_rows, n_units)
        cell_unit = np.tile(np.arange(n_units), len(day_rows))
        flat = counts.ravel()
        n = int(flat.sum())
        if n == 0:
            return pa.table({})
        day_i = np.repeat(cell_day, flat)
        unit_j = np.repeat(cell_unit, flat)
        # Orders: a new order starts at every cell and then with probability 1 / lines per order.
        lpo = np.array([sum(w * self.cfg["segments"][s]["lines_per_order"] for s, w in u["mix"].items())
                        / sum(u["mix"].values()) for u in self.units])
        first_of_cell = np.zeros(n, dtype=bool)
        first_of_cell[np.concatenate(([0], np.cumsum(flat)[:-1]))[flat > 0]] = True
        new_order = first_of_cell | (rng.random(n) < 1.0 / lpo[unit_j])
        order_idx = np.cumsum(new_order) - 1
        order_first = np.flatnonzero(new_order)
        order_unit = unit_j[order_first]
        order_cust = np.empty(len(order_first), dtype=np.int64)
        for j, u in enumerate(self.units):
            sel = order_unit == j
            pool = np.flatnonzero(self.cust_unit == u["id"])
            p = self.cust_weight[pool] / self.cust_weight[pool].sum()
            order_cust[sel] = rng.choice(pool, size=int(sel.sum()), p=p)
        cust = order_cust[order_idx]
        seg = self.cust_seg[cust]
        line_no = np.arange(n) - order_first[order_idx] + 1
        product = rng.choice(len(self.products), size=n, p=self.prod_probs[m])
        qmed = np.array([s["qty_median"] for s in seg_cfg])[seg]
        qty = np.maximum(1, np.round(qmed * np.exp(0.8 * rng.standard_normal(n)))).astype(np.int64)
        day = self.days.to_numpy()[day_i].astype("datetime64[D]")
        price = np.round(self.price_cents[product] * self._price_factor(day, product)).astype(np.int64)
        gross = qty * price
        chans = list(self.cfg["channels"])
        chan = np.array([chans.index(s["channel"]) for s in seg_cfg])[seg]
        disc_base = np.array([self.cfg["channels"][c]["discount"] for c in chans])
        disc_promo = np.array([self.cfg["channels"][c]["promo"] for c in chans])
        rate = disc_base[chan] + self.promo_day[day_i] * disc_promo[chan] + rng.uniform(-0.02, 0.02, n)
        discount = np.round(gross * np.clip(rate, 0.0, 0.5)).astype(np.int64)
        net = gross - discount
        cost = np.round(qty * self._unit_cost_cents(self.month_starts[m], product)
                        * rng.uniform(0.98, 1.02, n)).astype(np.int64)
        # Order numbers: SO + date + sequence within the day, numbered in the engine of Arrow.
        order_day = day[order_first]
        seq = np.arange(len(order_first)) - np.searchsorted(order_day, order_day, side="left") + 1
        date_arr = pa.array(day, type=pa.date32())
        order_no = pc.binary_join_element_wise(
            "SO", pc.strftime(pa.array(order_day, type=pa.date32()).cast(pa.timestamp("s")), format="%Y%m%d"),
            pc.utf8_lpad(pa.array(seq).cast(pa.string()), 6, "0"), "")
        order_no = pc.take(order_no, pa.array(order_idx))
        # Keep what the other tables are derived from.
        np.add.at(self.unit_rev[m], unit_j, net)
        np.add.at(self.unit_cogs[m], unit_j, cost)
        np.add.at(self.cust_rev[m], cust, net)
        np.add.at(self.qty[m], (product, unit_j), qty)
        return pa.table({
            "order_no": order_no,
            "line_no": pa.array(line_no, type=pa.int32()),
            "order_date": date_arr,
            "org_unit_id": pa.array(self.unit_ids[unit_j], type=pa.int32()),
            "customer_id": pa.array(cust + 1, type=pa.int32()),
            "product_id": pa.array(product + 1, type=pa.int32()),
            "channel": pa.DictionaryArray.from_arrays(pa.array(chan, type=pa.int32()),
                                                      pa.array(chans)).cast(pa.string()),
            "quantity": pa.array(qty, type=pa.float64()),
            "list_price": _cents_to_yuan(price),
            "discount_amount": _cents_to_yuan(discount),
            "net_revenue": _cents_to_yuan(net),
            "cost_amount": _cents_to_yuan(cost),
            "batch_id": pa.array(np.full(n, DEMO_BATCH_ID), type=pa.int32()),
        })

    # ---- tables derived from the sales --------------------------------------------------------
    def _accounts(self) -> pd.DataFrame:
        return pd.DataFrame([dict(code=a["code"], name=a["name"], name_en=a["name_en"], type=a["type"],
                                  parent_code=a.get("parent")) for a in self.cfg["accounts"]])

    def _period_close(self, m: int) -> dt.date:
        """Posting / invoice date of month ``m``: its last day, or the last day with data."""
        return min(_add_months(self.month_starts[m], 1) - dt.timedelta(days=1), self.end)

    def _month_fraction(self, m: int) -> float:
        ms = self.month_starts[m]
        days_in = (_add_months(ms, 1) - ms).days
        return ((self._period_close(m) - ms).days + 1) / days_in

    def _journal(self) -> pd.DataFrame:
        rng = self.rng(4)
        c = self.cfg["expenses"]
        story = self.cfg["story"]
        rows = []
        company_rev = self.unit_rev.sum(axis=1)
        fy = self.as_of.year
        spike_month = _add_months(_month_start(self.as_of), -story["anomaly_expense"]["months_before"])
        over_units = {uid for uid, reg in self.region_of.items() if reg == story["over_budget_region"]}
        for m, ms in enumerate(self.month_starts):
            close = self._period_close(m)
            frac = self._month_fraction(m)
            years = (ms - self.start).days / 365.25
            grow = (1 + c["raise"]) ** years * self.rows / DEFAULT_ROWS
            seq = 0

            def post(unit_id: int, amounts: dict[str, int], source: str, text: str) -> None:
                nonlocal seq
                seq += 1
                entry = f"JV{ms:%Y%m}-{seq:04d}"  # noqa: B023  (called within this iteration)
                for k, (acct, cents) in enumerate(amounts.items(), start=1):
                    rows.append((entry, k, close, acct, unit_id, cents, source, text))  # noqa: B023  (called within this iteration)

            for j, u in enumerate(self.units):
                post(u["id"], {"6001": int(self.unit_rev[m, j]), "6401": int(self.unit_cogs[m, j])},
                     "sales", f"{ms:%Y-%m} 销售收入与成本结转")
            plans: list[tuple[int, dict, float]] = []
            for j, u in enumerate(self.units):
                plans.append((u["id"], c[u["kind"]], float(self.unit_rev[m, j])))
            for rid in self.region_ids.values():
                plans.append((rid, c["region"], 0.0))
            for code, cid in self.cost_centers.items():
                plans.append((cid, c[code], 0.0))
            for unit_id, rule, rev in plans:
                amounts = {}
                for acct, base in rule.get("fixed", {}).items():
                    amounts[acct] = base * grow * frac * rng.uniform(0.94, 1.06)
                for acct, share in rule.get("of_revenue", {}).items():
                    amounts[acct] = amounts.get(acct, 0.0) + share * rev / 100 * rng.uniform(0.9, 1.1)
                for acct, share in rule.get("of_company_revenue", {}).items():
                    seasonal = 1.6 if ms.month in (6, 11) else 1.0
                    amounts[acct] = amounts.get(acct, 0.0) + share * company_rev[m] / 100 * seasonal * rng.uniform(0.9, 1.1)
                if ms.year == fy and unit_id in over_units:
                    amounts = {a: v * story["over_budget_factor"] for a, v in amounts.items()}
                anomaly = story["anomaly_expense"]
                if ms == spike_month and unit_id == self.cost_centers[anomaly["cost_center"]]:
                    amounts[anomaly["account"]] *= anomaly["factor"]
                post(unit_id, {a: int(round(v * 100)) for a, v in amounts.items()}, "expense",
                     f"{ms:%Y-%m} 费用计提")
        df = pd.DataFrame(rows, columns=["entry_no", "line_no", "posting_date", "account_code",
                                         "org_unit_id", "cents", "source", "description"])
        self.gl = df.assign(month=pd.to_datetime(df["posting_date"]).dt.to_period("M").dt.to_timestamp())
        df["amount"] = df.pop("cents") / 100.0
        df["batch_id"] = DEMO_BATCH_ID
        return df

    def _budget_versions(self) -> pd.DataFrame:
        fy = self.as_of.year
        self.budget_years = {fy - 1: 1, fy: 2}
        return pd.DataFrame([
            dict(id=1, name=f"FY{fy - 1} 年度预算", kind="budget", fiscal_year=fy - 1, status="locked",
                 based_on=None, created_at=dt.datetime(fy - 2, 12, 15, 9, 0)),
            dict(id=2, name=f"FY{fy} 年度预算", kind="budget", fiscal_year=fy, status="approved",
                 based_on=None, created_at=dt.datetime(fy - 1, 12, 15, 9, 0)),
        ])

    def _budget(self) -> pd.DataFrame:
        """Each year's budget: last year's actuals by month × unit × account, grown by the targets."""
        rng = self.rng(5)
        story = self.cfg["story"]
        gl = self.gl
        out = []
        for year, vid in self.budget_years.items():
            prior = gl[gl["month"].dt.year == year - 1]
            base = prior.groupby(["month", "org_unit_id", "account_code"], as_index=False)["cents"].sum()
            base["period"] = base["month"] + pd.DateOffset(years=1)
            growth = base["org_unit_id"].map(lambda u: story["budget_growth"].get(self.region_of.get(u, ""), 0.10))
            rev = base["account_code"] == "6001"
            cogs = base["account_code"] == "6401"
            amt = base["cents"].astype(float)
            amt = np.where(rev, amt * (1 + growth), amt * (1 + story["budget_opex_growth"]))
            # COGS plans last year's cost ratio on the budgeted revenue: this year's cost increases are variances.
            annual = prior.groupby(["org_unit_id", "account_code"])["cents"].sum().unstack(fill_value=0)
            ratio = (annual.get("6401", 0) / annual.get("6001", 1)).replace([np.inf, np.nan], 0)
            rev_budget = pd.Series(amt, index=base.index)[rev]
            rev_by = dict(zip(zip(base.loc[rev, "period"], base.loc[rev, "org_unit_id"]), rev_budget))
            cogs_amt = [rev_by.get((p, u), 0.0) * ratio.get(u, 0.0)
                        for p, u in zip(base.loc[cogs, "period"], base.loc[cogs, "org_unit_id"])]
            amt = pd.Series(amt, index=base.index)
            amt[cogs] = cogs_amt
            amt = amt * rng.uniform(0.97, 1.03, len(amt))
            base["amount"] = np.round(amt / 10_000) * 100.0  # budgets in whole hundreds of yuan
            base["version_id"] = vid
            out.append(base[["version_id", "period", "org_unit_id", "account_code", "amount"]])
        df = pd.concat(out, ignore_index=True)
        df["period"] = df["period"].dt.date
        df["batch_id"] = DEMO_BATCH_ID
        return df

    def _invoices(self) -> pd.DataFrame:
        """Month-end invoices per customer (月结), paid by credit terms with region-specific delays."""
        rng = self.rng(6)
        story = self.cfg["story"]
        m_idx, cust = np.nonzero(self.cust_rev)
        amount = self.cust_rev[m_idx, cust]
        close = np.array([np.datetime64(self._period_close(m)) for m in range(self.n_months)])[m_idx]
        credit = self.customers["credit_days"].to_numpy()[cust]
        due = close + credit.astype("timedelta64[D]")
        seg_delay = np.array([self.cfg["segments"][s]["pay_delay"] for s in self.seg_names])[self.cust_seg[cust]]
        unit = self.cust_unit[cust]
        slow = np.array([self.region_of[u] == story["slow_payer_region"] for u in unit])
        delay = seg_delay + rng.normal(0, 8, len(amount)) * (credit > 0)
        delay += slow * story["slow_payer_drift_days_per_month"] * m_idx
        paid_date = np.maximum(due + np.round(delay).astype("timedelta64[D]"), close)
        # Slow payers leave a share of recent invoices unpaid; elsewhere a few bad debts from the
        # last two years stay open (older ones are written off), and some recent payments are partial.
        recent = m_idx >= self.n_months - 13
        unpaid_p = np.where(slow & recent, story["slow_payer_unpaid_share"],
                            np.where(m_idx >= self.n_months - 24, 0.003, 0.0)) * (credit > 0)
        never = rng.random(len(amount)) < unpaid_p
        as_of = np.datetime64(self.as_of)
        partial = (rng.random(len(amount)) < 0.03) & (credit > 0) & (paid_date >= as_of - np.timedelta64(60, "D"))
        settled = (paid_date < as_of) & ~never
        paid = np.where(settled, np.where(partial, np.round(amount * 0.6), amount), 0).astype(np.int64)
        df = pd.DataFrame({
            "invoice_no": [f"AR{self.month_starts[m]:%Y%m}{c + 1:05d}" for m, c in zip(m_idx, cust)],
            "customer_id": cust + 1,
            "org_unit_id": unit,
            "invoice_date": close.astype("datetime64[D]").astype(object),
            "due_date": due.astype("datetime64[D]").astype(object),
            "amount": amount / 100.0,
            "paid_amount": paid / 100.0,
            "paid_date": np.where(settled, paid_date.astype("datetime64[D]").astype(object), None),
            "batch_id": DEMO_BATCH_ID,
        })
        return df

    def _inventory(self) -> pd.DataFrame:
        """Month-end stock per product × sales unit: closing = max(target cover, opening − sales) ≥ 0."""
        rng = self.rng(7)
        lo, hi = self.cfg["inventory_cover_days"]
        cover = rng.uniform(lo, hi, self.qty.shape[1:])
        closing = np.zeros(self.qty.shape[1:])
        rows = []
        complete = [m for m in range(self.n_months)
                    if _add_months(self.month_starts[m], 1) - dt.timedelta(days=1) <= self.end]
        for m in complete:
            ms = self.month_starts[m]
            days_in = (_add_months(ms, 1) - ms).days
            target = self.qty[m] / days_in * cover * self._cover_factor(ms)[:, None]
            closing = np.maximum(np.round(target), np.maximum(closing - self.qty[m], 0))
            unit_cost = self._unit_cost_cents(ms, np.arange(len(self.products)))
            p_idx, u_idx = np.nonzero(closing)
            value = np.round(closing[p_idx, u_idx] * unit_cost[p_idx])
            rows.append(pd.DataFrame({
                "period_end": _add_months(ms, 1) - dt.timedelta(days=1),
                "product_id": p_idx + 1, "org_unit_id": self.unit_ids[u_idx],
                "quantity": closing[p_idx, u_idx], "value": value / 100.0}))
        df = pd.concat(rows, ignore_index=True)
        df["batch_id"] = DEMO_BATCH_ID
        return df

    def _cover_factor(self, ms: dt.date) -> np.ndarray:
        """Slow-moving categories keep buying at the old rate: their days of cover climb."""
        f = np.ones(len(self.products))
        lo, hi = self.cfg["inventory_cover_days"]
        for ci, cat in enumerate(self.cfg["categories"]):
            sm = cat.get("slow_moving")
            if sm:
                k = (ms.year - sm["start"].year) * 12 + ms.month - sm["start"].month
                share = min(max(k, 0), sm["months"]) / sm["months"]
                f[self.prod_cat == ci] = 1 + (sm["cover_days_to"] / ((lo + hi) / 2) - 1) * share
        return f

    def story(self) -> dict[str, str]:
        """Where the demo company's stories are, for the README, tests and alerts."""
        s = self.cfg["story"]
        spike = _add_months(_month_start(self.as_of), -s["anomaly_expense"]["months_before"])
        return {
            "collapsed_order_day": self.anomaly_day.isoformat(),
            "expense_spike": f"{s['anomaly_expense']['cost_center']} {s['anomaly_expense']['account']} {spike:%Y-%m}",
            "over_budget_region": s["over_budget_region"],
            "slow_payer_region": s["slow_payer_region"],
        }
