"""What the Gradio UI shows, as HTML and Markdown strings: the chat bubble, the sources panel,
search results, the article table and the upload report.

Pure functions, tested without a browser. All article and user text is escaped before it is
rendered (HTML panels) or shown in the chat (Markdown), so an article containing
``<script>`` shows as text::

    md_escape("a_b [c]")  -> "a\\_b \\[c\\]"
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from rag.app.present import article_url, display_date
from rag.corpus.add import IngestReport
from rag.errors import IndexStateError, InputError, ModelError, RagError, TooLargeError
from rag.pipeline import Pipeline
from rag.retrieve.search import SearchResult
from rag.types import Answer, Citation

__all__ = ["answer_markdown", "articles_html", "citation_card", "ingest_report_html",
           "md_escape", "search_html", "snippet_html", "sources_html", "zh_error"]

_CONTEXT = 70  # characters of article shown on each side of a cited span
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~>$])")


def md_escape(text: str) -> str:
    """Text -> Markdown that shows exactly that text (HTML escaped, Markdown neutralised)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def zh_error(e: Exception) -> str:
    """A Chinese lead-in for the (English, one-sentence) pipeline error."""
    if isinstance(e, TooLargeError):
        lead = "内容过长"
    elif isinstance(e, InputError):
        lead = "输入有误"
    elif isinstance(e, (IndexStateError, ModelError)):
        lead = "索引或模型暂不可用,请联系管理员重建索引"
    elif isinstance(e, RagError):
        lead = "处理失败"
    else:
        lead = "内部错误"
    return f"{lead}:{e}"


# -- the chat

def answer_markdown(ans: Answer) -> str:
    """The chat bubble: answer with clickable ``[n]`` markers, the note, and a source line."""
    by_n = {c.n: c for c in ans.citations}

    def link(m: re.Match) -> str:
        c = by_n.get(int(m.group(1)))
        if c is None:
            return m.group(0)
        return f"[\\[{c.n}\\]]({article_url(c.doc_id, c.start, c.end)})"

    # Escape first, then turn the (now escaped) markers "\[n\]" into links.
    body = re.sub(r"\\\[(\d+)\\\]", link, md_escape(ans.text))
    parts = [body]
    if ans.note:
        parts.append(f"> ⚠️ {md_escape(ans.note)}")
    if ans.refused and ans.related:
        parts.append("*未找到确切答案,右侧列出可能相关的段落。*")
    if ans.citations:
        srcs = " ".join(f"[\\[{c.n}\\] {md_escape(_short(c.title, 18))}]"
                        f"({article_url(c.doc_id, c.start, c.end)})" for c in ans.citations)
        parts.append(f"来源:{srcs}")
    total = dict(ans.timings_ms).get("total")
    if total is not None:
        parts.append(f"<sub>用时 {total / 1000:.2f} 秒 · "
                     f"{'LLM 生成' if ans.mode == 'llm' else '抽取式'}</sub>")
    return "\n\n".join(parts)


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


# -- the sources panel

def snippet_html(doc_text: str | None, c: Citation) -> str:
    """The cited span in context: escaped text with the span inside ``<mark>``."""
    if doc_text is None or not (0 <= c.start < c.end <= len(doc_text)):
        return f"<mark>{html.escape(c.snippet)}</mark>"
    a = max(0, c.start - _CONTEXT)
    # Start at a line break when one is near, so the context begins at a paragraph.
    nl = doc_text.rfind("\n", a, c.start)
    if nl != -1:
        a = nl + 1
    b = min(len(doc_text), c.end + _CONTEXT)
    nl = doc_text.find("\n", c.end, b)
    if nl != -1:
        b = nl
    pre = ("…" if a > 0 else "") + html.escape(doc_text[a:c.start])
    post = html.escape(doc_text[c.end:b]) + ("…" if b < len(doc_text) else "")
    return f"{pre}<mark>{html.escape(doc_text[c.start:c.end])}</mark>{post}"


def citation_card(c: Citation, doc_text: str | None, source: str | None = None) -> str:
    """One source card: number, linked title, date and source, the span in context."""
    url = html.escape(article_url(c.doc_id, c.start, c.end))
    meta = " · ".join(x for x in (display_date(c.date, c.date_inferred),
                                  c.source or source or "") if x)
    return (f'<div class="src" data-doc="{html.escape(c.doc_id)}">'
            f'<div class="src-head"><span class="n">[{c.n}]</span>'
            f'<a class="src-title" href="{url}" target="_blank">{html.escape(c.title)}</a></div>'
            f'<div class="src-meta">{html.escape(meta)}</div>'
            f'<div class="src-snippet">{snippet_html(doc_text, c)}</div>'
            f'<a class="src-open" href="{url}" target="_blank">在原文中查看 →</a></div>')


