"""UI strings of the budget & forecast page (预算与预测) and scenarios: zh and en per key, merged by ``lib.i18n``."""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
}
