"""The fixed words of a question: time expressions, comparisons, rankings, time grains and filler.

Each is a pattern over the normalised question (NFKC, lower case) with a resolver; time expressions are
resolved against ``today`` (the one clock). Everything here is deterministic: the same question on the same
day reads the same way.

>>> d = dt.date(2026, 11, 24)
>>> find("2025年3月", d)[0]
Hit(start=0, end=7, kind='time', value=Span(start=datetime.date(2025, 3, 1), end=datetime.date(2025, 3, 31), what='month'))
>>> find("q3 2026", d)[0].value
Span(start=datetime.date(2026, 7, 1), end=datetime.date(2026, 9, 30), what='quarter')
>>> find("前十", d)[0].value
Rank(descending=True, n=10)
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace

TIME, COMPARISON, RANKING, GRAIN, FILLER = "time", "comparison", "ranking", "grain", "filler"
YOY, PREVIOUS, BUDGET = "yoy", "previous", "budget"
TREND = "trend"


@dataclass(frozen=True)
class Span:
    """Inclusive dates of a time expression; ``what`` says what kind of period it names."""

    start: dt.date
    end: dt.date
    what: str
    bare: bool = field(default=False, repr=False)  # a month, quarter or half named without its year (3月, Q1)


@dataclass(frozen=True)
class Rank:
    descending: bool
    n: int | None  # None: order all members, keep them all


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    kind: str
    value: object


def normalise(text: str) -> str:
    """Full-width to half-width and lower case, one character for one, so positions stay those of the question.

    >>> normalise("ＧＭＶ　前５")
    'gmv 前5'
    """
    out = []
    for ch in text:
        n = unicodedata.normalize("NFKC", ch).lower()
        out.append(n if len(n) == 1 else ch.lower())
    return "".join(out)


# ---- numbers ---------------------------------------------------------------------------------

_CN = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
       "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20}
NUM = r"(\d{1,3}|[零一二两三四五六七八九十百]{1,4})"
EN_NUM = r"(\d{1,3}|" + "|".join(_EN) + ")"


def number(text: str) -> int | None:
    """Digits, Chinese numerals up to 999, or an English number word.

    >>> number("12"), number("十二"), number("二十"), number("一百零五"), number("两"), number("ten")
    (12, 12, 20, 105, 2, 10)
    """
    if text.isdigit():
        return int(text)
    if text in _EN:
        return _EN[text]
    total, current = 0, 0
    for ch in text:
        if ch in _CN:
            current = _CN[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current or None


# ---- periods -----------------------------------------------------------------------------------

def _month(y: int, m: int) -> Span:
    return Span(dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1]), "month")


def _quarter(y: int, q: int) -> Span:
    return Span(dt.date(y, 3 * q - 2, 1), _month(y, 3 * q).end, "quarter")


def _year(y: int) -> Span:
    return Span(dt.date(y, 1, 1), dt.date(y, 12, 31), "year")


def _half(y: int, h: int) -> Span:
    return Span(dt.date(y, 1 if h == 1 else 7, 1), dt.date(y, 6, 30) if h == 1 else dt.date(y, 12, 31), "half")


def _months_back(today: dt.date, n: int) -> dt.date:
    y, m = divmod(today.year * 12 + today.month - 1 - n, 12)
    return dt.date(y, m + 1, 1)


def last_n(today: dt.date, n: int, unit: str) -> Span:
    """The last ``n`` whole units ending with the current one (近12个月 = 12 months ending this month)."""
    if unit == "month":
        return Span(_months_back(today, n - 1), _month(today.year, today.month).end, f"last_{n}_months")
    if unit == "quarter":
        q = (today.month - 1) // 3 + 1
        start = _months_back(dt.date(today.year, 3 * q - 2, 1), 3 * (n - 1))
        return Span(start, _quarter(today.year, q).end, f"last_{n}_quarters")
    if unit == "year":
        return Span(_months_back(today, 12 * n - 1), _month(today.year, today.month).end, f"last_{n}_years")
    if unit == "week":
        monday = today - dt.timedelta(days=today.weekday())
        return Span(monday - dt.timedelta(weeks=n - 1), monday + dt.timedelta(days=6), f"last_{n}_weeks")
    return Span(today - dt.timedelta(days=n - 1), today, f"last_{n}_days")


def ytd(today: dt.date) -> Span:
    return Span(dt.date(today.year, 1, 1), today, "ytd")


def _recent_month(today: dt.date, m: int) -> Span:
    """A month named without its year: the latest one that has begun."""
    return replace(_month(today.year if m <= today.month else today.year - 1, m), bare=True)


def _recent_quarter(today: dt.date, q: int) -> Span:
    return replace(_quarter(today.year if 3 * q - 2 <= today.month else today.year - 1, q), bare=True)


def _recent_half(today: dt.date, h: int) -> Span:
    """上半年 / H1: this year's; 下半年 / H2: the latest that has begun."""
    return replace(_half(today.year if h == 1 or today.month >= 7 else today.year - 1, h), bare=True)


