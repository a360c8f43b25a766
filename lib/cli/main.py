"""Command line over the library: ``python -m lib.cli init | demo | info | metrics | query``.

Prints plain text; exits 2 with a one-line message on bad input or an unavailable store.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import replace

import pandas as pd

from lib.access import audit, auth
from lib.cli import alerts as alerts_cli
from lib.cli import ingest as ingest_cli
from lib.cli import notify as notify_cli
from lib.cli import scorecard as scorecard_cli
from lib.cli import warehouse as warehouse_cli
from lib.core import clock, fmt, secrets_file, store
from lib.core.errors import WorkbenchError
from lib.demo import build as demo
from lib.semantic import asof, metric_store, metric_view, periods, query
from lib.semantic import model as semantic
from lib.semantic.spec import Comparison, FilterSpec, QuerySpec, Sort, TimeRange


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _rows(text: str) -> int:
    """Row counts accept 500000, 500_000, 500k or 10m.

    >>> _rows("10m"), _rows("500k"), _rows("20_000")
    (10000000, 500000, 20000)
    """
    t = text.strip().lower().replace("_", "").replace(",", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        return int(float(t[:-1] if mult > 1 else t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r} (e.g. 500000, 500k, 10m)") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lib.cli", description="Yecai Workbench command line.")
    p.add_argument("--url", help="store URL (default: WORKBENCH_DB_URL, secrets.toml, or the embedded DuckDB file)")
    sub = p.add_subparsers(dest="command", required=True, metavar="{init,demo,info,metrics,query,ask,explain,forecast,import,imports,users,scorecard,alerts,notify,warehouse}")

    init = sub.add_parser("init", help="create or migrate the store's schema")
    init.add_argument("--demo-if-empty", action="store_true",
                      help="also build the demo company when the store holds no business data")
    init.add_argument("--rows", type=_rows, default=demo.DEFAULT_ROWS, help="demo sales lines (with --demo-if-empty)")

    d = sub.add_parser("demo", help="build the demo company")
    d.add_argument("--rows", type=_rows, default=demo.DEFAULT_ROWS,
                   help=f"sales lines, {demo.MIN_ROWS:,} to {demo.MAX_ROWS:,} (default {demo.DEFAULT_ROWS:,})")
    d.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help="random seed (same seed, same data)")
    d.add_argument("--as-of", type=_date, default=None, help="data runs up to the day before this date (default today)")
    d.add_argument("--replace", action="store_true", help="delete the store's business data first")

    sub.add_parser("info", help="store URL, schema version and row counts")

    m = sub.add_parser("metrics", help="the metric catalogue: list, show ID, check")
    m.add_argument("action", choices=["list", "show", "check"])
    m.add_argument("metric_id", nargs="?", help="with show: the metric id")
    m.add_argument("--lang", choices=["zh", "en"], default="zh")

    q = sub.add_parser("query", help="ask a question: metrics by dimensions, through the metric definitions")
    q.add_argument("--metric", action="append", required=True, help="metric id (repeatable)")
    q.add_argument("--by", action="append", default=[], help="dimension id or time grain (repeatable)")
    q.add_argument("--where", action="append", default=[], type=_where,
                   help="filter: dim=value, dim=v1,v2, dim!=value, dim>=value … (repeatable)")
    q.add_argument("--from", dest="start", type=_period_start, help="YYYY, YYYY-MM or YYYY-MM-DD")
    q.add_argument("--to", dest="end", type=_period_end, help="YYYY, YYYY-MM or YYYY-MM-DD (inclusive)")
    q.add_argument("--compare", choices=[c.value for c in Comparison])
    q.add_argument("--sort", action="append", default=[], help="column to sort by; -column for descending")
    q.add_argument("--limit", type=int)
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.add_argument("--lang", choices=["zh", "en"], default="zh")
    q.add_argument("--sql", action="store_true", help="print the SQL instead of running it")
    q.add_argument("--as", dest="as_user", metavar="USERNAME", help="read with this user's scope and role")

    a = sub.add_parser("ask", help="问数: a question in words, e.g. \"今年各区域的营收\"; shows how it was read")
    a.add_argument("question")
    a.add_argument("--as", dest="as_user", metavar="USERNAME", help="ask with this user's scope and role")
    a.add_argument("--lang", choices=["zh", "en"], default="zh")
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")

    e = sub.add_parser("explain", help="归因: why a metric changed (vs the previous period, last year or the budget), "
                                         "split by input and by dimension; the contributions add up to the change")
    e.add_argument("--metric", required=True, help="metric id, e.g. gross_margin, opex, dso")
    e.add_argument("--from", dest="first", required=True, metavar="YYYY-MM", help="first month")
    e.add_argument("--to", dest="last", required=True, metavar="YYYY-MM", help="last month (inclusive)")
    e.add_argument("--vs", required=True, choices=["previous", "yoy", "budget"],
                   help="previous: the same number of months before; yoy: a year earlier; budget: the approved budget")
    e.add_argument("--where", action="append", default=[], type=_where, help="filter: dim=value (repeatable)")
    e.add_argument("--depth", type=int, default=3, help="levels of the drill path, 1–3 (default 3)")
    e.add_argument("--as", dest="as_user", metavar="USERNAME", help="explain within this user's scope and role")
    e.add_argument("--lang", choices=["zh", "en"], default="zh")
    e.add_argument("--format", choices=["table", "json"], default="table")

    f = sub.add_parser("forecast", help="forecast a metric by month: 80%%/95%% intervals, backtest accuracy; or a draft budget (--to-budget)")
    f.add_argument("--metric", help="metric id; one that adds up over months (revenue, cogs, opex …)")
    f.add_argument("--by", help="dimension id: one forecast per value (default: the total)")
    f.add_argument("--horizon", type=int, default=12, help="months ahead (1–36, default 12)")
    f.add_argument("--origins", type=int, default=3, help="backtest origins per series (default 3)")
    f.add_argument("--end", type=_date, default=None,
                   help="use the complete months up to this date (default: the data's last day before today)")
    f.add_argument("--format", choices=["table", "csv", "json"], default="table")
    f.add_argument("--lang", choices=["zh", "en"], default="zh")
    f.add_argument("--as", dest="as_user", metavar="USERNAME", help="read with this user's scope and role")
    f.add_argument("--to-budget", metavar="NAME", help="forecast every org unit × revenue/COGS/opex account and save the "
                   "months of --target as a new draft budget version NAME (needs --as a user who may edit budgets)")
    f.add_argument("--target", choices=["rest_of_year", "next_year"], default="next_year",
                   help="with --to-budget: the rest of this fiscal year (a rolling forecast) or the next fiscal year")
    f.add_argument("--workers", type=int, default=0, help="processes for the fits (default 0: one per CPU)")

    ingest_cli.add_parser(sub)
    scorecard_cli.add_parser(sub)
    warehouse_cli.add_parser(sub)
    alerts_cli.add_parser(sub)
    notify_cli.add_parser(sub)

    u = sub.add_parser("users", help="users, roles and scopes: add, list, disable, enable, reset-password, scope, role")
    u.add_argument("action", choices=["add", "list", "disable", "enable", "reset-password", "scope", "role"])
    u.add_argument("username", nargs="?")
    u.add_argument("--role", choices=[r.value for r in auth.Role])
    u.add_argument("--scope", action="append", default=[], metavar="ORG",
                   help="org unit code or name; a region covers its subtree (repeatable)")
    u.add_argument("--category", action="append", default=[], help="also limit to these categories (repeatable)")
    u.add_argument("--name", help="display name")
    u.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    return p


def _where(text: str) -> FilterSpec:
    """A --where filter.

    >>> _where("category=饮料,乳制品")
    FilterSpec(dimension='category', op='in', values=('饮料', '乳制品'))
    >>> _where("region!=总部")
    FilterSpec(dimension='region', op='not_in', values=('总部',))
    """
    import re
    m = re.fullmatch(r"\s*([a-z_]+)\s*(!=|>=|<=|=|>|<)\s*(.+?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a filter: {text!r} (e.g. category=饮料 or region!=总部)")
    dim, op, raw = m.groups()
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    ops = {"=": "in", "!=": "not_in", ">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
    return FilterSpec(dim, ops[op], values)


def _period_start(text: str) -> dt.date:
    """The first day of a --from period.

    >>> _period_start("2025-03"), _period_start("2025")
    (datetime.date(2025, 3, 1), datetime.date(2025, 1, 1))
    """
    parts = text.split("-")
    try:
        if len(parts) == 1:
            return dt.date(int(parts[0]), 1, 1)
        if len(parts) == 2:
            return dt.date(int(parts[0]), int(parts[1]), 1)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a period: {text!r} (YYYY, YYYY-MM or YYYY-MM-DD)") from None


def _period_end(text: str) -> dt.date:
    """The last day of a --to period.

    >>> _period_end("2024-02"), _period_end("2025")
    (datetime.date(2024, 2, 29), datetime.date(2025, 12, 31))
    """
    start = _period_start(text)
    n = text.count("-")
    if n == 0:
        return dt.date(start.year, 12, 31)
    if n == 1:
        return (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
    return start


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # The warehouse commands open the warehouse themselves (it may not be running yet).
        engine = store.get_engine(args.url, with_warehouse=args.command != "warehouse")
        if args.command == "warehouse":
            return warehouse_cli.main(args, engine)
        if args.command == "init":
            version = store.init_schema(engine)
            print(f"store: {_safe(engine)}  schema version: {version}")
            if args.demo_if_empty and not any(store.row_counts(engine).values()):
                print(f"building the demo company ({args.rows:,} sales lines)…", flush=True)
                _print_demo(demo.build(engine, rows=args.rows))
            if secrets_file.ensure_cookie_key():
                print("wrote a new log-in cookie key to .streamlit/secrets.toml (git-ignored)")
            password = auth.ensure_admin(engine)
            if password:
                print(f"created user 'admin' with password: {password}\n"
                      "  (shown once: keep it, or set another with `users reset-password admin --password-stdin`)")
        elif args.command == "demo":
            _print_demo(demo.build(engine, rows=args.rows, seed=args.seed, as_of=args.as_of, replace=args.replace))
        elif args.command == "info":
            with engine.connect() as conn:
                version = store.current_version(conn)
            print(f"store:          {_safe(engine)}")
            print(f"schema version: {version} (this workbench: {store.SCHEMA_VERSION})")
            for table, n in store.row_counts(engine).items():
                print(f"  {table:<20} {n:>12,}")
        elif args.command == "metrics":
            return _metrics(engine, args)
        elif args.command == "query":
            return _query(engine, args)
        elif args.command == "forecast":
            return _forecast(engine, args)
        elif args.command == "ask":
            return _ask(engine, args)
        elif args.command == "explain":
            return _explain(engine, args)
        elif args.command in ("import", "imports"):
            return ingest_cli.main(args, engine)
        elif args.command == "scorecard":
            return scorecard_cli.main(args, engine)
        elif args.command == "alerts":
            return alerts_cli.main(args, engine)
        elif args.command == "notify":
            return notify_cli.main(args, engine)
        elif args.command == "users":
            return _users(engine, args)
        return 0
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _metrics(engine, args) -> int:
    store.init_schema(engine)
    if args.action == "check":
        try:
            model = semantic.load(overrides=metric_store.overrides(engine))
        except semantic.SemanticError as exc:
            print(exc.message(args.lang), file=sys.stderr)
            return 1
        print(f"ok: {len(model.metrics)} metrics, {len(model.datasets)} datasets, {len(model.dimensions)} dimensions")
        return 0
    model, skipped = metric_store.load_model(engine)
    for issue in skipped:
        print(f"warning: stored edit left out: {issue}", file=sys.stderr)
    if args.action == "list":
        rows = [(m.id, m.label(args.lang), m.type.value, m.format.value, m.subject, m.owner, m.status.value)
                for m in sorted(model.metrics.values(), key=lambda m: (m.subject, m.id))]
        print(pd.DataFrame(rows, columns=["id", "label", "type", "format", "subject", "owner", "status"]).to_string(index=False))
        return 0
    if not args.metric_id:
        raise WorkbenchError("metrics show needs a metric id, e.g. metrics show gross_margin",
                             "metrics show 需要指标编号，例如 metrics show gross_margin")
    m = model.metric(args.metric_id)
    print(json.dumps(m.to_dict(), ensure_ascii=False, indent=2))
    print(f"datasets:   {', '.join(f'{d.id} ({d.table})' for d in model.datasets_of(m.id))}")
    print(f"uses:       {', '.join(m.references()) or '—'}")
    print(f"used by:    {', '.join(model.used_by(m.id)) or '—'}")
    print(f"dimensions: {', '.join(model.dimensions_of(m.id))}")
    for v in metric_store.history(engine, m.id):
        print(f"version {v.version}: {v.action} by {v.author}" + (f" at {v.created_at}" if v.created_at else "")
              + (f" — {v.note}" if v.note else ""))
    return 0


def _password(args) -> tuple[str, bool]:
    """The password from stdin, or a generated one (then printed once)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return auth.generate_password(), True


