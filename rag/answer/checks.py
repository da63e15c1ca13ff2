"""Hard checks of a candidate against what the question asks; a candidate failing one cannot
be the answer, and a question no candidate passes is refused.

A figure only answers for the subject and the measure asked, in the unit asked, and must be
new: the "3亿元" of "3亿元基金里市级资金出了多少" restates the question, it is no answer. A
sentence that cannot hold the asked type (no figure for 多少, no date for 何时, no name for
谁) loses to one that can.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.answer.candidates import Candidate, SentenceView
from rag.answer.features import holds_answer_type, role_of_other
from rag.retrieve.query import QueryAnalysis
from rag.text.patterns import (
    CLAUSE_END,
    CN_FIGURE,
    DISTANCE_FIGURE,
    DURATION_FIGURE,
    FIGURE,
    MONEY_FIGURE,
    PLAIN_QUANTITY,
    figure_with_unit,
    glossed_names,
    has_quantity,
    normalize,
)
from rag.text.tokenize import Tokenizer

__all__ = ["MIN_ATTRIBUTE", "Evidence", "check", "unit_ok"]

MIN_ATTRIBUTE = 0.2  # share of the asked measure's words a sentence must hold (dev: see README)


@dataclass(frozen=True)
class Evidence:
    """- ``absent_subjects``: subjects the question names that the candidate's article never
      mentions: another subject (a district asked, an article on another one retrieved);
    - ``missing_nearby``: subjects in neither the sentence, the one before, the title, its
      paragraph nor the paragraph before;
    - ``unit_ok``: a "多少P" question gets a figure in P; ``figure_ok``: a new figure;
    - ``typed``: the sentence can hold an answer of the asked type (a quote counts for 谁
      when its speaker is named next to it);
    - ``missing_glossed``: the Chinese names an English question writes ("the alliance
      (某某联盟)") that the passage lacks: they hold every answer, as a figure's subject does;
    - ``attribute_ok``: the sentence (or its context) names the measure asked, in the
      question's words or another of their class: no sentence that only shares the subject
      answers for an attribute the articles do not state (an age, a profit).
    """

    qtype: str
    absent_subjects: tuple[str, ...] = ()
    missing_nearby: tuple[str, ...] = ()
    unit_ok: bool = True
    figure_ok: bool = True
    typed: bool = True
    attribute_ok: bool = True
    missing_glossed: tuple[str, ...] = ()  # of missing_nearby, names an English question wrote

    @property
    def passes(self) -> bool:
        """Hard checks: a candidate failing any of them cannot be the answer."""
        if self.missing_glossed or self.qtype == "number" and self.missing_nearby:
            # A figure is only an answer for the subject asked: a 全区 营收 is no answer to
            # "某公司的营收". (Other question types keep this as a soft penalty: their answers
            # are often phrased without repeating the subject.)
            return False
        return (not self.absent_subjects and self.unit_ok and self.figure_ok and self.typed
                and self.attribute_ok)


def check(qa: QueryAnalysis, c: Candidate, view: SentenceView, tokenizer: Tokenizer) -> Evidence:
    """The :class:`Evidence` of candidate ``c`` for ``qa``."""
    doc = view.docs[c.doc_id]
    subjects = qa.subjects
    ctx = normalize(c.text + view.previous_text(c) + doc.meta.title).lower()
    missing = tuple(w for w in subjects if w.lower() not in ctx)
    # A news paragraph often names its subject once, a paragraph earlier ("某公司CEO告诉记者…"
    # then a paragraph of his quote with the figure): the wider context for the figure check.
    nearby = normalize(view.paragraph_text(c, back=1)).lower() if missing else ""
    missing_nearby = tuple(w for w in missing if w.lower() not in nearby)
    # A figure in a sentence whose subject is another place is that place's ("海珠今年…增长
    # 5.5%" for a question about 广州), even when the title names the one asked.
    own = normalize(c.text).lower()
    if qa.qtype == "number" and subjects and not any(w.lower() in own for w in subjects):
        place = _lead_place(c.text, tokenizer)
        if place and not any(place in w or w in place for w in subjects):
            missing_nearby = missing_nearby or tuple(subjects)
    full = view.snap.folded_text(doc.doc_id)
    absent = tuple(w for w in missing if w.lower() not in full)
    text = normalize(c.text)
    # An organisation's name has no reliable shape (jieba splits 云智/科技): that type is a
    # score bonus, not a check.
    typed = holds_answer_type(qa, c.text, tokenizer) or (
        qa.wants_person and view.speaker(c) is not None) or (
        qa.qtype == "entity" and not qa.wants_person)
    # Another organisation's founder is no answer to who founded the one asked.
    typed = typed and not (qa.wants_person and role_of_other(qa, c.text, tokenizer))
    # "多远" names its measure by the unit it asks: a distance written in 公里 states it,
    # whatever the sentence calls the two places.
    attribute_ok = c.attribute >= MIN_ATTRIBUTE or (
        qa.unit == "distance" and unit_ok(qa.unit, normalize(c.text)))
    # A rank (首个, 第三) carries no unit of count.
    unit = "" if qa.asks_rank else qa.unit
    return Evidence(qa.qtype, absent, missing_nearby, unit_ok(unit, text),
                    _figure_ok(qa, text), typed, attribute_ok,
                    missing_glossed=tuple(w for w in missing_nearby
                                          if qa.english and w in glossed_names(qa.text)))


def unit_ok(unit: str, text: str) -> bool:
    """Does ``text`` hold a figure in the asked ``unit`` (or any figure when none is asked)?"""
    if unit == "duration":
        return DURATION_FIGURE.search(text) is not None
    if unit == "distance":
        return DISTANCE_FIGURE.search(text) is not None
    if unit == "money":
        return MONEY_FIGURE.search(text) is not None
    if unit:
        return figure_with_unit(unit).search(text) is not None
    return True


def _figure_ok(qa: QueryAnalysis, text: str) -> bool:
    if qa.qtype != "number":
        return True
    new = [m.group(0) for m in FIGURE.finditer(text) if normalize(m.group(0)) not in qa.figures]
    return any(has_quantity(f) for f in new) \
        or CN_FIGURE.search(text) is not None or PLAIN_QUANTITY.search(text) is not None


def _lead_place(text: str, tokenizer: Tokenizer) -> str:
    """The place a sentence opens with, as its subject ("海珠今年…", "据介绍,南沙…"), or ""
    when it opens otherwise ("建设琶洲…": 琶洲 is where, not whose)."""
    clauses = [x for x in CLAUSE_END.split(text) if x.strip()]
    if clauses and clauses[0].lstrip().startswith("据"):
        clauses = clauses[1:]
    for w, f in tokenizer.tagged(clauses[0]) if clauses else ():
        if f in ("t", "m", "x") or not w.strip():  # 今年, 2025年 before the subject
            continue
        return w if f == "ns" else ""
    return ""