def _first_of_year(today: dt.date, n: int, unit: str) -> Span | None:
    """The first ``n`` months or quarters of this year (前三季度: January to September)."""
    months = n * (3 if unit == "quarter" else 1)
    if not 1 <= months <= 12:
        return None
    return Span(dt.date(today.year, 1, 1), _month(today.year, months).end, f"first_{n}_{unit}s", bare=True)


def _this_quarter(today: dt.date, back: int = 0) -> Span:
    y, q = today.year, (today.month - 1) // 3 + 1 - back
    while q < 1:
        y, q = y - 1, q + 4
    while q > 4:  # back < 0: a quarter ahead
        y, q = y + 1, q - 4
    return _quarter(y, q)


def _week(today: dt.date, back: int) -> Span:
    monday = today - dt.timedelta(days=today.weekday(), weeks=back)
    return Span(monday, monday + dt.timedelta(days=6), "week")


def _previous_month(today: dt.date) -> Span:
    return _month(today.year - (today.month == 1), 12 if today.month == 1 else today.month - 1)


def _month_from(today: dt.date, n: int) -> Span:
    """The month ``n`` months from this one (-2: 上上个月, 1: 下个月)."""
    y, m = divmod(today.year * 12 + today.month - 1 + n, 12)
    return _month(y, m + 1)


def _day(d: dt.date) -> Span:
    return Span(d, d, "day")


def _last_year_ytd(today: dt.date) -> Span:
    y = today.year - 1
    return Span(dt.date(y, 1, 1), dt.date(y, today.month, min(today.day, calendar.monthrange(y, today.month)[1])),
                "last_year_ytd")


_MONTHS_EN = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
              "oct": 10, "nov": 11, "dec": 12}
EN_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
            r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_UNITS = {"个月": "month", "月": "month", "个季度": "quarter", "季度": "quarter", "季": "quarter", "年": "year",
          "周": "week", "个星期": "week", "星期": "week", "天": "day", "日": "day"}
_EN_UNITS = {"month": "month", "quarter": "quarter", "year": "year", "week": "week", "day": "day"}


def _year_ok(y: int) -> bool:
    return 1990 <= y <= 2100


def _cn_month(text: str) -> int | None:
    m = number(text)
    return m if m and 1 <= m <= 12 else None


# ---- the patterns, most specific first ----------------------------------------------------------

Resolve = Callable[[re.Match, dt.date], object]
_B = r"(?<![a-z0-9])"  # an English word starts here
_E = r"(?![a-z0-9])"   # … and ends here


def _p(kind: str, pattern: str, resolve: Resolve) -> tuple[str, re.Pattern, Resolve]:
    return kind, re.compile(pattern), resolve


def _const(value) -> Resolve:
    return lambda m, today: value


def _span(fn: Callable[[dt.date], Span]) -> Resolve:
    return lambda m, today: fn(today)


def _grp_year(m: re.Match, i: int = 1) -> int | None:
    y = int(m.group(i))
    return y if _year_ok(y) else None


