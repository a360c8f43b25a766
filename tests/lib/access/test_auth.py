"""Users, passwords, lockout, roles, scopes and the audit log; and attempts to read outside a scope."""
from __future__ import annotations

import datetime as dt
import io
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.access import audit, auth
from lib.cli import main as cli
from lib.core import clock, store
from lib.core.errors import Forbidden, WorkbenchError
from lib.semantic import query
from lib.semantic.spec import FilterSpec, InvalidSpec, QuerySpec, Sort, TimeRange

PW = "yecai-demo-2026"
Y2025 = TimeRange(dt.date(2025, 1, 1), dt.date(2025, 12, 31))


@pytest.fixture
def store_with_users(small_demo_url):
    """A 3,000-row demo store with its demo users, of the test's own."""
    engine = store.get_engine(small_demo_url)
    yield engine
    engine.dispose()


def test_passwords_are_bcrypt_hashes_never_plain_text(store_with_users):
    with store_with_users.connect() as conn:
        hashes = conn.execute(sa.select(auth.users.c.password_hash)).scalars().all()
    assert len(hashes) == 5 and all(h.startswith("$2b$") and PW not in h for h in hashes)
    with pytest.raises(WorkbenchError, match="at least 10 characters"):
        auth.add_user(store_with_users, "shorty", "finance", "short")


def _guess(e, username: str, times: int, now=None, client: str | None = None) -> None:
    """Wrong passwords, each from its own client unless ``client`` is given (one client is slowed down)."""
    for i in range(times):
        with pytest.raises(auth.AuthError):
            auth.authenticate(e, username, "not-the-password", now=now, client=client or f"10.0.{i // 250}.{i % 250}")


def test_wrong_password_lockout_and_disabled_account(store_with_users):
    e = store_with_users
    now = dt.datetime(2026, 11, 24, 9, 0)
    auth.authenticate(e, "demo_west", PW, now=now - dt.timedelta(days=3), client="192.168.1.7")  # their own PC
    for i in range(auth.MAX_FAILED):
        with pytest.raises(auth.AuthError, match="Wrong user name or password"):
            auth.authenticate(e, "demo_west", "not-the-password", now=now, client=f"10.0.0.{i}")
    with pytest.raises(auth.AuthError, match="try again in 15 minute"):   # even the right one, from elsewhere
        auth.authenticate(e, "demo_west", PW, now=now + dt.timedelta(seconds=5), client="10.0.0.99")
    # from the client they logged in from before, the owner still gets in
    assert auth.authenticate(e, "demo_west", PW, now=now + dt.timedelta(seconds=6), client="192.168.1.7")
    assert auth.authenticate(e, "demo_west", PW, now=now + dt.timedelta(minutes=16), client="10.0.0.99").role == "dept_head"
    auth.set_active(e, "demo_east", False, actor="demo_admin")
    with pytest.raises(auth.AuthError, match="disabled"):
        auth.authenticate(e, "demo_east", PW)
    with pytest.raises(Forbidden):
        auth.load_user(e, "demo_east")
    with pytest.raises(auth.AuthError, match="Wrong user name or password"):  # no hint that the user doesn't exist
        auth.authenticate(e, "nobody", PW)


