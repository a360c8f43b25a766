"""Finance analyses on the semantic layer: margin and the price-volume-mix bridge (``margin``), budget vs
actual (``budget``), budget versions and uploads, statsmodels forecasts with their accuracy (``forecast``),
what-if scenarios (``scenario``), the management cockpit and overview (``cockpit``, ``overview``).
"""
