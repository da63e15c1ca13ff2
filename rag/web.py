"""The staff app: REST API under ``/api``, the article view, and the Gradio UI at ``/``.

One process, one ``Pipeline``: the model and index are loaded once when the server starts
(the lifespan below), never at import and never per request. Endpoints are plain ``def`` so
FastAPI runs the CPU work in its threadpool and concurrent requests do not block each other::

    app = create_app(Pipeline(Settings.load()))   # then: uvicorn, or TestClient(app)
    serve(Settings.load())                        # what `python app.py` does
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field

from .errors import InputError, NotFoundError, RagError
from .jsonio import answer_to_dict, document_to_dict, search_to_dict
from .pipeline import Pipeline
from .settings import Settings
from .types import Document

log = logging.getLogger("rag.web")


# -- small helpers shared with the Gradio UI

def parse_auth(spec: str) -> list[tuple[str, str]]:
    """``"user:pass,user2:pass2"`` -> ``[("user", "pass"), ("user2", "pass2")]``."""
    pairs = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, pw = item.partition(":")
        if not sep or not user or not pw:
            raise InputError(f"RAG_AUTH entry {user!r} is not 'user:password'; fix RAG_AUTH.")
        pairs.append((user, pw))
    return pairs


def display_date(date: str | None, inferred: bool) -> str:
    """``("2026-03", True)`` -> ``"2026-03(推断)"``; a missing date reads ``日期不详``."""
    if not date:
        return "日期不详"
    return f"{date}(推断)" if inferred else date


def article_url(doc_id: str, start: int | None = None, end: int | None = None) -> str:
    """Link to the article view, highlighting ``text[start:end]`` when given."""
    from urllib.parse import quote

    url = f"/article/{quote(doc_id, safe='')}"
    if start is not None and end is not None:
        url += f"?start={int(start)}&end={int(end)}"
    return url


class FeedbackLog:
    """Appends one JSON line per vote to ``path``; safe to call from many threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, *, question: str, answer: str, citations: Sequence[dict], vote: str,
               comment: str = "") -> dict:
        """Write one record and return it. ``vote`` is "up" or "down"."""
        if vote not in ("up", "down"):
            raise InputError(f"vote must be 'up' or 'down', not {vote!r}.")
        record = {"question": question, "answer": answer, "citations": list(citations),
                  "vote": vote, "comment": comment or "",
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        # One write of one line under a lock: concurrent votes never interleave.
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
        return record


# -- request bodies (the JSON shapes mirror rag/jsonio.py)

class AskBody(BaseModel):
    question: str
    k: int | None = Field(None, ge=1, le=50)
    llm: bool = False
    history: list[str] = Field(default_factory=list, max_length=20)
    doc_ids: list[str] | None = None
    since: str | None = None
    until: str | None = None


class SearchBody(BaseModel):
    query: str
    k: int | None = Field(None, ge=1, le=100)
    method: Literal["hybrid", "dense", "bm25"] = "hybrid"
    doc_ids: list[str] | None = None
    since: str | None = None
    until: str | None = None


class FeedbackBody(BaseModel):
    question: str
    answer: str
    citations: list[dict] = Field(default_factory=list)
    vote: Literal["up", "down"]
    comment: str = Field("", max_length=5000)


# -- the article view

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


def render_article(doc: Document, start: int | None = None, end: int | None = None) -> str:
    """The full cleaned article as an escaped HTML page; ``text[start:end]`` is marked
    ``<mark id="hl">`` and scrolled into view."""
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
</script>
</body></html>"""


def _error_page(message: str, status: int) -> HTMLResponse:
    page = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>错误</title>'
            f"<style>{_ARTICLE_CSS}</style></head><body><main><nav><a href=\"/\">← 返回问答</a>"
            f"</nav><h1>无法打开文章</h1><p>{html.escape(message)}</p></main></body></html>")
    return HTMLResponse(page, status_code=status)


# -- the app

def create_app(pipeline: Pipeline, *, with_ui: bool = True) -> FastAPI:
    """The FastAPI app: ``/api/*``, ``/article/{doc_id}``, OpenAPI at ``/docs`` and the
    Gradio UI at ``/``. The index and model load in the lifespan, once per process."""
    settings = pipeline.settings
    users = parse_auth(settings.auth)
    feedback = FeedbackLog(settings.feedback_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        from starlette.concurrency import run_in_threadpool

        t0 = time.perf_counter()
        try:
            await run_in_threadpool(pipeline.ensure_index)
            await run_in_threadpool(pipeline.warm_up)
            log.info("index and model ready in %.1f s", time.perf_counter() - t0)
        except RagError as e:
            # Keep serving: /api/health reports the problem (503) instead of a dead port.
            log.error("startup: %s", e)
        yield

    app = FastAPI(title="政策文章问答 API", version="0.1.0", lifespan=lifespan,
                  description="带出处的政策与产业文章问答(离线)。错误返回 {\"error\": 说明}。")
    app.state.pipeline = pipeline
    app.state.feedback = feedback

    basic = HTTPBasic(auto_error=False, realm="rag")

    # Depends() as a default is FastAPI's idiom; a local Annotated alias would not resolve
    # under `from __future__ import annotations`.
    def require_user(creds: HTTPBasicCredentials | None = Depends(basic)) -> None:  # noqa: B008
        if not users:
            return
        if creds is not None:
            for u, p in users:
                # compare_digest on both so timing does not reveal which one was wrong
                ok_u = secrets.compare_digest(creds.username.encode(), u.encode())
                ok_p = secrets.compare_digest(creds.password.encode(), p.encode())
                if ok_u and ok_p:
                    return
        raise _Unauthorized()

    @app.exception_handler(_Unauthorized)
    def _unauth(request: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse({"error": "Login required; send HTTP Basic credentials from "
                             "RAG_AUTH."}, status_code=401,
                            headers={"WWW-Authenticate": 'Basic realm="rag"'})

    @app.exception_handler(RagError)
    def _rag_error(request: Request, exc: RagError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    def _bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if errs:
            e = errs[0]
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            msg = f"Invalid request{' field ' + where if where else ''}: {e.get('msg', '')}."
        else:
            msg = "Invalid request body; send JSON as documented at /docs."
        return JSONResponse({"error": msg}, status_code=422)

    @app.exception_handler(Exception)
    def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse({"error": "Internal error; the server log has the details."},
                            status_code=500)

    auth = [Depends(require_user)]

    @app.post("/api/ask", dependencies=auth, tags=["api"])
    def api_ask(body: AskBody) -> dict:
        """A cited answer; ``answer`` carries ``[n]`` markers that refer to ``citations``."""
        ans = pipeline.ask(body.question, k=body.k, llm=body.llm, history=body.history,
                           doc_ids=body.doc_ids, since=body.since, until=body.until)
        return answer_to_dict(ans, pipeline.snapshot.docs)

    @app.post("/api/search", dependencies=auth, tags=["api"])
    def api_search(body: SearchBody) -> dict:
        """Ranked passages for a query (hybrid, dense or bm25)."""
        res = pipeline.search(body.query, k=body.k, method=body.method, doc_ids=body.doc_ids,
                              since=body.since, until=body.until)
        return search_to_dict(res, pipeline.snapshot.docs)

    @app.get("/api/docs", dependencies=auth, tags=["api"])
    def api_docs() -> list[dict]:
        """All indexed articles with their metadata."""
        return [document_to_dict(d) for d in pipeline.documents()]

    @app.get("/api/docs/{doc_id}", dependencies=auth, tags=["api"])
    def api_doc(doc_id: str) -> dict:
        """One article with its cleaned text and paragraph spans."""
        return document_to_dict(pipeline.document(doc_id), with_text=True)

    @app.get("/api/health", tags=["api"])
    def api_health() -> JSONResponse:
        """``status`` "ok", or "error" with the message (HTTP 503)."""
        h = pipeline.health()
        return JSONResponse(h, status_code=200 if h.get("status") == "ok" else 503)

    @app.post("/api/feedback", dependencies=auth, tags=["api"])
    def api_feedback(body: FeedbackBody) -> dict:
        """Append one vote (👍 "up" / 👎 "down") with an optional comment."""
        feedback.append(question=body.question, answer=body.answer, citations=body.citations,
                        vote=body.vote, comment=body.comment)
        return {"ok": True}

    @app.get("/article/{doc_id}", dependencies=auth, response_class=HTMLResponse,
             tags=["pages"])
    def article_page(doc_id: str, start: int | None = Query(None, ge=0),
                     end: int | None = Query(None, ge=0)) -> HTMLResponse:
        """The full article; ``text[start:end]`` highlighted as ``<mark id="hl">``."""
        try:
            doc = pipeline.document(doc_id)
        except NotFoundError as e:
            return _error_page(str(e), 404)
        except RagError as e:
            return _error_page(str(e), e.status)
        return HTMLResponse(render_article(doc, start, end))

    if with_ui:
        import gradio as gr

        from .ui import CSS, build_ui, theme

        demo = build_ui(pipeline, feedback)
        # Routes above were added first, so they win over the UI mounted at "/".
        app = gr.mount_gradio_app(app, demo, path="/", auth=users or None,
                                  auth_message="请输入管理员分配的账号和密码。",
                                  theme=theme(), css=CSS, footer_links=["api"],
                                  max_file_size=settings.max_upload_bytes,
                                  show_error=True, ssr_mode=False)
    return app


class _Unauthorized(Exception):
    pass


def serve(settings: Settings | None = None, host: str | None = None,
          port: int | None = None) -> None:
    """Run the app with uvicorn on ``host:port`` (default: settings.host / settings.port)."""
    import uvicorn

    settings = settings or Settings.load()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    app = create_app(Pipeline(settings))
    uvicorn.run(app, host=host or settings.host, port=port or settings.port,
                log_level="info", timeout_graceful_shutdown=5)
