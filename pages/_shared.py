"""The only Streamlit glue: cached engine and reads, language, error display. Pages import this."""
from __future__ import annotations

import sqlalchemy as sa
import streamlit as st

from lib import config, i18n, overview, store
from lib.errors import WorkbenchError
from lib.schema import app_import_batch


def lang() -> str:
    """The UI language chosen in the sidebar ('zh' default)."""
    value = st.session_state.get("lang", "zh")
    return value if value in i18n.LANGS else "zh"


def t(key: str, **kw: object) -> str:
    return i18n.t(key, lang(), **kw)


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> sa.Engine:
    engine = store.get_engine(url)
    store.init_schema(engine)
    return engine


def engine() -> sa.Engine:
    """The store's engine, opened and migrated once per process and URL."""
    return _engine(config.store_url())


def data_version() -> str:
    """Changes whenever an import or a demo build lands, so cached reads are refreshed."""
    with engine().connect() as conn:
        n, last = conn.execute(sa.select(sa.func.count(), sa.func.max(app_import_batch.c.created_at))).one()
    return f"{n}:{last}"


@st.cache_data(show_spinner=False, max_entries=16)
def _overview(url: str, version: str) -> overview.Overview | None:
    return overview.build(_engine(url))


def overview_figures() -> overview.Overview | None:
    """The Overview, cached per store URL and data version."""
    return _overview(config.store_url(), data_version())


def show_error(exc: WorkbenchError) -> None:
    sep = "：" if lang() == "zh" else ": "
    st.error(f"{t('error.store')}{sep}{exc.message(lang())}")
