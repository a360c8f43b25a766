"""UI strings of notifications (outbox, contacts): zh and en per key, merged by ``lib.i18n``."""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
}
