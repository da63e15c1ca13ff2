"""Extractive answers: the key span that answers, then the sentence it comes from. No LLM.

Stages, one module each: the question is read once (``rag.retrieve.query``); candidates are
the sentences of the retrieved passages (``candidates``); each is scored (``features``,
``scoring``) and checked (``checks``); the best that passes is composed key-first
(``compose``), relative dates made absolute (``dates``). A question asking several things is
answered part by part, each with its own retrieval and citation. The answer is refused ("not
found", with the closest passages as possibly related) when no candidate passes or its
evidence is weak; the threshold is set on eval/dev.jsonl.

The answerer never calls retrieval: the pipeline hands it each part's hits, hits from
articles of other years, and the sentences' dense similarities (``Found``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from rag.answer.candidates import Candidate, SentenceView
from rag.answer.checks import Evidence, check
from rag.answer.compose import citation, evidence_span, key_line, related
from rag.answer.dates import statement_years
from rag.answer.features import is_plan
from rag.answer.messages import OTHER_YEAR, REFUSAL_PART, refusal_for
from rag.answer.scoring import Scorer
from rag.index.snapshot import IndexSnapshot
from rag.retrieve.query import QueryAnalysis
from rag.retrieve.search import SearchResult
from rag.settings import Settings
from rag.text.patterns import PERSON_PRONOUN, has_quantity
from rag.text.tokenize import Tokenizer
from rag.types import Answer, Citation, Hit

__all__ = ["ExtractiveAnswerer", "Found"]

_CHECKED = 8  # candidates tried, best first, before refusing


@dataclass(frozen=True)
class Found:
    """What retrieval found for one (sub-)question."""

    qa: QueryAnalysis
    result: SearchResult
    other_dates: tuple[Hit, ...] = ()  # hits from articles of other years than the top one
    sims: Mapping[tuple[str, int, int], float] = field(default_factory=dict)
    asked_years: tuple[Hit, ...] = ()  # hits from articles of the years asked


@dataclass(frozen=True)
class _Part:
    """One part's answer before numbering: its lines, their citation spans, its confidence."""

    lines: tuple[tuple[str, str], ...]  # (key, the cited sentence shown after it, or "")
    spans: tuple[tuple[str, int, int, str], ...]  # (doc_id, start, end, chunk_id) per line
    confidence: float
    note: str = ""

    @property
    def refused(self) -> bool:
        return not self.lines


