"""Extractive answers: the sentence (or clause window) that answers, with citations. No LLM.

Candidate sentences come from the top retrieved passages (``rag.answer.candidates``); the
best-scoring one that passes the evidence checks (``rag.answer.evidence``) answers, unless
its evidence is weak: then the answer is refused ("not found", with the closest passages as
possibly related). The refusal threshold is tuned on the project's eval set (``rag eval``).
"""

from __future__ import annotations

import re
from dataclasses import replace

from rag.answer.analysis import (
    ASKS_TARGET,
    QuestionInfo,
    analyze,
    answer_type,
    question_years,
    sentence_years,
)
from rag.answer.candidates import PERSON, Candidate, SentenceView, english_rescore, score
from rag.answer.compose import citation, combine, related, speaker, trim, with_neighbour
from rag.answer.evidence import Evidence, check
from rag.answer.messages import refusal_for
from rag.retrieve.search import Retriever, SearchResult
from rag.settings import Settings
from rag.text.patterns import FIGURE, is_english
from rag.types import Answer, Citation

__all__ = ["ExtractiveAnswerer"]

_COMPARE = re.compile(r"和|与|及|分别|各|对比|相比")
_COMPARE_YEARS = re.compile(r"和|与|及|分别|各|对比|相比|到|至")


class ExtractiveAnswerer:
    """Answers from retrieved passages without an LLM. Cheap to construct per request."""

    def __init__(self, settings: Settings, retriever: Retriever) -> None:
        self.settings = settings
        self.retriever = retriever
        self.snap = retriever.snap
        self.docs = retriever.snap.docs
        self.view = SentenceView(retriever.snap)

    def passages(self, res: SearchResult) -> list[Citation]:
        """Numbered passages for the LLM answerer: every hit, whole."""
        return list(related(self.snap, res.hits, n=len(res.hits)))

    def answer(self, question: str, res: SearchResult) -> Answer:
        """The cited answer to ``question`` from the passages in ``res``."""
        parts = [p.strip() for p in re.split(r"[？?]", question) if len(p.strip()) >= 4]
        if len(parts) >= 2:
            # Two questions in one ("…有什么进展？它一共连接了多少台…？"): answer each.
            subs = [self._answer_one(p, replace(res, searched=p)) for p in parts[:3]]
            return combine(question, subs)
        return self._answer_one(question, res)

    def _refuse(self, question: str, res: SearchResult, confidence: float = 0.0) -> Answer:
        return Answer(question, refusal_for(question), refused=True,
                      related=related(self.snap, res.hits), confidence=confidence)

    def _answer_one(self, question: str, res: SearchResult) -> Answer:
        english = is_english(question)
        if not res.hits:
            return Answer(question, refusal_for(question), refused=True)
        q = res.searched if res.searched != res.query else question
        qtoks = self.retriever.tokenizer.tokens(q)
        qtype = answer_type(q)
        years = question_years(q)
        cands = [score(self.view, self.retriever, q, qtoks, c, qtype, years)
                 for c in self.view.candidates(res)]
        if english:
            cands = english_rescore(self.retriever, q, cands)
        cands.sort(key=lambda c: (-c.score, c.hit_rank, c.doc_id, c.start))
        info = analyze(q, self.retriever.tokenizer, self.snap.folded_corpus, english=english)
        compound: list[Candidate] = []
        if not english:
            compound, info = self._compound(q, info, years, cands)
        # The best-scoring sentence that passes the hard checks; none passing -> refuse.
        passing = next(((c, ev) for c in (compound or cands[:8])
                        if (ev := check(info, c, self.view)).passes), None)
        if passing is None:
            return self._refuse(question, res)
        best, ev = passing
        conf = self._confidence(best, res, english, ev)
        if conf < self.settings.refuse_threshold or (years and best.year_fit < 0
                                                     and len(compound) < 2):
            return self._refuse(question, res, conf)
        chosen = [best]
        if len(compound) > 1:
            chosen = [best] + [c for c in compound if c is not best][:1]
        elif not years:
            chosen += self._same_measure_other_date(q, qtoks, qtype, best, cands)
        return self._compose(question, res, chosen, qtoks, qtype, info, cands, conf)

    def _compound(self, q: str, info: QuestionInfo, years: set[int], cands: list[Candidate]
                  ) -> tuple[list[Candidate], QuestionInfo]:
        """One sentence per named subject ("A区和B区分别…") or per asked year ("2025年和2026年
        的目标分别是多少"), each checked alone."""
        compound: list[Candidate] = []
        if len(info.entities) >= 2 and _COMPARE.search(q):
            for ent in info.entities:
                sub = replace(info, entities=(ent,))
                for c in cands[:12]:
                    ev = check(sub, c, self.view)
                    if c not in compound and ev.passes and not ev.missing_entities:
                        compound.append(c)
                        break
            return compound, replace(info, entities=())
        if len(years) >= 2 and _COMPARE_YEARS.search(q):
            for y in sorted(years):
                for c in cands[:12]:
                    d = self.docs[c.doc_id]
                    if c not in compound and y in sentence_years(c.text, d.meta.year())[0] \
                            and check(info, c, self.view).passes:
                        compound.append(c)
                        break
        return compound, info

    def _same_measure_other_date(self, q: str, qtoks: list[str], qtype: str, best: Candidate,
                                 cands: list[Candidate]) -> list[Candidate]:
        """Another article of another year giving a figure and covering about as much of the
        question: the same measure reported at two dates, shown with both dates."""
        for c in cands[1:6] + self._other_dates(q, qtoks, qtype, best):
            if (c.doc_id != best.doc_id and FIGURE.search(c.text) and FIGURE.search(best.text)
                    and c.score >= best.score - 0.6 and c.coverage >= 0.8 * best.coverage
                    and self.docs[c.doc_id].meta.year() != self.docs[best.doc_id].meta.year()):
                return [c]
        return []

    def _other_dates(self, q: str, qtoks: list[str], qtype: str, best: Candidate
                     ) -> list[Candidate]:
        """Best sentences from articles of *other* years, for a year-less figure question:
        the second article may rank below the passages the answer was drawn from, so look in
        those articles directly (the query vector is cached: one masked search, a few ms)."""
        if qtype != "number" and not ASKS_TARGET.search(q.lower()):
            return []
        year = self.docs[best.doc_id].meta.year()
        others = [d.doc_id for d in self.docs.values() if d.meta.year() and d.meta.year() != year]
        if not year or not others:
            return []
        res = self.retriever.search(q, k=4, doc_ids=others)
        found = [score(self.view, self.retriever, q, qtoks, c, qtype, set())
                 for c in self.view.candidates(res)]
        found.sort(key=lambda c: (-c.score, c.hit_rank, c.doc_id, c.start))
        return found[:2]

    def _compose(self, question: str, res: SearchResult, chosen: list[Candidate],
                 qtoks: list[str], qtype: str, info: QuestionInfo, cands: list[Candidate],
                 conf: float) -> Answer:
        if len(chosen) == 1:
            chosen[0] = with_neighbour(chosen[0], cands, info, self.view)
        best = chosen[0]
        spans = [trim(c, qtoks, self.snap, self.retriever.tokenizer) for c in chosen]
        if qtype == "entity" and len(chosen) == 1 and not _names_speaker(best.text):
            extra = speaker(best, self.view)
            if extra:
                chosen, spans = [best, best], [spans[0], extra]
        parts, cits = [], []
        for n, (c, (s, e)) in enumerate(zip(chosen, spans, strict=True), start=1):
            chunk_id = next((h.chunk.chunk_id for h in res.hits if h.chunk.doc_id == c.doc_id
                             and h.chunk.start <= s and e <= h.chunk.end), "")
            cit = citation(self.snap, n, c.doc_id, s, e, chunk_id)
            cits.append(cit)
            text = self.docs[c.doc_id].text[s:e]
            if len(chosen) > 1 and chosen[0] is not chosen[1]:
                parts.append(f"({cit.date or '日期不详'})《{cit.title}》:{text}[{n}]")
            else:
                parts.append(f"{text}[{n}]")
        note = ("不同日期的文章给出了不同数据,请注意各自日期。"
                if len({c.doc_id for c in chosen}) > 1 else "")
        return Answer(question, "\n".join(parts), tuple(cits), note=note,
                      related=related(self.snap, res.hits), confidence=conf)

    @staticmethod
    def _confidence(best: Candidate, res: SearchResult, english: bool, ev: Evidence) -> float:
        """Evidence strength in [0, ~1]: how much of the question the answer sentence covers,
        blended with the top passage's dense similarity (which also works across languages),
        less the soft penalties of the evidence checks."""
        dense = next((v for k, v in res.hits[0].details if k == "dense"), None)
        d = 0.0 if dense is None else max(0.0, (dense - 0.75) / 0.15)
        conf = 0.3 + 0.7 * d if english else 0.7 * best.coverage + 0.3 * d
        return conf - 0.15 * bool(ev.missing_nearby) - 0.35 * ev.missing_focus


def _names_speaker(text: str) -> bool:
    return PERSON.search(text) is not None
