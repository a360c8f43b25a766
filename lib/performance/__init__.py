"""Performance management: weighted KPI scorecards (``scorecards``), alert rules and their runs
(``alerts``), notifications through an outbox (``notify``), and what runs when data changes (``hooks``).
"""
