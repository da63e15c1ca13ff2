"""The review routes: the article view in review mode, where a reviewer selects evidence, and
the small REST surface behind it. All of them require the login when ``RAG_AUTH`` is set.

- ``GET /review/article/{doc_id}?entry=ID[&start=&end=]``: the article with a bar at the
  bottom; selecting text and clicking 用作证据 posts the span to
- ``POST /api/review/selection`` ``{entry, doc_id, start, end, text}``: adds the span
  (character offsets into the cleaned text) to the entry's evidence;
- ``GET /api/review/feedback?down_only=&pending_only=&since=``: the logged votes, newest first;
- ``GET /api/review/export``: the reviewed set as JSONL.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, Field

from rag.app.present import error_page, render_article
from rag.app.review import ReviewDesk
from rag.errors import RagError

__all__ = ["SelectionBody", "add_review_routes", "selection_bar"]


class SelectionBody(BaseModel):
    entry: str = Field(..., min_length=1, max_length=80)
    doc_id: str = Field(..., min_length=1, max_length=200)
    start: int = Field(..., ge=0)
    end: int = Field(..., ge=0)
    text: str | None = Field(None, max_length=5000)


_BAR = """
<style>
#rv-bar{position:fixed;left:0;right:0;bottom:0;background:#1f2937;color:#fff;padding:10px 18px;
font-size:.92rem;box-shadow:0 -2px 10px rgba(0,0,0,.2);display:flex;gap:12px;align-items:center}
#rv-bar button{background:#2563eb;color:#fff;border:0;border-radius:6px;padding:6px 14px;
font-size:.92rem;cursor:pointer}
#rv-bar button:disabled{background:#6b7280;cursor:default}
#rv-info.ok{color:#a7f3d0}#rv-info.err{color:#fecaca}
</style>
<div id="rv-bar"><b>审核模式</b><span>选中一句证据(8–50 字,不跨句),然后点击</span>
<button id="rv-use" disabled>用作证据</button><span id="rv-info"></span></div>
<script>
(function(){
  var entry = __ENTRY__, docId = __DOC__;
  var box = document.getElementById("text"), btn = document.getElementById("rv-use"),
      info = document.getElementById("rv-info"), cur = null;
  function chars(s){ return Array.from(s).length; }  // code points, as Python counts
  function picked(){
    var sel = window.getSelection();
    if(!sel.rangeCount) return null;
    var r = sel.getRangeAt(0);
    if(r.collapsed || !box.contains(r.startContainer) || !box.contains(r.endContainer))
      return null;
    var pre = document.createRange();
    pre.selectNodeContents(box);
    pre.setEnd(r.startContainer, r.startOffset);
    var start = chars(pre.toString()), text = r.toString();
    return {start: start, end: start + chars(text), text: text};
  }
  document.addEventListener("selectionchange", function(){
    cur = picked();
    btn.disabled = !cur;
    if(cur){ info.className = ""; info.textContent = "已选 " + chars(cur.text.trim()) + " 字"; }
  });
  btn.addEventListener("click", function(){
    if(!cur) return;
    fetch("/api/review/selection", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({entry: entry, doc_id: docId, start: cur.start, end: cur.end,
                            text: cur.text})})
    .then(function(r){ return r.json().then(function(j){ return [r.ok, j]; }); })
    .then(function(res){
      info.className = res[0] ? "ok" : "err";
      info.textContent = res[0] ? "已记录证据(共 " + res[1].count + " 条):" + res[1].evidence.text
        + "。回到审核页点击「载入选段」。" : "未记录:" + res[1].error;
    });
  });
})();
</script>"""


def selection_bar(entry: str, doc_id: str) -> str:
    """The review bar and its script for one article; ids are embedded as JS strings."""
    def js(s: str) -> str:
        # json.dumps quotes and escapes; "<" escaped too so "</script>" cannot close the tag
        return json.dumps(s).replace("<", "\\u003c")

    return _BAR.replace("__ENTRY__", js(entry)).replace("__DOC__", js(doc_id))


def add_review_routes(app: FastAPI, desk: ReviewDesk, auth: list) -> None:
    """Register the review page and ``/api/review/*`` on ``app``, each requiring ``auth``."""

    @app.get("/review/article/{doc_id}", dependencies=auth, response_class=HTMLResponse,
             tags=["pages"])
    def review_article(doc_id: str, entry: str = Query(..., min_length=1, max_length=80),
                       start: int | None = Query(None, ge=0),
                       end: int | None = Query(None, ge=0)) -> HTMLResponse:
        """The article view in review mode: select evidence for feedback entry ``entry``."""
        try:
            doc = desk.pipeline.document(doc_id)
        except RagError as e:
            return HTMLResponse(error_page(str(e)), status_code=e.status)
        return HTMLResponse(render_article(doc, start, end, extra=selection_bar(entry, doc_id)))

    @app.post("/api/review/selection", dependencies=auth, tags=["review"])
    def api_review_selection(body: SelectionBody) -> dict:
        """Add ``text[start:end]`` of the cleaned article to the entry's evidence."""
        item = desk.select(body.entry, body.doc_id, body.start, body.end, body.text)
        return {"ok": True, "evidence": item, "count": len(desk.evidence(body.entry))}

    @app.get("/api/review/feedback", dependencies=auth, tags=["review"])
    def api_review_feedback(down_only: bool = False, pending_only: bool = False,
                            since: str = Query("", max_length=10)) -> list[dict]:
        """Logged votes, newest first, filtered like the 审核 tab."""
        return desk.entries(down_only=down_only, pending_only=pending_only, since=since)

    @app.get("/api/review/export", dependencies=auth, tags=["review"])
    def api_review_export() -> PlainTextResponse:
        """The reviewed questions as JSONL (the file ``rag review import`` reads)."""
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in desk.reviewed.records())
        return PlainTextResponse(body, media_type="application/x-ndjson", headers={
            "Content-Disposition": 'attachment; filename="reviewed.jsonl"'})