PATTERNS: tuple[tuple[str, re.Pattern, Resolve], ...] = (
    # -- time, Chinese
    _p(TIME, r"(\d{4})\s*年\s*(?:第\s*)?([1-4一二三四])\s*(?:季度|季)",
       lambda m, t: _quarter(y, number(m.group(2))) if (y := _grp_year(m)) else None),
    _p(TIME, r"(\d{4})\s*年?\s*q([1-4])" + _E, lambda m, t: _quarter(y, int(m.group(2))) if (y := _grp_year(m)) else None),
    _p(TIME, r"(\d{4})\s*年\s*" + NUM + r"\s*月份?",
       lambda m, t: _month(y, mo) if (y := _grp_year(m)) and (mo := _cn_month(m.group(2))) else None),
    _p(TIME, r"(?<![\d])(\d{4})\s*[-/.]\s*(\d{1,2})(?![\d])",
       lambda m, t: _month(y, mo) if (y := _grp_year(m)) and 1 <= (mo := int(m.group(2))) <= 12 else None),
    _p(TIME, r"(\d{4})\s*年\s*(上|下)半年", lambda m, t: _half(y, 1 if m.group(2) == "上" else 2) if (y := _grp_year(m)) else None),
    _p(TIME, r"(\d{4})\s*(?:年(?:度|全年)?|全年)", lambda m, t: _year(y) if (y := _grp_year(m)) else None),
    # 前三季度, 今年前10个月: the first quarters or months of the year (while 近3个月 are the last ones)
    _p(TIME, r"前\s*" + NUM + r"\s*(个季度|季度|个月)",
       lambda m, t: _first_of_year(t, n, _UNITS[m.group(2)]) if (n := number(m.group(1))) else None),
    _p(TIME, r"(?:近|最近|过去|前)\s*" + NUM + r"\s*(个月|个季度|季度|个星期|星期|年|周|天|日)",
       lambda m, t: last_n(t, n, _UNITS[m.group(2)]) if (n := number(m.group(1))) and n <= 120 else None),
    _p(TIME, r"(?:近|最近|过去)\s*(一|1)?\s*年", _span(lambda t: last_n(t, 1, "year"))),
    _p(TIME, r"(?:近|最近|过去)\s*(?:一个|1个)?\s*半年", _span(lambda t: last_n(t, 6, "month"))),
    _p(TIME, r"本月至今|本月以来|月初至今|月初到现在|月初以来|本月累计", _span(lambda t: _month(t.year, t.month))),
    _p(TIME, r"本季度?至今|本季度?以来|季初至今|季初以来|本季度?累计", _span(lambda t: _this_quarter(t))),
    _p(TIME, r"去年同期", _span(_last_year_ytd)),
    _p(TIME, r"年初至今|年初到现在|年初到今天|年初以来|本年至今|今年至今|今年以来|本年累计|今年累计|年累计",
       _span(ytd)),
    _p(TIME, r"(?:今年|本年度?)?全年", _span(lambda t: _year(t.year))),
    _p(TIME, r"(?:去年|上年度?|上一年)全年", _span(lambda t: _year(t.year - 1))),
    _p(TIME, r"前年全年", _span(lambda t: _year(t.year - 2))),
    _p(TIME, r"今年|本年度|本年|这一年", _span(ytd)),
    _p(TIME, r"去年|上年度|上一年|上年", _span(lambda t: _year(t.year - 1))),
    _p(TIME, r"前年", _span(lambda t: _year(t.year - 2))),
    _p(TIME, r"明年|来年|下一年|下年度", _span(lambda t: _year(t.year + 1))),
    _p(TIME, r"本月|这个月|当月|本月份", _span(lambda t: _month(t.year, t.month))),
    _p(TIME, r"上上个?月", _span(lambda t: _month_from(t, -2))),
    _p(TIME, r"下个月|下一个月|下月", _span(lambda t: _month_from(t, 1))),
    _p(TIME, r"上个月|上一个月|上月|上月份", _span(_previous_month)),
    _p(TIME, r"本季度|这个季度|这季度|当季|本季", _span(lambda t: _this_quarter(t))),
    _p(TIME, r"上上个?季度?", _span(lambda t: _this_quarter(t, 2))),
    _p(TIME, r"下个季度|下一季度|下一个季度|下季度|下季", _span(lambda t: _this_quarter(t, -1))),
    _p(TIME, r"上个季度|上一季度|上季度|上季", _span(lambda t: _this_quarter(t, 1))),
    _p(TIME, r"本周|这周|这个星期|本星期", _span(lambda t: _week(t, 0))),
    _p(TIME, r"上上周|上上个?星期", _span(lambda t: _week(t, 2))),
    _p(TIME, r"下周|下个星期|下星期", _span(lambda t: _week(t, -1))),
    _p(TIME, r"上周|上个星期|上星期", _span(lambda t: _week(t, 1))),
    _p(TIME, r"今天|今日", _span(_day)),
    _p(TIME, r"昨天|昨日", _span(lambda t: _day(t - dt.timedelta(days=1)))),
    _p(TIME, r"明天|明日", _span(lambda t: _day(t + dt.timedelta(days=1)))),
    _p(TIME, r"(上|下)半年", lambda m, t: _recent_half(t, 1 if m.group(1) == "上" else 2)),
    _p(TIME, r"第\s*([1-4一二三四])\s*(?:季度|季)|([1-4一二三四])\s*季度",
       lambda m, t: _recent_quarter(t, number(m.group(1) or m.group(2)))),
    _p(TIME, r"(?<![\d个])" + NUM + r"\s*月份?(?!份额)", lambda m, t: _recent_month(t, mo) if (mo := _cn_month(m.group(1))) else None),
    # -- time, English
    _p(TIME, _B + r"q([1-4])\s*(?:of\s+)?(\d{4})" + _E, lambda m, t: _quarter(y, int(m.group(1))) if (y := _grp_year(m, 2)) else None),
    _p(TIME, _B + r"(?:the\s+)?(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter(?:\s+of)?\s+(\d{4})" + _E,
       lambda m, t: _quarter(y, {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3}.get(m.group(1), 4))
       if (y := _grp_year(m, 2)) else None),
    _p(TIME, _B + r"h([12])\s*(\d{4})" + _E, lambda m, t: _half(y, int(m.group(1))) if (y := _grp_year(m, 2)) else None),
    _p(TIME, _B + r"(?:the\s+)?(first|second|1st|2nd)\s+half(?:\s+of)?\s+(\d{4})" + _E,
       lambda m, t: _half(y, 1 if m.group(1) in ("first", "1st") else 2) if (y := _grp_year(m, 2)) else None),
    _p(TIME, _B + r"(?:the\s+)?(first|second|1st|2nd)\s+half(?:\s+of\s+the\s+year)?" + _E,
       lambda m, t: _recent_half(t, 1 if m.group(1) in ("first", "1st") else 2)),
    _p(TIME, _B + EN_MONTH + r"\s*,?\s*(\d{4})" + _E,
       lambda m, t: _month(y, _MONTHS_EN[m.group(1)[:3]]) if (y := _grp_year(m, 2)) else None),
    _p(TIME, _B + r"(?:last|past|previous|trailing|the\s+last|the\s+past)\s+" + EN_NUM + r"\s+(month|quarter|year|week|day)s?" + _E,
       lambda m, t: last_n(t, n, m.group(2)) if (n := number(m.group(1))) and n <= 120 else None),
    _p(TIME, _B + r"(?:the\s+)?(?:past\s+year|ltm|ttm|trailing\s+twelve\s+months)" + _E, _span(lambda t: last_n(t, 12, "month"))),
    _p(TIME, _B + r"(?:this\s+year|year[\s-]+to[\s-]+date|ytd|so\s+far\s+this\s+year|current\s+year)" + _E, _span(ytd)),
    _p(TIME, _B + r"(?:same\s+period\s+last\s+year)" + _E, _span(_last_year_ytd)),
    _p(TIME, _B + r"(?:last|previous|prior)\s+year" + _E, _span(lambda t: _year(t.year - 1))),
    _p(TIME, _B + r"(?:this|current)\s+month|month[\s-]+to[\s-]+date|mtd" + _E, _span(lambda t: _month(t.year, t.month))),
    _p(TIME, _B + r"(?:last|previous|prior)\s+month" + _E,
       _span(_previous_month)),
    _p(TIME, _B + r"(?:this|current)\s+quarter|qtd" + _E, _span(lambda t: _this_quarter(t))),
    _p(TIME, _B + r"(?:last|previous|prior)\s+quarter" + _E, _span(lambda t: _this_quarter(t, 1))),
    _p(TIME, _B + r"this\s+week" + _E, _span(lambda t: _week(t, 0))),
    _p(TIME, _B + r"last\s+week" + _E, _span(lambda t: _week(t, 1))),
    _p(TIME, _B + r"next\s+week" + _E, _span(lambda t: _week(t, -1))),
    _p(TIME, _B + r"next\s+month" + _E, _span(lambda t: _month_from(t, 1))),
    _p(TIME, _B + r"next\s+quarter" + _E, _span(lambda t: _this_quarter(t, -1))),
    _p(TIME, _B + r"next\s+year" + _E, _span(lambda t: _year(t.year + 1))),
    _p(TIME, _B + r"tomorrow" + _E, _span(lambda t: _day(t + dt.timedelta(days=1)))),
    _p(TIME, _B + r"today" + _E, _span(_day)),
    _p(TIME, _B + r"yesterday" + _E, _span(lambda t: _day(t - dt.timedelta(days=1)))),
    _p(TIME, _B + r"q([1-4])" + _E, lambda m, t: _recent_quarter(t, int(m.group(1)))),
    _p(TIME, _B + r"h([12])" + _E, lambda m, t: _recent_half(t, int(m.group(1)))),
    _p(TIME, _B + r"(?:in\s+|for\s+|during\s+)?(\d{4})" + _E, lambda m, t: _year(y) if (y := _grp_year(m)) else None),
    _p(TIME, _B + EN_MONTH + _E, lambda m, t: _recent_month(t, _MONTHS_EN[m.group(1)[:3]])),
    # -- comparisons
    _p(COMPARISON, r"(?:与|和|跟|比|较|对比|相比|相较)?\s*去年同期\s*(?:相比|比|对比|相较)?(?:的)?(?:增长|增速|变化|变动|增幅)?",
       _const(YOY)),
    _p(COMPARISON, r"同比(?:增长率|增长|增速|增幅|变化|变动|情况|下降)?|(?:比|较|对比|相比|相较于?|vs\.?)\s*去年|年同比"
       r"|(?:与|和|跟)\s*去年\s*(?:相比|比|对比)",
       _const(YOY)),
    _p(COMPARISON, r"环比(?:增长率|增长|增速|增幅|变化|变动|情况|下降)?|(?:比|较|对比|相比)\s*上(?:个)?(?:月|期|季度|季)\s*(?:相比|比|对比)?"
       r"|(?:与|和|跟)\s*上(?:个)?(?:月|期|季度|季)\s*(?:相比|比|对比)",  # 本月和上月: two months, not a comparison
       _const(PREVIOUS)),
    _p(COMPARISON, r"(?:实际)?(?:比|较|对比|相比|vs\.?)\s*预算(?:数|金额)?\s*(?:相比|比|对比)?(?:的)?(?:差异|完成情况|执行情况)?"
       # 与/和/跟 预算 is a comparison when it ends the question or a comparison word follows: in 费用和预算执行率
       # the 和 joins two metrics
       r"|(?:实际)?(?:与|和|跟)\s*预算(?:数|金额)?\s*(?:(?:相比|比|对比)(?:的)?(?:差异|完成情况|执行情况)?"
       r"|(?:的)?(?:差异|完成情况|执行情况)|(?![^\s,，。？?!！]))"
       r"|预算对比|预算完成情况|预算执行情况",
       _const(BUDGET)),
    _p(COMPARISON, _B + r"(?:vs\.?|versus|compared\s+(?:to|with)|against|over)\s+(?:the\s+)?(?:same\s+period\s+)?(?:last|previous|prior)\s+year" + _E
       + r"|" + _B + r"(?:year[\s-]+over[\s-]+year|yoy|y/y)(?:\s+(?:growth|change))?" + _E, _const(YOY)),
    _p(COMPARISON, _B + r"(?:vs\.?|versus|compared\s+(?:to|with)|against|over)\s+(?:the\s+)?(?:last|previous|prior)\s+(?:month|period|quarter)" + _E
       + r"|" + _B + r"(?:month[\s-]+over[\s-]+month|period[\s-]+over[\s-]+period|mom|m/m)(?:\s+(?:growth|change))?" + _E,
       _const(PREVIOUS)),
    _p(COMPARISON, _B + r"(?:(?:vs\.?|versus|compared\s+(?:to|with)|against)\s+(?:the\s+)?(?:budget|plan)|(?:budget|plan)\s+vs\.?\s+actuals?|actuals?\s+vs\.?\s+(?:budget|plan))" + _E,
       _const(BUDGET)),
    # -- rankings
    _p(RANKING, r"(?:排名|排行)?\s*(?:前|top)\s*" + NUM + r"\s*(?:名|位|个|家|大|强)?",
       lambda m, t: Rank(True, n) if (n := number(m.group(1))) and n <= 1000 else None),
    _p(RANKING, r"最(?:高|大|多|好)的?\s*" + NUM + r"\s*(?:个|名|家|位)?",
       lambda m, t: Rank(True, n) if (n := number(m.group(1))) and n <= 1000 else None),
    _p(RANKING, r"最(?:低|小|少|差)的?\s*" + NUM + r"\s*(?:个|名|家|位)?",
       lambda m, t: Rank(False, n) if (n := number(m.group(1))) and n <= 1000 else None),
    _p(RANKING, r"(?:倒数|后)\s*(?:第)?\s*" + NUM + r"\s*(?:名|位|个|家)?",
       lambda m, t: Rank(False, n) if (n := number(m.group(1))) and n <= 1000 else None),
    _p(RANKING, r"排名|排行榜|排行|排序|从高到低|由高到低", _const(Rank(True, None))),
    _p(RANKING, r"从低到高|由低到高", _const(Rank(False, None))),
    _p(RANKING, r"最(?:高|大|多|好)", _const(Rank(True, 1))),
    _p(RANKING, r"最(?:低|小|少|差)", _const(Rank(False, 1))),
    _p(RANKING, _B + r"(?:the\s+)?(?:top)\s*" + EN_NUM + _E,
       lambda m, t: Rank(True, n) if (n := number(m.group(1))) and n <= 1000 else None),
    _p(RANKING, _B + r"(?:the\s+)?(?:bottom|lowest|worst)\s*" + EN_NUM + _E,
       lambda m, t: Rank(False, n) if (n := number(m.group(1))) and n <= 1000 else None),
    _p(RANKING, _B + r"(?:the\s+)?" + EN_NUM + r"\s+(?:highest|largest|biggest|best|top)" + _E,
       lambda m, t: Rank(True, n) if (n := number(m.group(1))) and n <= 1000 else None),
    _p(RANKING, _B + r"(?:the\s+)?" + EN_NUM + r"\s+(?:lowest|smallest|worst)" + _E,
       lambda m, t: Rank(False, n) if (n := number(m.group(1))) and n <= 1000 else None),
    _p(RANKING, _B + r"(?:ranked|ranking|rank|sorted|from\s+high(?:est)?\s+to\s+low(?:est)?)" + _E, _const(Rank(True, None))),
    _p(RANKING, _B + r"(?:the\s+)?(?:highest|largest|biggest|most|best|top)" + _E, _const(Rank(True, 1))),
    _p(RANKING, _B + r"(?:the\s+)?(?:lowest|smallest|least|worst|bottom)" + _E, _const(Rank(False, 1))),
    # -- time grains
    _p(GRAIN, r"每个月|每月|按月份|按月|月度|逐月|各月份?|分月|月份|哪个月|哪一个月|哪月|月别", _const("month")),
    _p(GRAIN, r"每个季度|每季度|每季|按季度|按季|分季度|各季度|逐季|季度|哪个季度|哪一季度|哪季度", _const("quarter")),
    _p(GRAIN, r"每年|按年度|按年|分年度|分年|逐年|各年度?|年度|历年|哪一年|哪年", _const("year")),
    _p(GRAIN, r"每周|按周|周度|逐周|各周|哪一周|哪周", _const("week")),
    _p(GRAIN, r"每天|每日|按天|按日|逐日|日度|各天|哪一天|哪天", _const("day")),
    _p(GRAIN, r"变化趋势|趋势|走势|走向|变化情况", _const(TREND)),
    _p(GRAIN, _B + r"(?:monthly|by\s+month|per\s+month|each\s+month|month\s+by\s+month|which\s+month|months)" + _E, _const("month")),
    _p(GRAIN, _B + r"(?:quarterly|by\s+quarter|per\s+quarter|each\s+quarter|which\s+quarter|quarters)" + _E, _const("quarter")),
    _p(GRAIN, _B + r"(?:yearly|annual|annually|by\s+year|per\s+year|each\s+year|which\s+year|years)" + _E, _const("year")),
    _p(GRAIN, _B + r"(?:weekly|by\s+week|per\s+week|each\s+week|weeks)" + _E, _const("week")),
    _p(GRAIN, _B + r"(?:daily|by\s+day|per\s+day|each\s+day|days)" + _E, _const("day")),
    _p(GRAIN, _B + r"(?:trends?|over\s+time|trend\s+line|trajectory)" + _E, _const(TREND)),
)

