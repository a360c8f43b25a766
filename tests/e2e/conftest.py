"""A real browser against a real server: `python app.py` on a free port, Debian Chromium via Playwright.

Runs on DuckDB only: these tests check what a person does with the mouse; both engines are
covered below the UI by tests/lib and tests/pages.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lib.core import config, store
from lib.demo import build as demo
from tests.conftest import DEMO_AS_OF, DEMO_ROWS, DEMO_SEED

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The app served from its own demo store (a DuckDB file has one writer: not the suite's)."""
    path = tmp_path_factory.mktemp("e2e") / "e2e.duckdb"
    engine = store.get_engine(f"duckdb:///{path}")
    demo.build(engine, rows=DEMO_ROWS, seed=DEMO_SEED, as_of=DEMO_AS_OF)
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "WORKBENCH_DB_URL": f"duckdb:///{path}",
           "WORKBENCH_COOKIE_KEY": "e2e-only-cookie-key-0123456789abcdef"}
    log = open(Path(path).with_suffix(".log"), "w")
    proc = subprocess.Popen([sys.executable, "app.py", "--server.port", str(port), "--server.headless", "true",
                             "--server.fileWatcherType", "none"], cwd=config.ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the app did not start; see {log.name}")
        time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but no Chromium at {CHROMIUM}: apt-get install -y chromium")
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's package")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


def settle(pg) -> None:
    """Wait until the app's rerun has finished (a click sent during a rerun can be lost)."""
    pg.wait_for_timeout(300)
    pg.wait_for_selector(IDLE, timeout=30_000)


def login(pg, base: str, user: str = "demo_finance", password: str = "yecai-demo-2026", url: str | None = None,
          arrived: str | None = None) -> None:
    """Log in through the form as a person would: one click, never a second (``url``: the link opened first;
    ``arrived``: what shows once in, when it is not the sidebar's logout button, e.g. in meeting mode)."""
    pg.goto(url or base)
    pg.wait_for_selector('input[aria-label="用户名"]', timeout=60_000)
    settle(pg)
    pg.get_by_label("用户名").fill(user)
    pg.get_by_label("密码").fill(password)
    pg.get_by_role("button", name="登录").click()
    # The app (its logout button) or a refusal: a click that was swallowed shows neither, and fails here.
    there = pg.locator(arrived) if arrived else pg.get_by_role("button", name="退出登录")
    there.or_(pg.locator('[data-testid="stAlert"]')).first.wait_for(timeout=30_000)
    settle(pg)


def cookie_written(pg, present: bool = True, timeout_ms: int = 30_000) -> None:
    """Wait until the log-in cookie is set (or, with ``present=False``, gone): a hidden component writes
    it after the page has drawn, later under load than a fixed pause would allow."""
    deadline = time.monotonic() + timeout_ms / 1000
    while any(c["name"] == "yecai_auth" for c in pg.context.cookies()) != present:
        if time.monotonic() > deadline:
            raise AssertionError(f"the log-in cookie was {'not set' if present else 'not deleted'} in time")
        pg.wait_for_timeout(100)