def test_wrong_passwords_from_one_client_slow_it_down_and_lock_nobody_out(store_with_users):
    e = store_with_users
    t0 = clock.now()
    # A: the CFO, logged in with the right password
    auth.authenticate(e, "demo_finance", PW, now=t0, client="10.1.1.1")
    issued = clock.now_precise()
    # B: a stranger, five wrong passwords in a row
    for i in range(5):
        with pytest.raises(auth.AuthError) as err:
            auth.authenticate(e, "demo_finance", f"guess-number-{i}", now=t0 + dt.timedelta(seconds=i * 0.1),
                              client="203.0.113.9")
        assert ("Wrong user name or password" in str(err.value)) == (i < auth.FREE_TRIES), i
    # B is slowed: the right password now waits too, and its waits double
    with pytest.raises(auth.AuthError, match="try again in 1 second"):
        auth.authenticate(e, "demo_finance", PW, now=t0 + dt.timedelta(seconds=0.5), client="203.0.113.9")
    audited = audit.entries(e, action="login_throttled")
    assert len(audited) >= 2 and "203.0.113.9" in audited["detail"].iloc[0]
    # A's session holds, and A logs in again from A at once
    assert auth.session_valid(e, "demo_finance", issued)
    assert auth.authenticate(e, "demo_finance", PW, now=t0 + dt.timedelta(seconds=1), client="10.1.1.1")
    with e.connect() as conn:
        row = conn.execute(sa.select(auth.users).where(auth.users.c.username == "demo_finance")).one()
    assert row.locked_until is None and row.sessions_valid_after is None
    # B waits its turn: after the wait it may try again, and is slowed more after a further failure
    later = t0 + dt.timedelta(seconds=10)
    with pytest.raises(auth.AuthError, match="Wrong user name or password"):
        auth.authenticate(e, "demo_finance", "guess-6", now=later, client="203.0.113.9")
    with pytest.raises(auth.AuthError, match="try again in 2 second"):
        auth.authenticate(e, "demo_finance", PW, now=later + dt.timedelta(seconds=0.2), client="203.0.113.9")
    # an hour later the client is forgotten
    assert auth.authenticate(e, "demo_finance", PW, now=later + dt.timedelta(hours=2), client="203.0.113.9")
    # even a locked account keeps its open sessions
    _guess(e, "demo_finance", auth.MAX_FAILED, now=later + dt.timedelta(hours=3))
    with e.connect() as conn:
        row = conn.execute(sa.select(auth.users).where(auth.users.c.username == "demo_finance")).one()
    assert row.locked_until is not None and auth.session_valid(e, "demo_finance", issued)


def test_every_audited_action_is_recorded(store_with_users):
    e = store_with_users
    auth.authenticate(e, "demo_finance", PW)
    with pytest.raises(auth.AuthError):
        auth.authenticate(e, "demo_finance", "wrong-password!")
    auth.add_user(e, "ann", "dept_head", "a-long-password", orgs=["R10"], actor="demo_admin")
    auth.set_scope(e, "ann", ["R20"], actor="demo_admin")
    auth.reset_password(e, "ann", "another-long-one", actor="demo_admin")
    auth.set_role(e, "ann", "viewer", actor="demo_admin")
    auth.set_active(e, "ann", False, actor="demo_admin")
    from lib.semantic import metric_store
    m = metric_store.load_model(e)[0].metric("revenue").to_dict()
    metric_store.save(e, {**m, "description": "改了口径"}, "demo_finance", "wording")
    actions = audit.entries(e)["action"].tolist()
    for action in ("login", "login_failed", "user_create", "scope_change", "password_reset", "user_update",
                   "user_disable", "metric_edit"):
        assert action in actions, action
    entry = audit.entries(e, action="metric_edit").iloc[0]
    assert (entry["username"], entry["target"]) == ("demo_finance", "revenue")


def test_a_region_covers_its_subtree_and_only_it(store_with_users):
    e = store_with_users
    east = auth.load_user(e, "demo_east")
    mine = query.run(e, QuerySpec(("revenue", "opex", "ar_balance", "inventory_value"), ("region",),
                                  time_range=Y2025), user=east)
    assert mine["region"].tolist() == ["华东大区"]
    everyone = query.run(e, QuerySpec(("revenue", "opex", "ar_balance", "inventory_value"), ("region",),
                                      time_range=Y2025)).set_index("region").loc["华东大区"]
    for col in ("revenue", "opex", "ar_balance", "inventory_value"):
        assert mine[col].iloc[0] == pytest.approx(everyone[col])
    # "company total" for a dept head is their scope's total
    total = query.run(e, QuerySpec(("revenue",), time_range=Y2025), user=east)["revenue"].iloc[0]
    assert total == pytest.approx(everyone["revenue"])


@pytest.mark.parametrize("spec", [
    QuerySpec(("revenue",), ("region",), (FilterSpec("region", "in", ("西部大区",)),), Y2025),
    QuerySpec(("revenue",), ("department",), (FilterSpec("department", "eq", ("西部经销部",)),), Y2025),
    QuerySpec(("revenue",), ("customer",), (FilterSpec("region", "not_in", ("华东大区",)),), Y2025),
    QuerySpec(("opex",), ("region",), (FilterSpec("region", "in", ("总部",)),), Y2025),
    QuerySpec(("revenue",), ("region",), (FilterSpec("region", "in", ("华东大区' OR '1'='1",)),), Y2025),
    QuerySpec(("revenue_yoy", "dso", "budget_execution"), ("region", "quarter"), time_range=Y2025,
              sort=(Sort("region", True),), limit=3),
])
def test_a_dept_head_never_gets_a_row_of_another_region(store_with_users, spec):
    east = auth.load_user(store_with_users, "demo_east")
    df = query.run(store_with_users, spec, user=east)
    if "region" in df.columns:
        assert set(df["region"].dropna()) <= {"华东大区"}
    values = df.drop(columns=[c for c in df.columns if c in ("region", "department", "customer", "quarter")])
    if "region" not in df.columns or df.empty:
        assert values.fillna(0).eq(0).all().all() or df.empty


