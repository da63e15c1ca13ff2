"""Scoring a candidate sentence: the features of ``rag.answer.features`` under one set of
documented weights.

The weights were set on eval/dev.jsonl only; each says what it rewards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rag.answer.candidates import Candidate, SentenceView
from rag.answer.features import (
    YEAR_CLASH,
    YEAR_ELSEWHEN,
    asked_noun,
    asks_name,
    coverage,
    figure_clause_coverage,
    holds_answer_type,
    is_plan,
    list_head,
    plan_fit,
    question_phrases,
    question_words,
    weight,
    wh_target,
    year_fit,
)
from rag.retrieve.query import QueryAnalysis
from rag.text.glossary import english_terms
from rag.text.lexicon import LEXICON
from rag.text.patterns import (
    ANAPHOR_START,
    FIRST,
    WH_TARGET_EN,
    figure_with_unit,
    normalize,
    quoted_spans,
)
from rag.text.tokenize import Tokenizer

__all__ = ["Scorer", "Weights"]


@dataclass(frozen=True)
class Weights:
    """How much each feature adds to a candidate's score."""

    coverage: float = 2.0  # share of the question's words the sentence holds (0..1)
    coverage_english: float = 1.5  # the same for English questions (glossary words only)
    answer_type: float = 0.5  # the sentence holds a figure / date / name of the asked type
    wrong_type: float = -0.3  # a figure question and the sentence has none
    year_match: float = 0.8  # the statement is about the asked year
    year_clash: float = -0.8  # it writes other years only
    year_other_present: float = -0.4  # it writes none, and its article is of another year
    plan: float = 0.4  # a plan sentence for a plan question
    not_plan: float = -0.2  # a plain result for a plan question
    plan_for_result: float = -0.8  # a target for a question about what is (集聚了多少)
    rank: float = 0.3  # x 1/rank of the passage it came from: retrieval agreement
    dense: float = 1.0  # x its dense similarity to the question, relative to the best
    dense_english: float = 4.0  # the same for English questions: their words cannot match
    fragment: float = -0.5  # a heading or fragment under 8 characters
    list_items: float = 0.6  # an announced list with its items, for a list question
    figure_clause: float = 1.0  # x the question's words next to a figure (figure questions)
    first: float = 0.3  # a first or an only, for "有什么特别之处"
    quote: float = 1.0  # the sentence holds words the question quotes
    phrase: float = 0.2  # x the share of the question's word pairs written together
    measure_class: float = 0.3  # x the share of the question's measure words (or classmates)


# Where an English question's main clause ends: a comma or semicolon.
_MAIN_CLAUSE = re.compile(r"[,;]")


