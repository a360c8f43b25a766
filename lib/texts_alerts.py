"""UI strings of the alerts area: zh and en per key, merged by ``lib.i18n``."""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
}