def test_the_viewer_role_is_denied_costs_everywhere(store_with_users):
    viewer = auth.load_user(store_with_users, "demo_viewer")
    for metric in ("cogs", "gross_profit", "gross_margin", "operating_profit", "actual", "budget_variance"):
        with pytest.raises(Forbidden):
            query.compile(QuerySpec((metric,), time_range=Y2025), viewer)
    assert query.run(store_with_users, QuerySpec(("revenue",), time_range=Y2025), user=viewer)["revenue"].iloc[0] > 0


def test_roles_are_checked_in_lib(store_with_users):
    finance, east = (auth.load_user(store_with_users, u) for u in ("demo_finance", "demo_east"))
    auth.require(finance, "edit_metrics")
    with pytest.raises(Forbidden, match="may not edit metrics"):
        auth.require(east, "edit_metrics")
    assert not auth.may(finance, "manage_users") and auth.may(auth.load_user(store_with_users, "demo_admin"), "manage_users")


def test_cli_users_and_query_as(store_with_users, monkeypatch, capsys):
    url = store_with_users.url.render_as_string(hide_password=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert cli.main(["--url", url, "users", "add", "lin", "--role", "dept_head", "--scope", "西部大区",
                     "--password-stdin"]) == 0
    assert "added lin (dept_head)" in capsys.readouterr().out
    assert cli.main(["--url", url, "query", "--as", "lin", "--metric", "revenue", "--by", "region",
                     "--from", "2025", "--to", "2025", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["region"] for r in rows] == ["西部大区"]
    # a filter naming another region, typed by hand, finds nothing
    assert cli.main(["--url", url, "query", "--as", "lin", "--metric", "revenue", "--by", "region",
                     "--where", "region=华东大区", "--from", "2025", "--to", "2025", "--format", "csv"]) == 0
    assert pd.read_csv(io.StringIO(capsys.readouterr().out)).empty
    assert cli.main(["--url", url, "users", "add", "xy", "--role", "dept_head", "--scope", "华东"]) == 2
    assert "Did you mean: 华东大区" in capsys.readouterr().err
    assert cli.main(["--url", url, "users", "disable", "lin"]) == 0
    capsys.readouterr()
    assert cli.main(["--url", url, "query", "--as", "lin", "--metric", "revenue"]) == 2
    assert "No active user 'lin'" in capsys.readouterr().err
    assert "query_as" in audit.entries(store_with_users)["action"].tolist()


def test_init_creates_an_admin_with_a_generated_password_once(empty_engine, capsys):
    url = empty_engine.url.render_as_string(hide_password=False)
    assert cli.main(["--url", url, "init"]) == 0
    out = capsys.readouterr().out
    password = out.split("password: ")[1].split()[0]
    assert len(password) >= 16 and auth.authenticate(empty_engine, "admin", password).role == "admin"
    assert cli.main(["--url", url, "init"]) == 0
    assert "password" not in capsys.readouterr().out


def _east(engine):
    from lib.access.scope import Scope, User
    with engine.connect() as conn:
        r10 = conn.execute(sa.text("SELECT id FROM org_unit WHERE code = 'R10'")).scalar_one()
        ids = auth.subtree_ids(conn, [r10])
    return User("east", "dept_head", Scope(org_unit_ids=ids))


@pytest.mark.parametrize("comparison", [None, "yoy"])
def test_every_metric_for_a_dept_head_is_exactly_their_regions_figures(demo_engine, comparison):
    from lib.semantic.spec import Comparison
    east = _east(demo_engine)
    for mid in sorted(query.default_model().metrics):
        spec = QuerySpec((mid,), ("quarter", "region"), time_range=Y2025,
                         comparison=Comparison(comparison) if comparison else None)
        try:
            query.compile(spec)
        except InvalidSpec:  # e.g. MoM at quarter grain: refused alike for everyone
            with pytest.raises(InvalidSpec):
                query.compile(spec, east)
            continue
        mine = query.run(demo_engine, spec, user=east)
        assert set(mine["region"].dropna()) <= {"华东大区"}, mid
        theirs = query.run(demo_engine, QuerySpec(spec.metrics, spec.dimensions,
                                                  (FilterSpec("region", "in", ("华东大区",)),), Y2025, spec.comparison))
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True),
                                      check_exact=False, rtol=1e-9, obj=mid)


