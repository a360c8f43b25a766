"""Fixtures shared by the library tests."""
from __future__ import annotations

import pytest

from lib.core import store
from tests.conftest import BACKENDS, _new_url
from tests.lib import fixtures_finance as ff


@pytest.fixture(scope="module", params=BACKENDS)
def fin(request, tmp_path_factory):
    """The hand-written finance store, built once per backend per module, for read-only tests."""
    engine = store.get_engine(_new_url(request.param, tmp_path_factory, request))
    ff.build(engine)
    yield engine
    engine.dispose()
