"""Turning chosen sentences into the answer: trimming to the clauses that carry the match,
who said a quote, a neighbouring sentence that completes the answer, citations, and the
join of a multi-part answer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from rag.answer.analysis import QuestionInfo
from rag.answer.candidates import Candidate, SentenceView
from rag.answer.evidence import check
from rag.index.snapshot import IndexSnapshot
from rag.text.patterns import CLAUSE_END, FIGURE, SPEECH_VERBS
from rag.text.tokenize import Tokenizer
from rag.types import Answer, Citation, Hit

__all__ = ["MAX_ANSWER_CHARS", "citation", "combine", "related", "speaker", "trim",
           "with_neighbour"]

MAX_ANSWER_CHARS = 150
NEIGHBOUR_SHARE = 0.7  # an adjacent sentence scoring this share of the best joins the answer
_VERBS = "(" + "|".join(SPEECH_VERBS) + ")"


def trim(c: Candidate, qtoks: list[str], snap: IndexSnapshot, tk: Tokenizer) -> tuple[int, int]:
    """Keep the window of clauses that carries the match, within MAX_ANSWER_CHARS."""
    if c.end - c.start <= MAX_ANSWER_CHARS:
        return c.start, c.end
    doc = snap.docs[c.doc_id]
    idf = snap.idf
    cuts = [c.start] + [c.start + m.end() for m in CLAUSE_END.finditer(c.text)] + [c.end]
    cuts = sorted(set(cuts))
    clauses = list(zip(cuts[:-1], cuts[1:], strict=True))
    qs = set(qtoks)
    wts = []
    for s, e in clauses:
        toks = set(tk.tokens(doc.text[s:e]))
        wts.append(sum(idf.get(t, 1.0) for t in qs & toks)
                   + (0.5 if FIGURE.search(doc.text[s:e]) else 0.0))
    best, best_span = -1.0, (c.start, min(c.end, c.start + MAX_ANSWER_CHARS))
    for i in range(len(clauses)):
        total = 0.0
        for j in range(i, len(clauses)):
            if clauses[j][1] - clauses[i][0] > MAX_ANSWER_CHARS:
                break
            total += wts[j]
            if total > best:
                best, best_span = total, (clauses[i][0], clauses[j][1])
    s, e = best_span
    while e > s and doc.text[e - 1] in ",，;；:： ":
        e -= 1
    return s, e


def speaker(c: Candidate, view: SentenceView) -> tuple[int, int] | None:
    """Who said a quoted sentence: the attribution clause after the closing quote in the
    next sentences of the paragraph ("…的地方。”某某举例,…" -> "某某举例"), or a "X说:"
    before the quote. Returns a span of the document, or None."""
    d = view.docs[c.doc_id]
    para = next(((ps, pe) for ps, pe in d.paragraphs if ps <= c.start < pe), (0, len(d.text)))
    sents = [sp for sp in view.of(d) if para[0] <= sp[0] < para[1]]
    after = [sp for sp in sents if sp[0] >= c.end][:3]
    for n, (s, e) in enumerate([(c.start, c.end)] + after):
        seg = d.text[s:e]
        # After a closing quote inside the sentence ("…。”某公司副总裁某某说"), or at the
        # start of the sentence right after the quoted one ("某某举例,…").
        m = re.search(r"[”」]\s*([^“”,,。;；]{2,40}?)" + _VERBS, seg)
        if m is None and n >= 1 and d.text[s - 1 : s] in "”」" or (
                m is None and n >= 1 and d.text[c.end - 1] in "”」"):
            m = re.match(r"\s*([^“”,,。;；:：]{2,40}?)" + _VERBS, seg)
        if m:
            return s + m.start(1), s + m.end(2)
    for s, e in [sp for sp in sents if sp[1] <= c.start][-1:]:
        m = re.search(r"([^“”,,。;；]{2,40}?)(说|表示|指出|强调)\s*[:：]", d.text[s:e])
        if m:
            return s + m.start(1), s + m.end(2)
    return None


def with_neighbour(best: Candidate, cands: list[Candidate], info: QuestionInfo,
                   view: SentenceView) -> Candidate:
    """The best sentence joined with the sentence right before or after it when that one
    scores nearly as well: an answer often spans two ("…某模型通过了备案。" then "这个诞生于
    某企业的模型…"). ``trim`` still caps the length."""
    top = best.score
    for c in cands[1:6]:
        if c.doc_id != best.doc_id or not (c.end <= best.start or c.start >= best.end):
            continue
        gap = view.docs[c.doc_id].text[min(c.end, best.end):max(c.start, best.start)]
        if gap.strip() or top <= 0 or c.score < NEIGHBOUR_SHARE * top:
            continue
        if not check(info, c, view).passes:
            continue
        s, e = min(c.start, best.start), max(c.end, best.end)
        return replace(best, start=s, end=e, text=view.docs[best.doc_id].text[s:e])
    return best


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


def combine(question: str, subs: list[Answer]) -> Answer:
    """Join sub-answers, renumbering their citations; refused only if all are."""
    good = [a for a in subs if not a.refused]
    if not good:
        return replace(subs[0], question=question)
    texts, cits = [], []
    for a in good:
        text = a.text
        for c in a.citations:
            n = len(cits) + 1
            text = text.replace(f"[{c.n}]", f"[#{n}]")
            cits.append(replace(c, n=n))
        texts.append(text.replace("[#", "["))
    if len(good) < len(subs):
        texts.append("(问题的其余部分资料中没有找到答案。)")
    return Answer(question, "\n".join(texts), tuple(cits), note=good[0].note,
                  related=good[0].related, confidence=min(a.confidence for a in good))
