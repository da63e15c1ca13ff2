"""What a question asks, computed once and shared by retrieval and the answerer.

    >>> answer_type("海珠2026年大模型目标是多少"), answer_type("Who chairs the alliance?")
    ('number', 'entity')

A question is read in its own words: the language, typos fixed against the corpus, the answer
type (a figure, a date, a person or organisation, a list), the subjects it names, the words
naming the measure it asks about, the unit, the years (今年/去年 in the question resolved
against today's date), whether it asks for a plan, and its parts when it asks several things.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from rag.retrieve.parts import (
    complete_followup,
    complete_part,
    interval_events,
    several_subjects,
    split_parts,
)
from rag.text.glossary import english_terms, expand_english
from rag.text.lexicon import LEXICON
from rag.text.patterns import (
    CJK_RUN,
    FIGURE,
    ORDINAL_TOKEN,
    PERSON_ROLE,
    REL_YEAR,
    ROLE_END,
    WH_WORD,
    YEAR,
    YEAR_TOKEN,
    glossed_names,
    is_english,
    normalize,
)
from rag.text.spelling import TypoCorrector
from rag.text.tokenize import Tokenizer

__all__ = ["QueryAnalysis", "analyze", "answer_type", "complete_followup", "event_verb", "head_noun",
           "split_parts"]  # complete_followup and split_parts re-exported from rag.retrieve.parts

# Questions asking for a plan or target; a "要/将" before the verb asks what is planned.
_ASKS_PLAN = re.compile(r"目标|计划|规划|打算|预期|力争|要达到|准备|拟|要[^求]|将|target|goal|plan|aim")
# A question about what is or was: a perfective 了, 已, 累计, 目前, 现有.
_ASKS_RESULT = re.compile(r"了多少|了几|有多少|有几|已经?|累计|目前|现有|现在|一共|总共|共有|截至")
_UNIT_ASK = re.compile(r"(?:多少|几)(亿元|万元|钱|P|个|家|人|名|款|台|辆|项|件|条|户|场|次|年|亿|万|元|倍|"
                       r"平方米|公里|吨|斤)")
_UNIT_FORMS = {"钱": "元", "亿": "亿", "万": "万", "亿元": "money", "万元": "money"}
_DURATION = re.compile(r"多久|多长时间|多少天|几天|多少年|how long")
_DISTANCE = re.compile(r"多远|距离多少|相距多少|相隔多少公里|how far")
# A person's name asked of a role: "创始人叫什么名字", "书记的姓名".
_PERSON_NAME_ASKED = (PERSON_ROLE + r"的?"
                      r"(?:叫什么名字|叫什么|姓名|名字)")
# A person asked: 谁, 哪位, who, a role's name.
_WHO = r"谁|哪[两三四五六七八九十几]*位|何人|\bwho\b|" + _PERSON_NAME_ASKED
_NAMES = re.compile(r"\b[A-Z][A-Za-z]+(?:['’]s)?(?:\s+[A-Z][A-Za-z]+)*")


@dataclass(frozen=True)
class QueryAnalysis:
    """One question as the retriever and the answerer read it.

    ``measure``: the content words naming what is asked (not the subjects, not question or
    filler words); ``relative``: the question's relative year words and the years they mean
    (shown to the user); ``parts``: the sub-questions of a question that asks several things.
    """

    text: str
    lang: str
    corrected: str
    searched: str
    qtype: str
    subjects: tuple[str, ...] = ()
    measure: tuple[str, ...] = ()
    unit: str = ""
    years: tuple[int, ...] = ()
    relative: tuple[tuple[str, int], ...] = ()
    asks_plan: bool = False
    figures: frozenset[str] = frozenset()
    focus: str = ""
    asks_result: bool = False  # what is or was (集聚了, 累计, 目前), not what is planned
    asks_rank: bool = False  # 第几, 排名: a rank (首个, 第三) answers it
    wants_person: bool = False
    roles: tuple[str, ...] = ()  # an English who-question's role, in the glossary's Chinese
    article_years: tuple[int, ...] = ()  # "2023年那篇报道": the asked article's year
    parts: tuple[QueryAnalysis, ...] = ()

    @property
    def english(self) -> bool:
        return self.lang == "en"


def answer_type(q: str) -> str:
    """Coarse expected answer type of a question (Chinese or English)."""
    ql = q.lower()
    if re.search(r"哪[一几两]?年|何时|什么时候|啥时候|哪天|几月|哪个月|几号|日期|when|what year|which year|"
                 r"what date", ql):
        return "date"
    if re.search(_WHO + r"|哪[两三四五六七八九十几]*家|哪个(企业|公司|单位|机构|部门|学校|大学|高校)|"
                 r"哪些(企业|公司|单位|机构)|which (company|companies|organi|firm|institut|"
                 r"universit)", ql):
        return "entity"
    # "有什么变化/影响/特点" asks a description, not the items of a list.
    if re.search(r"有(?:什么|哪些|何)(?:变化|影响|作用|意义|改变|不同|区别|特点|特色|优势|好处|效果|"
                 r"特别之处|特殊之处|独特之处)", ql):
        return "fact"
    # "三大任务是什么", "哪几条线", "包括哪些": the items of a list.
    if re.search(r"哪几|哪些|哪[两三四五六七八九十]|包括|有什么|有哪|what are|which|"
                 r"[两三四五六七八九十几]+(?:大|个|项|类|条|种)"
                 r"[^,，。?？]{0,8}(?:是什么|是啥|分别是|指什么)", ql):
        return "list"
    # A target is stated as a figure ("定了怎样的目标", "目标是什么").
    if re.search(r"多少|几|多大|多久|多远|多高|多长时间|第几|排名|(?:怎样|什么|哪些)的?[^,，。?？]{0,10}目标|"
                 r"目标是什么|"
                 r"how (much|many|long)|percentage|rank|"
                 r"what (?:\w+ ){0,2}(?:number|amount|target|scale|share|size|revenue|figure|rate)",
                 ql):
        return "number"
    return "fact"


def _years(text: str, today: date) -> tuple[tuple[int, ...], tuple[tuple[str, int], ...]]:
    # "2023年那篇调查里" names the article by its year, not the year of what is asked.
    text = ARTICLE_YEAR.sub(" ", text)
    explicit = {int(y) for y in YEAR.findall(normalize(text))}
    relative = [(w, today.year + off) for w, off in REL_YEAR.items()
                if w in text and w not in ("全年", "年内", "年底", "当年")]
    return tuple(sorted(explicit | {y for _, y in relative})), tuple(relative)


def _english_roles(question: str) -> tuple[str, ...]:
    """The role an English who-question asks of ("the president of X" -> 校长 总裁 会长), in
    the glossary's Chinese: one of them must name the person's role."""
    if not re.search(r"\bwho\b|\bname of\b", question.lower()):
        return ()
    for group in english_terms(question.split(",")[0]):
        if any(ROLE_END.search(w) for w in group):
            return group
    return ()


# A year naming the article asked about: "2023年那篇调查", "2025年的报道里".
ARTICLE_YEAR = re.compile(r"(20\d\d)年?的?(?:那篇|这篇|那份|的?(?:文章|报道|调查|稿子|新闻))")


def bare_measure(word: str) -> str:
    """A measure word without the modal jieba glued to it ("能省" -> 省, "可降" -> 降)."""
    if len(word) >= 2 and word[0] in "能可要会将" and LEXICON.measure_classes(word[1:]):
        return word[1:]
    return word


def _unit(q: str, qtype: str, tokenizer: Tokenizer) -> str:
    if qtype != "number":
        return ""  # "哪几条线" counts nothing: its 条 is no unit of the answer
    m = _UNIT_ASK.search(q)
    # The unit must be a word of its own: "多少人参加" asks for 人, "多少人工智能企业" doesn't.
    if m and tokenizer.plain_cut(q[m.start(1):])[0] == m.group(1):
        return _UNIT_FORMS.get(m.group(1), m.group(1))
    # A change (降多少, 涨了多少) is answered by a rate or proportion, not by an amount.
    change = any(LEXICON.measure_classes(bare_measure(t)) & {"growth", "decline"}
                 for t in tokenizer.tokens(q))
    if qtype == "number" and not m and not change and any(w in q for w in LEXICON.words("unit")):
        return "money"
    if _DURATION.search(q.lower()):
        return "duration"
    if _DISTANCE.search(q.lower()):
        return "distance"
    return ""


def _measure(text: str, subjects: tuple[str, ...], tokenizer: Tokenizer) -> tuple[str, ...]:
    """Words of ``text`` naming the measure asked: its nouns, and words of the lexicon's
    measure classes (挣, 涨), that are not subjects, years, ordinals, figures or filler. Other
    verbs (集聚, 办到) say how a thing is counted, not what is counted."""
    inside = set(subjects) | {t for s in subjects for t in tokenizer.tokens(s)}
    text = YEAR_TOKEN.sub(" ", text)  # "2023年头五个月" is no 年头
    nouns = {w for w, f in tokenizer.tagged(text) if f.startswith("n") or f in ("vn", "eng")}
    nouns |= {t for w in nouns for t in tokenizer.tokens(w)}
    out = []
    for t in tokenizer.tokens(text):
        if t not in nouns and not LEXICON.measure_classes(t):
            continue
        if t in inside or t in LEXICON.generic or YEAR_TOKEN.fullmatch(t) or t[0].isdigit() \
                or ORDINAL_TOKEN.fullmatch(t):
            continue
        out.append(t)
    return tuple(dict.fromkeys(out))


_HOW_MANY = re.compile(r"^(多少|几)")
_CLASSIFIER = frozenset("个家名项款台人次条元户场届位所座批种类辆件支艘")


_PEOPLE = re.compile(PERSON_ROLE + r"$|人才$|专家$|代表$|游客$|学生$|用户$")


def head_noun(q: str, subjects: tuple[str, ...], tokenizer: Tokenizer) -> str:
    """The word naming the attribute asked: the noun counted by 多少/几 (the last of its noun
    phrase: "多少个模型备案项目" -> 项目), else the last noun, or word of a measure class of the
    lexicon, before the question word ("局长是谁" -> 局长, "挣了多少钱" -> 挣); with the noun
    before it when there is one, space-separated ("产业 规模"). Empty when the question names
    none (or only its subjects, or filler)."""
    tagged = [(bare_measure(w), f) for w, f in tokenizer.tagged(q) if w.strip()]

    def usable(w: str, f: str) -> bool:
        return (f.startswith("n") or f in ("vn", "eng")) and len(w) >= 2 \
            and w not in LEXICON.generic \
            and w not in subjects and not any(w in s for s in subjects)

    for i, (w, _) in enumerate(tagged):
        if WH_WORD.match(w) or w.startswith(("多少", "几", "谁", "哪", "什么", "多大", "多久")):
            rest = tagged[i + 1:]
            if rest and rest[0][0] in _CLASSIFIER:
                rest = rest[1:]
            phrase = []
            for a, f in rest:
                if not (f.startswith("n") or f in ("vn", "v")):
                    break
                phrase.append((a, f))
            nouns = [a for a, f in phrase if usable(a, f)]
            if _HOW_MANY.match(w) and nouns:
                return nouns[-1]
            if w.startswith("哪") and not w.startswith(("哪里", "哪儿")):
                return ""  # 哪个X / 哪家X: X names the answer's type
            if _HOW_MANY.match(w) and not nouns and tagged[i + 1:i + 2] and \
                    tagged[i + 1][0] in ("人", "人次", "名", "位"):
                # "大会来了多少人": a headcount of an event; the noun before is the event
                # (大会, 活动), which the sentence with the count may call otherwise.
                before = [a for a, f in tagged[:i] if usable(a, f)]
                if not before or not _PEOPLE.search(before[-1]):
                    return ""
            before = [j for j, (a, f) in enumerate(tagged[:i]) if usable(a, f) or (
                LEXICON.measure_classes(a) and a not in subjects)]
            if not before:
                return ""
            j = before[-1]
            # "产业规模": with the noun before it, the head names one measure, not any 规模
            # (the scorer keeps the pair only where the articles write it whole).
            if j >= 1 and usable(*tagged[j - 1]) and tagged[j - 1][1].startswith("n"):
                return f"{tagged[j - 1][0]} {tagged[j][0]}"
            return tagged[j][0]
    return ""


_WHEN = re.compile(r"(哪一?天|哪一?年|哪个?月|哪年哪月|什么时候|啥时候|何时|几月几[日号]|几月|几号)")


def event_verb(q: str, tokenizer: Tokenizer) -> str:
    """The event a when-question dates: the first word of two characters or more after the
    question word ("哪年成立" -> 成立, "哪年哪月开始试运营" -> 试运营); empty when none."""
    m = _WHEN.search(q)
    if not m:
        return ""
    words = tokenizer.plain_cut(q[m.end():])
    if words[:1] == ["的"]:  # "哪一年的数据": the noun names what is dated, no event
        words = words[2:]
    for w in words:
        if len(w) >= 2 and w not in LEXICON.generic and CJK_RUN.fullmatch(w) \
                and not _WHEN.fullmatch(w) and not _TIME_RELATION.fullmatch(w):
            return w
    return ""


# "什么时候之前完成": a relation in time, not the event.
_TIME_RELATION = re.compile(r"之前|以前|之后|以后|前后|期间|左右|为止")


def analyze(question: str, tokenizer: Tokenizer, corrector: TypoCorrector, today: date,
            split: bool = True) -> QueryAnalysis:
    """The :class:`QueryAnalysis` of ``question`` (whitespace-normalised by the caller)."""
    lang = "en" if is_english(question) else "zh"
    corrected = question if lang == "en" else corrector.correct(question)
    searched = expand_english(corrected, corrector.pinyin_names(question))
    # English questions are read through the Chinese words the glossary gives them.
    zh = " ".join(CJK_RUN.findall(searched)) if lang == "en" else corrected
    qtype = answer_type(corrected)
    years, relative = _years(corrected, today)
    article_years = tuple(sorted({int(m.group(1)) for m in ARTICLE_YEAR.finditer(corrected)}))
    named = tokenizer.entities(zh) if zh else []
    # A firm name jieba has never seen ("留形科技") is a subject too: the articles may
    # not know it, and then the question must be refused rather than answered about another.
    named += [n for n in tokenizer.coined_names(zh, LEXICON.words("org"))
              if not any(n in e or e in n for e in named)]
    # Not a measure word jieba tags as a place (扎堆), nor the type a 哪个 asks (哪个城市).
    named = [e for e in named if not LEXICON.measure_classes(e)
             and not re.search(f"哪[个座一]*{re.escape(e)}", zh)]
    # The first characters of a known organisation's name stand for it ("趣丸" for 某某科技
    # written 趣丸科技): a subject, held to the sentences as the full name would be. (Not a
    # common word that merely starts one: 人工智能 of 人工智能发展局.)
    named += [t for t in dict.fromkeys(tokenizer.tokens(zh)) if len(t) >= 2 and CJK_RUN.fullmatch(t)
              and not any(t in e for e in named) and tokenizer.frequency(t) < 200
              and any(n.startswith(t) and len(n) >= len(t) + 2 for n in tokenizer.domain_names())]
    if lang == "en":  # the Chinese name an English question glosses is what it is about
        named = [n for n in glossed_names(question) if len(n) >= 2] + [
            e for e in named if not any(e in g for g in glossed_names(question))]
    subjects = tuple(named)
    qa = QueryAnalysis(
        text=question, lang=lang, corrected=corrected, searched=searched, qtype=qtype,
        subjects=subjects, measure=_measure(zh, subjects, tokenizer),
        unit="" if lang == "en" else _unit(corrected, qtype, tokenizer),
        years=years, relative=relative, article_years=article_years,
        asks_plan=bool(_ASKS_PLAN.search(corrected.lower())),
        figures=frozenset(normalize(m.group(0)) for m in FIGURE.finditer(normalize(corrected))),
        focus="" if lang == "en" else (event_verb(corrected, tokenizer) if qtype == "date"
                                       else head_noun(corrected, subjects, tokenizer)),
        roles=_english_roles(question) if lang == "en" else (),
        asks_result=bool(_ASKS_RESULT.search(corrected)) and not _ASKS_PLAN.search(corrected),
        # "第几 / 排名" asks a rank; "有什么特别之处" a first or a superlative (首个, 第一).
        asks_rank=bool(re.search(r"第几|排名|排第|位列|名次|几个这样|首个|特别之处|特殊之处|"
                                 r"有何特别|独特之处|rank", corrected.lower())),
        wants_person=bool(re.search(_WHO, corrected.lower())))
    if not split:
        return qa
    texts = split_parts(corrected) if lang == "zh" else split_parts(question)
    if len(texts) >= 2 and lang == "en":
        # An English follow-up part keeps the names of the first ("…, and what is its target").
        names = _NAMES.findall(texts[0])
        whole = [texts[0]] + [f"{p} {' '.join(n for n in names if n not in p)}".strip()
                              for p in texts[1:]]
    elif len(texts) >= 2:
        whole = [texts[0]] + [complete_part(p, texts[i], tokenizer)
                              for i, p in enumerate(texts[1:])]
    else:
        whole = (interval_events(corrected, tokenizer) or several_subjects(corrected, tokenizer)) \
            if lang == "zh" else []
    if len(whole) >= 2:
        # A part inherits what the whole asks of it: "…集聚了多少家？B区呢？" asks what is.
        parts = tuple(replace(p, asks_result=p.asks_result or qa.asks_result,
                              asks_plan=p.asks_plan or qa.asks_plan)
                      for p in (analyze(t, tokenizer, corrector, today, split=False)
                                for t in whole))
        return replace(qa, parts=parts)
    return qa
