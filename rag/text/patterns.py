"""The one home of the text rules every stage shares: scripts, figures and units, years,
Chinese numerals, speech verbs, sentence ends.

No other module compiles a CJK, figure, year or sentence-end pattern; they import these, so
the tokenizer, the answerer and the LLM citation check agree on what a figure is.

    >>> [m.group(0) for m in FIGURE.finditer("超200个,307.5亿元,45.3%")]
    ['200个', '307.5亿元', '45.3%']
    >>> sentence_spans("他说:“好!”然后走了。")
    [(0, 7), (7, 12)]
    >>> is_english("How many AI firms?"), is_english("海珠有多少AI企业")
    (True, False)
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "ANSWER_SENTENCE_END", "BARE_MONTH", "BARE_NUMBER", "DATE_MENTION", "ENUMERATOR",
    "LIST_ANNOUNCE", "LIST_HEAD", "PLAIN_QUANTITY", "PROPORTION", "RANK", "SUPERLATIVE", "WH_TARGET_EN", "RELATIVE_DATE", "FIGURE_PARTS", "holds_figure", "is_year_number",
    "CJK", "CJK_CHARS", "PERSON_ROLE", "ROLE_END", "glossed_names", "NAME_ASKED", "QUOTED", "quoted_spans", "CJK_RUN", "CN_FIGURE", "DATE_UNITS", "DISTANCE_FIGURE", "HOW_MUCH", "DURATION_FIGURE", "MONEY_FIGURE", "CLAUSE_END", "CLOSERS", "FIGURE", "FIGURE_TOKEN", "FIRST", "PERSON_PRONOUN", "WH_WORD",
    "MAGNITUDE", "NUMBER", "NUMBER_RE", "PARA_END", "REL_YEAR", "SENTENCE_END", "SPEECH_VERBS", "UNITS",
    "ANAPHOR_START", "ORDINAL_TOKEN", "YEAR", "YEAR_TOKEN", "ends_paragraph", "has_quantity", "name_ending", "figure_with_unit", "has_cjk", "is_english", "is_unspaced_char", "normalize", "paragraph_spans", "sentence_spans",
    "split_sentences",
]

# ----------------------------------------------------------------------------- scripts

# CJK unified ideographs, extension A and the compatibility block: what "Chinese text" means
# for language detection and for telling words of Chinese from words of Latin script.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK = re.compile(f"[{CJK_CHARS}]")
CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_LATIN = re.compile(r"[A-Za-z]")


def is_unspaced_char(ch: str) -> bool:
    """A character of a script written without spaces between words (Chinese with its
    extensions, kana, hangul): a space beside one is PDF or page spacing, not a word break."""
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x20000 <= o <= 0x2FA1F
        or 0xF900 <= o <= 0xFAFF
        or 0x3040 <= o <= 0x30FF  # kana
        or 0xAC00 <= o <= 0xD7AF  # hangul
    )


def has_cjk(text: str) -> bool:
    """True when ``text`` holds at least one Chinese character."""
    return CJK.search(text) is not None


_GLOSSED = re.compile(r"[(（][^)）]*[)）]|“[^”]*”|\"[^\"]*\"|《[^》]*》")


# A question asking what something is called: its answer is a quoted name or a title.
NAME_ASKED = re.compile(r"叫什么|叫做什么|叫啥|名称是|什么名称|名字是什么|什么名字|称为什么|名为什么")
QUOTED = re.compile(r"“([^”]*)”|《([^》]*)》|\"([^\"]*)\"")


def quoted_spans(text: str) -> list[str]:
    """What ``text`` quotes: titles in 《》 and phrases in “” or straight quotes."""
    return [next(g for g in m.groups() if g is not None) for m in QUOTED.finditer(text)]


def glossed_names(text: str) -> list[str]:
    """The Chinese names an English question glosses or quotes ("the robobus (文远小巴)")."""
    return [w for m in _GLOSSED.finditer(text) for w in CJK_RUN.findall(m.group(0))]


def is_english(text: str) -> bool:
    """A question in English: Latin letters, and Chinese characters at most in a name it
    glosses or quotes ("the robobus (文远小巴)")."""
    bare = _GLOSSED.sub(" ", text)
    return not has_cjk(bare) and _LATIN.search(bare) is not None


_WHITESPACE = re.compile(r"\s+")


def normalize(s: str) -> str:
    """NFKC with all whitespace removed: how evidence, keys and sentences are compared,
    because the articles carry spaces and line breaks inside words.

    >>> normalize("新 建 站 点 全 部 投\\n运，AI")
    '新建站点全部投运,AI'
    """
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", s))


# ----------------------------------------------------------------------------- figures

NUMBER = r"\d+(?:\.\d+)?"
NUMBER_RE = re.compile(NUMBER)
MAGNITUDE = "[万亿千百]"
# Units a figure is written with, longest first so 万平方米 wins over 平方米 and 个月 over 个.
UNITS = (
    "万平方米", "平方公里", "平方米", "万载重吨", "载重吨", "个百分点", "亿元", "万元", "千元",
    "万吨", "万斤", "家次", "人次", "个月", "小时", "分钟", "公里", "千米", "元", "个", "家", "人",
    "名", "位", "所", "项", "件", "款", "台", "套", "种", "批", "篇", "支", "条", "户", "座",
    "亩", "场", "次", "倍", "届", "版", "期", "年", "月", "日", "号", "天", "周", "吨", "斤", "P",
    "%",
)
_UNIT_ALT = "|".join(UNITS)
# Calendar units name a date, not a quantity: 2月26日 answers "哪天", not "多少".
DATE_UNITS = ("月", "日", "号")
_QUANTITY_ALT = "|".join(u for u in UNITS if u not in DATE_UNITS)
# A figure as an answer states it: a number, an approximation or magnitude (多, 余, 万, 亿),
# then a unit or a bare magnitude: 200个, 1.8万多台, 307.5亿元, 45.3%, 超100亿.
FIGURE = re.compile(rf"{NUMBER}\s*(?:{MAGNITUDE}|多|余)?\s*(?:{_QUANTITY_ALT}|万|亿)")
def has_quantity(text: str) -> bool:
    """Does ``text`` state a quantity (a FIGURE that is not a year such as 2026年)?"""
    return any(not _YEAR_FIGURE.fullmatch(m.group(0)) for m in FIGURE.finditer(text))


_YEAR_FIGURE = re.compile(r"(?:19|20)\d\d\s*年")
# A figure as the keyword index keeps it: number, magnitude, unit, all optional but the number
# ("200个" and "200" both become tokens).
FIGURE_TOKEN = re.compile(rf"{NUMBER}(?:{MAGNITUDE})?(?:{_UNIT_ALT})?")
# A length of time (24小时, 三个月, 半年) and an amount of money (307.5亿元, 5000万元, or a
# magnitude alone: 超100亿, 千亿级).
# 多 + an adjective of size asks a figure (多大, 多远, 多久): a question word, not a word to match.
HOW_MUCH = re.compile(r"多[大远久高长重宽深快]")
DISTANCE_FIGURE = re.compile(r"[\d一二三四五六七八九十两百千几][\d.]*[多余]?\s*(?:公里|千米|km|海里|英里|米)")
DURATION_FIGURE = re.compile(r"[\d一二三四五六七八九十两半几][多余]?个?(?:小时|分钟|秒|天|日|周|星期|月|年)")
MONEY_FIGURE = re.compile(r"\d(?:[万亿千百多余]){0,3}元|[\d百千万][万亿]")


# Counting units that count the same things: firms are 家 or 个, people 名, 人 or 位.
_SAME_UNIT = {"家": "家个", "个": "个家", "名": "名人位", "人": "人名位", "位": "位名人"}


@lru_cache(maxsize=64)
def figure_with_unit(unit: str) -> re.Pattern:
    """A figure written with ``unit`` or a unit counting the same things:
    ``figure_with_unit("台")`` finds 1.8万多台, ``figure_with_unit("家")`` also 超100个."""
    units = "|".join(map(re.escape, _SAME_UNIT[unit])) if unit in _SAME_UNIT \
        else re.escape(unit)
    return re.compile(rf"[\d一二三四五六七八九十两百千几半](?:[万亿千百多余]){{0,3}}(?:{units})")


# A figure taken apart as (number, unit or magnitude), for checking that a passage holds it.
# Years and calendar dates are left out: passages often state them only in their metadata.
_COUNT_ALT = "|".join(u for u in UNITS if u not in DATE_UNITS and u != "年")
FIGURE_PARTS = re.compile(rf"(?<![\d.])({NUMBER})\s*({MAGNITUDE}?(?:{_COUNT_ALT})|{MAGNITUDE})")
# Any number (English answers rarely attach units: "over 200 projects").
BARE_NUMBER = re.compile(rf"(?<![\d.])({NUMBER})(?![\d.])")
_YEAR_NUMBER = re.compile(r"(19|20)\d\d")


def is_year_number(s: str) -> bool:
    """True for a four-digit year such as "2026"."""
    return _YEAR_NUMBER.fullmatch(s) is not None


def holds_figure(text: str, number: str, unit: str) -> bool:
    """Does ``text`` state ``number`` with ``unit`` (or, unit "", as a bare number that is
    not part of a date)?"""
    tail = rf"\s*{re.escape(unit)}" if unit else r"(?![\d.]|\s*[年月日号])"
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d.]){tail}", text) is not None


# Figures in Chinese numerals: 第五届, 三大路径, 两个. A lone 一 before a classifier is the
# article "a" (一个模型, 一大批企业), not a count.
CN_FIGURE = re.compile(r"(?:[二三四五六七八九十两百千][一二三四五六七八九十两百千]*|一[一二三四五六七八九十两百千]+)"
                       r"(?:[个家人名项件款台支条户场次倍届年大]|万|亿)")

# ----------------------------------------------------------------------------- years

# A year written out: 2026年, 2021—2023, 2025-02-15; not a figure such as 20260.
YEAR = re.compile(r"(?<!\d)(20\d\d)(?=年|\s*-|\s*—|\s*至|\s*到|$|[^\d])")
# A keyword token that is a year: 2025 or 2025年.
YEAR_TOKEN = re.compile(r"20\d\d年?")
# An ordinal naming which one of a series (第五届, 第二批, 五届): like a year, it says which,
# not what is asked.
ORDINAL_TOKEN = re.compile(r"第?[一二三四五六七八九十百几\d]+[届期批次轮]|第[一二三四五六七八九十百几\d]+")
# A sentence opening with 这/该/其/此 continues the one before and speaks of its subject.
ANAPHOR_START = re.compile(r"^[“\"]?(?:这个|这一|这家|这项|这|该|其|此)")
# Relative year words and their offset from the year of the article (or of today, asked).
REL_YEAR = {"今年": 0, "本年": 0, "当年": 0, "年底": 0, "年内": 0, "全年": 0, "去年": -1,
            "上年": -1, "前年": -2, "明年": 1}

# A date a sentence states: a year, a month or day, or a relative word (今年4月, 去年以来).
DATE_MENTION = re.compile(r"20\d\d年|\d{1,2}月\d{1,2}日|\d{1,2}月|今年|去年|明年|前年|年底|年初|"
                          r"年内|本月|上月|前不久|近日|日前|此前|近年")
# A relative date and what it is relative to: 今年4月, 去年9月, 明年, 今年1月至5月, 本月, 年底.
RELATIVE_DATE = re.compile(r"(今年|去年|明年|前年|本年|当年)(?:(\d{1,2})月(?:(\d{1,2})日)?"
                           r"(?:(?:至|到|—|-)(\d{1,2})月)?|(年底|年初|年内|上半年|下半年|全年))?"
                           r"|(本月|上月|下月)(\d{1,2}日)?|(?<![年\d])(年底|年初|全年|年内)")
# A month or day written without its year ("6月", "2月26日"): the year of the article.
BARE_MONTH = re.compile(r"(?<![年\d])(\d{1,2})月(?:(\d{1,2})日)?")

# A quantity said in words rather than digits: 三成, 过半, 近一半, 翻番, N倍, 三分之一: an
# answer to "多少" just as a figure is. A rank (首个, 第一, 全国第三) answers "第几".
PROPORTION = re.compile(r"[一二三四五六七八九十两几]成|过半|一半|近半|大半|翻番|翻一番|翻了一番|"
                        r"[\d一二三四五六七八九十]+倍|[一二三四五六七八九十]+分之[一二三四五六七八九十]+")
RANK = re.compile(r"首个|首家|首款|首次|首批|第[一二三四五六七八九十\d]+")
PLAIN_QUANTITY = re.compile(f"{PROPORTION.pattern}|{RANK.pattern}")
# A question word, Chinese or English (多少, 多远, 谁, 哪个, 什么, how many …).
WH_WORD = re.compile(r"(是多少|有多少|多少|多[远久大高长重宽深]|几|是谁|谁|哪[一个家位些里天年月]?|什么|何时|何|"
                     r"如何|怎么|怎样|"
                     r"how many|how much|who|when|which|what|where)")

# A personal pronoun: in a later part of a question, the person an earlier part asks for.
PERSON_PRONOUN = re.compile(r"他们|她们|他|她|\b[Hh]e\b|\b[Ss]he\b")

# A first or an only: what "有什么特别之处" asks before any ranking or superlative.
FIRST = re.compile(r"首个|首家|首款|首次|首批|首创|唯一|第一个|第一家")
# A superlative or a first: what makes a subject stand out.
SUPERLATIVE = re.compile(r"首个|首家|首次|唯一|第一|最大|最高|最早|领先|之最|率先")

# Items of an enumeration: 一是…二是…, ①②, (一)(二), 首先/其次, 第一/第二.
ENUMERATOR = re.compile(r"[一二三四五六七八九十]是|[①-⑩]|[(（][一二三四五六七八九十][)）]|"
                        r"首先|其次|再次|最后|第[一二三四五六七八九十]+[,，、]")
@lru_cache(maxsize=8)
def name_ending(suffixes: tuple[str, ...]) -> re.Pattern:
    """Two to ten Chinese characters ending in one of ``suffixes``: an organisation's name
    ending in 公司, 集团, 局 … (云智科技, 南沙区工信局)."""
    alt = "|".join(sorted(map(re.escape, suffixes), key=len, reverse=True))
    return re.compile(f"[{CJK_CHARS}]{{2,10}}?(?:{alt})")


# The phrase that names the type of the answer asked ("哪个部门", "which company"): not a word
# the answer's sentence shares.
WH_TARGET_EN = re.compile(r"\b(?:which|what)\s+(?:company|companies|firm|organi[sz]ation|institution|"
                          r"department|agency|unit|body|enterprise)\b|\bwho\b", re.I)
# The noun a list question asks instances of: 哪几条线 -> 线, 哪些领域 -> 领域.
LIST_HEAD = re.compile(f"哪[几些](?:[个条家项款类种位所座批])?([{CJK_CHARS}]{{1,2}})")
# A sentence that announces a list: 三大任务, 几个方面, 包括, 如下, 分别为/是, or ends in a colon.
LIST_ANNOUNCE = re.compile(r"[两三四五六七八九十几多\d]+(?:大|个|项|类|条|种|方面|路径|任务|领域|举措)|"
                           r"包括|如下|分别[为是]|[:：]\s*$")

# ----------------------------------------------------------------------------- speech

# Verbs that attribute a statement to its speaker ("…,”宋某表示"). One list for finding who
# said something and for recognising a sentence that names a speaker.
SPEECH_VERBS = ("告诉记者", "表示", "说", "指出", "介绍", "坦言", "强调", "认为", "呼吁", "感慨",
                "透露", "看来", "举例")

# The last characters of a noun naming a role a person holds (创始人, 局长, 总裁, CEO).
PERSON_ROLE = r"(?:人|长|书记|记者|员|者|主任|总裁|总监|代表|主席|会长|理事|董事|ceo|CEO)"
# A word that ends in such a role (创始人, 局长): it names a person's role.
ROLE_END = re.compile(PERSON_ROLE + "$")

# ----------------------------------------------------------------------------- sentences

# Sentence terminators after NFKC ("！？；" have become "!?;"); a paragraph ends only at
# 。!?… (";" does not end one); closing quotes and brackets stay with the stop before them.
SENTENCE_END = "。!?;…"
PARA_END = "。!?…"
CLOSERS = "”’」』)）】》\"'"
CLAUSE_END = re.compile(r"[,，;；:：]")
# Where a sentence of a generated answer ends, in Chinese or English punctuation.
ANSWER_SENTENCE_END = re.compile(r"(?:[。!?!?;;\n]|[.!?;](?=\s|$))+")
_ENDS_PARAGRAPH = re.compile(f"[{re.escape(PARA_END)}][{re.escape(CLOSERS)}]*$")
_SENTENCE = re.compile(
    f"[^{re.escape(SENTENCE_END)}]*(?:[{re.escape(SENTENCE_END)}]+[{re.escape(CLOSERS)}]*|$)"
)


def ends_paragraph(s: str) -> bool:
    """True when ``s`` ends a paragraph: 。!?… then any closing quotes or brackets."""
    return _ENDS_PARAGRAPH.search(s) is not None


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each "\\n"-separated paragraph of cleaned ``text``.

    >>> paragraph_spans("标题\\n正文。")
    [(0, 2), (3, 6)]
    """
    spans = []
    pos = 0
    for part in text.split("\n"):
        if part:
            spans.append((pos, pos + len(part)))
        pos += len(part) + 1
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of cleaned ``text``.

    A sentence ends after 。!?; or … (runs such as "……" or "?!" stay together), and a
    closing quote or bracket after the stop stays with it. Sentences never cross a
    paragraph break, so a heading is its own sentence; within a paragraph the spans tile
    it exactly.
    """
    spans = []
    for ps, pe in paragraph_spans(text):
        para = text[ps:pe]
        pos = 0
        while pos < len(para):
            m = _SENTENCE.match(para, pos)
            end = m.end() if m and m.end() > pos else len(para)
            spans.append((ps + pos, ps + end))
            pos = end
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (see :func:`sentence_spans`)."""
    return [text[s:e] for s, e in sentence_spans(text)]
