"""What a question asks: its answer type, the years it names, the subjects, the measure and
unit it wants, and the figures it already gives.

    >>> answer_type("海珠2026年大模型目标是多少"), sorted(question_years("2025年和2026年的目标"))
    ('number', [2025, 2026])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text.patterns import CJK_RUN, FIGURE, REL_YEAR, YEAR, normalize
from rag.text.tokenize import Tokenizer

__all__ = [
    "ASKS_TARGET", "PLAN_WORDS", "QuestionInfo", "analyze", "answer_type", "complete_followup",
    "question_years", "sentence_years",
]

# Policy targets are stated with planning words; achieved results with 实现/累计/已.
ASKS_TARGET = re.compile(r"目标|计划|规划|打算|预期|力争|要达到|target|goal|plan")
PLAN_WORDS = re.compile(r"力争|目标|计划|预期|争取|将(?!近)|打造|确保|突破")  # 将近 = nearly

# Units a "多少X" question asks for, and how an answer writes them.
# 亿元/万元 come first: jieba keeps them whole, and 5亿元 answers "多少万元" as well (money).
_UNIT_ASK = re.compile(r"多少(亿元|万元|钱|P|个|家|人|名|款|台|辆|项|件|条|户|场|次|年|亿|万|元|倍|"
                       r"平方米|吨|斤)")
_UNIT_FORMS = {"钱": "元", "亿": "亿", "万": "万", "亿元": "money", "万元": "money"}
# Amounts of money: asked "多少" of these, an answer must give a figure in 元 (亿元, 万元).
_MONEY = re.compile(r"营收|营业收入|收入|利润|奖金|资金|金额|投资额|产值|增加值|产业规模|经济规模|"
                    r"基金规模|补贴|奖励|出资|融资|估值|税收|花了|花费|费用|价格|多少钱|挣了")
_DURATION = re.compile(r"多久|多长时间|多少天|几天")


def question_years(q: str, today_year: int | None = None) -> set[int]:
    """Years the question asks about: explicit 2026年; 今年/去年/明年 only with ``today_year``."""
    ys = {int(y) for y in YEAR.findall(normalize(q))}
    if today_year:
        for w, off in REL_YEAR.items():
            if w in q and w not in ("全年", "年内", "年底", "当年"):
                ys.add(today_year + off)
    return ys


def answer_type(q: str) -> str:
    """Coarse expected answer type of a question (Chinese or English)."""
    ql = q.lower()
    if re.search(r"哪一?年|何时|什么时候|哪天|几月|哪个月|日期|when|what year|which year|what date", ql):
        return "date"
    if re.search(r"谁|哪位|何人|哪家|哪个(企业|公司|单位|机构|部门)|who|which (company|organi)", ql):
        return "entity"
    if re.search(r"哪几", ql):
        return "list"  # "哪几条线" asks for the lines, not how many
    if re.search(r"多少|几|规模|多大|多久|多长时间|金额|比例|数量|目标|how (much|many|long)|what (is|was) the (number|amount|target|scale)|percentage", ql):
        return "number"
    if re.search(r"哪些|包括|有什么|what are|which", ql):
        return "list"
    return "fact"


def sentence_years(text: str, doc_year: int | None) -> tuple[set[int], bool]:
    """Years a sentence speaks of, and whether any was written explicitly."""
    explicit = {int(y) for y in YEAR.findall(text)}
    resolved = set(explicit)
    if doc_year:
        for w, off in REL_YEAR.items():
            if w in text:
                resolved.add(doc_year + off)
    return resolved, bool(explicit)


def complete_followup(q: str, history: Sequence[str]) -> str:
    """Turn an elliptical follow-up into a full question using the previous one.

    ``complete_followup("那2025年呢", ["某区2026年的目标是多少"])`` ->
    ``"某区2025年的目标是多少"``.
    """
    if not history:
        return q
    prev = history[-1]
    elliptical = len(q) <= 14 and (q.startswith(("那", "那么", "还有", "and ", "what about"))
                                   or q.rstrip("?？ ").endswith("呢"))
    if not elliptical:
        return q
    core = re.sub(r"^(那么|那|还有)", "", q).rstrip("?？ ")
    core = re.sub(r"呢$", "", core)
    ys = YEAR.findall(normalize(core))
    if ys and YEAR.search(prev):
        return YEAR.sub(ys[0], prev, count=1)
    return f"{prev} {core}".strip()


@dataclass(frozen=True)
class QuestionInfo:
    """What an answer must show.

    ``entities``: places/organisations the question names; ``focus``: the noun it asks about
    when the corpus never mentions it (a role or measure the articles lack); ``unit``: the unit
    of a "多少P / 多少辆" question ("money", "duration" for classes); ``figures``: figures the
    question itself gives (an answer must add one of its own); ``role``: "X的主任是谁" asks who
    holds a role the articles never name.
    """

    qtype: str
    entities: tuple[str, ...] = ()
    focus: str = ""
    unit: str = ""
    figures: frozenset[str] = frozenset()
    role: bool = False


def analyze(q: str, tokenizer: Tokenizer, folded_corpus: str, english: bool = False
            ) -> QuestionInfo:
    """The :class:`QuestionInfo` of ``q``. For an English question only the names the glossary
    translated count: the Chinese words appended to the query by ``expand_english``."""
    qtype = answer_type(q)
    figures = frozenset(normalize(m.group(0)) for m in FIGURE.finditer(normalize(q)))
    if english:
        zh = " ".join(CJK_RUN.findall(q))
        return QuestionInfo(qtype, tuple(tokenizer.entities(zh)) if zh else (), figures=figures)
    unit = ""
    m = _UNIT_ASK.search(q)
    # The unit must be a word of its own: "多少人参加" asks for 人, "多少人工智能企业" doesn't.
    if m and tokenizer.plain_cut(q[m.start(1):])[0] == m.group(1):
        unit = _UNIT_FORMS.get(m.group(1), m.group(1))
    elif qtype == "number" and _MONEY.search(q) and not m:
        unit = "money"
    elif _DURATION.search(q):
        unit = "duration"
    focus = tokenizer.focus_noun(q)
    # Only a focus the whole corpus never mentions counts: generic question nouns (目标, 数量)
    # are often paraphrased by the answer and prove nothing.
    if focus and focus.lower() in folded_corpus:
        focus = ""
    return QuestionInfo(qtype, tuple(tokenizer.entities(q)), focus, unit, figures,
                        role=qtype == "entity" and bool(focus))
