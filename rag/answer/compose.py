"""Turning the chosen sentence into the answer: the key span first, then the cited sentence.

The key is the clause (or few clauses) that carries the answer: the figure with what it
counts, the date, the name, the listed items. Relative dates in it are shown in absolute form
with the original beside them; a plan is marked with its year. The snippet of the citation
stays verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.answer.candidates import Candidate, SentenceView, list_items
from rag.answer.checks import unit_ok
from rag.answer.dates import absolute_text, resolve_dates, statement_years
from rag.answer.features import asked_noun, is_plan, names_organisation
from rag.index.snapshot import IndexSnapshot
from rag.retrieve.query import QueryAnalysis
from rag.text.lexicon import LEXICON
from rag.text.patterns import (
    CLAUSE_END,
    DATE_MENTION,
    LIST_ANNOUNCE,
    PLAIN_QUANTITY,
    RANK,
    SUPERLATIVE,
    YEAR,
    has_quantity,
    normalize,
    quoted_spans,
)
from rag.text.tokenize import Tokenizer
from rag.types import Citation, Hit

__all__ = ["EVIDENCE_MAX", "KEY_MAX", "citation", "evidence_span", "key_line", "related"]

KEY_MAX = 60  # characters of the key span
EVIDENCE_MAX = 90  # characters of the cited sentence shown after the key
_TRIM = ",，;；:： 、"
_QUOTE_VALUE = 10.0  # a window holding the title the question quotes beats any word count


def _clauses(text: str, start: int) -> list[tuple[int, int]]:
    cuts = sorted({0, *(m.end() for m in CLAUSE_END.finditer(text)), len(text)})
    return [(start + a, start + b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def _typed(qa: QueryAnalysis, text: str, tk: Tokenizer) -> bool:
    if qa.qtype == "number":
        if qa.asks_rank:
            return bool(RANK.search(text))
        return bool(has_quantity(text) or PLAIN_QUANTITY.search(text)) and unit_ok(
            qa.unit, normalize(text))  # "多少钱": the clause with the 元, not the 家
    if qa.qtype == "date":
        return bool(DATE_MENTION.search(text))
    if qa.qtype == "entity":
        return bool(tk.persons(text)) if qa.wants_person else names_organisation(qa, text)
    if qa.qtype == "list":  # "A、B", or two joined by 与/和 ("由A与B共同发起")
        return "、" in text or len(list_items(text)) >= 2 or bool(re.search("[与和及]", text))
    if qa.qtype == "fact" and qa.asks_rank:
        return bool(RANK.search(text) or SUPERLATIVE.search(text))
    return False


def window(qa: QueryAnalysis, doc_text: str, s: int, e: int, words: Sequence[str],
           idf, tk: Tokenizer, limit: int) -> tuple[int, int]:
    """The window of consecutive clauses of ``doc_text[s:e]`` (within ``limit`` characters)
    that holds the most of the question's words (each counted once) and an answer of the
    asked type, at the least length."""
    if e - s <= limit and qa.qtype not in ("number", "date", "entity", "list") \
            and not qa.asks_rank:
        return s, e
    clauses = _clauses(doc_text[s:e], s)
    wanted = set(words)
    classed = [t for t in wanted if LEXICON.measure_classes(t)]
    toks = []
    for a, b in clauses:
        ts = set(tk.tokens(doc_text[a:b]))
        # a clause naming the asked measure in another word of its class (花费: 成本) holds it
        toks.append(ts | {t for t in classed if any(LEXICON.same_measure(t, x) for x in ts)})
    typed = [_typed(qa, doc_text[a:b], tk) for a, b in clauses]
    # The subject (a district, a firm) is usually named once, at the head of a sentence whose
    # later clauses hold the figure asked: half weight, so the key need not reach back for it.
    subject = {t for x in qa.subjects for t in (x, *tk.tokens(x))}
    # "定位成什么赛道": the clause naming the 赛道 holds the answer.
    asked = asked_noun(qa, tk)
    # A window without the asked figure/date/name answers nothing. (An organisation's name
    # has no reliable shape: its clause may not look typed.)
    need_type = any(typed) and not (qa.qtype == "entity" and not qa.wants_person)
    # A title or phrase the question quotes (《…》, “…”) is where the answer is: the key holds it.
    quoted = [normalize(q) for q in quoted_spans(qa.corrected) if len(q) >= 2]
    holds_quote = [any(q in normalize(doc_text[a:b]) for q in quoted) for a, b in clauses]
    best, span = float("-inf"), (s, min(e, s + limit))
    for i in range(len(clauses)):
        seen: set[str] = set()
        has_type = quotes = False
        for j in range(i, len(clauses)):
            if clauses[j][1] - clauses[i][0] > limit:
                break
            seen |= toks[j] & wanted
            has_type = has_type or typed[j]
            quotes = quotes or holds_quote[j]
            # A list or a description is where the quoted phrase is, typed or not; a date or
            # a figure must still be in the key.
            if need_type and not has_type and not (quotes and qa.qtype in ("list", "fact")):
                continue
            # A term counts once, not again through its parts (政府工作报告: 政府, 报告).
            whole = [t for t in seen if not any(t != u and t in u for u in seen)]
            value = (sum(idf.get(t, 1.0) * (0.5 if t in subject else 3.0 if t == asked else 1.0)
                         for t in whole)
                     + (_QUOTE_VALUE if quotes else 0.0)
                     - 0.02 * (clauses[j][1] - clauses[i][0]))  # shorter wins a tie
            if value > best:
                best, span = value, (clauses[i][0], clauses[j][1])
    if best == float("-inf") and any(holds_quote):
        # Every window is too long: the key starts at the quoted title instead.
        a, b = clauses[holds_quote.index(True)]
        at = next((a + i for i in (doc_text[a:b].find(q[:4]) for q in quoted) if i >= 0), a)
        at = max(a, at - 1) if doc_text[at - 1:at] in "《“\"" else at
        span = (at, min(b, at + limit))
    a, b = span
    while b > a and doc_text[b - 1] in _TRIM:
        b -= 1
    while a < b and doc_text[a] in _TRIM:
        a += 1
    return a, b


def _qualifier(c: Candidate, key: str, doc_date: str | None) -> str:
    """"(2026年目标)" for a plan whose year the key does not write."""
    if not is_plan(c.text):
        return ""
    years, _ = statement_years(c.text, doc_date)
    if len(years) != 1 or YEAR.search(key):
        return ""
    return f"({next(iter(years))}年目标)"


def key_line(qa: QueryAnalysis, c: Candidate, view: SentenceView, words: Sequence[str],
             tk: Tokenizer) -> tuple[str, tuple[int, int]]:
    """The answer's first line for candidate ``c`` and the document span it comes from."""
    doc = view.docs[c.doc_id]
    date = doc.meta.date
    quoted = [q for q in quoted_spans(qa.corrected) if len(q) >= 2 and q in c.text]
    s, e = window(qa, doc.text, c.start, c.end, words, view.snap.idf, tk, KEY_MAX)
    if qa.qtype == "list" and not quoted:  # a quoted phrase is where the answer is
        items = list_items(c.text)
        head = _announcement(c.text)
        # The announced items, when they are where the question's words are (a long sentence
        # may enumerate something else too).
        if items and any(it in doc.text[s:e] for it in items):
            return f"{head}{'、'.join(items)}", (c.start, c.end)
    key = doc.text[s:e]
    if qa.qtype == "date":
        ref = _date_ref(key, date, words, tk)
        if ref:
            lead = f"{ref.absolute}(原文“{ref.original}”,报道日期{date})"
            return f"{lead}:{key}", (s, e)
    text = absolute_text(key, date)
    if qa.qtype == "number" or qa.asks_plan:
        text += _qualifier(c, key, date)
    return text, (s, e)