def _users(engine, args) -> int:
    store.init_schema(engine)
    if args.action == "list":
        rows = auth.list_users(engine)
        df = pd.DataFrame(rows, columns=["username", "display_name", "role", "active", "demo", "locked_until",
                                         "orgs", "categories"])  # codes: what --scope takes
        df["orgs"] = df["orgs"].map(lambda v: ",".join(map(str, v)))
        df["categories"] = df["categories"].map(",".join)
        print(df.to_string(index=False) if len(df) else "(no users)")
        return 0
    if not args.username:
        raise WorkbenchError(f"users {args.action} needs a user name.", f"users {args.action} 需要用户名。")
    name = args.username
    if args.action == "add":
        if not args.role:
            raise WorkbenchError("users add needs --role.", "users add 需要 --role。")
        password, generated = _password(args)
        auth.add_user(engine, name, args.role, password, args.name, args.scope, args.category, source="cli")
        print(f"added {name} ({args.role})" + (f", password: {password} (shown once)" if generated else ""))
    elif args.action in ("disable", "enable"):
        auth.set_active(engine, name, args.action == "enable", source="cli")
        print(f"{args.action}d {name}")
    elif args.action == "reset-password":
        password, generated = _password(args)
        auth.reset_password(engine, name, password, source="cli")
        print(f"password of {name} reset" + (f": {password} (shown once)" if generated else ""))
    elif args.action == "scope":
        auth.set_scope(engine, name, args.scope, args.category, source="cli")
        print(f"scope of {name}: {', '.join(args.scope) or 'all data'}"
              + (f"; categories {', '.join(args.category)}" if args.category else ""))
    elif args.action == "role":
        if not args.role:
            raise WorkbenchError("users role needs --role.", "users role 需要 --role。")
        auth.set_role(engine, name, args.role, source="cli")
        print(f"{name} is now {args.role}")
    return 0


