"""What makes a sentence answer a question, as named functions, each testable on its own.

A word of the question counts by its IDF; a word the corpus never uses counts as much as the
rarest word it does use: it names something the articles may not have (an age, a profit), so
a sentence that lacks it must not look like an answer because it shares the subject's name.
A word of the lexicon's measure classes is matched by any word of its class (营收 for 挣).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rag.answer.dates import statement_years
from rag.retrieve.query import QueryAnalysis
from rag.text.glossary import expand_english
from rag.text.lexicon import LEXICON
from rag.text.patterns import (
    CJK_RUN,
    CLAUSE_END,
    CN_FIGURE,
    DATE_MENTION,
    HOW_MUCH,
    LIST_HEAD,
    NAME_ASKED,
    PLAIN_QUANTITY,
    PROPORTION,
    QUOTED,
    RANK,
    REL_YEAR,
    ROLE_END,
    SPEECH_VERBS,
    SUPERLATIVE,
    WH_TARGET_EN,
    YEAR_TOKEN,
    has_quantity,
    name_ending,
)
from rag.text.tokenize import Tokenizer

__all__ = ["ORG_SUFFIXES", "coverage", "asks_name", "asked_noun", "question_phrases", "figure_clause_coverage", "wh_target", "list_head", "asked_role", "named_people", "role_of_other", "names_organisation", "weight", "holds_answer_type", "is_plan", "plan_fit",
           "question_words", "year_fit", "YEAR_CLASH", "YEAR_ELSEWHEN"]

CLASS_MATCH = 0.8  # a measure named by another word of its class
CONTEXT_MATCH = 0.5  # a word found in the sentence before, or the title, not in the sentence
ANAPHOR_MATCH = 1.0  # the same, when the sentence opens with 这/该/其 and so continues it
_PLAN = LEXICON.words("plan")
_RESULT = LEXICON.words("result")


def question_words(qa: QueryAnalysis, tokenizer: Tokenizer,
                   vocabulary: Mapping[str, float] | None = None) -> list[str]:
    """The words a sentence is checked against: the question's tokens without filler and
    question words; years are judged by :func:`year_fit`, not as words. An English question
    keeps its English words (no Chinese sentence holds them) beside the glossary's Chinese
    ones, so its coverage stays low and its dense similarity decides."""
    if qa.english:
        # The wh-phrase names the answer's type, not a word the sentence shares ("which
        # company"); the glossary's Chinese for the rest is what a Chinese sentence can hold,
        # with the question's own words the articles write too (TTS, 90%).
        asked = WH_TARGET_EN.sub(" ", qa.text)
        shared = [t for t in tokenizer.tokens(asked) if vocabulary and t in vocabulary]
        text = " ".join([*CJK_RUN.findall(expand_english(asked)), *shared])
    else:
        # "多大规模" asks a size: 多大 is the question word, not 大规模 a word to match.
        # Years are judged by year_fit, and "2023年头五个月" must not read as 年头.
        text = YEAR_TOKEN.sub(" ", HOW_MUCH.sub(" ", qa.corrected))
        if re.search(r"[A-Za-z]{2,}", text):
            text = expand_english(" ".join(re.findall(r"[A-Za-z][A-Za-z-]+", text))) + " " + text
    target = set() if qa.english else wh_target(qa, tokenizer)
    out = [t for t in tokenizer.tokens(text) if t not in LEXICON.generic and t not in target
           and not (qa.years and YEAR_TOKEN.fullmatch(t)) and t not in REL_YEAR]
    if qa.asks_plan:
        # 目标/计划 is answered by any plan sentence (力争/将/确保), whether it prints the word
        # or not; as a word it would favour the sentence that happens to print it.
        out = [t for t in out if t not in _PLAN]
    return list(dict.fromkeys(out))


def wh_target(qa: QueryAnalysis, tokenizer: Tokenizer) -> set[str]:
    """The noun after 哪个/哪家/哪些 ("哪个部门", "哪家广州企业" -> 企业): it names the type of
    the answer, not a word the answer's sentence shares."""
    tagged = tokenizer.tagged(qa.corrected)
    for i, (w, _) in enumerate(tagged):
        if w.startswith("哪"):
            for nxt, flag in tagged[i + 1:i + 4]:
                if nxt in qa.subjects or flag[:1] in ("m", "q"):  # 哪两家单位: past 两家
                    continue
                return {nxt} if flag.startswith("n") else set()
        if w == "什么":
            # "聚焦什么研发方向": the phrase's last noun (方向) is the type, its modifier (研发)
            # a word the sentence shares. A one-word phrase ("什么项目") stays: nothing else
            # in it says what is asked.
            phrase = []
            for nxt, flag in tagged[i + 1:i + 4]:
                if not (flag.startswith(("n", "v", "j")) and CJK_RUN.fullmatch(nxt)):
                    break
                phrase.append((nxt, flag))
            if len(phrase) >= 2 and phrase[-1][1].startswith("n"):
                return {phrase[-1][0]}
    return set()


