"""Data integration: CSV/Excel read (``read``), mapped (``mapping``), checked into rows (``rows``, ``build``)
and imported all-or-nothing (``batch.prepare`` / ``batch.commit``, ``stream.import_file``), undone
(``undo.rollback``); database sources and their sync (``sources``, ``sync``); the pilot path (``pilot``).
"""
