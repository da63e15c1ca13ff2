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

from rag.corpus.lines import BYLINE, CLAUSE_PUNCT, Line, body_start, drop_boilerplate, split_lines
from rag.text.patterns import ends_paragraph, is_unspaced_char, paragraph_spans, sentence_spans

__all__ = ["clean_text", "paragraph_spans", "sentence_spans", "is_heading"]


_HEADING_MAX = 30
_LONG_LINE = 40  # a paragraph this long that stops mid-sentence was cut in two


def _is_latin(ch: str) -> bool:
    """Letters and digits of alphabetic scripts: words that are separated by spaces."""
    return ch.isalnum() and not is_unspaced_char(ch)


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
# 3. Lines -> paragraphs


def _ends_para(s: str) -> bool:
    return ends_paragraph(s)


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


def _hard_wrapped(lines: list[Line]) -> bool:
    """Newspaper-PDF layout: many short lines of similar width, most not ending a sentence."""
    if len(lines) < 6:
        return False
    widths = [_width(ln.text) for ln in lines]
    ends = sum(_ends_para(ln.text) for ln in lines)
    return statistics.median(widths) <= 30 and ends < 0.5 * len(lines)


def _join_hard_wrapped(lines: list[Line]) -> list[str]:
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
            and not (CLAUSE_PUNCT & set(t))
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


def _cut_in_two(a: Line, b: Line) -> bool:
    """One-paragraph-per-line text where a paragraph was split ("智\\n\\n能芯片")."""
    if _ends_para(a.text) or a.byline or b.byline:
        return False
    if len(a.text) >= _LONG_LINE:
        return True
    # Cut inside an enumeration: "盈峰数科、众图" + "科技、爱美鑫".
    return bool(_LAST_CLAUSE_RE.search(a.text) and _FIRST_CLAUSE_RE.match(b.text))


def _join_paragraph_lines(lines: list[Line]) -> list[str]:
    start = body_start(lines)
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
        mixed = (is_unspaced_char(a) and _is_latin(b)) or (_is_latin(a) and is_unspaced_char(b))
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
    return bool(CLAUSE_PUNCT & set(seg)) or len(seg) > 25


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
    lines = drop_boilerplate(split_lines(_normalise(raw)))
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


def is_heading(paragraph: str) -> bool:
    """Heading-like: short, no sentence punctuation, not a byline (used for titles)."""
    p = paragraph.strip()
    return (
        0 < len(p) <= 60
        and not _ends_para(p)
        and not (set("。!?;") & set(p))
        and not BYLINE.match(p)
        and not re.search(r"记者|撰文|通讯员|报道$", p)
        and not p.startswith("——")
    )
