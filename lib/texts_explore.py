"""UI strings of the Explore page (自助分析) and chart exports: zh and en per key, merged by ``lib.i18n``."""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
}
