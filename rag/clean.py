"""Raw article text -> one canonical cleaned text, plus its paragraph and sentence spans.

Every later offset (chunks, citations) points into the output of :func:`clean_text`, so
it is deterministic and idempotent, and paragraphs are separated by exactly one ``"\\n"``.

Example::

    >>> clean_text("网易首页 > 网易号 > 正文 申请入驻\\n\\n标题\\n0\\n分享至\\n\\n大 幅 降 低连续 6 年。")
    '标题\\n大幅降低连续6年。'
    >>> sentence_spans(clean_text("他说：“好！”然后走了。"))
    [(0, 7), (7, 12)]

The cleaning is a small set of general rules, in this order:

1. Normalise: NFKC (full-width ASCII -> half-width, so "，" -> ","), except that the
   Chinese ellipsis "…" is kept (NFKC would turn it into "...") and "⋯" becomes "…";
   control and zero-width characters go, every other whitespace becomes a space.
2. Boilerplate lines (see ``_DROP_LINE``, ``_CUT_FROM``): a "cut from here" marker ends
   the article (related-news lists, disclaimers, publisher boxes); navigation, share
   counters, timestamps, newspaper page headers, image captions and PDF lines whose text
   is printed twice are dropped.
3. Lines -> paragraphs. Two layouts are told apart by their line lengths: *hard-wrapped*
   text (newspaper PDF: short lines of similar width, few ending a sentence) is joined
   line to line until a sentence ends a line, a heading or a byline; *one paragraph per
   line* text (web pages, docx) is joined only where a paragraph was visibly cut in two
   (a long paragraph without a final stop, or a cut inside a "、" list).
4. Spaces: letter-spacing between single characters ("大 幅 降 低") and spaces between
   Chinese and Latin/digits ("连续 6 年") go; spaces between two Latin words stay
   ("30 Under 30"). A space between longer Chinese stretches separates text that a web
   page or PDF flattened onto one line; such a line is split there into paragraphs, so
   inline section headings ("强劲动能。 名企聚集 琶洲筑起产业“新高地” 腾讯...") become
   their own paragraphs.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from dataclasses import dataclass

__all__ = ["clean_text", "paragraph_spans", "sentence_spans", "is_heading"]

# Sentence terminators after NFKC ("！？；" have become "!?;").
_SENT_END = "。!?;…"
# A paragraph ends where a sentence ends; ";" does not end a paragraph.
_PARA_END = "。!?…"
_CLOSERS = "”’」』)）】》\"'"
_CLAUSE_PUNCT = set("，,、;；:：。!?！？…")
_ENDS_PARA_RE = re.compile(f"[{re.escape(_PARA_END)}][{re.escape(_CLOSERS)}]*$")
_SENTENCE_RE = re.compile(
    f"[^{re.escape(_SENT_END)}]*(?:[{re.escape(_SENT_END)}]+[{re.escape(_CLOSERS)}]*|$)"
)

# ---------------------------------------------------------------------------------------
# Boilerplate rules. Each is general (what web pages and newspaper PDFs add around an
# article); none names a particular file.

# A line matching one of these ends the article: everything from it on is page furniture.
_CUT_FROM = re.compile(
    r"^(?:相关内容|相关阅读|相关推荐|相关新闻|热门资讯|热门推荐|猜你喜欢|推荐阅读|往期回顾.*|专题推荐"
    r"|特别声明[:：].*|免责声明.*|版权声明.*|Notice: The content above.*|.*incentive-icons.*"
    r"|无障碍浏览.*|责任编辑[:：].*|返回(?:网易)?首页.*|打开APP.*)$"
)

_DROP_LINE = [
    # navigation breadcrumbs: "网易首页 > 网易号 > 正文 申请入驻"
    re.compile(r"^.{0,20}首页\s*>.*$|^.*申请入驻$"),
    # share / like counters and buttons
    re.compile(r"^(?:\d{1,6}|分享至|分享到|分享|举报|收藏|点赞|评论|\+?关注|阅读原文|返回顶部)$"),
    # a timestamp line (the date is read into metadata from the raw text by rag.ingest)
    re.compile(
        r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?(?:\s+来源[:：].{0,30})?$"
    ),
    # a newspaper page header: "2023年 11月 16日 星期四9 调 查"
    re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*(?:星期|周)[一二三四五六日天].*$"),
    # an image caption or credit ending in a picture label
    re.compile(r"^.{0,60}(?:资料图|资料图片|供图|图片来源[:：].{0,30}|图源[:：].{0,30})$"),
]
# Labels a blogging platform prints under the title (the author's account role).
_HEADER_LABEL = re.compile(r"^(?:创始人|作者|原创|编辑|主编|认证作者|官方账号|专栏作者)$")

# A byline: "本报记者 郑 杨", "南方财经记者赵晓晨 广州报道", "文/记者 李春炜", "图/周巍 宋金峪".
# Matched on the line as printed (before letter-spacing is removed), so a letter-spaced
# sentence "记 者 在 调 查 中" is not a byline.
_BYLINE_RE = re.compile(
    r"^(?:(?:文|图|摄影?)\s?/\s?\S.{0,25}"
    r"|[^\s，,。：:]{0,8}?(?:记者|通讯员|撰文)(?:\s*[^\s，,。!?]{1,4})?(?:\s+[^\s，,。!?]{1,6}){0,4})$"
)

_CAPTION_MAX = 20  # chars; an isolated line this short in the body is an image caption
_HEADING_MAX = 30
_LONG_LINE = 40  # a paragraph this long that stops mid-sentence was cut in two


def _is_han(ch: str) -> bool:
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x20000 <= o <= 0x2FA1F
        or 0xF900 <= o <= 0xFAFF
        or 0x3040 <= o <= 0x30FF  # kana
        or 0xAC00 <= o <= 0xD7AF  # hangul
    )


def _is_latin(ch: str) -> bool:
    """Letters and digits of alphabetic scripts: words that are separated by spaces."""
    return ch.isalnum() and not _is_han(ch)


def _width(s: str) -> float:
    """Printed width in Chinese-character units (Latin letters are about half as wide)."""
    return sum(0.5 if ord(c) < 0x2E80 else 1.0 for c in s if not c.isspace())


# ---------------------------------------------------------------------------------------
# 1. Normalisation


_WS_RE = re.compile(r"[^\S\n]+")


def _normalise(raw: str) -> str:
    raw = (
        raw.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\u2028", "\n")
        .replace("\u2029", "\n")
    )
    # NFKC turns "…" into "..."; keep the Chinese ellipsis whole and fold "⋯" into it.
    raw = raw.replace("⋯", "…")
    text = "…".join(unicodedata.normalize("NFKC", part) for part in raw.split("…"))
    out = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue  # control, zero-width, BOM, surrogates, private use, unassigned
        else:
            out.append(ch)
    return _WS_RE.sub(" ", "".join(out))


# ---------------------------------------------------------------------------------------
# 2. Lines and boilerplate


@dataclass
class _Line:
    text: str  # as printed, whitespace collapsed
    gap: int  # blank lines before it in the source
    byline: bool = False
    spaced: bool = False  # letter-spaced, i.e. justified to the full column width


def _doubled(s: str) -> bool:
    """True for PDF text printed twice ("智慧地铁车站系统智慧地铁车站系统。。").

    Greedy: at each position take the longest run immediately repeated; the line is
    doubled when such pairs cover nearly all of it. Real prose almost never does this.
    """
    s = s.replace(" ", "")
    if not 8 <= len(s) <= 400:  # captions are short; also keeps this quadratic scan cheap
        return False
    i = paired = 0
    while i < len(s):
        for n in range((len(s) - i) // 2, 0, -1):
            if s[i : i + n] == s[i + n : i + 2 * n]:
                paired += 2 * n
                i += 2 * n
                break
        else:
            i += 1
    return paired >= 0.9 * len(s)


_LETTER_SPACED_RE = re.compile(r"(?:^|\s)\S\s\S\s\S(?:\s|$)")


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    gap = 0
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line:
            gap += 1
            continue
        lines.append(
            _Line(
                line,
                gap,
                byline=bool(_BYLINE_RE.match(line)) and len(line) <= 40,
                spaced=bool(_LETTER_SPACED_RE.search(line)),
            )
        )
        gap = 0
    return lines


def _body_start(lines: list[_Line]) -> int:
    """Index of the first line that reads as prose; the lines before it are the header."""
    for i, ln in enumerate(lines):
        if "。" in ln.text and not ln.byline:
            return i
    return len(lines)


def _drop_boilerplate(lines: list[_Line]) -> list[_Line]:
    start = _body_start(lines)
    for i in range(start, len(lines)):
        if _CUT_FROM.match(lines[i].text):
            lines = lines[:i]
            break
    kept = []
    for i, ln in enumerate(lines):
        t = ln.text
        if any(p.match(t) for p in _DROP_LINE) or _doubled(t):
            continue
        if i < start and _HEADER_LABEL.match(t):
            continue
        # An image caption: a short phrase set apart by an extra blank line in the body.
        # Judged on the source gaps, before other drops merge them.
        if (
            i > start
            and ln.gap >= 2
            and len(t) <= _CAPTION_MAX
            and not ln.byline
            and not (_CLAUSE_PUNCT & set(t))
        ):
            continue
        kept.append(ln)
    return kept


# ---------------------------------------------------------------------------------------
# 3. Lines -> paragraphs


def _ends_para(s: str) -> bool:
    return bool(_ENDS_PARA_RE.search(s))


def _glue(a: str, b: str) -> str:
    """Join a line to the next: Chinese joins directly, two Latin words keep a space."""
    if a and b and _is_latin(a[-1]) and _is_latin(b[0]):
        return a + " " + b
    return a + b


def _balanced(s: str) -> bool:
    return (
        s.count("“") == s.count("”")
        and s.count("《") == s.count("》")
        and s.count("(") == s.count(")")
    )


def _hard_wrapped(lines: list[_Line]) -> bool:
    """Newspaper-PDF layout: many short lines of similar width, most not ending a sentence."""
    if len(lines) < 6:
        return False
    widths = [_width(ln.text) for ln in lines]
    ends = sum(_ends_para(ln.text) for ln in lines)
    return statistics.median(widths) <= 30 and ends < 0.5 * len(lines)


def _join_hard_wrapped(lines: list[_Line]) -> list[str]:
    widths = [_width(ln.text) for ln in lines]
    n = len(lines)
    heading = [False] * n
    for i, ln in enumerate(lines):
        t = ln.text
        window = widths[max(0, i - 8) : i + 9]
        column = statistics.median(window)
        after_break = (
            i == 0 or _ends_para(lines[i - 1].text) or heading[i - 1] or lines[i - 1].byline
        )
        heading[i] = (
            after_break
            and not ln.byline
            and not ln.spaced
            and len(t) <= _HEADING_MAX
            and not (_CLAUSE_PUNCT & set(t))
            and _balanced(t)
            and (widths[i] <= 0.7 * column or i == n - 1)
        )
    paras: list[str] = []
    cur = ""
    for i, ln in enumerate(lines):
        cur = _glue(cur, ln.text) if cur else ln.text
        last = i == n - 1
        if (
            last
            or _ends_para(ln.text)
            or heading[i]
            or ln.byline
            or heading[i + 1]
            or lines[i + 1].byline
        ):
            paras.append(cur)
            cur = ""
    return paras


_FIRST_CLAUSE_RE = re.compile(r"^[^，,、;；:：。!?]{1,8}、")
_LAST_CLAUSE_RE = re.compile(r"、[^，,、;；:：。!?]{1,8}$")


def _cut_in_two(a: _Line, b: _Line) -> bool:
    """One-paragraph-per-line text where a paragraph was split ("智\\n\\n能芯片")."""
    if _ends_para(a.text) or a.byline or b.byline:
        return False
    if len(a.text) >= _LONG_LINE:
        return True
    # Cut inside an enumeration: "盈峰数科、众图" + "科技、爱美鑫".
    return bool(_LAST_CLAUSE_RE.search(a.text) and _FIRST_CLAUSE_RE.match(b.text))


def _join_paragraph_lines(lines: list[_Line]) -> list[str]:
    start = _body_start(lines)
    paras: list[str] = []
    for i, ln in enumerate(lines):
        if paras and i - 1 >= start and _cut_in_two(lines[i - 1], ln):
            paras[-1] = _glue(paras[-1], ln.text)
        else:
            paras.append(ln.text)
    return paras


# ---------------------------------------------------------------------------------------
# 4. Spaces, and lines that a page flattened (several paragraphs on one line)


_NO_SPACE_BEFORE = set("，,、;；:：。!?！？)）]】》」』”’")
_NO_SPACE_AFTER = set("(（[【《「『“‘")


def _fix_spaces(p: str) -> str:
    tokens = p.split(" ")
    if len(tokens) == 1:
        return p
    out = tokens[0]
    for prev, tok in zip(tokens, tokens[1:], strict=False):
        a, b = out[-1] if out else "", tok[:1]
        if not a or not b:
            out += tok
            continue
        both_latin = _is_latin(a) and _is_latin(b)
        single = (len(prev) == 1 or len(tok) == 1) and not both_latin
        mixed = (_is_han(a) and _is_latin(b)) or (_is_latin(a) and _is_han(b))
        # No space belongs before a comma/stop/closing bracket or after an opening one.
        tight = b in _NO_SPACE_BEFORE or a in _NO_SPACE_AFTER
        if single or mixed or tight:
            out += tok  # letter-spacing or PDF spacing around Latin/digits
        else:
            out += " " + tok
    return out


def _boundary(a: str, b: str) -> bool:
    """A space between two non-Latin characters separates flattened paragraphs/headings."""
    return not _is_latin(a) and not _is_latin(b)


def _clausey(seg: str) -> bool:
    return bool(_CLAUSE_PUNCT & set(seg)) or len(seg) > 25


def _split_flattened(p: str) -> list[str]:
    """Split a line that holds several paragraphs and headings separated by spaces.

    Segments between boundary spaces are grouped: a segment ending a sentence closes a
    paragraph; a sentence that does not end runs on into the next segment; a run of
    short phrases (a heading, a byline) is one paragraph; "——" starts an attribution.
    """
    segs: list[str] = []
    start = 0
    for m in re.finditer(" ", p):
        i = m.start()
        if 0 < i < len(p) - 1 and _boundary(p[i - 1], p[i + 1]):
            segs.append(p[start:i])
            start = i + 1
    segs.append(p[start:])
    if len(segs) == 1:
        return segs
    paras: list[list[str]] = [[segs[0]]]
    for seg in segs[1:]:
        prev = paras[-1][-1]
        if _ends_para(prev):
            new = True
        elif _clausey(prev):
            new = False  # the sentence runs on
        else:
            new = _clausey(seg) or seg.startswith("——") or prev.startswith("——")
        if new:
            paras.append([seg])
        else:
            paras[-1].append(seg)
    return [" ".join(x) for x in paras]


# ---------------------------------------------------------------------------------------


def _clean_once(raw: str) -> str:
    lines = _drop_boilerplate(_split_lines(_normalise(raw)))
    if not lines:
        return ""
    joined = _join_hard_wrapped(lines) if _hard_wrapped(lines) else _join_paragraph_lines(lines)
    paras: list[str] = []
    for p in joined:
        for q in _split_flattened(_fix_spaces(p)):
            q = q.strip()
            if q:
                paras.append(q)
    return "\n".join(paras)


def clean_text(raw: str) -> str:
    """Return the canonical cleaned text of one article (see the module docstring).

    Idempotent: ``clean_text(clean_text(x)) == clean_text(x)``. The heuristics of one
    pass see a different layout in their own output (joined lines are long), so the pass
    is repeated until nothing changes; real articles settle after one or two passes.
    """
    text = raw
    for _ in range(8):
        nxt = _clean_once(text)
        if nxt == text:
            return nxt
        text = nxt
    return text


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph of cleaned ``text``; the "\\n" is in neither.

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
            m = _SENTENCE_RE.match(para, pos)
            end = m.end() if m and m.end() > pos else len(para)
            spans.append((ps + pos, ps + end))
            pos = end
    return spans


def is_heading(paragraph: str) -> bool:
    """Heading-like: short, no sentence punctuation, not a byline (used for titles)."""
    p = paragraph.strip()
    return (
        0 < len(p) <= 60
        and not _ends_para(p)
        and not (set("。!?;") & set(p))
        and not _BYLINE_RE.match(p)
        and not re.search(r"记者|撰文|通讯员|报道$", p)
        and not p.startswith("——")
    )
