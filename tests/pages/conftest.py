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
