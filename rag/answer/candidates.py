"""Candidate sentences of the retrieved passages: every sentence a passage overlaps, a list
announced by a sentence together with its items, and the neighbours an answer may need.

    >>> list_items("技术方面,重点突破芯片;产业方面,引进企业;生态方面推动建设平台。")
    ['技术', '产业', '生态']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rag.index.snapshot import IndexSnapshot
from rag.text.patterns import ENUMERATOR, LIST_ANNOUNCE, SPEECH_VERBS
from rag.types import Document, Hit

__all__ = ["Candidate", "SentenceView", "list_items"]

_ITEM_SPLIT = re.compile(r"[;；。]")
_ASPECT = re.compile(r"^(?:在)?([^,，、:：;；]{2,10}?)方面")
_COLON_LIST = re.compile(r"[:：]([^。;；]{4,120})")
_VERBS = "(" + "|".join(SPEECH_VERBS) + ")"


@dataclass(frozen=True)
class Candidate:
    """One sentence (or an announced list with its items) of a retrieved passage:
    ``doc.text[start:end] == text``. ``sim`` is its dense similarity to the question."""

    doc_id: str
    start: int
    end: int
    text: str
    hit_rank: int
    sim: float = 0.0
    kind: str = "sentence"  # or "list": an announcing sentence joined with its items
    score: float = 0.0
    coverage: float = 0.0
    attribute: float = 1.0  # coverage of the words naming the asked measure (1: none named)
    year_fit: int = 0  # +1 fits the asked year, -1 contradicts it, 0 no year asked / unknown


def list_items(text: str) -> list[str]:
    """The items of an enumeration: "X方面,…" clauses, "一是…二是…", ①②, or "：A、B、C"."""
    items: list[str] = []
    for clause in _ITEM_SPLIT.split(text):
        clause = clause.strip(" ,，")
        m = _ASPECT.match(clause)
        if m:
            items.append(m.group(1))
            continue
        e = ENUMERATOR.match(clause)
        if e:
            rest = clause[e.end():].lstrip(":：,， ")
            items.append(re.split(r"[,，]", rest)[0][:30])
    if len(items) >= 2:
        return items
    m = _COLON_LIST.search(text)
    if m and "、" in m.group(1):
        return [x.strip() for x in re.split(r"[、]|和|及", m.group(1)) if x.strip()][:10]
    return []


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

    def candidates(self, hits: Iterable[Hit], sims: Mapping[tuple[str, int, int], float],
                   lists: bool = False) -> list[Candidate]:
        """Every sentence overlapping a hit, once, in hit order; an announced list also as one
        candidate joined with its items (the sentences that follow in its paragraph)."""
        seen = set()
        out = []
        for h in hits:
            d = self.docs[h.chunk.doc_id]
            for s, e in self.of(d):
                if e <= h.chunk.start or s >= h.chunk.end or (d.doc_id, s) in seen:
                    continue
                seen.add((d.doc_id, s))
                c = Candidate(d.doc_id, s, e, d.text[s:e], h.rank, _sim(sims, d.doc_id, s, e))
                out.append(c)
                joined = self._with_items(c) if lists else None
                if joined is not None:
                    out.append(joined)
        return out

    def _with_items(self, c: Candidate) -> Candidate | None:
        """``c`` joined with the next sentences of its paragraph when it announces a list
        ("将聚焦三大任务。" then "A方面,…;B方面,…") and they hold its items."""
        if not LIST_ANNOUNCE.search(c.text) or list_items(c.text) or "、" in c.text:
            return None  # no announcement, or it lists its items itself
        d = self.docs[c.doc_id]
        para_end = next((pe for ps, pe in d.paragraphs if ps <= c.start < pe), c.end)
        after = [(s, e) for s, e in self.of(d) if s >= c.end and e <= para_end][:3]
        end = c.end
        for _, e in after:
            end = e
            if len(list_items(d.text[c.end:end])) >= 2:
                return Candidate(c.doc_id, c.start, end, d.text[c.start:end], c.hit_rank,
                                 c.sim, kind="list")
        return None

    def speaker(self, c: Candidate) -> tuple[int, int] | None:
        """Who said a quoted sentence: the attribution clause after the closing quote in the
        next sentences of the paragraph ("…的地方。”某某举例,…" -> "某某举例"), or a "X说:"
        before the quote. Returns a span of the document, or None."""
        d = self.docs[c.doc_id]
        para = next(((ps, pe) for ps, pe in d.paragraphs if ps <= c.start < pe), (0, len(d.text)))
        sents = [sp for sp in self.of(d) if para[0] <= sp[0] < para[1]]
        after = [sp for sp in sents if sp[0] >= c.end][:3]
        for n, (s, e) in enumerate([(c.start, c.end)] + after):
            seg = d.text[s:e]
            # After a closing quote inside the sentence ("…。”某公司副总裁某某说"), or at the
            # start of the sentence right after the quoted one ("某某举例,…").
            m = re.search(r"[”」]\s*([^“”,,。;；]{2,40}?)" + _VERBS, seg)
            if m is None and n == 0:  # "某某感慨道:“…”" opens the quoted sentence itself
                m = re.match(r"\s*([^“”,,。;；:：]{1,40}?)" + _VERBS + r"道?\s*[:：]?\s*[“「]", seg)
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


def _sim(sims: Mapping[tuple[str, int, int], float], doc_id: str, s: int, e: int) -> float:
    """A sentence's similarity; a joined sentence takes its best part's."""
    exact = sims.get((doc_id, s, e))
    if exact is not None:
        return exact
    parts = [v for (d, ps, pe), v in sims.items() if d == doc_id and s <= ps and pe <= e]
    return max(parts, default=0.0)

