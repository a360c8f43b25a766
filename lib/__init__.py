"""Yecai Workbench library: pure Python, never imports streamlit, one package per capability.

Layers, lowest first (the contracts in pyproject.toml): core, access, semantic, explore, performance,
finance | ingest, demo, cli. A package imports only from its own layer's package and the ones below.
"""
