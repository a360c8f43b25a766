"""The command line, ``python -m lib.cli``: init, demo, info, metrics, query, forecast and users (``main``),
with one module per command group (``alerts``, ``notify``, ``scorecard``, ``ingest``).
"""