def _date_ref(key: str, date: str | None, words: Sequence[str], tk: Tokenizer):
    """The relative date of ``key`` the question is about: the one whose clause holds the
    most of the question's words (the first on a tie)."""
    refs = resolve_dates(key, date)
    if len(refs) <= 1:
        return refs[0] if refs else None
    wanted = set(words)

    def overlap(r) -> int:
        tail = CLAUSE_END.split(key[r.start:])[0]
        return len(wanted & set(tk.tokens(tail)))

    return max(refs, key=lambda r: (overlap(r), -r.start))


def _announcement(text: str) -> str:
    """"三大核心任务:" from "联盟将聚焦三大核心任务,…" (empty when none is named)."""
    m = LIST_ANNOUNCE.search(text)
    if not m or not re.match(r"[两三四五六七八九十几多\d]", m.group(0)):
        return ""
    tail = re.match(r"[^,，。;；:：]{0,8}", text[m.end():]).group(0)
    return f"{m.group(0)}{tail}:"


def evidence_span(c: Candidate, doc_text: str, key: tuple[int, int]) -> tuple[int, int] | None:
    """The cited sentence around the key: the key's clauses widened one clause at a time on
    each side while within EVIDENCE_MAX characters (None when that adds nothing, or when the
    key already says nearly all of the sentence)."""
    if (key[1] - key[0]) >= 0.8 * (c.end - c.start):
        return None
    if c.end - c.start <= EVIDENCE_MAX:
        return c.start, c.end
    clauses = _clauses(doc_text[c.start:c.end], c.start)
    inside = [i for i, (a, b) in enumerate(clauses) if a < key[1] and b > key[0]]
    if not inside:
        return None
    lo, hi = inside[0], inside[-1]
    grew = True
    while grew:
        grew = False
        for nlo, nhi in ((lo - 1, hi), (lo, hi + 1)):
            if 0 <= nlo and nhi < len(clauses) and \
                    clauses[nhi][1] - clauses[nlo][0] <= EVIDENCE_MAX and (nlo, nhi) != (lo, hi):
                lo, hi, grew = nlo, nhi, True
                break
    a, b = clauses[lo][0], clauses[hi][1]
    while b > a and doc_text[b - 1] in _TRIM:
        b -= 1
    return None if (a, b) == key or b - a - (key[1] - key[0]) < 8 else (a, b)


def citation(snap: IndexSnapshot, n: int, doc_id: str, s: int, e: int,
             chunk_id: str = "") -> Citation:
    """Citation number ``n`` of ``doc.text[s:e]``."""
    d = snap.docs[doc_id]
    return Citation(n, doc_id, d.meta.title, d.meta.date, d.meta.source, s, e,
                    d.text[s:e], chunk_id, d.meta.date_inferred)


def related(snap: IndexSnapshot, hits: Sequence[Hit], n: int = 3) -> tuple[Citation, ...]:
    """The first ``n`` retrieved passages as numbered citations ("possibly related")."""
    return tuple(citation(snap, i, h.chunk.doc_id, h.chunk.start, h.chunk.end, h.chunk.chunk_id)
                 for i, h in enumerate(hits[:n], start=1))