def asks_name(qa: QueryAnalysis) -> bool:
    """Does the question ask what something is called (叫什么, 名称), not who?"""
    return qa.qtype == "fact" and not qa.wants_person and NAME_ASKED.search(qa.corrected) is not None


def asked_noun(qa: QueryAnalysis, tokenizer: Tokenizer) -> str:
    """The noun right after 什么 ("确定为什么定位" -> 定位, where jieba reads 为什么): the
    type of the answer. A sentence need not name it to state the answer ("被确定为…集聚区")."""
    tagged = tokenizer.tagged(qa.corrected)
    for i, (w, _) in enumerate(tagged[:-1]):
        if w in ("什么", "为什么") and tagged[i + 1][1].startswith("n"):
            return tagged[i + 1][0]
    return ""


def question_phrases(qa: QueryAnalysis, tokenizer: Tokenizer) -> list[str]:
    """The question's adjacent pairs of content words, written together ("牵头单位" from
    "…的牵头单位是…", "产业链牵头" across a 的): a sentence writing a pair as the question
    does says the same thing, not two words that happen to be near each other."""
    words = [w for w in tokenizer.plain_cut(HOW_MUCH.sub("，", qa.corrected))]
    out = []
    prev = ""
    for w in words:
        if w == "的":
            continue
        content = len(w) >= 2 and CJK_RUN.fullmatch(w) and w not in LEXICON.generic
        if content and prev:
            out.append(prev + w)
        prev = w if content else ""
    return out


def weight(t: str, idf: Mapping[str, float], unseen: float, corpus: str) -> float:
    """A word's weight: its IDF; a word the corpus never writes weighs as much as its rarest
    word, one it writes only inside longer words (a segmentation artefact) the median."""
    w = idf.get(t)
    if w is not None:
        return w
    return unseen / 2 if t.lower() in corpus else unseen


def coverage(words: Iterable[str], sentence: set[str], context: set[str],
             weights: Mapping[str, float], text: str = "", continues: bool = False,
             classes: bool = True) -> float:
    """Weighted share of ``words`` the sentence holds: 1 for a word in it (as a token, or
    written inside a longer word of ``text``), CLASS_MATCH for another word of its measure
    class (unless ``classes`` is off), CONTEXT_MATCH for a word only in ``context``."""
    total = hit = 0.0
    for t in words:
        w = weights[t]
        total += w
        if t in sentence or (len(t) >= 2 and t in text):
            hit += w
        elif classes and LEXICON.measure_classes(t) and any(
                LEXICON.same_measure(t, s) for s in sentence):
            hit += CLASS_MATCH * w
        elif t in context:
            hit += (ANAPHOR_MATCH if continues else CONTEXT_MATCH) * w
    return hit / total if total else 0.0


ORG_SUFFIXES = LEXICON.words("org")


def figure_clause_coverage(words: Iterable[str], weights: Mapping[str, float], text: str,
                           tokenizer: Tokenizer) -> float:
    """The best share of ``words`` held by a clause that states a quantity, together with the
    clause before it: a figure belongs to the words next to it ("大模型应用企业超450家"), not
    to words scattered over a long sentence of targets."""
    clauses = [c for c in CLAUSE_END.split(text) if c]
    words = list(words)
    total = sum(weights[t] for t in words) or 1.0
    best = 0.0
    for i, clause in enumerate(clauses):
        if not has_quantity(clause):
            continue
        near = clause if i == 0 else clauses[i - 1] + clause
        toks = set(tokenizer.tokens(near))
        best = max(best, sum(weights[t] for t in words if t in toks or (len(t) >= 2 and t in near))
                   / total)
    return best


def holds_answer_type(qa: QueryAnalysis, text: str, tokenizer: Tokenizer) -> bool:
    """Can ``text`` answer the asked type at all: a figure or a quantity in words for 多少,
    a date for 何时, a person for 谁, an organisation other than the subjects for 哪家, more
    than one item for 哪些."""
    if qa.qtype == "number":
        # A rank (首个, 第三) answers "第几 / 排名", not "多少".
        plain = PLAIN_QUANTITY if qa.asks_rank else PROPORTION
        return bool(has_quantity(text) or CN_FIGURE.search(text) or plain.search(text))
    if qa.qtype == "date":
        return bool(DATE_MENTION.search(text))
    if qa.qtype == "entity":
        if qa.wants_person:
            return bool(named_people(qa, text, tokenizer)) or any(v in text for v in SPEECH_VERBS)
        return names_organisation(qa, text)
    if qa.qtype == "fact" and qa.asks_rank:  # "有什么特别之处": a first, a best, the only
        return bool(RANK.search(text) or SUPERLATIVE.search(text))
    if asks_name(qa):  # "这项行动叫什么": a name, written in quotes or as a title
        return QUOTED.search(text) is not None
    if qa.qtype == "list":
        head = list_head(qa.corrected, tokenizer)
        if head:  # "哪几条地铁线" asks for instances of (地铁)线: 3号线、7号线
            # "哪些线路" is answered by "5号线、9号线": items ending in a character of the head.
            return text.count(head) >= 2 or ("、" in text and (
                head in text or head[-1] in text or any(ch + "、" in text for ch in head)))
        return any(sep in text for sep in ("、", ",", ";", "和"))
    return True




