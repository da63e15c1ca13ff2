"""Relative dates made absolute, against the date of the article that says them.

A 2023 article's "今年4月" is April 2023; read in 2026 it would pass for April 2026. Answers
show every relative date in absolute form with the original beside it; the cited snippet stays
verbatim.

    >>> [r.absolute for r in resolve_dates("该中心去年9月试运营,到今年5月已服务", "2023-11-16")]
    ['2022年9月', '2023年5月']
    >>> absolute_text("今年4月,某中心落地", "2023-11-16")
    '2023年4月(原文“今年4月”,报道日期2023-11-16),某中心落地'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text.patterns import BARE_MONTH, RELATIVE_DATE, YEAR

__all__ = ["DateRef", "absolute_text", "resolve_dates", "statement_years"]

_YEAR_OFFSET = {"今年": 0, "本年": 0, "去年": -1, "明年": 1, "前年": -2}
_MONTH_OFFSET = {"本月": 0, "上月": -1, "下月": 1}
# A month written right after a year or an explicit date stays as written.
_AFTER_YEAR = re.compile(r"(20\d\d年|\d{4}[-/.])\s*$")


@dataclass(frozen=True)
class DateRef:
    """A relative date at ``text[start:end]``, its absolute form and the year it names."""

    start: int
    end: int
    original: str
    absolute: str
    year: int


def _ym(doc_date: str | None) -> tuple[int | None, int | None]:
    if not doc_date or not doc_date[:4].isdigit():
        return None, None
    month = int(doc_date[5:7]) if len(doc_date) >= 7 and doc_date[5:7].isdigit() else None
    return int(doc_date[:4]), month


def _relative(m: re.Match, year: int, month: int | None) -> tuple[str, int] | None:
    word, m1, d1, m2, part, mword, mday, lone = m.groups()
    if word:
        y = year + _YEAR_OFFSET.get(word, 0)
        if word == "当年":
            return None  # "that year" points at a year named earlier, not at the article's
        if m1:
            tail = f"{m1}月" + (f"{d1}日" if d1 else "") + (f"至{m2}月" if m2 else "")
            return f"{y}年{tail}", y
        return (f"{y}年{part}" if part else f"{y}年"), y
    if mword:
        if month is None:
            return None
        total = year * 12 + month - 1 + _MONTH_OFFSET[mword]
        y, mo = divmod(total, 12)
        return f"{y}年{mo + 1}月" + (mday or ""), y
    return f"{year}年{lone}", year


def resolve_dates(text: str, doc_date: str | None) -> list[DateRef]:
    """The relative dates of ``text`` (今年/去年/明年/前年 with their months, 本月/上月, 年底,
    全年, and months written without a year), resolved against ``doc_date``."""
    year, month = _ym(doc_date)
    if year is None:
        return []
    refs: list[DateRef] = []
    taken: list[tuple[int, int]] = []
    for m in RELATIVE_DATE.finditer(text):
        got = _relative(m, year, month)
        if got:
            refs.append(DateRef(m.start(), m.end(), m.group(0), got[0], got[1]))
        taken.append(m.span())
    for m in BARE_MONTH.finditer(text):
        if any(s <= m.start() < e for s, e in taken) or _AFTER_YEAR.search(text[:m.start()]):
            continue
        tail = f"{m.group(1)}月" + (f"{m.group(2)}日" if m.group(2) else "")
        refs.append(DateRef(m.start(), m.end(), m.group(0), f"{year}年{tail}", year))
    return sorted(refs, key=lambda r: r.start)


def absolute_text(text: str, doc_date: str | None, note: bool = True) -> str:
    """``text`` with each relative date replaced by its absolute form; with ``note`` the
    original and the article's date follow in brackets."""
    out, pos = [], 0
    for r in resolve_dates(text, doc_date):
        out.append(text[pos:r.start])
        out.append(f"{r.absolute}(原文“{r.original}”,报道日期{doc_date})" if note else r.absolute)
        pos = r.end
    out.append(text[pos:])
    return "".join(out)


def statement_years(text: str, doc_date: str | None) -> tuple[set[int], bool]:
    """The years a sentence's statement is about, and whether one is written out.

    Written years (2025年), relative ones resolved against the article's date, and months
    without a year (the article's year). A sentence with none speaks of its article's present.
    """
    explicit = {int(y) for y in YEAR.findall(text)}
    years = explicit | {r.year for r in resolve_dates(text, doc_date)}
    return years, bool(explicit)
