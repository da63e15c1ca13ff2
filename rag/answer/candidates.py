"""Candidate sentences of the retrieved passages, and how well each answers the question.

Each candidate is scored by keyword overlap with the question (IDF-weighted jieba tokens;
figures count whole), the answer type (多少/几 want a figure, 谁 a person, 哪年 a date, 哪些 a
list), time (years in the sentence, with 今年/去年 resolved against the article's date, must fit
the year asked) and the passage's retrieval rank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from rag.answer.analysis import ASKS_TARGET, PLAN_WORDS, sentence_years
from rag.index.snapshot import IndexSnapshot
from rag.retrieve.search import Retriever, SearchResult
from rag.text.patterns import FIGURE, SPEECH_VERBS, YEAR_TOKEN
from rag.types import Document

__all__ = ["PERSON", "Candidate", "SentenceView", "english_rescore", "score"]

_LIST = re.compile(r"[、]")
PERSON = re.compile("|".join(SPEECH_VERBS))  # a sentence that names who said it
_DATEPAT = re.compile(r"(20\d\d年|\d{1,2}月\d{1,2}日|\d{1,2}月|今年|去年|年底|前不久|近日)")


@dataclass(frozen=True)
class Candidate:
    """One sentence (``doc.text[start:end] == text``) of a retrieved passage."""

    doc_id: str
    start: int
    end: int
    text: str
    hit_rank: int
    score: float = 0.0
    coverage: float = 0.0
    year_fit: int = 0  # +1 fits the asked year, -1 contradicts it, 0 no year asked / unknown


class SentenceView:
    """The answerer's sentences of one snapshot: ``;``-separated parts joined again, because
    the subject of "某区累计培育…40个,…;算法备案项目320个" sits in the first part and the
    figure in the second. Spans are cached on the snapshot."""

    def __init__(self, snap: IndexSnapshot) -> None:
        self.snap = snap
        self.docs = snap.docs

    def of(self, doc: Document) -> list[tuple[int, int]]:
        """The joined sentence spans of ``doc``."""
        spans = self.snap.cache.answer_sentences.get(doc.doc_id)
        if spans is None:
            spans = []
            for s, e in doc.sentences:
                if spans and doc.text[spans[-1][1] - 1] in ";；" \
                        and doc.text[spans[-1][1]:s].strip() == "":
                    spans[-1] = (spans[-1][0], e)
                else:
                    spans.append((s, e))
            self.snap.cache.answer_sentences[doc.doc_id] = spans
        return spans

    def candidates(self, res: SearchResult) -> list[Candidate]:
        """Every sentence overlapping a retrieved passage, once, in hit order."""
        seen = set()
        out = []
        for h in res.hits:
            d = self.docs[h.chunk.doc_id]
            for s, e in self.of(d):
                if e <= h.chunk.start or s >= h.chunk.end or (d.doc_id, s) in seen:
                    continue
                seen.add((d.doc_id, s))
                out.append(Candidate(d.doc_id, s, e, d.text[s:e], h.rank))
        return out

    def previous_text(self, c: Candidate) -> str:
        """The sentence before ``c`` (empty at the start of the article)."""
        d = self.docs[c.doc_id]
        prev = [sp for sp in self.of(d) if sp[1] <= c.start]
        return d.text[prev[-1][0]:prev[-1][1]] if prev else ""

    def paragraph_text(self, c: Candidate, back: int = 0) -> str:
        """The candidate's paragraph and the ``back`` paragraphs before it."""
        d = self.docs[c.doc_id]
        i = next((n for n, (ps, pe) in enumerate(d.paragraphs) if ps <= c.start < pe), None)
        if i is None:
            return c.text
        lo = d.paragraphs[max(0, i - back)][0]
        return d.text[lo:d.paragraphs[i][1]]


