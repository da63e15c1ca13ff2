"""What the Gradio UI does when staff click: ask (streamed), vote, search, list, upload.

``UIHandlers`` holds the one ``Pipeline`` and ``FeedbackLog`` the web app owns; each method
is wired to an event in ``rag.app.ui`` and takes the widget values in the order the layout
lists them. Gradio reads the method names as the UI's API endpoint names, the ``gr.LikeData``
annotation and the ``gr.Progress`` default, so those stay as they are.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import gradio as gr

from rag.app.feedback import FeedbackLog
from rag.app.panels import (
    answer_markdown,
    articles_html,
    ingest_report_html,
    md_escape,
    search_html,
    sources_html,
    zh_error,
)
from rag.app.present import display_date
from rag.errors import RagError
from rag.evaluation.history import index_build
from rag.pipeline import Pipeline
from rag.types import Answer

__all__ = ["METHODS", "MODE_EXTRACTIVE", "MODE_LLM", "UIHandlers"]

MODE_EXTRACTIVE = "抽取式(原文摘录)"
MODE_LLM = "LLM 生成"
METHODS = {"混合(推荐)": "hybrid", "语义": "dense", "关键词": "bm25"}


def _opt(s: str | None) -> str | None:
    s = (s or "").strip()
    return s or None


class UIHandlers:
    """Event handlers over one pipeline; votes go to ``feedback``."""

    def __init__(self, pipeline: Pipeline, feedback: FeedbackLog) -> None:
        self.pipeline = pipeline
        self.feedback = feedback

    # -- 问答
    def respond(self, q, msgs, turns, mode, k, doc_ids, since, until):
        """Stream one answer into the chat. Yields (question box, chat state, chat, turns,
        sources panel, feedback line)."""
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
            for item in self.pipeline.ask_stream(q, k=int(k), llm=(mode == MODE_LLM),
                                                 history=history, doc_ids=doc_ids or None,
                                                 since=_opt(since), until=_opt(until)):
                if isinstance(item, Answer):
                    ans = item
                else:
                    streamed += item
                    msgs[-1] = {"role": "assistant", "content": md_escape(streamed) + " ▌"}
                    yield gr.skip(), msgs, msgs, gr.skip(), gr.skip(), gr.skip()
        except RagError as e:
            msgs[-1] = {"role": "assistant", "content": f"⚠️ {md_escape(zh_error(e))}"}
            turns.append({"question": q, "answer": str(e), "citations": []})
            yield gr.skip(), msgs, msgs, turns, gr.skip(), gr.skip()
            return
        assert ans is not None
        msgs[-1] = {"role": "assistant", "content": answer_markdown(ans)}
        turns.append({"question": q, "answer": ans.text, "mode": ans.mode,
                      "citations": [c.to_dict() for c in ans.citations],
                      "index_build": index_build(self.pipeline.snapshot)})
        yield gr.skip(), msgs, msgs, turns, sources_html(ans, self._texts(ans)), gr.skip()

    def _texts(self, ans: Answer) -> dict[str, str]:
        docs = self.pipeline.snapshot.docs
        ids = {c.doc_id for c in (*ans.citations, *ans.related)}
        return {i: docs[i].text for i in ids if i in docs}

    def on_like(self, turns, comment, data: gr.LikeData):
        """👍 / 👎 under an answer: log the vote with the comment box's text."""
        idx = data.index if isinstance(data.index, int) else data.index[0]
        i = idx // 2  # messages alternate user / assistant, one turn per pair
        if not turns or i >= len(turns):
            return gr.skip(), "未找到该答案,反馈未记录。"
        t = turns[i]
        vote = "up" if data.liked in (True, "Like") else "down"
        self.feedback.append(question=t["question"], answer=t["answer"],
                             citations=t["citations"], vote=vote, comment=comment or "",
                             mode=t.get("mode", ""), index_build=t.get("index_build", ""))
        return "", f"已记录反馈({'👍' if vote == 'up' else '👎'}),谢谢!"

    def new_chat(self):
        """Clear the conversation and the sources panel."""
        return [], [], [], sources_html(None, {}), ""

    # -- 检索
    def do_search(self, q, method, k, doc_ids, since, until):
        """Ranked passages as HTML, or the error as one line."""
        try:
            res = self.pipeline.search(q, k=int(k), method=METHODS.get(method, "hybrid"),
                                       doc_ids=doc_ids or None, since=_opt(since),
                                       until=_opt(until))
        except RagError as e:
            return f'<div class="src-note">{html.escape(zh_error(e))}</div>'
        return search_html(self.pipeline, res)

    # -- 文章
    def refresh_docs(self):
        """The article table and the article choices of both filters and of removal."""
        choices = self._doc_choices()
        return (articles_html(self.pipeline), gr.update(choices=choices),
                gr.update(choices=choices), gr.update(choices=choices, value=[]))

    def do_remove(self, doc_ids):
        """Remove the chosen articles; a one-line outcome, then the refreshed lists."""
        if not doc_ids:
            return ('<div class="src-note">请先选择要删除的文章。</div>', *(gr.skip(),) * 4)
        try:
            removed = self.pipeline.remove(list(doc_ids))
        except RagError as e:
            return (f'<div class="src-note">{html.escape(zh_error(e))}</div>',
                    *(gr.skip(),) * 4)
        msg = f'<p class="muted">已删除 {len(removed)} 篇文章:{html.escape("、".join(removed))}。</p>'
        return (msg, *self.refresh_docs())

    def _doc_choices(self) -> list[tuple[str, str]]:
        try:
            return [(f"{d.meta.title or d.doc_id}"
                     f"({display_date(d.meta.date, d.meta.date_inferred)})", d.doc_id)
                    for d in self.pipeline.documents()]
        except RagError:
            return []

    # -- 上传
    def do_upload(self, paths, progress=gr.Progress()):  # noqa: B008 (Gradio injects it)
        """Ingest the uploaded files; the report, then the refreshed lists."""
        if not paths:
            return ('<div class="src-note">请先选择文件。</div>', gr.skip(), gr.skip(),
                    gr.skip())
        paths = [Path(p if isinstance(p, str) else getattr(p, "name", p)) for p in paths]
        progress(0.1, desc=f"正在读取 {len(paths)} 个文件并更新索引…")
        t0 = time.perf_counter()
        try:
            report = self.pipeline.ingest(paths)
        except RagError as e:
            return (f'<div class="src-note">{html.escape(zh_error(e))}</div>',
                    gr.skip(), gr.skip(), gr.skip())
        progress(1.0, desc="完成")
        try:
            titles = {d.doc_id: d.meta.title for d in self.pipeline.documents()}
        except RagError:
            titles = {}
        html_out = ingest_report_html(report, time.perf_counter() - t0, titles)
        return (html_out, *self.refresh_docs())
