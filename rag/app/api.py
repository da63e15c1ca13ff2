"""The staff app: REST API under ``/api``, the article view, and the Gradio UI at ``/``.

One process, one ``Pipeline``: the model and index are loaded once when the server starts
(the lifespan below), never at import and never per request. Endpoints are plain ``def`` so
FastAPI runs the CPU work in its threadpool and concurrent requests do not block each other::

    app = create_app(Pipeline(Settings.load()))   # then: uvicorn, or TestClient(app)
    serve(Settings.load())                        # what `python app.py` does
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from rag.app.auth import Unauthorized, parse_auth, user_check
from rag.app.feedback import CAPS, MAX_CITATIONS, FeedbackLog
from rag.app.jsonio import answer_to_dict, document_to_dict, search_to_dict
from rag.app.present import error_page, render_article
from rag.app.review import ReviewDesk
from rag.app.review_api import add_review_routes
from rag.errors import NotFoundError, RagError
from rag.evaluation.history import index_build
from rag.pipeline import Pipeline
from rag.settings import Settings

__all__ = ["create_app", "serve"]

log = logging.getLogger("rag.web")  # the name the server log has always used


# -- request bodies (the JSON shapes mirror rag/app/jsonio.py)

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
    question: str = Field(..., max_length=CAPS["question"])
    answer: str = Field(..., max_length=CAPS["answer"])
    citations: list[dict] = Field(default_factory=list, max_length=MAX_CITATIONS)
    vote: Literal["up", "down"]
    comment: str = Field("", max_length=CAPS["comment"])
    mode: Literal["extractive", "llm"] = "extractive"
    index_build: str = Field("", max_length=200)  # default: the live index's build


# -- the app

def create_app(pipeline: Pipeline, *, with_ui: bool = True) -> FastAPI:
    """The FastAPI app: ``/api/*``, ``/article/{doc_id}``, OpenAPI at ``/docs`` and the
    Gradio UI at ``/``. The index and model load in the lifespan, once per process."""
    settings = pipeline.settings
    users = parse_auth(settings.auth)
    feedback = FeedbackLog(settings.feedback_path)
    app = FastAPI(title="政策文章问答 API", version="0.1.0", lifespan=_lifespan(pipeline),
                  description="带出处的政策与产业文章问答(离线)。错误返回 {\"error\": 说明}。")
    app.state.pipeline = pipeline
    app.state.feedback = feedback
    _add_error_handlers(app)
    auth = [Depends(user_check(users))]
    _add_api_routes(app, pipeline, feedback, auth)
    _add_article_route(app, pipeline, auth)
    review = ReviewDesk(pipeline, feedback)
    add_review_routes(app, review, auth)
    if with_ui:
        # Routes above were added first, so they win over the UI mounted at "/".
        app = _mount_ui(app, pipeline, feedback, users, review)
    return app


def _lifespan(pipeline: Pipeline) -> Callable:
    """Load the index and warm the model at startup, off the event loop."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        t0 = time.perf_counter()
        try:
            await run_in_threadpool(pipeline.ensure_index)
            await run_in_threadpool(pipeline.warm_up)
            log.info("index and model ready in %.1f s", time.perf_counter() - t0)
        except RagError as e:
            # Keep serving: /api/health reports the problem (503) instead of a dead port.
            log.error("startup: %s", e)
        yield

    return lifespan


# -- errors: always {"error": one sentence}, never a traceback

def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
    return JSONResponse({"error": "Login required; send HTTP Basic credentials from "
                         "RAG_AUTH."}, status_code=401,
                        headers={"WWW-Authenticate": 'Basic realm="rag"'})


def _rag_error(request: Request, exc: RagError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


def _bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
    errs = exc.errors()
    if errs:
        e = errs[0]
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        msg = f"Invalid request{' field ' + where if where else ''}: {e.get('msg', '')}."
    else:
        msg = "Invalid request body; send JSON as documented at /docs."
    return JSONResponse({"error": msg}, status_code=422)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return JSONResponse({"error": "Internal error; the server log has the details."},
                        status_code=500)


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(RagError, _rag_error)
    app.add_exception_handler(RequestValidationError, _bad_body)
    app.add_exception_handler(Exception, _unexpected)


# -- routes

def _add_api_routes(app: FastAPI, pipeline: Pipeline, feedback: FeedbackLog,
                    auth: list) -> None:
    """``/api/*``; every route but ``/api/health`` (probes need no login) requires ``auth``."""

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

    @app.delete("/api/docs/{doc_id}", dependencies=auth, tags=["api"])
    def api_remove(doc_id: str) -> dict:
        """Remove one article from the index (and its file from the corpus folder)."""
        return {"removed": list(pipeline.remove([doc_id]))}

    @app.get("/api/health", tags=["api"])
    def api_health() -> JSONResponse:
        """``status`` "ok", or "error" with the message (HTTP 503)."""
        h = pipeline.health()
        return JSONResponse(h, status_code=200 if h.get("status") == "ok" else 503)

    @app.post("/api/feedback", dependencies=auth, tags=["api"])
    def api_feedback(body: FeedbackBody) -> dict:
        """Append one vote (👍 "up" / 👎 "down") with an optional comment."""
        build = body.index_build
        if not build:
            try:
                build = index_build(pipeline.snapshot)
            except RagError:
                build = ""  # no index: the vote is still worth keeping
        rec = feedback.append(question=body.question, answer=body.answer,
                              citations=body.citations, vote=body.vote, comment=body.comment,
                              mode=body.mode, index_build=build)
        return {"ok": True, "id": rec["id"]}


def _add_article_route(app: FastAPI, pipeline: Pipeline, auth: list) -> None:
    """``/article/{doc_id}``: an HTML page, so errors are pages too, not JSON."""

    @app.get("/article/{doc_id}", dependencies=auth, response_class=HTMLResponse,
             tags=["pages"])
    def article_page(doc_id: str, start: int | None = Query(None, ge=0),
                     end: int | None = Query(None, ge=0)) -> HTMLResponse:
        """The full article; ``text[start:end]`` highlighted as ``<mark id="hl">``."""
        try:
            doc = pipeline.document(doc_id)
        except NotFoundError as e:
            return HTMLResponse(error_page(str(e)), status_code=404)
        except RagError as e:
            return HTMLResponse(error_page(str(e)), status_code=e.status)
        return HTMLResponse(render_article(doc, start, end))


def _mount_ui(app: FastAPI, pipeline: Pipeline, feedback: FeedbackLog,
              users: list[tuple[str, str]], review: ReviewDesk | None = None) -> FastAPI:
    # Imported here to keep gradio lazy: it takes seconds to import, and the API-only app
    # (create_app(..., with_ui=False), as the tests use it) never needs it.
    import gradio as gr

    from rag.app.review_ui import REVIEW_CSS  # imported here too: it builds on gradio
    from rag.app.ui import CSS, build_ui, theme  # imported here: see above

    demo = build_ui(pipeline, feedback, review)
    return gr.mount_gradio_app(app, demo, path="/", auth=users or None,
                               auth_message="请输入管理员分配的账号和密码。",
                               theme=theme(), css=CSS + REVIEW_CSS, footer_links=["api"],
                               max_file_size=pipeline.settings.max_upload_bytes,
                               show_error=True, ssr_mode=False)


def serve(settings: Settings | None = None, host: str | None = None,
          port: int | None = None) -> None:
    """Run the app with uvicorn on ``host:port`` (default: settings.host / settings.port)."""
    # Imported here so importing this module (tests, the CLI) does not pull in the server.
    import uvicorn

    settings = settings or Settings.load()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    pipeline = Pipeline(settings)
    # A shared index that cannot be reached at start is a deployment error: exit (the CLI
    # prints it in one line) rather than serve 503s. Later outages are reported per request.
    pipeline.store.ping()
    app = create_app(pipeline)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port,
                log_level="info", timeout_graceful_shutdown=5)