def score(view: SentenceView, retriever: Retriever, q: str, qtoks: list[str], c: Candidate,
          qtype: str, years: set[int]) -> Candidate:
    """``c`` with its score, IDF coverage of the question and year fit filled in."""
    tk = retriever.tokenizer
    idf = retriever.snap.idf
    doc = view.docs[c.doc_id]
    stoks = set(tk.tokens(c.text))
    # The title and the sentence before carry context ("大会现场…" then "活动汇聚…400余人").
    ctx = set(tk.tokens(doc.meta.title)) | set(tk.tokens(view.previous_text(c)))
    # Years are judged by the year logic below, which also resolves 今年/全年 against the
    # article's date; counting the literal "2025年" here too would favour any sentence
    # that happens to print the year over the one that says 全年 in a 2025 article.
    qset = [t for t in dict.fromkeys(qtoks) if not (years and YEAR_TOKEN.fullmatch(t))]
    if ASKS_TARGET.search(q.lower()) and PLAN_WORDS.search(c.text):
        # A plan sentence answers "目标/计划" whether it prints 目标 or says 力争/将/确保:
        # the question's 目标 (a rare, heavy word) must not favour the sentence that
        # happens to print it over the one with the figure.
        stoks |= {t for t in qtoks if ASKS_TARGET.fullmatch(t)}
    w_total = sum(idf.get(t, 1.0) for t in qset) or 1.0
    w_hit = sum(idf.get(t, 1.0) * (1.0 if t in stoks else 0.5 if t in ctx else 0.0)
                for t in qset)
    coverage = w_hit / w_total
    s = 2.0 * coverage + _type_bonus(qtype, c.text)
    if ASKS_TARGET.search(q.lower()):
        s += 0.4 if PLAN_WORDS.search(c.text) else -0.2
    year_fit = 0
    if years:
        sy, explicit = sentence_years(c.text, doc.meta.year())
        if sy & years:
            year_fit = 1  # the sentence itself says the year (or 今年 in that year's article)
            s += 0.8
        elif explicit:
            year_fit = -1  # it names other years only
            s -= 0.8
        elif doc.meta.year() and doc.meta.year() not in years:
            # No year written: it speaks of its article's present, another year.
            year_fit = -1
            s -= 0.4
    s += 0.3 / c.hit_rank  # retrieval agreement
    if len(c.text) < 8:
        s -= 0.5  # headings and fragments do not answer
    return replace(c, score=s, coverage=coverage, year_fit=year_fit)


def _type_bonus(qtype: str, text: str) -> float:
    if qtype == "number":
        return 0.5 if FIGURE.search(text) else -0.3
    if qtype == "date" and _DATEPAT.search(text):
        return 0.5
    if qtype == "entity" and PERSON.search(text):
        return 0.4
    if qtype == "list" and len(_LIST.findall(text)) >= 2:
        return 0.4
    return 0.0


def english_rescore(retriever: Retriever, q: str, cands: list[Candidate]) -> list[Candidate]:
    """English questions share no words with Chinese sentences: rank the candidate sentences
    by embedding similarity instead (a few dozen short sentences)."""
    qv = retriever.query_vector(q)
    # Only the sentences of the top passages, best first: each sentence costs an encoder
    # pass (~40 ms on one core), and retrieval already put the answer near the top.
    pool = sorted(cands, key=lambda c: (c.hit_rank, -c.score))[:12]
    # Most are index sentences whose vectors are stored (same text, same prefix); only
    # the rest (;-joined sentences) are embedded now.
    snap = retriever.snap
    stored = [snap.sentence_row(c.doc_id, c.start, c.end) for c in pool]
    todo = [i for i, r in enumerate(stored) if r is None]
    sv = np.zeros((len(pool), len(qv)), dtype=np.float32)
    if todo:
        sv[todo] = retriever.encoder.encode([pool[i].text for i in todo], kind="passage")
    for i, r in enumerate(stored):
        if r is not None:
            sv[i] = snap.sentence_vectors[r]
    sims = dict(zip((id(c) for c in pool), (float(x) for x in np.asarray(sv @ qv)),
                    strict=True))
    return [replace(c, score=c.score + 4.0 * sims[id(c)]) if id(c) in sims
            else replace(c, score=c.score - 10.0) for c in cands]
