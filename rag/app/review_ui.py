"""The 审核 tab: logged feedback reviewed into eval questions (eval/reviewed.jsonl), the
reviewed set with export and import, and the newest eval figures with the history plot.

``review_tab`` builds the layout; what the events do is in ``rag.app.review_handlers``.
``rag.app.ui.build_ui`` adds the tab when the web app has a review desk.
"""

from __future__ import annotations

import gradio as gr

from rag.app.review import ReviewDesk
from rag.app.review_handlers import EMPTY, ReviewHandlers
from rag.app.review_panels import FEEDBACK_HEADERS, REVIEWED_HEADERS

__all__ = ["REVIEW_CSS", "TYPES", "review_tab"]

TYPES = ["fact", "number", "entity", "date", "temporal"]

REVIEW_CSS = """
.rv-entry h3{font-size:1.05rem;margin:.3em 0 .5em}
.rv-entry p{margin:.3em 0}
.rv-entry ol{margin:.2em 0 .5em 1.2em;padding:0}
.rv-entry a{color:#2563eb}
.rv-evidence mark{background:#ffe58a;border-radius:3px;padding:0 2px}
#rv-status{min-height:1.5em}
"""


def review_tab(desk: ReviewDesk) -> None:
    """审核: the feedback list with filters, the entry and the form that turns it into an eval
    question, the reviewed set (export, import), the latest figures and their plot.
    A declarative UI layout: widgets in display order, then their events."""
    on = ReviewHandlers(desk)
    cur = gr.State(dict(EMPTY))
    with gr.Tab("审核", id="review-tab") as tab:
        gr.Markdown("员工对回答的 👍/👎 反馈。打开一条,在原文中选中证据(或标记无答案),确认答案和"
                    "关键词后保存为评测问题(`eval/reviewed.jsonl`,不记录提问人)。")
        with gr.Row():
            down_only = gr.Checkbox(False, label="只看 👎", elem_id="rv-down")
            pending_only = gr.Checkbox(True, label="只看未审核", elem_id="rv-pending")
            since = gr.Textbox(label="起始日期", placeholder="如 2026-11 或 2026-11-30",
                               elem_id="rv-since")
            refresh = gr.Button("刷新", elem_id="rv-refresh", size="sm")
        note = gr.Markdown("", elem_id="rv-note")
        table = gr.Dataframe(headers=FEEDBACK_HEADERS, interactive=False, wrap=True,
                             elem_id="rv-table", max_height=320,
                             column_widths=["11%", "13%", "6%", "40%", "20%", "10%"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                detail = gr.HTML('<p class="muted">点击上表中的一行查看反馈。</p>',
                                 elem_id="rv-detail", padding=False)
            with gr.Column(scale=2):
                question = gr.Textbox(label="问题(按用户原话,可保留错别字)", max_lines=3,
                                      elem_id="rv-question")
                with gr.Row():
                    load_sel = gr.Button("载入选段", elem_id="rv-load", size="sm")
                    clear_sel = gr.Button("清除证据", elem_id="rv-clear", size="sm")
                evidence = gr.HTML("", elem_id="rv-evidence", padding=False)
                no_answer = gr.Checkbox(False, label="无答案(文章中没有答案)",
                                        elem_id="rv-noanswer")
                answer = gr.Textbox(label="期望答案", max_lines=3, elem_id="rv-answer")
                keys = gr.Textbox(label="关键词(每个正确答案都包含;用、或逗号分隔)",
                                  elem_id="rv-keys")
                qtype = gr.Dropdown(TYPES, value="fact", label="类型", elem_id="rv-type")
                confirm = gr.Checkbox(False, label="不是重复,仍然保存", visible=False,
                                      elem_id="rv-confirm")
                with gr.Row():
                    save = gr.Button("保存为评测问题", variant="primary", elem_id="rv-save")
                    skip = gr.Button("跳过", elem_id="rv-skip")
                    delete = gr.Button("删除反馈", variant="stop", elem_id="rv-delete")
                status = gr.Markdown("", elem_id="rv-status")
        with gr.Accordion("已审核问题(点击一行可编辑)", open=False):
            reviewed = gr.Dataframe(headers=REVIEWED_HEADERS, interactive=False, wrap=True,
                                    elem_id="rv-reviewed", max_height=280)
            with gr.Row():
                delete_q = gr.Button("删除正在编辑的问题", size="sm", variant="stop")
                export = gr.Button("导出 JSONL", size="sm", elem_id="rv-export")
                upload = gr.File(label="导入 JSONL(其他办公室导出的问题)", file_types=[".jsonl"],
                                 type="filepath", elem_id="rv-import")
            exported = gr.File(label="导出的文件", interactive=False, elem_id="rv-exported")
        gr.Markdown("**最新评测结果**(`rag eval --questions eval/reviewed.jsonl --history`)")
        figures = gr.HTML("", elem_id="rv-figures", padding=False)
        plot = gr.Image(None, type="filepath", show_label=False, elem_id="rv-plot",
                        height=300, buttons=[], format="png", visible=False)

    filters = [down_only, pending_only, since]
    lists = [table, reviewed, figures, plot]
    form = [question, evidence, no_answer, answer, keys, qtype, confirm]
    # One bound method for every trigger: Gradio keys concurrency groups by id(fn).
    do_refresh = on.refresh
    gr.on([refresh.click, tab.select, down_only.change, pending_only.change, since.submit],
          do_refresh, filters, [*lists, note])
    table.select(on.pick_entry, None, [cur, detail, *form, status])
    reviewed.select(on.pick_reviewed, None, [cur, detail, *form, status])
    load_sel.click(on.load_selection, [cur, answer, keys, qtype],
                   [evidence, answer, keys, qtype, status])
    clear_sel.click(on.clear_selection, cur, [evidence, status])
    save.click(on.save, [cur, question, no_answer, answer, keys, qtype, confirm, *filters],
               [status, confirm, *lists, cur, detail])
    skip.click(on.skip, [cur, *filters], [status, *lists, cur])
    delete.click(on.delete, [cur, *filters], [status, *lists, cur])
    delete_q.click(on.delete_question, [cur, *filters], [status, *lists, cur])
    export.click(on.export, None, [exported, status])
    upload.upload(on.import_, [upload, *filters], [status, *lists])
