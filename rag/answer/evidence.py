"""Evidence checks of a candidate sentence against what the question asks, used for refusals.

A figure only answers for the subject and measure asked, in the unit asked, and must be new:
the "3亿元" of "3亿元基金里市级资金出了多少" restates the question, it is no answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.answer.analysis import QuestionInfo
from rag.answer.candidates import Candidate, SentenceView
from rag.text.patterns import (
    CN_FIGURE,
    DURATION_FIGURE,
    FIGURE,
    MONEY_FIGURE,
    figure_with_unit,
    normalize,
)

__all__ = ["Evidence", "check"]


@dataclass(frozen=True)
class Evidence:
    """- ``absent_entities``: names the question gives that the candidate's article never
      mentions: another subject (a district asked, an article on another one retrieved);
    - ``missing_entities``: names not in the sentence, the one before, or the title;
    - ``missing_nearby``: of those, names not in the paragraph or the one before either;
    - ``missing_focus``: the question asks about something the corpus never mentions;
    - ``unit_ok``: a "多少P" question gets a figure in P; ``figure_ok``: a new figure;
    - ``role_missing``: a "who holds role X" question whose role the articles never name.
    """

    qtype: str
    missing_entities: tuple[str, ...] = ()
    absent_entities: tuple[str, ...] = ()
    missing_nearby: tuple[str, ...] = ()
    missing_focus: bool = False
    unit_ok: bool = True
    figure_ok: bool = True
    role_missing: bool = False

    @property
    def passes(self) -> bool:
        """Hard checks: a candidate failing any of them cannot be the answer."""
        if self.qtype == "number" and (self.missing_nearby or self.missing_focus):
            # A figure is only an answer for the subject and measure asked: a 全区 营收 is no
            # answer to "某公司的营收", and no figure answers for a measure the articles never
            # mention. (Other question types keep these as soft penalties: their answers are
            # often phrased without repeating the subject.)
            return False
        return (not self.absent_entities and self.unit_ok and self.figure_ok
                and not self.role_missing)


def check(info: QuestionInfo, c: Candidate, view: SentenceView) -> Evidence:
    """The :class:`Evidence` of candidate ``c`` for a question described by ``info``."""
    doc = view.docs[c.doc_id]
    ctx = normalize(c.text + view.previous_text(c) + doc.meta.title).lower()
    missing = tuple(w for w in info.entities if w.lower() not in ctx)
    # A news paragraph often names its subject once, a paragraph earlier ("某公司CEO告诉记者…"
    # then a paragraph of his quote with the figure): the wider context for the figure check.
    nearby = normalize(view.paragraph_text(c, back=1)).lower() if missing else ""
    missing_nearby = tuple(w for w in missing if w.lower() not in nearby)
    full = view.snap.folded_text(doc.doc_id)
    absent = tuple(w for w in missing if w.lower() not in full)
    return Evidence(info.qtype, missing, absent, missing_nearby, bool(info.focus),
                    _unit_ok(info.unit, normalize(c.text)), _figure_ok(info, normalize(c.text)),
                    info.role)


def _unit_ok(unit: str, text: str) -> bool:
    if unit == "duration":
        return DURATION_FIGURE.search(text) is not None
    if unit == "money":
        return MONEY_FIGURE.search(text) is not None
    if unit:
        return figure_with_unit(unit).search(text) is not None
    return True


def _figure_ok(info: QuestionInfo, text: str) -> bool:
    if info.qtype != "number":
        return True
    return any(normalize(m.group(0)) not in info.figures for m in FIGURE.finditer(text)) \
        or CN_FIGURE.search(text) is not None
