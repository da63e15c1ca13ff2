"""Raw lines of an article and the page furniture around it (rule 2 of rag.corpus.clean).

Each rule is general (what web pages and newspaper PDFs add around an article); none names a
particular file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BYLINE", "CLAUSE_PUNCT", "Line", "body_start", "drop_boilerplate", "split_lines"]

CLAUSE_PUNCT = set("，,、;；:：。!?！？…")
_CAPTION_MAX = 20  # chars; an isolated line this short in the body is an image caption

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
    # a timestamp line (the date is read into metadata from the raw text by rag.corpus.metadata)
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
BYLINE = re.compile(
    r"^(?:(?:文|图|摄影?)\s?/\s?\S.{0,25}"
    r"|[^\s，,。：:]{0,8}?(?:记者|通讯员|撰文)(?:\s*[^\s，,。!?]{1,4})?(?:\s+[^\s，,。!?]{1,6}){0,4})$"
)


# ---------------------------------------------------------------------------------------
# 2. Lines and boilerplate


@dataclass
class Line:
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


def split_lines(text: str) -> list[Line]:
    lines: list[Line] = []
    gap = 0
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line:
            gap += 1
            continue
        lines.append(
            Line(
                line,
                gap,
                byline=bool(BYLINE.match(line)) and len(line) <= 40,
                spaced=bool(_LETTER_SPACED_RE.search(line)),
            )
        )
        gap = 0
    return lines


def body_start(lines: list[Line]) -> int:
    """Index of the first line that reads as prose; the lines before it are the header."""
    for i, ln in enumerate(lines):
        if "。" in ln.text and not ln.byline:
            return i
    return len(lines)


def drop_boilerplate(lines: list[Line]) -> list[Line]:
    start = body_start(lines)
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
            and not (CLAUSE_PUNCT & set(t))
        ):
            continue
        kept.append(ln)
    return kept
