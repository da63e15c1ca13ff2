"""Presentation shared by the REST app and the Gradio UI: article links, dates as staff read
them, and the article view page. Pure functions over ``rag.types``; no web framework here.

    article_url("002_abc", 10, 25)  -> "/article/002_abc?start=10&end=25"
    display_date("2026-03", True)   -> "2026-03(推断)"
"""

from __future__ import annotations

import html
from urllib.parse import quote

from rag.types import Document

__all__ = ["article_url", "display_date", "error_page", "render_article"]

_ARTICLE_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:0;
background:#f6f7f9;color:#1f2328}
main{max-width:860px;margin:0 auto;padding:24px 28px 80px;background:#fff;min-height:100vh;
box-shadow:0 0 12px rgba(0,0,0,.06)}
h1{font-size:1.45rem;line-height:1.4;margin:.4em 0 .6em}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;font-size:.9rem;
color:#555;background:#f3f5f8;padding:10px 14px;border-radius:8px}
.meta dt{font-weight:600;color:#333}.meta dd{margin:0}
.text{white-space:pre-wrap;line-height:1.9;font-size:1.02rem;margin-top:18px}
mark#hl{background:#ffe58a;padding:2px 0;border-radius:3px;box-shadow:0 0 0 2px #ffd24d}
nav a{color:#2563eb;text-decoration:none;font-size:.92rem}
.note{color:#8a5a00;font-size:.88rem;margin-top:8px}
"""


def display_date(date: str | None, inferred: bool) -> str:
    """``("2026-03", True)`` -> ``"2026-03(推断)"``; a missing date reads ``日期不详``."""
    if not date:
        return "日期不详"
    return f"{date}(推断)" if inferred else date


def article_url(doc_id: str, start: int | None = None, end: int | None = None) -> str:
    """Link to the article view, highlighting ``text[start:end]`` when given."""
    url = f"/article/{quote(doc_id, safe='')}"
    if start is not None and end is not None:
        url += f"?start={int(start)}&end={int(end)}"
    return url


def render_article(doc: Document, start: int | None = None, end: int | None = None,
                   extra: str = "") -> str:
    """The full cleaned article as an escaped HTML page; ``text[start:end]`` is marked
    ``<mark id="hl">`` and scrolled into view. ``extra`` (trusted HTML, e.g. the review
    tools) goes at the end of the page."""
    m = doc.meta
    text = doc.text
    note = ""
    if start is not None and end is not None and 0 <= start < end <= len(text):
        body = (html.escape(text[:start]) + '<mark id="hl">' + html.escape(text[start:end])
                + "</mark>" + html.escape(text[end:]))
    else:
        if start is not None or end is not None:
            note = '<p class="note">所引段落的位置超出本文范围,已显示全文。</p>'
        body = html.escape(text)
    rows = [("日期", display_date(m.date, m.date_inferred)
             + (f"({m.date_note})" if m.date_inferred and m.date_note else "")),
            ("来源", m.source or "—"), ("作者", m.author or "—"), ("地区", m.region or "—"),
            ("文件", m.file or doc.doc_id)]
    if m.url:
        rows.append(("原文链接", m.url))
    meta = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows)
    title = html.escape(m.title or doc.doc_id)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title><style>{_ARTICLE_CSS}</style></head>
<body><main>
<nav><a href="/">← 返回问答</a></nav>
<h1>{title}</h1>
<dl class="meta">{meta}</dl>{note}
<div class="text" id="text">{body}</div>
</main>
<script>
(function(){{var h=document.getElementById("hl");
if(h){{h.scrollIntoView({{block:"center"}});}}}})();
</script>{extra}
</body></html>"""


def error_page(message: str) -> str:
    """The article view's page for an article that cannot be shown (message escaped)."""
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>错误</title>'
            f"<style>{_ARTICLE_CSS}</style></head><body><main><nav><a href=\"/\">← 返回问答</a>"
            f"</nav><h1>无法打开文章</h1><p>{html.escape(message)}</p></main></body></html>")