class ExtractiveAnswerer:
    """Answers from retrieved passages without an LLM. Cheap to construct per request."""

    def __init__(self, settings: Settings, snapshot: IndexSnapshot, tokenizer: Tokenizer) -> None:
        self.settings = settings
        self.snap = snapshot
        self.tk = tokenizer
        self.view = SentenceView(snapshot)

    def passages(self, res: SearchResult) -> list[Citation]:
        """Numbered passages for the LLM answerer: every hit, whole."""
        return list(related(self.snap, res.hits, n=len(res.hits)))

    def answer(self, question: str, found: Sequence[Found]) -> Answer:
        """The cited answer to ``question``: one :class:`Found` per part of it."""
        parts = [self._part(f) for f in found]
        hits = found[0].result.hits if found else ()
        if all(p.refused for p in parts):
            return Answer(question, refusal_for(question), refused=True,
                          related=related(self.snap, hits),
                          confidence=max((p.confidence for p in parts), default=0.0))
        lines, cits = [], []
        numbered = len(parts) > 1
        for i, p in enumerate(parts, start=1):
            mark = f"{'①②③④⑤'[i - 1]}" if numbered else ""
            if p.refused:
                lines.append(f"{mark}{REFUSAL_PART}")
                continue
            for (key, shown), (doc_id, s, e, chunk_id) in zip(p.lines, p.spans, strict=True):
                n = len(cits) + 1
                cits.append(citation(self.snap, n, doc_id, s, e, chunk_id))
                lines.append(f"{mark}{key}[{n}]")
                if shown and not numbered:
                    lines.append(shown)
                mark = ""
        notes = "".join(dict.fromkeys(p.note for p in parts if p.note))
        return Answer(question, "\n".join(lines), tuple(cits), note=notes,
                      related=related(self.snap, hits),
                      confidence=min(p.confidence for p in parts if not p.refused))

    def person_named(self, f: Found) -> str:
        """The person one part's answer names ("…校长某某表示" -> 某某), or "": what a later
        part's 他/她 stands for."""
        for key, _ in self._part(f).lines:
            people = self.tk.persons(key)
            if people:
                return people[0]
        return ""

    # -- one part
    def _part(self, f: Found) -> _Part:
        qa, res = f.qa, f.result
        if not res.hits:
            return _Part((), (), 0.0)
        scorer = Scorer(qa, self.view, self.tk)
        ranked = scorer.rank(self.view.candidates((*res.hits, *f.asked_years), f.sims,
                                                  lists=qa.qtype == "list"))
        best = self._first_passing(qa, ranked)
        if best is None:
            return _Part((), (), 0.0)
        c, ev = best
        conf = self._confidence(c, res, qa.english, ev)
        # A year the question writes is a hard condition. One it says as 今年/去年 is read
        # against today, but people also say 今年 for the year an article speaks of: a
        # statement of another year is then shown with its year and a note, not refused.
        relative_only = bool(qa.relative) and set(qa.years) == {y for _, y in qa.relative}
        if conf < self.settings.refuse_threshold or (
                qa.years and c.year_fit < 0 and not relative_only):
            return _Part((), (), conf)
        chosen = [c]
        if not qa.years and qa.qtype == "number":
            chosen += self._same_measure_other_date(qa, scorer, c, ranked, f)
        part = self._compose(qa, res, chosen, scorer.words, conf)
        if qa.years and c.year_fit < 0:
            word, year = qa.relative[0]
            meta = self.snap.docs[c.doc_id].meta
            stated = sorted(statement_years(c.text, meta.date)[0]) or [meta.year()]
            part = replace(part, note=part.note + OTHER_YEAR.format(
                word=word, year=year, other="、".join(str(y) for y in stated if y)))
        return part

    def _first_passing(self, qa: QueryAnalysis, ranked: list[Candidate]
                       ) -> tuple[Candidate, Evidence] | None:
        for c in ranked[:_CHECKED]:
            ev = check(qa, c, self.view, self.tk)
            if ev.passes:
                return c, ev
        return None

    def _same_measure_other_date(self, qa: QueryAnalysis, scorer: Scorer, best: Candidate,
                                 ranked: list[Candidate], f: Found) -> list[Candidate]:
        """Another article of another year giving a figure and covering about as much of the
        question: the same measure reported at two dates, shown with both dates."""
        year = self.snap.docs[best.doc_id].meta.year()
        others = scorer.rank(self.view.candidates(f.other_dates, f.sims))[:2]
        for c in ranked[1:6] + others:
            if (c.doc_id != best.doc_id and has_quantity(c.text) and has_quantity(best.text)
                    and c.score >= best.score - 0.6 and c.coverage >= 0.8 * best.coverage
                    and self.snap.docs[c.doc_id].meta.year() != year
                    and is_plan(c.text) == is_plan(best.text)  # the same kind of statement
                    and check(qa, c, self.view, self.tk).passes):
                return [c]
        return []

    def _compose(self, qa: QueryAnalysis, res: SearchResult, chosen: list[Candidate],
                 words: list[str], conf: float) -> _Part:
        lines, spans = [], []
        dated = len(chosen) > 1
        for c in chosen:
            key, span = key_line(qa, c, self.view, words, self.tk)
            if qa.qtype == "entity" and qa.wants_person and (
                    not self.tk.persons(key) or "“" in key or "”" in key):
                who = self.view.speaker(c)
                if who:
                    said = self.snap.docs[c.doc_id].text[who[0]:who[1]]
                    if PERSON_PRONOUN.match(said):  # "他感慨道": the one named just before
                        named = self.tk.persons(self.view.previous_text(c))
                        said = f"{named[-1]}({said})" if named else said
                    key = f"{key}——{said}"
            ev = evidence_span(c, self.snap.docs[c.doc_id].text, span) if not dated else None
            if dated:
                d = self.snap.docs[c.doc_id].meta
                key = f"({d.date or '日期不详'})《{d.title}》:{key}"
            shown = "" if ev is None else self.snap.docs[c.doc_id].text[ev[0]:ev[1]]
            lines.append((key, shown))
            spans.append((c.doc_id, c.start, c.end, _chunk_of(res, c.doc_id, c.start, c.end)))
        note = "不同日期的文章给出了不同数据,请注意各自日期。" if dated else ""
        return _Part(tuple(lines), tuple(spans), conf, note)

    @staticmethod
    def _confidence(best: Candidate, res: SearchResult, english: bool, ev: Evidence) -> float:
        """Evidence strength in [0, ~1]: how much of the question the answer sentence covers,
        blended with the top passage's dense similarity (which also works across languages),
        less the soft penalties of the evidence checks."""
        dense = next((v for k, v in res.hits[0].details if k == "dense"), None)
        d = 0.0 if dense is None else max(0.0, (dense - 0.75) / 0.15)
        conf = 0.3 + 0.7 * d if english else 0.7 * best.coverage + 0.3 * d
        return conf - 0.15 * bool(ev.missing_nearby)


def _chunk_of(res: SearchResult, doc_id: str, s: int, e: int) -> str:
    return next((h.chunk.chunk_id for h in res.hits if h.chunk.doc_id == doc_id
                 and h.chunk.start <= s and e <= h.chunk.end), "")

