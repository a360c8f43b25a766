"""UI strings of the management cockpit (经营驾驶舱) and the performance section's navigation: zh and en per key."""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "nav.section.performance": {"zh": "绩效与预警", "en": "Performance"},
    "nav.scorecard": {"zh": "绩效考核", "en": "Scorecards"},
    "nav.alerts": {"zh": "预警中心", "en": "Alerts"},
}
