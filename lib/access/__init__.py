"""Who may read what: users and log-in (``auth.authenticate``, ``auth.load_user``), roles and row scopes
(``scope.User``, ``scope.Scope``, applied by the query compiler), the audit log (``audit.record``), and what the
admin page shows (``admin_view``).
"""
