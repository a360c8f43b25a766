"""Notifications: an outbox written in the caller's transaction and delivered later with retries
(``outbox.deliver``), through e-mail and webhook channels (``channels``).
"""