NAMES_ACTUAL = re.compile(r"实际|" + _B + r"actuals?" + _E)
"""A budget comparison that names the actual side (实际与预算对比, budget vs actual)."""


def previous_unit(text: str) -> str | None:
    """The period a 'previous' comparison names, if any: 较上月 → month, vs last quarter → quarter, 环比 → None."""
    if re.search(r"上(?:个)?季|" + _B + r"(?:last|previous|prior)\s+quarter", text):
        return "quarter"
    if re.search(r"上(?:个)?月|" + _B + r"(?:last|previous|prior)\s+month", text):
        return "month"
    return None


def this_period(today: dt.date, unit: str) -> Span:
    return _this_quarter(today) if unit == "quarter" else _month(today.year, today.month)


RANGE_JOIN = re.compile(r"\s*(?:到|至|~|-|－|—|to|through|thru|until|till)\s*")
"""Between two time expressions: a range from the first to the second (2025年3月到6月, Jan 2025 to Mar 2025)."""
IN_YEAR = re.compile(r"\s*(?:的|of|in)?\s*")
"""Between a year and a month of it (今年3月, 去年的12月, March of last year)."""
YEARS = ("year", "ytd")
"""Spans naming a whole year (2025年, 去年, 今年): a month named without its year next to one is in it."""
BETWEEN, BETWEEN_AND = re.compile(_B + r"between\s*$"), re.compile(r"\s*and\s*")
"""between March 2025 and June 2025: a range too (while 2025 and 2026 are two years)."""

