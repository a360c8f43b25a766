"""The app's own tables, one module per capability (alerts, dashboards, finance, ingest, notify, scorecards,
sources, access, metrics), defined here so that ``core.store``'s migrations create them without importing
the capabilities that use them.
"""
