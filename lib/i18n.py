"""UI strings in Chinese (default) and English. Keys are stable ids; pages never hard-code text."""
from __future__ import annotations

LANGS = ("zh", "en")
LANG_NAMES = {"zh": "中文", "en": "English"}

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"zh": "业财分析工作台", "en": "Yecai Workbench"},
    # The same in both languages: a widget whose label changes is a new widget and loses its value.
    "app.language": {"zh": "语言 / Language", "en": "语言 / Language"},
    "nav.section.analysis": {"zh": "经营分析", "en": "Analysis"},
    "nav.overview": {"zh": "经营概览", "en": "Overview"},
    "overview.title": {"zh": "经营概览", "en": "Business overview"},
    "overview.caption": {"zh": "{month} · 最近一个完整月 · 金额单位：人民币",
                         "en": "{month} · latest complete month · amounts in CNY"},
    "overview.empty": {"zh": "存储中还没有销售数据。运行 `make run`（自动生成示例公司）或 `python -m lib.cli demo`。",
                       "en": "The store holds no sales yet. Run `make run` (builds the demo company) or `python -m lib.cli demo`."},
    "overview.trend": {"zh": "近24个月营业收入与毛利率", "en": "Revenue and gross margin, last 24 months"},
    "overview.mom": {"zh": "环比", "en": "MoM"},
    "overview.yoy": {"zh": "同比", "en": "YoY"},
    "kpi.revenue": {"zh": "营业收入", "en": "Net revenue"},
    "kpi.gross_profit": {"zh": "毛利", "en": "Gross profit"},
    "kpi.gross_margin": {"zh": "毛利率", "en": "Gross margin"},
    "kpi.opex": {"zh": "期间费用", "en": "Operating expenses"},
    "kpi.operating_profit": {"zh": "营业利润", "en": "Operating profit"},
    "kpi.revenue.help": {"zh": "净销售额合计 = Σ(数量 × 标准单价 − 折扣)", "en": "Σ net revenue = Σ (quantity × list price − discount)"},
    "kpi.gross_profit.help": {"zh": "营业收入 − 营业成本（销售明细的成本）", "en": "Net revenue − cost of goods sold (from the sales lines)"},
    "kpi.gross_margin.help": {"zh": "毛利 ÷ 营业收入，先汇总再相除；变动以百分点表示",
                              "en": "Gross profit ÷ net revenue, divided after aggregation; changes in percentage points"},
    "kpi.opex.help": {"zh": "总账中销售、管理、研发、财务费用科目的发生额合计",
                      "en": "GL postings on selling, admin, R&D and financial expense accounts"},
    "kpi.operating_profit.help": {"zh": "毛利 − 期间费用", "en": "Gross profit − operating expenses"},
    "chart.month": {"zh": "月份", "en": "Month"},
    "chart.revenue_wan": {"zh": "营业收入（万元）", "en": "Net revenue (CNY 10k)"},
    "chart.gross_margin": {"zh": "毛利率", "en": "Gross margin"},
    "error.store": {"zh": "无法读取数据", "en": "Cannot read the data"},
}


def t(key: str, lang: str = "zh", **kw: object) -> str:
    """The text for ``key`` in ``lang``, formatted with ``kw``.

    >>> t("kpi.revenue", "en")
    'Net revenue'
    """
    try:
        text = MESSAGES[key][lang if lang in LANGS else "zh"]
    except KeyError:
        raise KeyError(f"No UI text {key!r}. Known keys start with: "
                       f"{', '.join(sorted({k.split('.')[0] for k in MESSAGES}))}") from None
    return text.format(**kw) if kw else text
