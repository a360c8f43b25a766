"""The only Streamlit glue: cached engine and reads, language, error display. Pages import this."""
from __future__ import annotations

import sqlalchemy as sa
import streamlit as st

import json

import pandas as pd

from lib import config, i18n, metric_store, metric_view, overview, query, store
from lib.errors import WorkbenchError
from lib.schema import app_import_batch
from lib.semantic import SemanticModel
from lib.spec import QuerySpec


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


def metrics_version() -> str:
    """Changes whenever a metric edit is saved, so the cached model is reloaded."""
    v = metric_store.metric_version
    with engine().connect() as conn:
        n, last = conn.execute(sa.select(sa.func.count(), sa.func.max(v.c.created_at))).one()
    return f"{n}:{last}"


@st.cache_resource(show_spinner=False, max_entries=8)
def _model(url: str, version: str) -> tuple[SemanticModel, list]:
    return metric_store.load_model(_engine(url))


def model() -> SemanticModel:
    """The semantic model: YAML seed plus the store's metric edits, cached per metric version."""
    return _model(config.store_url(), metrics_version())[0]


def skipped_edits() -> list:
    """Stored edits that no longer validate against the seed (left out of the model)."""
    return _model(config.store_url(), metrics_version())[1]


@st.cache_data(show_spinner=False, max_entries=256)
def _run(url: str, spec_json: str, data: str, metrics: str) -> pd.DataFrame:
    return query.run(_engine(url), QuerySpec.from_json(spec_json), model=_model(url, metrics)[0])


def run(spec: QuerySpec) -> pd.DataFrame:
    """Every figure a page shows: ``lib.query`` through one cache keyed by spec, data and metric versions."""
    return _run(config.store_url(), spec.to_json(), data_version(), metrics_version())


def overview_figures() -> overview.Overview | None:
    """The Overview, from cached compiled queries."""
    return overview.build(run)


def explain(spec: QuerySpec, key: str) -> None:
    """"Explain this number": the question in words, the SQL finance can audit, and the spec."""
    with st.expander(t("metrics.explain"), key=key):
        st.markdown(metric_view.markdown_escape(query.describe(spec, lang(), model())))
        try:
            st.caption(t("metrics.explain.sql"))
            st.code(query.sql_text(spec, engine(), model=model()), language="sql")
        except WorkbenchError as exc:
            show_error(exc)
        st.caption(t("metrics.explain.spec"))
        st.code(json.dumps(spec.to_dict(), ensure_ascii=False, indent=2), language="json")


def show_error(exc: WorkbenchError) -> None:
    sep = "：" if lang() == "zh" else ": "
    st.error(f"{t('error.store')}{sep}{exc.message(lang())}")
