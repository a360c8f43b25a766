"""Self-service analysis on the semantic layer: chart specs evaluated with top N and quick calcs
(``evaluate.evaluate``), shelves state and links (``state``, ``link``), Altair charts (``charts.render``),
their formats and tables, exports (Excel, PNG, PDF) and saved dashboards (``dashboards``).
"""