def _query(engine, args) -> int:
    store.init_schema(engine)
    model, _ = metric_store.load_model(engine)
    user = auth.load_user(engine, args.as_user) if args.as_user else None
    if user is not None:
        audit.record(engine, args.as_user, "query_as", ",".join(args.metric),
                     {"by": args.by, "where": [f.to_dict() for f in args.where]}, "cli")
    if (args.start is None) != (args.end is None):
        raise WorkbenchError("Give both --from and --to, or neither.", "请同时给出 --from 和 --to，或都不给。")
    spec = QuerySpec(
        metrics=tuple(args.metric), dimensions=tuple(args.by), filters=tuple(args.where),
        time_range=TimeRange(args.start, args.end) if args.start else None,
        comparison=Comparison(args.compare) if args.compare else None,
        sort=tuple(Sort(s.lstrip("-"), s.startswith("-")) for s in args.sort), limit=args.limit)
    if args.sql:
        print(query.sql_text(spec, engine, user=user, model=model))
        return 0
    df = _machine(query.run(engine, spec, user=user, model=model), model)
    if args.format == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif args.format == "json":
        print(df.to_json(orient="records", force_ascii=False, date_format="iso"))
    else:
        print(f"# {query.describe(spec, args.lang, model)}")
        print(metric_view.formatted(df, model, args.lang).to_string(index=False))
    return 0


