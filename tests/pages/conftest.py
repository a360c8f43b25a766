"""AppTest runs the app as `python app.py` serves it: without Streamlit's v1 pages/ router.

AppTest resets ``PagesManager.uses_pages_directory`` before every run, which would route each
rerun through the v1 router (a page script run without app.py). app.py's launcher switches the
router off for the real server; this does the same for AppTest.
"""
import pytest
from streamlit.runtime.pages_manager import PagesManager


@pytest.fixture(autouse=True)
def _no_v1_pages_router(monkeypatch):
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


DEMO_PASSWORD = "yecai-demo-2026"


@pytest.fixture(autouse=True)
def _cookie_key(monkeypatch):
    """The app refuses to start without a cookie key; tests use a throw-away one."""
    monkeypatch.setenv("WORKBENCH_COOKIE_KEY", "test-only-cookie-key-0123456789abcdef")


def open_app(monkeypatch, url: str, user: str | None = "demo_finance", lang: str = "zh",
             password: str = DEMO_PASSWORD):
    """The app on ``url``, logged in through its form as ``user`` (None: stay at the log-in form)."""
    from streamlit.testing.v1 import AppTest

    from lib.core import config
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    at = AppTest.from_file(str(config.ROOT / "app.py"), default_timeout=60)
    at.session_state["lang"] = lang
    at.run()
    if user is not None:
        at.text_input(key="login_username").input(user)
        at.text_input(key="login_password").input(password)
        at.button[0].click().run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture
def own_url(small_demo_url):
    """A small demo store of the test's own (DuckDB, and PostgreSQL when asked), for tests that write."""
    return small_demo_url


def shown(markdown: str) -> str:
    """What a reader sees of markdown that ``lib.core.fmt.plain`` escaped: the text without its backslashes."""
    import re
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
