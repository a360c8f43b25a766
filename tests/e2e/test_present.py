"""Presentation mode (会议模式) in a real browser: a link opens it, the arrow keys move tile by tile."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from lib import config, dashboards, demo, store
from tests.e2e.conftest import _free_port, login, settle


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory):
    """The app on a small demo store with the demo dashboards (the suite's e2e store has none until the
    demo build seeds them, and a served DuckDB file can't be written from here)."""
    path = tmp_path_factory.mktemp("e2e_dash") / "dash.duckdb"
    engine = store.get_engine(f"duckdb:///{path}")
    demo.build(engine, rows=demo.MIN_ROWS, as_of=dt.date(2026, 11, 24))
    ids = dashboards.seed_demo(engine)
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "WORKBENCH_DB_URL": f"duckdb:///{path}",
           "WORKBENCH_COOKIE_KEY": "e2e-only-cookie-key-0123456789abcdef"}
    log = open(path.with_suffix(".log"), "w")
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
    yield base, ids
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def _position(pg) -> str:
    return pg.get_by_text("键盘 ← → 翻页").inner_text()


def test_arrow_keys_move_through_the_tiles(dash_server, page):
    base, ids = dash_server
    login(page, base)
    page.wait_for_timeout(1000)  # the log-in cookie is written by a hidden component
    page.goto(f"{base}/dashboards?dash={ids[1]}&present=1")
    page.wait_for_selector('[data-testid="stVegaLiteChart"]', timeout=60_000)
    settle(page)
    assert not page.locator('[data-testid="stSidebar"]').is_visible()   # no chrome in the meeting
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 1
    assert _position(page).startswith("第 1 / 4 页")
    page.keyboard.press("ArrowRight")
    settle(page)
    assert _position(page).startswith("第 2 / 4 页")
    assert "tile=1" in page.url
    page.keyboard.press("ArrowRight")
    settle(page)
    assert _position(page).startswith("第 3 / 4 页")
    assert page.get_by_text("毛利前十的产品").is_visible()            # the tile's note
    page.keyboard.press("ArrowLeft")
    settle(page)
    assert _position(page).startswith("第 2 / 4 页")