class Scorer:
    """Scores candidates of one question; word sets are computed once per question."""

    def __init__(self, qa: QueryAnalysis, view: SentenceView, tokenizer: Tokenizer,
                 weights: Weights | None = None) -> None:
        self.qa = qa
        self.view = view
        self.tk = tokenizer
        self.w = weights or Weights()
        self.words = question_words(qa, tokenizer, view.snap.idf)
        self.head = list_head(qa.corrected, tokenizer)
        self.phrases = [] if qa.english else question_phrases(qa, tokenizer)
        self.asks_name = asks_name(qa)
        # Words a who-question quotes ("说…是个“有人推着你走”的地方的那位是谁"): the
        # sentence holding them is the statement whose speaker is asked, whatever else it
        # names. (For other questions a quote names the topic, and the answer may be in the
        # sentence after: the key window uses it, not the score.)
        self.quotes = [normalize(q) for q in quoted_spans(qa.corrected) if len(q) >= 3] \
            if qa.wants_person else []
        self.people_unit = figure_with_unit(qa.unit) if qa.unit in ("人", "人次", "名") else None
        # The question's words that name a measure class (花费, 营收): a sentence stating that
        # measure, in these words or another of the class (成本), is about what is asked.
        self.classed = [t for t in self.words if LEXICON.measure_classes(t) and len(t) >= 2]
        measure = set(qa.measure) - {asked_noun(qa, tokenizer)} - wh_target(qa, tokenizer)
        # One character says little ("办", "发"): the attribute is read from longer words.
        self.measure_words = [t for t in self.words if t in measure and len(t) >= 2]
        # An English question names its measure through the glossary: a term whose Chinese
        # words name a measure class (cost -> 成本 价格) is the attribute, any one word of it.
        # Only the main clause asks it: "Who is president of X, quoted at the launch?" does
        # not ask about a launch.
        self.english_measures = [g for g in english_terms(
            WH_TARGET_EN.sub(" ", _MAIN_CLAUSE.split(qa.text)[0]))
                                 if any(LEXICON.measure_classes(w) for w in g)] \
            if qa.english else []
        # "X的局长是谁" asks who holds a role: a sentence that does not name the role cannot
        # say who holds it (a 负责人 is not the 局长). An attribute no article writes at all
        # (an age, a prize) is stated by no sentence.
        # So does a figure question: "多少台设备" needs 设备 (or a word of its class), though a
        # plan sentence answers "目标是多少" whether it prints 目标 or says 力争/将.
        # A when-question dates an event: the sentence must state it (开始担任 is not 作报告).
        focus = qa.focus.lower() if qa.qtype == "date" or qa.qtype in ("entity", "number") and (
            qa.wants_person or qa.qtype == "number") else ""
        # A two-word head ("产业 规模") counts whole for a figure question where the articles
        # write it whole (a 基金规模 is no 产业规模); otherwise its last word does.
        pair, _, last = focus.rpartition(" ")
        whole = pair + last
        self.focus_whole = bool(pair) and qa.qtype == "number" and whole in view.snap.folded_corpus
        self.focus = whole if self.focus_whole else last
        self.plan_head = self.focus in LEXICON.words("plan")
        head = qa.focus.lower().rpartition(" ")[2]
        self.unwritten = bool(head) and qa.qtype in ("number", "date", "entity") \
            and head not in view.snap.folded_corpus and not LEXICON.measure_classes(head) \
            and head not in LEXICON.words("plan")  # a 目标 is written as 力争/将, not named
        idf = view.snap.idf
        self.idf = idf
        unseen = view.snap.max_idf
        self.weights = {t: weight(t, idf, unseen, view.snap.folded_corpus) for t in self.words}
        # The subject of a figure matters however often the articles name it: a 海珠 figure
        # is no answer about 广州.
        for t in self.words:
            if t in qa.subjects and qa.qtype == "number":
                self.weights[t] = max(self.weights[t], unseen / 2)

    def coverage(self, c: Candidate) -> tuple[float, float]:
        """The question's word coverage by ``c`` (its title and previous sentence as context),
        and the coverage of the words naming the asked measure (1.0 when it names none)."""
        doc = self.view.docs[c.doc_id]
        sentence = set(self.tk.tokens(c.text))
        context = set(self.tk.tokens(doc.meta.title)) | set(self.tk.tokens(
            self.view.previous_text(c)))
        text = c.text.lower()
        continues = ANAPHOR_START.match(c.text) is not None
        # The attribute must be stated in the sentence itself (or the one it continues); the
        # subject may sit around it.
        # A headcount in the unit asked ("400余人") is about what the sentence before names
        # ("…联盟成立大会" then "活动汇聚…400余人"): the measure may sit there.
        counted = self.people_unit is not None and self.people_unit.search(c.text) is not None
        attribute = coverage(self.measure_words, sentence,
                             context if continues or counted else set(),
                             self.weights, text, continues) if self.measure_words else 1.0
        if self.qa.english:
            attribute = sum(any(coverage([w], sentence, set(), {w: 1.0}, text) for w in g)
                            for g in self.english_measures) / len(self.english_measures) \
                if self.english_measures else 1.0
        if self.unwritten:
            attribute = 0.0
        if self.quotes and self.quoted(c):
            return coverage(self.words, sentence, context, self.weights, text, continues), 1.0
        if self.qa.roles and not any(r.lower() in text for r in self.qa.roles):
            attribute = 0.0  # an English who-question's role is not named
        if self.focus and not coverage([self.focus], sentence, context, {self.focus: 1.0}, text,
                                       continues, classes=not self.focus_whole) \
                and not (self.plan_head and (is_plan(c.text) or is_plan(
                    self.view.paragraph_text(c, back=1)))):
            attribute = 0.0  # the role or measure asked is not named
        return coverage(self.words, sentence, context, self.weights, text, continues), attribute

    def quoted(self, c: Candidate) -> bool:
        """Does ``c`` hold words the question quotes?"""
        text = normalize(c.text)
        return any(q in text for q in self.quotes)

    def score(self, c: Candidate, best_sim: float) -> Candidate:
        """``c`` with its score, coverage and year fit."""
        qa, w = self.qa, self.w
        doc = self.view.docs[c.doc_id]
        cov, attribute = self.coverage(c)
        s = (w.coverage_english if qa.english else w.coverage) * cov
        typed = holds_answer_type(qa, c.text, self.tk)
        if typed and (qa.qtype != "fact" or qa.asks_rank or self.asks_name):
            s += w.answer_type
            if qa.qtype == "fact" and FIRST.search(c.text):
                s += w.first
        elif qa.qtype == "number":
            s += w.wrong_type
        # An announced list answers a list question whose noun the announcement names
        # ("哪些领域" is not answered by "三大任务").
        if qa.qtype == "number":
            s += w.figure_clause * figure_clause_coverage(self.words, self.weights, c.text.lower(),
                                                          self.tk)
        if c.kind == "list" and not qa.english and (
                not self.head or self.head in c.text.split("。")[0]):
            s += w.list_items
        fit = plan_fit(qa, c.text)
        if fit > 0:
            s += w.plan
        elif fit < 0:
            s += w.not_plan if qa.asks_plan else w.plan_for_result
        yf = year_fit(qa, c.text, doc.meta.date, doc.meta.year())
        if yf > 0:
            s += w.year_match
        elif yf == YEAR_CLASH:
            s += w.year_clash
        elif yf == YEAR_ELSEWHEN:
            s += w.year_other_present
        if self.classed:
            tokens = set(self.tk.tokens(c.text))
            held = sum(coverage([t], tokens, set(),
                                {t: 1.0}, c.text.lower()) > 0 for t in self.classed)
            s += w.measure_class * held / len(self.classed)
        if self.quotes and self.quoted(c):
            s += w.quote
        if self.phrases:
            text = c.text.lower()
            s += w.phrase * sum(p in text for p in self.phrases) / len(self.phrases)
        s += w.rank / c.hit_rank
        if best_sim > 0:
            s += (w.dense_english if qa.english else w.dense) * (c.sim - best_sim)
        if len(c.text) < 8:
            s += w.fragment
        return replace(c, score=s, coverage=cov, attribute=attribute, year_fit=yf)

    def rank(self, cands: list[Candidate]) -> list[Candidate]:
        """Scored candidates, best first; ties by retrieval rank, then position."""
        best_sim = max((c.sim for c in cands), default=0.0)
        out = [self.score(c, best_sim) for c in cands]
        return sorted(out, key=lambda c: (-c.score, c.hit_rank, c.doc_id, c.start))
