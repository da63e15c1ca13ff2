"""What the 审核 tab does when a reviewer clicks: list, open, take the selected evidence,
save, skip, delete, export, import, show the figures.

``ReviewHandlers`` holds the one ``ReviewDesk`` of the web app; each method is wired to an
event in ``rag.app.review_ui`` and takes the widget values in the order the layout lists
them. The tab's state is ``{"feedback_id", "question_id"}``: the entry or reviewed
question being edited.
"""

from __future__ import annotations

import html
import re
import tempfile
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from rag.app.panels import zh_error
from rag.app.review import ReviewDesk
from rag.app.review_panels import (
    FEEDBACK_HEADERS,
    REVIEWED_HEADERS,
    duplicate_note,
    entry_html,
    entry_rows,
    evidence_html,
    figures_html,
    reviewed_rows,
    suggest,
)
from rag.errors import RagError
from rag.text.patterns import normalize

__all__ = ["EMPTY", "ReviewHandlers", "split_keys"]

EMPTY = {"feedback_id": "", "question_id": ""}
_KEY_SEPARATORS = re.compile(r"[,，、;；\s]+")


def split_keys(text: str) -> list[str]:
    """``"320, 第三、全国"`` -> ``["320", "第三", "全国"]``."""
    return [k for k in _KEY_SEPARATORS.split(text or "") if k]


def _key(cur: dict) -> str:
    return (cur or {}).get("feedback_id") or (cur or {}).get("question_id") or ""