def _machine(df: pd.DataFrame, model) -> pd.DataFrame:
    """Rows for scripts: time buckets as labels (2025-03, 2025-Q1), money to the cent (no binary float artefacts)."""
    df = df.copy()
    for grain in semantic.TIME_GRAINS:
        if grain in df.columns:
            df[grain] = [periods.bucket_label(d, grain) for d in df[grain]]
    for col in df.columns:
        base = col.partition("__")[0]
        if base in model.metrics and model.metrics[base].format is semantic.Format.CURRENCY and not col.endswith("__chg"):
            df[col] = df[col].round(2)
    return df


def _ask(engine, args) -> int:
    """Exit 0 with the answer (an empty one outside the asker's scope); 2 with one line when there is none."""
    from lib.ask import answer as ask
    from lib.ask import lexicon
    store.init_schema(engine)
    model, _ = metric_store.load_model(engine)
    user = auth.load_user(engine, args.as_user) if args.as_user else None
    vocab = ask.vocabulary_for(engine, user, model)
    got = ask.ask(engine, args.question, user, vocab, model, args.lang)
    if user is not None:
        audit.record(engine, args.as_user, "query_as", ",".join(got.spec.metrics) if got.spec else None,
                     {"question": args.question[:500]}, "cli")
        lexicon.remember(engine, user.username, args.question)
    if got.rows is not None:
        got = replace(got, rows=_machine(got.rows, model))
    if args.format == "json":
        print(json.dumps(ask.to_dict(got, model, args.lang), ensure_ascii=False, default=str))
    elif got.rows is not None and args.format == "csv":
        sys.stdout.write(got.rows.to_csv(index=False))
    elif got.rows is not None:
        print(f"# {ask.restated(got, model, args.lang)}")
        print("# " + " ".join(f"[{t.text}:{ask.token_label(t, model, args.lang) if t.kind not in ('filler', 'unknown') else t.kind}]"
                              for t in got.reading.tokens))
        print(metric_view.formatted(got.rows, model, args.lang).to_string(index=False) if len(got.rows) else "(0 rows)")
    if got.message:
        print(got.message if got.rows is not None else f"error: {got.message}", file=sys.stderr)
    return 0 if got.rows is not None else 2


