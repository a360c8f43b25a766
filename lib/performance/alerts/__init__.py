"""Alerts (预警): rules and their periods (``rules``, ``periods``), anomaly detection (``anomaly``),
evaluation runs (``run``), one alert per persisting breach with its sentence (``center``, ``text``), rule admin (``admin``).
"""
