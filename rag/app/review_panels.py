"""What the 审核 tab shows, as table rows and HTML strings. Pure functions, tested without a
browser; every logged text is capped and escaped before it is shown, so a question holding
``<script>`` reads as text::

    review_url("000_abc", "3f2a", 10, 25) -> "/review/article/000_abc?entry=3f2a&start=10&end=25"
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from rag.app.feedback import cap
from rag.evaluation.duplicates import Match
from rag.text.patterns import FIGURE, normalize
from rag.types import Document

__all__ = ["FEEDBACK_HEADERS", "REVIEWED_HEADERS", "STATUS_ZH", "duplicate_note",
           "entry_html", "entry_rows", "evidence_html", "figures_html", "reviewed_rows",
           "review_url", "suggest"]

FEEDBACK_HEADERS = ["编号", "时间", "评价", "问题", "意见", "状态"]
REVIEWED_HEADERS = ["编号", "问题", "答案", "类型", "来源", "审核日期"]
STATUS_ZH = {"new": "未审核", "reviewed": "已审核", "skipped": "已跳过"}
LIST_CHARS = 80  # question characters shown in the list; the detail shows the whole


def review_url(doc_id: str, key: str, start: int | None = None, end: int | None = None) -> str:
    """The article view in review mode: selecting text there adds evidence under ``key``."""
    url = f"/review/article/{quote(doc_id, safe='')}?entry={quote(key, safe='')}"
    if start is not None and end is not None:
        url += f"&start={int(start)}&end={int(end)}"
    return url


def entry_rows(entries: Sequence[dict]) -> list[list[str]]:
    """One table row per logged vote (the Dataframe shows cells as plain text)."""
    return [[e["id"], str(e.get("time", ""))[:16].replace("T", " "),
             "👍" if e["vote"] == "up" else "👎", cap(e["question"], LIST_CHARS),
             cap(e.get("comment", ""), 40), STATUS_ZH.get(e.get("status", "new"), "")]
            for e in entries]


def reviewed_rows(records: Sequence[dict]) -> list[list[str]]:
    """One table row per reviewed question."""
    return [[r["id"], cap(r["question"], LIST_CHARS),
             cap(r.get("answer") or "(无答案)", 40), r.get("type", ""),
             r.get("source", ""), r.get("edited_at") or r.get("reviewed_at", "")]
            for r in records]


def _articles_links(docs: Mapping[str, Document], key: str) -> str:
    items = "".join(f'<li><a href="{html.escape(review_url(d.doc_id, key))}" target="_blank">'
                    f"{html.escape(d.meta.title or d.doc_id)}</a></li>"
                    for d in sorted(docs.values(), key=lambda d: d.doc_id))
    return f"<details><summary>在其他文章中选择证据</summary><ul>{items}</ul></details>"


def entry_html(entry: dict, docs: Mapping[str, Document], key: str) -> str:
    """The whole entry: question, answer, mode, citations (each opening the review article
    view), comment, the index build that answered, and links to every other article."""
    e = {k: html.escape(str(entry.get(k) or "")) for k in
         ("question", "answer", "mode", "comment", "index_build", "time", "id")}
    vote = "👍" if entry.get("vote") == "up" else "👎"
    cites = []
    for c in entry.get("citations") or []:
        doc_id = str(c.get("doc_id", ""))
        title = html.escape(str(c.get("title") or doc_id))
        if doc_id in docs:
            url = html.escape(review_url(doc_id, key, c.get("start"), c.get("end")))
            title = f'<a class="rv-cite" href="{url}" target="_blank">{title}</a>'
        cites.append(f"<li>[{html.escape(str(c.get('n', '')))}] {title}<div class=\"muted\">"
                     f"{html.escape(cap(str(c.get('snippet', '')), 160))}</div></li>")
    return (f'<div class="rv-entry"><div class="muted">{e["time"]} · {vote} · 编号 {e["id"]} · '
            f"{html.escape(STATUS_ZH.get(entry.get('status', 'new'), ''))}</div>"
            f"<h3>{e['question']}</h3>"
            f"<p><b>回答</b>({e['mode'] or 'extractive'}):{e['answer'] or '—'}</p>"
            f"<p><b>意见</b>:{e['comment'] or '—'}</p>"
            f"<p><b>出处</b>(点击打开原文并选择证据):</p><ol>{''.join(cites) or '<li>无</li>'}"
            f"</ol>{_articles_links(docs, key)}"
            f'<p class="muted">回答时的索引版本:{e["index_build"] or "未记录"}</p></div>')


def evidence_html(items: Sequence[dict], docs: Mapping[str, Document]) -> str:
    """The evidence picked so far, each with its article."""
    if not items:
        return ('<p class="muted">尚未选择证据:打开出处,在原文中选中一句证据并点击「用作证据」,'
                "再点「载入选段」。</p>")
    rows = "".join(f"<li><mark>{html.escape(i['text'])}</mark> <span class=\"muted\">"
                   f"{html.escape(docs[i['doc_id']].meta.title if i['doc_id'] in docs else i['doc_id'])}"
                   "</span></li>" for i in items)
    return f'<ol class="rv-evidence">{rows}</ol>'


def suggest(evidence: Sequence[dict]) -> tuple[str, list[str], str]:
    """A first guess at (answer, key words, type) from the evidence, for the reviewer to
    confirm: the figures it states are the keys.

    >>> suggest([{"text": "算法备案项目320个"}])
    ('算法备案项目320个', ['320个'], 'number')
    """
    text = "".join(i["text"] for i in evidence)
    figures = list(dict.fromkeys(normalize(m.group(0)) for m in FIGURE.finditer(text)))
    return text, figures[:2], "number" if figures else "fact"


def duplicate_note(m: Match) -> str:
    """The reviewer's message for a duplicate (Markdown, question escaped)."""
    q = html.escape(cap(m.question, 120))
    if m.kind == "same":
        return (f"⚠️ 与 {m.set} 中的问题 {html.escape(m.id)}「{q}」相同,未保存。"
                "如需修改,请在「已审核问题」中编辑该条。")
    return (f"⚠️ 可能与 {m.set} 中的问题 {html.escape(m.id)}「{q}」重复(相似度 "
            f"{m.similarity:.3f},答案相同),未保存。若确实不同,勾选「不是重复」后再保存。")


def figures_html(latest: Mapping[str, dict]) -> str:
    """The newest figures per question set as a table."""
    if not latest:
        return ('<p class="muted">还没有评测结果。运行 <code>rag eval --questions '
                "eval/reviewed.jsonl --history</code> 后刷新。</p>")
    def fmt(v):
        return "—" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{fmt(f.get('n'))}</td>"
        f"<td class=\"rv-acc\">{fmt(f.get('accuracy'))}</td><td>{fmt(f.get('refusal_rate'))}</td>"
        f"<td>{fmt(f.get('recall@5'))}</td><td>{html.escape(str(f.get('date', ''))[:16])}</td>"
        f"<td>{html.escape(str(f.get('commit', '')))}</td></tr>" for name, f in latest.items())
    return ('<table class="doc-table" id="rv-figure-table"><thead><tr><th>问题集</th><th>问题数</th>'
            "<th>回答准确率</th><th>无答案拒答率</th><th>检索 R@5</th><th>评测时间</th>"
            f"<th>代码版本</th></tr></thead><tbody>{rows}</tbody></table>")
