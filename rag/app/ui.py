"""The Gradio UI (Chinese): 问答 (chat with sources), 检索, 文章, 上传, 审核 (rag.app.review_ui).

Every call goes through the one ``Pipeline`` the web app owns; nothing here loads a model.
``build_ui`` only builds the Blocks: the tabs' layout is here, what the events do is in
``rag.app.handlers`` and the HTML they show in ``rag.app.panels``. ``rag.app.api.create_app``
mounts the UI next to the REST API.
"""

from __future__ import annotations

import html

import gradio as gr

from rag.app.feedback import FeedbackLog
from rag.app.handlers import METHODS, MODE_EXTRACTIVE, MODE_LLM, UIHandlers
from rag.app.panels import sources_html
from rag.app.review import ReviewDesk
from rag.app.review_ui import review_tab
from rag.pipeline import Pipeline
from rag.settings import Settings

__all__ = ["CSS", "build_ui", "theme"]

UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".pdf", ".docx"]
EXAMPLES = ["海珠2026年大模型目标是多少", "南沙扶持办法最高给多少钱",
            "海珠数字文娱产业集群要做到多大规模", "广州遴选了多少个人工智能应用场景典型案例"]

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


def build_ui(pipeline: Pipeline, feedback: FeedbackLog,
             review: ReviewDesk | None = None) -> gr.Blocks:
    """Build (not launch) the UI over ``pipeline``; votes go to ``feedback``; with a
    ``review`` desk, the 审核 tab turns them into eval questions."""
    s = pipeline.settings
    on = UIHandlers(pipeline, feedback)
    login_line = ("🔒 已启用登录(账号由管理员分配)。" if s.auth
                  else "🔓 本应用无需登录,打开即可使用。")

    with gr.Blocks(title="政策文章问答 · 广州区人工智能局") as demo:
        gr.HTML(f'<div id="app-head"><h1>政策文章问答</h1><p>输入问题,返回带出处的数字与原文;'
                f"点击出处可打开全文并定位到所引段落。{html.escape(login_line)}</p></div>",
                padding=False)
        chat_docs = _chat_tab(on, s)
        search_docs = _search_tab(on, s)
        refresh, doc_list, remove_docs, remove_btn, remove_out = _docs_tab()
        lists = [doc_list, chat_docs, search_docs, remove_docs]
        remove_btn.click(on.do_remove, remove_docs, [remove_out, *lists])
        # One bound method for both events: Gradio keys concurrency groups by id(fn), so
        # the button and the page load share one queue.
        refresh_docs = on.refresh_docs
        refresh.click(refresh_docs, None, lists)
        demo.load(refresh_docs, None, lists)
        _upload_tab(on, s, lists)
        if review is not None:
            review_tab(review)

    demo.queue(default_concurrency_limit=4)
    return demo


# -- the tabs: each builds its layout (a declarative Blocks tree), then wires its events to
# UIHandlers. Widgets are created in display order, which also fixes their Gradio ids.

def _chat_tab(on: UIHandlers, s: Settings) -> gr.Dropdown:
    """问答: the chat, the question box, examples, feedback, the sources panel and settings.
    Returns the article filter, which the 文章 and 上传 tabs refresh."""
    modes = [MODE_EXTRACTIVE] + ([MODE_LLM] if s.llm_base_url else [])
    msgs = gr.State([])   # chat messages as shown
    turns = gr.State([])  # one record per answer: question, answer text, citations
    with gr.Tab("问答", id="chat-tab"), gr.Row(equal_height=False):
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
            sources = gr.HTML(sources_html(None, {}), elem_id="sources", padding=False)
            with gr.Accordion("设置", open=False):
                mode = gr.Radio(modes, value=MODE_EXTRACTIVE, label="回答方式",
                                info=None if s.llm_base_url else
                                "未配置 LLM 服务,仅提供抽取式答案。")
                k = gr.Slider(1, 10, value=s.answer_passages, step=1, label="参考段落数")
                chat_docs = gr.Dropdown([], multiselect=True, label="限定文章",
                                        info="不选则在全部文章中查找")
                with gr.Row():
                    since = gr.Textbox(label="起始日期", placeholder="如 2025 或 2025-01")
                    until = gr.Textbox(label="截止日期", placeholder="如 2026-12-31")

    gr.on([send.click, question.submit], on.respond,
          [question, msgs, turns, mode, k, chat_docs, since, until],
          [question, msgs, chat, turns, sources, fb_status], show_progress="hidden")
    chat.like(on.on_like, [turns, comment], [comment, fb_status], queue=False)
    clear.click(on.new_chat, None, [msgs, chat, turns, sources, fb_status], queue=False)
    return chat_docs


def _search_tab(on: UIHandlers, s: Settings) -> gr.Dropdown:
    """检索: ranked passages with method, count, article and date filters. Returns the
    article filter."""
    with gr.Tab("检索", id="search-tab"):
        with gr.Row():
            query = gr.Textbox(label="检索词", scale=5, elem_id="search-q",
                               placeholder="输入关键词或问题,查看排序后的原文段落")
            search_btn = gr.Button("检索", variant="primary", scale=1, min_width=90)
        with gr.Row():
            method = gr.Radio(list(METHODS), value="混合(推荐)", label="检索方式")
            k = gr.Slider(1, 30, value=s.top_k, step=1, label="返回段落数")
        with gr.Row():
            search_docs = gr.Dropdown([], multiselect=True, label="限定文章", scale=3)
            since = gr.Textbox(label="起始日期", placeholder="如 2025", scale=1)
            until = gr.Textbox(label="截止日期", placeholder="如 2026-06", scale=1)
        results = gr.HTML("", elem_id="search-results", padding=False)

    gr.on([search_btn.click, query.submit], on.do_search,
          [query, method, k, search_docs, since, until], results)
    return search_docs


def _docs_tab() -> tuple[gr.Button, gr.HTML, gr.Dropdown, gr.Button, gr.HTML]:
    """文章: the article table, its refresh button (wired by ``build_ui``) and removing
    articles (behind the login when RAG_AUTH is set, as the whole UI is)."""
    with gr.Tab("文章", id="docs-tab"):
        refresh = gr.Button("刷新列表", size="sm")
        doc_list = gr.HTML("", elem_id="doc-list", padding=False)
        with gr.Accordion("删除文章", open=False), gr.Row():
            remove_docs = gr.Dropdown([], multiselect=True, label="要删除的文章", scale=4,
                                      elem_id="remove-docs")
            remove_btn = gr.Button("删除", variant="stop", scale=1, min_width=90,
                                   elem_id="remove-btn")
        remove_out = gr.HTML("", elem_id="remove-result", padding=False)
    return refresh, doc_list, remove_docs, remove_btn, remove_out


def _upload_tab(on: UIHandlers, s: Settings, lists: list) -> None:
    """上传: files in, a per-file report out; ``lists`` (article table and filters) refresh."""
    with gr.Tab("上传", id="upload-tab"):
        gr.Markdown("上传文章(txt、md、html、pdf、docx),索引更新后即可提问。"
                    f"单个文件不超过 {s.max_upload_bytes // (1024 * 1024)} MB。")
        files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="选择文件")
        upload_btn = gr.Button("上传并建立索引", variant="primary")
        upload_out = gr.HTML("", elem_id="upload-result", padding=False)
    upload_btn.click(on.do_upload, files, [upload_out, *lists])
