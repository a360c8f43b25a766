"""Yecai Workbench library: store, model, demo company and analyses. Never imports streamlit."""