def test_filter_value_lists_show_only_values_in_scope(demo_engine):
    east = _east(demo_engine)
    assert query.dimension_values(demo_engine, "region", east) == ["华东大区"]
    everyone = query.dimension_values(demo_engine, "department")
    mine = query.dimension_values(demo_engine, "department", east)
    assert set(mine) == {"华东经销部", "华东商超部", "上海旗舰店"} and set(mine) < set(everyone)
    customers = query.dimension_values(demo_engine, "customer", east)
    assert customers and all(c.startswith(("上海", "杭州", "南京", "苏州", "宁波", "合肥")) for c in customers)


@pytest.mark.parametrize("evil", [
    "x'); DROP TABLE sales_line; --",
    "华东大区' OR '1'='1",
    "'; UPDATE app_user SET role='admin'; --",
    "\\'; DELETE FROM org_unit; --",
])
def test_injection_through_filter_values_dimensions_and_sort_changes_nothing(store_with_users, evil):
    from lib.core import store
    e = store_with_users
    before = store.row_counts(e)
    east = auth.load_user(e, "demo_east")
    for spec in (QuerySpec(("revenue",), ("region",), (FilterSpec("region", "in", (evil,)),), Y2025),
                 QuerySpec(("revenue",), ("customer",), (FilterSpec("customer", "not_in", (evil,)),), Y2025)):
        df = query.run(e, spec, user=east)
        assert set(df.get("region", pd.Series(dtype=str)).dropna()) <= {"华东大区"}
    for bad in (QuerySpec(("revenue",), (evil,)), QuerySpec((evil,)), QuerySpec(("revenue",), sort=(Sort(evil),))):
        with pytest.raises(WorkbenchError):
            query.compile(bad, east)
    assert store.row_counts(e) == before
    assert auth.load_user(e, "demo_east").role == "dept_head"


def test_an_admin_disabled_a_moment_ago_cannot_act_from_an_open_page(store_with_users):
    e = store_with_users
    auth.set_active(e, "demo_admin", False)  # e.g. by another admin or the CLI
    for act in (lambda: auth.add_user(e, "mallory", "admin", "a-long-password", actor="demo_admin"),
                lambda: auth.set_role(e, "demo_viewer", "admin", actor="demo_admin"),
                lambda: auth.reset_password(e, "demo_finance", "a-long-password", actor="demo_admin"),
                lambda: auth.set_active(e, "demo_west", False, actor="demo_admin")):
        with pytest.raises(Forbidden):
            act()
    assert "mallory" not in {u["username"] for u in auth.list_users(e)}
    with pytest.raises(Forbidden, match="may not manage users"):
        auth.add_user(e, "mallory", "admin", "a-long-password", actor="demo_finance")  # not an admin at all


def test_a_demoted_editor_cannot_save_and_the_audit_names_the_real_user(store_with_users):
    from lib.semantic import metric_store
    e = store_with_users
    finance = auth.load_user(e, "demo_finance")  # what an open page holds
    m = metric_store.load_model(e)[0].metric("revenue").to_dict()
    metric_store.save(e, {**m, "description": "ok"}, "demo_admin", user=finance)  # author text is free ...
    entry = audit.entries(e, action="metric_edit").iloc[0]
    assert entry["username"] == "demo_finance" and '"author": "demo_admin"' in entry["detail"]  # ... the audit isn't
    auth.set_role(e, "demo_finance", "viewer")
    with pytest.raises(Forbidden):
        metric_store.save(e, {**m, "description": "HACKED"}, "x", user=finance)
    assert metric_store.load_model(e)[0].metric("revenue").description == "ok"


def test_logout_reset_disable_lock_and_role_changes_void_earlier_sessions(store_with_users):
    e = store_with_users
    before = clock.now_precise() - dt.timedelta(seconds=1)
    assert auth.session_valid(e, "demo_east", before)
    for void in (lambda: auth.end_sessions(e, "demo_east"),
                 lambda: auth.reset_password(e, "demo_east", "a-long-password"),
                 lambda: auth.set_scope(e, "demo_east", ["R10"]),
                 lambda: auth.set_role(e, "demo_east", "dept_head")):
        issued = clock.now_precise()
        assert auth.session_valid(e, "demo_east", issued)
        void()
        assert not auth.session_valid(e, "demo_east", issued)
    issued = clock.now_precise()
    _guess(e, "demo_west", auth.MAX_FAILED)
    assert auth.session_valid(e, "demo_west", issued)  # locked: new password log-ins stop, open sessions hold


