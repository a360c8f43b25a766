"""The demo company (示例消费品公司): a deterministic business-finance data set with its users, dashboards,
scorecards and alert rules (``build.build``).
"""
