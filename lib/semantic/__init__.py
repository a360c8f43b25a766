"""The one read path: the semantic model from data/semantic/*.yaml (``model.load``), specs (``spec.QuerySpec``),
the compiler (``query.compile``, ``query.run``, ``query.describe``), metric versions (``metric_store``),
registered datasets (``datasets``), the metric center's views (``metric_view``) and the analysis date (``asof``).
"""