def _explain(engine, args) -> int:
    """Exit 0 with the explanation; 2 with one line when the metric or the comparison can't be explained."""
    from lib.explain import explain as ex
    from lib.explain import words
    store.init_schema(engine)
    model, _ = metric_store.load_model(engine)
    user = auth.load_user(engine, args.as_user) if args.as_user else None
    if not 1 <= args.depth <= ex.MAX_DEPTH:
        raise WorkbenchError(f"--depth is 1 to {ex.MAX_DEPTH}.", f"--depth 取 1 到 {ex.MAX_DEPTH}。")
    ask = ex.Ask.months(args.metric, args.first, args.last, args.vs, tuple(args.where))
    if user is not None:
        audit.record(engine, args.as_user, "query_as", args.metric,
                     {"explain": args.vs, "from": args.first, "to": args.last,
                      "where": [f.to_dict() for f in args.where]}, "cli")
    got = ex.explain(lambda spec: query.run(engine, spec, user=user, model=model), model, ask, depth=args.depth)
    if args.format == "json":
        print(json.dumps(words.to_dict(got, model, args.lang), ensure_ascii=False, default=str))
        return 0
    print(words.narrative(got, model, args.lang))
    for table in words.tables(got, model, args.lang):
        print()
        print(table.to_string(index=False))
    return 0


def _forecast_to_budget(engine, args, model) -> int:
    from lib.finance import forecast_budget
    if not args.as_user:
        raise WorkbenchError("--to-budget needs --as USERNAME: a user who may edit budgets.",
                             "--to-budget 需要 --as 用户名：一位有权编辑预算的用户。")
    user = auth.load_user(engine, args.as_user)
    run = lambda spec: query.run(engine, spec, user=user, model=model)  # noqa: E731
    end = args.end or asof.data_end(run, "actual") or clock.today() - dt.timedelta(days=1)
    draft = forecast_budget.draft_budget(engine, run, user, name=args.to_budget, target=args.target, end=end,
                                         workers=args.workers)
    zh = args.lang == "zh"
    print(("已生成预算草案" if zh else "Drafted budget version") + f" #{draft.version_id} “{args.to_budget}” "
          f"({draft.kind}, FY{draft.fiscal_year}, {len(draft.lines)} " + ("行" if zh else "lines") + ", "
          + ("数据截至" if zh else "data to") + f" {draft.data_date:%Y-%m}; {draft.method})")
    for r in draft.totals().itertuples(index=False):
        print(f"  {r.account_type:<8} {fmt.money(r.amount, args.lang)}")
    return 0


