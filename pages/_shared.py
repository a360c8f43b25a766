"""The only Streamlit glue: cached engine and reads, language, error display. Pages import this."""
from __future__ import annotations

import streamlit as st

from lib import config, i18n, overview, store
from lib.errors import WorkbenchError


def lang() -> str:
    """The UI language chosen in the sidebar ('zh' default)."""
    value = st.session_state.get("lang", "zh")
    return value if value in i18n.LANGS else "zh"


def t(key: str, **kw: object) -> str:
    return i18n.t(key, lang(), **kw)


@st.cache_resource(show_spinner=False)
def _engine(url: str):
    engine = store.get_engine(url)
    store.init_schema(engine)
    return engine


def engine():
    """The store's engine, opened and migrated once per process and URL."""
    return _engine(config.store_url())


def data_version() -> str:
    """Changes whenever an import or a demo build lands, so cached reads are refreshed."""
    import sqlalchemy as sa

    from lib.schema import app_import_batch
    with engine().connect() as conn:
        row = conn.execute(sa.select(sa.func.count(), sa.func.max(app_import_batch.c.created_at))).one()
    return f"{row[0]}:{row[1]}"


@st.cache_data(show_spinner=False, max_entries=16)
def overview_data(url: str, version: str):
    """Cached per store URL and data version."""
    return overview.build(engine())


def show_error(exc: WorkbenchError) -> None:
    st.error(f"{t('error.store')}：{exc.message(lang())}" if lang() == "zh"
             else f"{t('error.store')}: {exc.message(lang())}")
