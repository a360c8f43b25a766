"""Numbers as finance reads them: ¥ with 万/亿 (or K/M/B in English), % with one decimal, pp changes."""
from __future__ import annotations

import math
import re


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def money(x: float | None, lang: str = "zh", decimals: int = 2) -> str:
    """CNY, scaled for reading.

    >>> money(123456789.0)
    '¥1.23亿'
    >>> money(12345678.9)
    '¥1,234.57万'
    >>> money(-8765.4)
    '-¥8,765'
    >>> money(12345678.9, "en")
    '¥12.35M'
    >>> money(None)
    '—'
    """
    if _missing(x):
        return "—"
    sign = "-" if x < 0 else ""
    a = abs(x)
    if lang == "zh":
        if a >= 1e8:
            return f"{sign}¥{a / 1e8:,.{decimals}f}亿"
        if a >= 1e4:
            return f"{sign}¥{a / 1e4:,.{decimals}f}万"
    else:
        if a >= 1e9:
            return f"{sign}¥{a / 1e9:,.{decimals}f}B"
        if a >= 1e6:
            return f"{sign}¥{a / 1e6:,.{decimals}f}M"
        if a >= 1e4:
            return f"{sign}¥{a / 1e3:,.{decimals}f}K"
    return f"{sign}¥{a:,.0f}"


def percent(x: float | None, decimals: int = 1) -> str:
    """A ratio as a percentage.

    >>> percent(0.32449)
    '32.4%'
    >>> percent(None)
    '—'
    """
    return "—" if _missing(x) else f"{x * 100:.{decimals}f}%"


def change_pct(x: float | None, decimals: int = 1) -> str | None:
    """A relative change with its sign first (st.metric reads the sign), or None when unknown.

    >>> change_pct(0.052), change_pct(-0.1), change_pct(None)
    ('+5.2%', '-10.0%', None)
    """
    return None if _missing(x) else f"{x * 100:+.{decimals}f}%"


def change_pp(x: float | None, lang: str = "zh", decimals: int = 1) -> str | None:
    """A change of a percentage in percentage points.

    >>> change_pp(0.0123), change_pp(-0.004, "en")
    ('+1.2个百分点', '-0.4 pp')
    """
    if _missing(x):
        return None
    return f"{x * 100:+.{decimals}f}" + ("个百分点" if lang == "zh" else " pp")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value):
    """Text bound for a spreadsheet (XLSX or CSV), made inert: a leading =, +, -, @ would make Excel
    run it as a formula (e.g. a customer named ``=HYPERLINK(...)`` in an imported file). Non-text passes.

    >>> cell_text("=1+1"), cell_text("华东大区"), cell_text(-3)
    ("'=1+1", '华东大区', -3)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def inert_text_columns(frame):
    """A copy of ``frame`` with every text cell passed through :func:`cell_text` (for CSV/XLSX exports)."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object or str(out[c].dtype).startswith(("string", "str")):
            out[c] = [cell_text(v) for v in out[c]]
    return out


_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")   # every ASCII punctuation character


_CODE = re.compile(r"(`[^`\n]+`)")
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www)([:.])|(@|:(?=[a-z_/]))")
WORD_JOINER = "\u2060"
"""Invisible, and not a word character: it keeps Streamlit's markdown from finding a URL, an e-mail address or an
emoji or icon short code (``:smile:``, ``:material/x:``) in text, which it replaces after parsing (backslash escapes
are gone by then)."""


def _unlinked(text: str) -> str:
    return _AUTOLINK.sub(lambda m: (m.group(1) + WORD_JOINER + m.group(2)) if m.group(1) else m.group(3) + WORD_JOINER,
                         text)


def plain(text: object, code: bool = False) -> str:
    r"""Text a user typed (a title, note, comment, name, a value from a link or a file), made to show literally
    where Streamlit reads markdown (titles, captions, st.markdown, messages). Every ASCII punctuation character
    is backslash-escaped, which CommonMark allows for each of them, so nothing typed forms a link (``http://``,
    ``www.``), a formula (``$…$``), a colour or icon directive (``:red[…]``, ``:material/…:``), emphasis, a heading,
    a list, a table or HTML. Streamlit links URLs and e-mail addresses and draws short codes found in the parsed
    text, escapes or not, so a word joiner (invisible) goes after ``http``, ``www``, ``@`` and a ``:`` before a
    letter. Line breaks stay line breaks. The one
    helper for this: pages never escape by hand.

    ``code=True`` keeps `backtick` spans as code (nothing renders inside one): for the workbench's own messages,
    which quote commands that way and user values inside them.

    >>> plain("见 http://x.cn $\\Huge 紧急$ *速*")
    '见 http\u2060\\:\\/\\/x\\.cn \\$\\\\Huge 紧急\\$ \\*速\\*'
    >>> plain("运行 `make run`，收到 'a_b'", code=True)
    "运行 `make run`，收到 \\'a\\_b\\'"
    >>> plain(None), plain(3.5)
    ('', '3\\.5')
    """
    if text is None:
        return ""
    parts = _CODE.split(str(text)) if code else [str(text)]
    escaped = "".join(p if code and i % 2 else _PUNCTUATION.sub(r"\\\1", _unlinked(p)) for i, p in enumerate(parts))
    return escaped.replace("\r\n", "\n").replace("\n", "  \n")