def _forecast(engine, args) -> int:
    from lib.finance import forecast
    store.init_schema(engine)
    model, _ = metric_store.load_model(engine)
    if args.to_budget:
        return _forecast_to_budget(engine, args, model)
    if not args.metric:
        raise WorkbenchError("forecast needs --metric (or --to-budget NAME).", "forecast 需要 --metric（或 --to-budget 名称）。")
    forecast.check_metric(model, args.metric)
    if args.by:
        model.dimension(args.by)
    user = auth.load_user(engine, args.as_user) if args.as_user else None
    if user is not None:
        if not user.may_see_metric(args.metric, model):
            raise WorkbenchError(f"{args.as_user} may not see the metric '{args.metric}'.",
                                 f"{args.as_user} 无权查看指标“{args.metric}”。")
        audit.record(engine, args.as_user, "query_as", args.metric, {"by": args.by, "forecast": args.horizon}, "cli")
    run = lambda spec: query.run(engine, spec, user=user, model=model)  # noqa: E731
    # Actuals end with the data (the metric's last day before today), not the calendar: a month the load has
    # not finished is not history yet.
    end = args.end or asof.data_end(run, args.metric) or clock.today() - dt.timedelta(days=1)
    series = forecast.monthly_series(run, args.metric, args.by, end, model=model)
    if not series:
        raise WorkbenchError("No complete month of data to forecast from.", "没有可用于预测的完整月份数据。")
    results = forecast.forecast_many(series, args.horizon, origins=args.origins)
    lines, acc = forecast.lines_frame(results), forecast.accuracy_frame(results)
    lines["period"] = lines["period"].dt.strftime("%Y-%m")
    money = model.metric(args.metric).format is semantic.Format.CURRENCY
    if args.format == "csv":  # one row per month; the chosen model's backtest and the baseline's beside it
        chosen = acc[acc["chosen"]].set_index("series")
        base = acc[acc["model"] == "seasonal_naive"].set_index("series")["mase"]
        lines["mase"] = lines["series"].map(chosen["mase"])
        lines["smape"] = lines["series"].map(chosen["smape"])
        lines["mase_seasonal_naive"] = lines["series"].map(base)
        sys.stdout.write(lines.round(2 if money else 4).to_csv(index=False))
    elif args.format == "json":
        out = [{"series": k, "model": f.model, "note": f.note(args.lang), "backtest_horizon": f.backtest_horizon,
                "backtest_origins": f.backtest_origins,
                "forecast": json.loads(lines[lines["series"] == k].drop(columns=["series", "model"]).to_json(orient="records")),
                "accuracy": json.loads(f.accuracy.to_json(orient="records"))} for k, f in results.items()]
        print(json.dumps(out, ensure_ascii=False))
    else:
        label = model.metric(args.metric).label(args.lang)
        for k, f in results.items():
            print(f"# {label} · {k or ('合计' if args.lang == 'zh' else 'total')} · {f.model} "
                  f"(backtest: {f.backtest_origins} × {f.backtest_horizon} months)")
            part = lines[lines["series"] == k].drop(columns=["series", "model"])
            for c in ("value", "lo80", "hi80", "lo95", "hi95"):
                part[c] = [fmt.money(v, args.lang) if money else f"{v:,.0f}" for v in part[c]]
            print(part.to_string(index=False))
            print(f.accuracy.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            if f.note(args.lang):
                print(f"note: {f.note(args.lang)}")
            print()
    return 0


def _safe(engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _print_demo(result: demo.DemoResult) -> None:
    print(f"demo company built in {result.seconds:.1f} s, {result.start} to {result.end}")
    for table, n in result.rows.items():
        print(f"  {table:<20} {n:>12,}")
    for k, v in result.story.items():
        print(f"  story: {k} = {v}")