def named_people(qa: QueryAnalysis, text: str, tokenizer: Tokenizer) -> list[str]:
    """People named in ``text`` who can be the one a 谁 question asks for: not inside a
    quoted title (an award named after someone), and when the sentence holds the role asked
    (创始人, 局长), in the clause of that role: "X科技创始人入选榜单" names no founder even
    when another clause names a scientist."""
    plain = QUOTED.sub("", text)
    role = asked_role(qa, plain)
    if role:
        plain = "，".join(c for c in CLAUSE_END.split(plain) if role in c)
    return tokenizer.persons(plain)


def asked_role(qa: QueryAnalysis, text: str) -> str:
    """The role the question asks of (局长, 创始人; an English question's in any of its
    glossary words) as ``text`` writes it, or "" when it does not."""
    if ROLE_END.search(qa.focus) and qa.focus in text:
        return qa.focus
    return next((r for r in qa.roles if r.lower() in text.lower()), "")


def role_of_other(qa: QueryAnalysis, text: str, tokenizer: Tokenizer) -> bool:
    """Does the clause of the role asked (创始人, 负责人) name organisations, none of them the
    question's subjects ("乙公司创始人某某说" for a question about 甲公司's founder, even
    when 甲公司 is named a sentence before)?"""
    role = asked_role(qa, text)
    if not role:
        return False
    clause = "，".join(c for c in CLAUSE_END.split(text) if role in c)
    named = [w for w, f in tokenizer.tagged(clause) if f == "nt"]
    named += tokenizer.coined_names(clause, ORG_SUFFIXES)
    return bool(qa.subjects and named) and not any(
        w in s or s in w for w in named for s in qa.subjects)


def names_organisation(qa: QueryAnalysis, text: str) -> bool:
    """Does ``text`` name an organisation other than the question's subjects?"""
    named = set(qa.subjects)
    return any(m.group(0) not in named for m in name_ending(ORG_SUFFIXES).finditer(text))


def list_head(question: str, tokenizer: Tokenizer) -> str:
    """The noun whose instances a list question asks for: the noun right after 哪几/哪些 and
    its classifier ("哪几条地铁线" -> "地铁线", "哪些领域" -> "领域"); empty when there is none."""
    m = LIST_HEAD.search(question)
    if not m:
        return ""
    nouns = [w for w, f in tokenizer.tagged(question[m.start(1):])[:1] if f.startswith("n")]
    return nouns[0] if nouns else m.group(1)


def is_plan(text: str) -> bool:
    """A sentence stating a plan or target (力争, 将, 确保, 目标 …), not "将近"."""
    return any(w in text for w in _PLAN if w != "将") or ("将" in text and "将近" not in text)


def plan_fit(qa: QueryAnalysis, text: str) -> int:
    """+1 a plan answers a plan question, -1 a plain result does not; -1 a plan does not
    answer a question about what is (集聚了多少, 累计), 0 otherwise."""
    if qa.asks_plan:
        if is_plan(text):
            return 1
        return -1 if any(w in text for w in _RESULT) else 0
    if qa.asks_result and is_plan(text) and not any(w in text for w in _RESULT):
        return -1
    return 0


YEAR_CLASH = -1  # the sentence writes another year
YEAR_ELSEWHEN = -2  # it writes none, or only relative ones, and means another year


def year_fit(qa: QueryAnalysis, text: str, doc_date: str | None, doc_year: int | None) -> int:
    """+1 the statement is about an asked year, YEAR_CLASH / YEAR_ELSEWHEN about another one,
    0 when no year is asked or nothing tells.

    A sentence's years are those it writes, and its relative dates resolved against its
    article's date (全年 in a 2025 article is 2025); a sentence with none speaks of its
    article's present."""
    if not qa.years:
        return 0
    years, explicit = statement_years(text, doc_date)
    if years & set(qa.years):
        return 1
    if explicit:
        return YEAR_CLASH
    if years or (doc_year and doc_year not in qa.years):
        return YEAR_ELSEWHEN
    return 0