def sources_html(ans: Answer | None, texts: dict[str, str]) -> str:
    """The sources panel for one answer (``texts``: doc_id -> cleaned text)."""
    if ans is None:
        return ('<div class="src-panel"><h3>出处</h3><p class="src-empty">提问后,这里显示答案'
                "所依据的原文段落,点击可打开全文并定位到该段。</p></div>")
    out = ['<div class="src-panel">']
    if ans.note:
        out.append(f'<div class="src-note">⚠️ {html.escape(ans.note)}</div>')
    if ans.citations:
        out.append("<h3>出处</h3>")
        out += [citation_card(c, texts.get(c.doc_id)) for c in ans.citations]
    if ans.refused or not ans.citations:
        out.append('<div class="src-refused">文章中没有找到这个问题的确切答案。</div>')
        if ans.related:
            out.append("<h3>可能相关</h3>")
            out += [citation_card(c, texts.get(c.doc_id)) for c in ans.related]
    out.append("</div>")
    return "".join(out)


# -- search results and the article table

def search_html(pipeline: Pipeline, res: SearchResult) -> str:
    """Ranked passages of a SearchResult, each linking to the article view."""
    docs = pipeline.snapshot.docs
    out = ['<div class="src-panel">']
    if res.corrected:
        out.append(f'<div class="src-note">已按「{html.escape(res.searched)}」检索'
                   f"(原输入:{html.escape(res.query)})。</div>")
    if not res.hits:
        out.append('<p class="src-empty">没有找到匹配的段落,请换个说法或放宽筛选条件。</p>')
    for h in res.hits:
        ch = h.chunk
        d = docs.get(ch.doc_id)
        m = d.meta if d else None
        url = html.escape(article_url(ch.doc_id, ch.start, ch.end))
        meta = " · ".join(x for x in (display_date(m.date, m.date_inferred) if m else "",
                                      m.source if m else "", f"得分 {h.score:.4f}") if x)
        out.append(f'<div class="src"><div class="src-head"><span class="n">#{h.rank}</span>'
                   f'<a class="src-title" href="{url}" target="_blank">'
                   f"{html.escape(m.title if m else ch.doc_id)}</a></div>"
                   f'<div class="src-meta">{html.escape(meta)}</div>'
                   f'<div class="src-snippet">{html.escape(ch.text)}</div>'
                   f'<a class="src-open" href="{url}" target="_blank">在原文中查看 →</a></div>')
    out.append("</div>")
    return "".join(out)


def articles_html(pipeline: Pipeline) -> str:
    """A table of all indexed articles with links to the article view."""
    try:
        docs = pipeline.documents()
    except RagError as e:
        return f'<p class="src-note">{html.escape(zh_error(e))}</p>'
    rows = "".join(
        f"<tr><td><a href=\"{html.escape(article_url(d.doc_id))}\" target=\"_blank\">"
        f"{html.escape(d.meta.title or d.doc_id)}</a></td>"
        f"<td>{html.escape(display_date(d.meta.date, d.meta.date_inferred))}</td>"
        f"<td>{html.escape(d.meta.source or '—')}</td>"
        f"<td>{html.escape(d.meta.region or '—')}</td><td>{len(d.text):,}</td></tr>"
        for d in docs)
    return (f'<p class="muted">共 {len(docs)} 篇文章。点击标题打开全文。</p>'
            '<table class="doc-table"><thead><tr><th>标题</th><th>日期</th><th>来源</th>'
            f"<th>地区</th><th>字数</th></tr></thead><tbody>{rows}</tbody></table>")


# -- the upload report

def _names(items: Sequence, titles: dict[str, str]) -> list[str]:
    out = []
    for x in items or ():
        x = str(x[0]) if isinstance(x, (tuple, list)) and x else str(x)
        out.append(f"《{titles[x]}》" if titles.get(x) else Path(x).name)
    return out


def ingest_report_html(report: IngestReport, seconds: float,
                       titles: dict[str, str] | None = None) -> str:
    """Per-file outcome of ``Pipeline.ingest``: added / updated / unchanged / errors.

    ``report.added`` etc. hold doc ids; ``titles`` (doc_id -> title) makes them readable."""
    parts = [f'<p class="muted">用时 {seconds:.1f} 秒。</p>', "<ul>"]
    for label, attr in (("新增", "added"), ("更新", "updated"), ("未变化", "unchanged")):
        names = _names(getattr(report, attr, ()), titles or {})
        if names:
            parts.append(f"<li>{label} {len(names)} 篇:{html.escape('、'.join(names))}</li>")
    parts.append("</ul>")
    errors = list(getattr(report, "errors", ()) or ())
    if errors:
        parts.append('<div class="src-note"><b>以下文件未能导入:</b><ul>')
        for e in errors:
            if isinstance(e, (tuple, list)) and len(e) >= 2:
                text = f"{Path(str(e[0])).name}:{e[1]}"
            else:
                text = str(e)
            parts.append(f"<li>{html.escape(text)}</li>")
        parts.append("</ul></div>")
    elif not any(getattr(report, a, ()) for a in ("added", "updated", "unchanged")):
        parts.append('<p class="muted">没有导入任何文件。</p>')
    return "".join(parts)