FILLER_ZH = sorted("""
的 了 吗 呢 吧 啊 呀 是 为 有 多少 多少钱 是多少 有多少 为多少 一共 总共 合计 总计 总额 总 共 怎么样 怎样 如何 情况 表现
看看 看一下 看下 查看 查一下 查询 查 请问 请 给我 帮我 我想知道 想知道 想看 我要 我想 显示 列出 展示 统计 分析 告诉我
一下 和 与 及 以及 跟 还有 并 哪些 哪个 哪一个 哪家 哪里 什么 分别 各自 数据 数字 金额 中 里 在 内 个 名 家 位 各 按
按照 分 每个 每一个 所有 全部 整体 累计 是否 多 我们 公司 全公司 其中 对应 相关 方面 下 上 于 从 到 至 期间 时候 时期
对比 比较 相比 的话 呗 前 后 有关 关于 是什么 怎么 为什么 吗？ 么 做 做了 达到 多大 多高 几 几个 范围 之内 以内 当前 目前 现在 实时
""".split(), key=len, reverse=True)
FILLER_EN = sorted("""
what what's whats is are was were the a an of in for on at to show me list give tell how much many did do does our
total all and with by per each across please which who where when display get find see compare versus vs vs. from
between this that these those their its it as value values number numbers amount figure figures data report overall
so far up about company s 's us we i my during within has have had over
""".split(), key=len, reverse=True)


def find(text: str, today: dt.date) -> list[Hit]:
    """Every pattern hit in ``text`` (already normalised), as candidates; the parser picks among overlaps."""
    hits = []
    for kind, pattern, resolve in PATTERNS:
        # A match at every place a pattern matches, overlapping ones too: in 去年同比 the 年同比 found first must
        # not hide the 同比 the parser reads after 去年.
        pos = 0
        while pos < len(text) and (m := pattern.search(text, pos)):
            pos = m.start() + 1
            if m.end() == m.start():
                continue
            value = resolve(m, today)
            if value is not None:
                hits.append(Hit(m.start(), m.end(), kind, value))
    return hits
