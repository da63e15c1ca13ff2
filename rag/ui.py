"""The Gradio UI (Chinese): 问答 (chat with sources), 检索, 文章, 上传.

Every call goes through the one ``Pipeline`` the web app owns; nothing here loads a model.
All article and user text is escaped before it is rendered (HTML panels) or shown in the chat
(Markdown), so an article containing ``<script>`` shows as text. ``build_ui`` only builds the
Blocks; ``rag.web.create_app`` mounts it next to the REST API.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from .errors import IndexStateError, InputError, ModelError, RagError, TooLargeError
from .pipeline import Pipeline
from .types import Answer, Citation
from .web import FeedbackLog, article_url, display_date

MODE_EXTRACTIVE = "抽取式(原文摘录)"
MODE_LLM = "LLM 生成"
METHODS = {"混合(推荐)": "hybrid", "语义": "dense", "关键词": "bm25"}
UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".pdf", ".docx"]
EXAMPLES = ["海珠2026年大模型目标是多少", "南沙扶持办法最高给多少钱",
            "琶洲试验区有哪些龙头企业", "广州有多少款备案人工智能大模型"]
_CONTEXT = 70  # characters of article shown on each side of a cited span

CSS = """
.gradio-container{max-width:1280px !important;width:100% !important;margin:0 auto !important}
#app-head h1{font-size:1.5rem;margin:.2em 0 0}
#app-head p{color:#5b6470;margin:.2em 0 .4em;font-size:.92rem}
.src-panel{font-size:.92rem;line-height:1.65}
.src-panel h3{font-size:1rem;margin:.2em 0 .5em;color:#1f2937}
.src{border:1px solid #e5e7eb;border-radius:10px;padding:10px 12px;margin:0 0 10px;
 background:#fbfcfe}
.src-head{font-weight:600}
.src-head .n{color:#2563eb;margin-right:4px}
.src-head a{color:#1f2937;text-decoration:none}
.src-head a:hover{text-decoration:underline}
.src-meta{color:#6b7280;font-size:.84rem;margin:2px 0 6px}
.src-snippet{color:#374151}
.src-snippet mark{background:#ffe58a;border-radius:3px;padding:0 1px}
.src-open{display:inline-block;margin-top:6px;color:#2563eb;font-size:.86rem;
 text-decoration:none}
.src-empty{color:#6b7280}
.src-note{background:#fff7e6;border:1px solid #ffd591;color:#8a5a00;border-radius:8px;
 padding:6px 10px;margin-bottom:10px}
.src-refused{color:#b45309;margin-bottom:6px}
#doc-list{width:100%}
.doc-table{width:100%;border-collapse:collapse;font-size:.92rem;border:none !important}
.doc-table th,.doc-table td{border:none !important;border-bottom:1px solid #e5e7eb !important;
 padding:7px 10px;text-align:left;vertical-align:top}
.doc-table th{background:#f3f5f8;color:#374151}
.doc-table a{color:#2563eb;text-decoration:none}
.muted{color:#6b7280;font-size:.86rem}
"""


def theme() -> gr.themes.Base:
    """A calm theme with local CJK fonts (no web fonts: the app runs offline)."""
    fonts = ("Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", "sans-serif")
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate", font=fonts,
                          font_mono=("Noto Sans Mono CJK SC", "monospace"))


# -- rendering helpers (pure functions; tested without a browser)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~>$])")


def md_escape(text: str) -> str:
    """Text -> Markdown that shows exactly that text (HTML escaped, Markdown neutralised)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


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


def search_html(pipeline: Pipeline, res) -> str:
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
        return f'<p class="src-note">{html.escape(_zh_error(e))}</p>'
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


def _zh_error(e: Exception) -> str:
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


def _doc_choices(pipeline: Pipeline) -> list[tuple[str, str]]:
    try:
        return [(f"{d.meta.title or d.doc_id}({display_date(d.meta.date, d.meta.date_inferred)})",
                 d.doc_id) for d in pipeline.documents()]
    except RagError:
        return []


def _texts(pipeline: Pipeline, ans: Answer) -> dict[str, str]:
    docs = pipeline.snapshot.docs
    ids = {c.doc_id for c in (*ans.citations, *ans.related)}
    return {i: docs[i].text for i in ids if i in docs}


def _opt(s: str | None) -> str | None:
    s = (s or "").strip()
    return s or None


# -- the Blocks

def build_ui(pipeline: Pipeline, feedback: FeedbackLog) -> gr.Blocks:
    """Build (not launch) the UI over ``pipeline``; votes go to ``feedback``."""
    s = pipeline.settings
    modes = [MODE_EXTRACTIVE] + ([MODE_LLM] if s.llm_base_url else [])
    login_line = ("🔒 已启用登录(账号由管理员分配)。" if s.auth
                  else "🔓 本应用无需登录,打开即可使用。")

    with gr.Blocks(title="政策文章问答 · 广州区人工智能局") as demo:
        gr.HTML(f'<div id="app-head"><h1>政策文章问答</h1><p>输入问题,返回带出处的数字与原文;'
                f"点击出处可打开全文并定位到所引段落。{html.escape(login_line)}</p></div>",
                padding=False)
        msgs = gr.State([])   # chat messages as shown
        turns = gr.State([])  # one record per answer: question, answer text, citations

        with gr.Tab("问答", id="chat-tab"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chat = gr.Chatbot(elem_id="chat", height=520, label="对话",
                                      placeholder="**请输入问题**<br>例如:海珠2026年大模型目标是多少",
                                      feedback_options=("Like", "Dislike"),
                                      buttons=["copy"], layout="bubble",
                                      latex_delimiters=[])
                    with gr.Row():
                        question = gr.Textbox(elem_id="question", show_label=False, scale=5,
                                              placeholder="输入问题,回车发送(可追问,如“那2025年呢”)",
                                              max_lines=4, autofocus=True)
                        send = gr.Button("提问", variant="primary", elem_id="send", scale=1,
                                         min_width=90)
                    gr.Examples(EXAMPLES, inputs=question, label="示例问题")
                    with gr.Row():
                        comment = gr.Textbox(label="反馈意见(可选)", scale=4, max_lines=2,
                                             placeholder="写下意见后,点击答案下方的 👍 或 👎 一并提交")
                        clear = gr.Button("新对话", scale=1, min_width=90)
                    fb_status = gr.Markdown("", elem_id="fb-status")
                with gr.Column(scale=2):
                    sources = gr.HTML(sources_html(None, {}), elem_id="sources",
                                      padding=False)
                    with gr.Accordion("设置", open=False):
                        mode = gr.Radio(modes, value=MODE_EXTRACTIVE, label="回答方式",
                                        info=None if s.llm_base_url else
                                        "未配置 LLM 服务,仅提供抽取式答案。")
                        k = gr.Slider(1, 10, value=s.answer_passages, step=1,
                                      label="参考段落数")
                        chat_docs = gr.Dropdown([], multiselect=True, label="限定文章",
                                                info="不选则在全部文章中查找")
                        with gr.Row():
                            chat_since = gr.Textbox(label="起始日期", placeholder="如 2025 或 2025-01")
                            chat_until = gr.Textbox(label="截止日期", placeholder="如 2026-12-31")

        with gr.Tab("检索", id="search-tab"):
            with gr.Row():
                query = gr.Textbox(label="检索词", scale=5, elem_id="search-q",
                                   placeholder="输入关键词或问题,查看排序后的原文段落")
                search_btn = gr.Button("检索", variant="primary", scale=1, min_width=90)
            with gr.Row():
                method = gr.Radio(list(METHODS), value="混合(推荐)", label="检索方式")
                sk = gr.Slider(1, 30, value=s.top_k, step=1, label="返回段落数")
            with gr.Row():
                search_docs = gr.Dropdown([], multiselect=True, label="限定文章", scale=3)
                search_since = gr.Textbox(label="起始日期", placeholder="如 2025", scale=1)
                search_until = gr.Textbox(label="截止日期", placeholder="如 2026-06", scale=1)
            results = gr.HTML("", elem_id="search-results", padding=False)

        with gr.Tab("文章", id="docs-tab"):
            refresh = gr.Button("刷新列表", size="sm")
            doc_list = gr.HTML("", elem_id="doc-list", padding=False)

        with gr.Tab("上传", id="upload-tab"):
            gr.Markdown("上传文章(txt、md、html、pdf、docx),索引更新后即可提问。"
                        f"单个文件不超过 {s.max_upload_bytes // (1024 * 1024)} MB。")
            files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="选择文件")
            upload_btn = gr.Button("上传并建立索引", variant="primary")
            upload_out = gr.HTML("", elem_id="upload-result", padding=False)

        # -- handlers
        def respond(q, msgs, turns, mode, k, doc_ids, since, until):
            msgs = list(msgs or [])
            turns = list(turns or [])
            q = (q or "").strip()
            if not q:
                gr.Warning("请输入问题。")
                yield (gr.skip(),) * 6
                return
            msgs += [{"role": "user", "content": md_escape(q)},
                     {"role": "assistant", "content": "⏳ 正在检索相关文章…"}]
            yield "", msgs, msgs, turns, gr.skip(), ""
            history = [t["question"] for t in turns if t.get("question")]
            streamed = ""
            ans: Answer | None = None
            try:
                for item in pipeline.ask_stream(q, k=int(k), llm=(mode == MODE_LLM),
                                                history=history, doc_ids=doc_ids or None,
                                                since=_opt(since), until=_opt(until)):
                    if isinstance(item, Answer):
                        ans = item
                    else:
                        streamed += item
                        msgs[-1] = {"role": "assistant", "content": md_escape(streamed) + " ▌"}
                        yield gr.skip(), msgs, msgs, gr.skip(), gr.skip(), gr.skip()
            except RagError as e:
                msgs[-1] = {"role": "assistant", "content": f"⚠️ {md_escape(_zh_error(e))}"}
                turns.append({"question": q, "answer": str(e), "citations": []})
                yield gr.skip(), msgs, msgs, turns, gr.skip(), gr.skip()
                return
            assert ans is not None
            msgs[-1] = {"role": "assistant", "content": answer_markdown(ans)}
            turns.append({"question": q, "answer": ans.text,
                          "citations": [c.to_dict() for c in ans.citations]})
            yield gr.skip(), msgs, msgs, turns, sources_html(ans, _texts(pipeline, ans)), gr.skip()

        gr.on([send.click, question.submit], respond,
              [question, msgs, turns, mode, k, chat_docs, chat_since, chat_until],
              [question, msgs, chat, turns, sources, fb_status], show_progress="hidden")

        def on_like(turns, comment, data: gr.LikeData):
            idx = data.index if isinstance(data.index, int) else data.index[0]
            i = idx // 2  # messages alternate user / assistant, one turn per pair
            if not turns or i >= len(turns):
                return gr.skip(), "未找到该答案,反馈未记录。"
            t = turns[i]
            vote = "up" if data.liked in (True, "Like") else "down"
            feedback.append(question=t["question"], answer=t["answer"],
                            citations=t["citations"], vote=vote, comment=comment or "")
            return "", f"已记录反馈({'👍' if vote == 'up' else '👎'}),谢谢!"

        chat.like(on_like, [turns, comment], [comment, fb_status], queue=False)

        def new_chat():
            return [], [], [], sources_html(None, {}), ""

        clear.click(new_chat, None, [msgs, chat, turns, sources, fb_status], queue=False)

        def do_search(q, method, k, doc_ids, since, until):
            try:
                res = pipeline.search(q, k=int(k), method=METHODS.get(method, "hybrid"),
                                      doc_ids=doc_ids or None, since=_opt(since),
                                      until=_opt(until))
            except RagError as e:
                return f'<div class="src-note">{html.escape(_zh_error(e))}</div>'
            return search_html(pipeline, res)

        gr.on([search_btn.click, query.submit], do_search,
              [query, method, sk, search_docs, search_since, search_until], results)

        def refresh_docs():
            choices = _doc_choices(pipeline)
            return (articles_html(pipeline), gr.update(choices=choices),
                    gr.update(choices=choices))

        refresh.click(refresh_docs, None, [doc_list, chat_docs, search_docs])
        demo.load(refresh_docs, None, [doc_list, chat_docs, search_docs])

        def do_upload(paths, progress=gr.Progress()):  # noqa: B008 (Gradio injects it)
            if not paths:
                return ('<div class="src-note">请先选择文件。</div>', gr.skip(), gr.skip(),
                        gr.skip())
            paths = [Path(p if isinstance(p, str) else getattr(p, "name", p)) for p in paths]
            progress(0.1, desc=f"正在读取 {len(paths)} 个文件并更新索引…")
            t0 = time.perf_counter()
            try:
                report = pipeline.ingest(paths)
            except RagError as e:
                return (f'<div class="src-note">{html.escape(_zh_error(e))}</div>',
                        gr.skip(), gr.skip(), gr.skip())
            progress(1.0, desc="完成")
            try:
                titles = {d.doc_id: d.meta.title for d in pipeline.documents()}
            except RagError:
                titles = {}
            html_out = ingest_report_html(report, time.perf_counter() - t0, titles)
            return (html_out, *refresh_docs())

        upload_btn.click(do_upload, files, [upload_out, doc_list, chat_docs, search_docs])

    demo.queue(default_concurrency_limit=4)
    return demo


def _names(items: Sequence, titles: dict[str, str]) -> list[str]:
    out = []
    for x in items or ():
        x = str(x[0]) if isinstance(x, (tuple, list)) and x else str(x)
        out.append(f"《{titles[x]}》" if titles.get(x) else Path(x).name)
    return out


def ingest_report_html(report, seconds: float, titles: dict[str, str] | None = None) -> str:
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