def test_messages_do_not_tell_which_user_names_exist(store_with_users):
    e = store_with_users
    generic = "Wrong user name or password."
    auth.set_active(e, "demo_east", False)
    _guess(e, "demo_west", auth.MAX_FAILED)
    for user in ("nobody", "demo_east", "demo_west"):  # unknown, disabled, locked: same answer to a wrong password
        with pytest.raises(auth.AuthError) as err:
            auth.authenticate(e, user, "still-wrong!", client="198.51.100.1")
        assert str(err.value) == generic, user
    now = clock.now()
    for user in ("nobody", "demo_west"):    # and the back-off is the same for a name that exists and one that doesn't
        for _ in range(auth.FREE_TRIES):
            with pytest.raises(auth.AuthError, match="Wrong user name"):
                auth.authenticate(e, user, "still-wrong!", client="198.51.100.2", now=now)
        with pytest.raises(auth.AuthError, match="try again in 1 second"):
            auth.authenticate(e, user, "still-wrong!", client="198.51.100.2", now=now)
    failed = audit.entries(e, action="login_failed")
    assert "nobody" not in set(failed["username"].dropna()) | set(failed["target"].dropna())


def test_failed_attempts_are_counted_by_the_database(store_with_users):
    e = store_with_users
    for n in range(1, auth.MAX_FAILED):
        with pytest.raises(auth.AuthError):
            auth.authenticate(e, "demo_viewer", "wrong-password!", client=f"10.2.0.{n}")
        with e.connect() as conn:
            row = conn.execute(sa.select(auth.users).where(auth.users.c.username == "demo_viewer")).one()
        assert (row.failed_attempts, row.locked_until) == (n, None)


def test_the_cookie_key_file_is_private_from_the_start(monkeypatch, tmp_path):
    import os
    import stat

    from lib.core import config, secrets_file
    monkeypatch.delenv("WORKBENCH_COOKIE_KEY", raising=False)
    monkeypatch.setattr(config, "SECRETS_FILE", tmp_path / ".streamlit" / "secrets.toml")
    assert secrets_file.ensure_cookie_key() is True
    assert stat.S_IMODE(os.stat(config.SECRETS_FILE).st_mode) == 0o600
    assert len(secrets_file.cookie_key()) == 64
    assert secrets_file.ensure_cookie_key() is False  # never overwritten


def test_a_log_in_cookie_is_signed_expires_and_names_its_user(monkeypatch):
    key = "a-cookie-key-of-sufficient-length-0123456789"
    token, issued = auth.issue_token("demo_east", key, 7)
    assert auth.read_token(token, key, 7) is not None
    username, read_issued = auth.read_token(token, key, 7)
    assert username == "demo_east" and abs((read_issued - issued).total_seconds()) < 5
    assert auth.read_token(token, "another-key-of-sufficient-length-0123456789", 7) is None    # not ours
    assert auth.read_token(token[:-3] + "abc", key, 7) is None                                  # tampered
    for junk in ("", "not-a-jwt", "a.b.c"):
        assert auth.read_token(junk, key, 7) is None
    import jwt
    unsigned = jwt.encode({"username": "demo_admin", "exp_date": 9e9}, key="", algorithm="none")
    assert auth.read_token(unsigned, key, 7) is None                                          # alg "none" refused
    expired = jwt.encode({"username": "demo_east", "exp_date": clock.epoch_ms() / 1000 - 1}, key, algorithm="HS256")
    assert auth.read_token(expired, key, 7) is None
    nameless = jwt.encode({"exp_date": 9e9}, key, algorithm="HS256")
    assert auth.read_token(nameless, key, 7) is None


def test_hashes_cost_2_to_the_12_unless_the_suite_lowers_it(monkeypatch):
    from lib.core import config
    monkeypatch.delenv("WORKBENCH_BCRYPT_ROUNDS", raising=False)
    assert config.bcrypt_rounds() == 12 and auth.hash_password("a-long-password").startswith("$2b$12$")
    for raw, rounds in (("4", 4), ("2", 4), ("99", 31), ("²", 12), ("", 12)):
        monkeypatch.setenv("WORKBENCH_BCRYPT_ROUNDS", raw)
        assert config.bcrypt_rounds() == rounds, raw