class ReviewHandlers:
    """Event handlers over one review desk."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    def _docs(self) -> dict:
        try:
            return self.desk.pipeline.snapshot.docs
        except RagError:
            return {}

    # -- lists and figures
    def refresh(self, down_only, pending_only, since):
        """(feedback table, reviewed table, figures, plot, status line)."""
        try:
            entries = self.desk.entries(down_only=bool(down_only),
                                        pending_only=bool(pending_only), since=since or "")
            reviewed = self.desk.reviewed.records()
        except RagError as e:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"⚠️ {zh_error(e)}"
        latest, png = self.desk.figures()
        note = f"共 {len(entries)} 条反馈,已审核问题 {len(reviewed)} 条。"
        return (pd.DataFrame(entry_rows(entries), columns=FEEDBACK_HEADERS),
                pd.DataFrame(reviewed_rows(reviewed), columns=REVIEWED_HEADERS),
                figures_html(latest), gr.update(value=str(png) if png else None,
                                                visible=png is not None), note)

    # -- opening an entry
    def pick_entry(self, evt: gr.SelectData):
        """A row of the feedback table: show the entry, fill the form (a reviewed entry
        opens its saved question for editing)."""
        fid = str((evt.row_value or [""])[0])
        try:
            entry = self.desk.entry(fid)
            qid = entry.get("question_id", "")
            record = self.desk.reviewed.get(qid) if entry.get("status") == "reviewed" and qid \
                else None
        except RagError as e:
            return (gr.skip(),) * 9 + (f"⚠️ {zh_error(e)}",)
        cur = {"feedback_id": fid, "question_id": record["id"] if record else ""}
        if record:
            self.desk.set_evidence(fid, self._located(record))
        return (cur, entry_html(entry, self._docs(), fid), *self._form(cur, record, entry),
                "已打开反馈。" + ("该条已审核,可修改后再次保存。" if record else ""))

    def pick_reviewed(self, evt: gr.SelectData):
        """A row of the reviewed table: open that question for editing."""
        qid = str((evt.row_value or [""])[0])
        try:
            record = self.desk.reviewed.get(qid)
        except RagError as e:
            return (gr.skip(),) * 9 + (f"⚠️ {zh_error(e)}",)
        fid = record.get("feedback_id", "")
        try:
            entry = self.desk.entry(fid) if fid else None
        except RagError:
            entry = None  # its feedback entry was deleted; the question stands alone
        cur = {"feedback_id": fid if entry else "", "question_id": qid}
        self.desk.set_evidence(_key(cur), self._located(record))
        detail = entry_html(entry, self._docs(), _key(cur)) if entry else (
            f'<div class="rv-entry"><h3>{html.escape(record["question"])}</h3>'
            f'<p class="muted">已审核问题 {html.escape(qid)}(来源:'
            f'{html.escape(record.get("source", ""))})</p></div>')
        return (cur, detail, *self._form(cur, record, entry), f"正在编辑已审核问题 {qid}。")

    def _located(self, record: dict) -> list[dict]:
        """The record's evidence strings with the article each comes from."""
        docs = self._docs()
        ids = record.get("doc") or []
        ids = [ids] if isinstance(ids, str) else ids
        out = []
        for text in record.get("evidence", []):
            doc = next((d for d in ids if d in docs and normalize(text) in
                        normalize(docs[d].text)), ids[0] if ids else "")
            out.append({"doc_id": doc, "text": text})
        return out

    def _form(self, cur: dict, record: dict | None, entry: dict | None):
        """(question, evidence panel, 无答案, answer, keys, type, confirm)."""
        ev = evidence_html(self.desk.evidence(_key(cur)), self._docs())
        if record:
            return (record["question"], ev, record["type"] == "unanswerable",
                    record.get("answer", ""), "、".join(record.get("answer_keys", [])),
                    record["type"] if record["type"] not in ("unanswerable", "multi_doc")
                    else "fact", False)
        return ((entry or {}).get("question", ""), ev, False, "", "", "fact", False)

    # -- evidence
    def load_selection(self, cur, answer, keys, qtype):
        """Show the spans selected in the article view; suggest answer, keys and type
        when the reviewer has not typed them."""
        items = self.desk.evidence(_key(cur))
        if not _key(cur):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), "请先在列表中选择一条反馈。"
        if not items:
            return (evidence_html(items, self._docs()), gr.skip(), gr.skip(), gr.skip(),
                    "还没有选中的证据:在原文中选中文字后点击「用作证据」。")
        s_answer, s_keys, s_type = suggest(items)
        return (evidence_html(items, self._docs()), answer or s_answer,
                keys or "、".join(s_keys), qtype if (answer or keys) else s_type,
                f"已载入 {len(items)} 条证据,请确认答案和关键词。")

    def clear_selection(self, cur):
        """Drop the selected evidence of the current entry."""
        self.desk.clear_evidence(_key(cur))
        return evidence_html([], self._docs()), "已清除证据。"

    # -- saving and the other actions
    def save(self, cur, question, no_answer, answer, keys, qtype, confirm, down_only,
             pending_only, since):
        """Save the question; (status, confirm box, tables and figures, state, entry)."""
        if not _key(cur):
            return ("请先在列表中选择一条反馈。", gr.skip(), *(gr.skip(),) * 6)
        try:
            out = self.desk.save(cur.get("feedback_id", ""), question=question,
                                 evidence=self.desk.evidence(_key(cur)), answer=answer,
                                 keys=split_keys(keys), qtype=qtype,
                                 unanswerable=bool(no_answer), confirm_near=bool(confirm),
                                 question_id=cur.get("question_id", ""))
        except RagError as e:
            return (f"⚠️ {zh_error(e)}", gr.skip(), *(gr.skip(),) * 6)
        if out.saved is None:
            return (duplicate_note(out.duplicate), gr.update(visible=True, value=False),
                    *(gr.skip(),) * 6)
        qid = out.saved["id"]
        lists = self.refresh(down_only, pending_only, since)[:4]
        fid = cur.get("feedback_id", "")
        try:
            detail = entry_html(self.desk.entry(fid), self._docs(), fid) if fid else gr.skip()
        except RagError:
            detail = gr.skip()
        return (f"✅ 已保存为评测问题 {qid}(eval/reviewed.jsonl)。", gr.update(value=False),
                *lists, {**cur, "question_id": qid}, detail)

    def skip(self, cur, down_only, pending_only, since):
        """Skip the current feedback entry."""
        return self._act(cur, self.desk.skip, "已跳过。", down_only,
                         pending_only, since)

    def delete(self, cur, down_only, pending_only, since):
        """Delete the current feedback entry."""
        return self._act(cur, self.desk.delete, "已删除该反馈。", down_only, pending_only, since)

    def _act(self, cur, action, done: str, down_only, pending_only, since):
        fid = (cur or {}).get("feedback_id", "")
        if not fid:
            return ("请先在反馈列表中选择一条。", *(gr.skip(),) * 5)
        try:
            action(fid)
        except RagError as e:
            return (f"⚠️ {zh_error(e)}", *(gr.skip(),) * 5)
        return (done, *self.refresh(down_only, pending_only, since)[:4], dict(EMPTY))

    def delete_question(self, cur, down_only, pending_only, since):
        """Remove the reviewed question being edited."""
        qid = (cur or {}).get("question_id", "")
        if not qid:
            return ("请先打开一条已审核问题。", *(gr.skip(),) * 5)
        try:
            self.desk.delete_question(qid)
        except RagError as e:
            return (f"⚠️ {zh_error(e)}", *(gr.skip(),) * 5)
        return (f"已删除评测问题 {qid}。", *self.refresh(down_only, pending_only, since)[:4],
                dict(EMPTY))

    def export(self):
        """The reviewed set as a JSONL file to download."""
        dest = Path(tempfile.mkdtemp(prefix="rag-export-")) / (
            f"reviewed-{time.strftime('%Y%m%d')}.jsonl")
        try:
            n = self.desk.export(dest)
        except RagError as e:
            return None, f"⚠️ {zh_error(e)}"
        return str(dest), f"已导出 {n} 个问题。"

    def import_(self, path, down_only, pending_only, since):
        """Add the questions of an uploaded JSONL export."""
        if not path:
            return ("请先选择要导入的 JSONL 文件。", *(gr.skip(),) * 4)
        try:
            rep = self.desk.import_file(Path(path if isinstance(path, str) else path.name))
        except RagError as e:
            return (f"⚠️ {zh_error(e)}", *(gr.skip(),) * 4)
        msg = f"已导入 {len(rep.added)} 个问题"
        if rep.duplicates:
            msg += f",跳过重复 {len(rep.duplicates)} 个(" + "、".join(
                f"{i}≈{m.set}:{m.id}" for i, m in rep.duplicates[:5]) + ")"
        if rep.renamed:
            msg += f",{len(rep.renamed)} 个编号已改名"
        return (html.escape(msg) + "。", *self.refresh(down_only, pending_only, since)[:4])
