"""UI strings of the margin analysis page (毛利分析): zh and en per key, merged by ``lib.i18n``."""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
}
