"""Errors the workbench raises on purpose; anything else reaching a page is a bug."""
from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every error meant for a person: the message says what is wrong and what to do.

    ``message_zh`` carries the Chinese text where the error reaches the UI; ``str(err)``
    is the English text, used by the CLI and logs.
    """

    def __init__(self, message: str, message_zh: str | None = None) -> None:
        super().__init__(message)
        self.message_en = message
        self.message_zh = message_zh or message

    def message(self, lang: str = "en") -> str:
        """The message in ``lang`` ('zh' or 'en')."""
        return self.message_zh if lang == "zh" else self.message_en


class StoreUnavailable(WorkbenchError):
    """The store cannot be opened: locked by another process, unreachable, bad URL."""


class SchemaTooNew(WorkbenchError):
    """The store was written by a newer version of the workbench than this one."""


class QueryTimeout(WorkbenchError):
    """A query ran past the configured timeout and was cancelled."""


class ResultTooLarge(WorkbenchError):
    """A query returned more rows than the row cap allows."""


class InvalidArgument(WorkbenchError):
    """A caller (CLI flag, function argument) passed a value outside what is allowed."""


class Forbidden(WorkbenchError):
    """The user's role or scope does not allow this."""
