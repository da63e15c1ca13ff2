"""REST API, article view and UI rendering helpers, over the made-up corpus of conftest.py with
the fast fake encoder (RAG_MODEL=hash). The app is built once per module: its lifespan builds the
index, which is the slow part."""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import MADEUP_ARTICLES, write_madeup_corpus
from fastapi.testclient import TestClient

from rag.app.api import create_app
from rag.app.auth import parse_auth
from rag.app.feedback import FeedbackLog
from rag.app.panels import answer_markdown, ingest_report_html, md_escape, sources_html
from rag.app.present import display_date, render_article
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.types import Answer, Citation, DocMeta, Document

Q = "增城区2026年要新建多少座智慧充电站"  # made up, about the made-up corpus


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    h = tmp_path_factory.mktemp("apihome")
    write_madeup_corpus(h / "corpus")
    return h


@pytest.fixture(scope="module")
def client(home):
    s = Settings.load(env={}, home=home, model="hash")
    app = create_app(Pipeline(s))  # with the Gradio UI mounted, as served
    with TestClient(app) as c:  # runs the lifespan: builds the index, warms up
        yield c


@pytest.fixture(scope="module")
def docs(client) -> list[dict]:
    r = client.get("/api/docs")
    assert r.status_code == 200
    return r.json()


# -- health, docs

def test_health_ok(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    n = len(MADEUP_ARTICLES)
    assert body["status"] == "ok" and body["documents"] == n and body["chunks"] >= n


def test_docs_list_and_detail(client, docs):
    assert len(docs) == len(MADEUP_ARTICLES)
    assert {"doc_id", "title", "date", "date_inferred", "source"} <= set(docs[0])
    d = client.get(f"/api/docs/{docs[0]['doc_id']}").json()
    assert d["doc_id"] == docs[0]["doc_id"] and len(d["text"]) == d["chars"] > 100


def test_unknown_doc_is_404_json(client):
    r = client.get("/api/docs/no_such_doc")
    assert r.status_code == 404
    assert set(r.json()) == {"error"} and "no_such_doc" in r.json()["error"]


# -- ask

def test_ask_returns_cited_answer_with_exact_offsets(client):
    r = client.post("/api/ask", json={"question": Q, "k": 5})
    assert r.status_code == 200
    a = r.json()
    assert a["question"] == Q and a["mode"] == "extractive" and a["answer"]
    assert a["hits"] and "total" in a["timings_ms"]
    for c in a["citations"] + a["related"]:
        text = client.get(f"/api/docs/{c['doc_id']}").json()["text"]
        assert text[c["start"]:c["end"]] == c["snippet"]
    assert not a["refused"] and "90" in a["answer"]
    assert re.search(r"\[\d+\]", a["answer"]) and a["citations"]


def test_ask_with_history_and_filters(client, docs):
    one = docs[0]["doc_id"]
    r = client.post("/api/ask", json={"question": "那2025年呢", "history": [Q],
                                      "doc_ids": [one]})
    assert r.status_code == 200
    a = r.json()
    assert all(h["doc_id"] == one for h in a["hits"])


def test_ask_llm_without_server_falls_back_with_note(client):
    a = client.post("/api/ask", json={"question": Q, "llm": True}).json()
    assert a["mode"] == "extractive" and a["note"]


@pytest.mark.parametrize("question", ["", "   \n"])
def test_empty_question_is_400(client, question):
    r = client.post("/api/ask", json={"question": question})
    assert r.status_code == 400 and "empty" in r.json()["error"]


def test_too_long_question_is_413(client):
    r = client.post("/api/ask", json={"question": "人" * 100_000})
    assert r.status_code == 413 and "limit" in r.json()["error"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"k": 3}',
                                  b'{"question": "x", "k": 0}'])
def test_bad_body_is_422_without_traceback(client, body):
    r = client.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert set(r.json()) == {"error"} and "Traceback" not in r.text


def test_fifty_concurrent_requests_all_complete(client):
    def call(i):
        if i % 2:
            return client.post("/api/ask", json={"question": Q}).status_code
        return client.post("/api/search", json={"query": "从化农机扶持"}).status_code

    with ThreadPoolExecutor(50) as ex:
        codes = list(ex.map(call, range(50)))
    assert codes == [200] * 50


# -- search

def test_search_methods_and_doc_filter(client, docs):
    for method in ("hybrid", "dense", "bm25"):
        r = client.post("/api/search", json={"query": "从化农机扶持", "k": 3, "method": method})
        assert r.status_code == 200
        hits = r.json()["hits"]
        assert 1 <= len(hits) <= 3 and [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    one = docs[1]["doc_id"]
    hits = client.post("/api/search", json={"query": "计划", "doc_ids": [one]}).json()["hits"]
    assert hits and {h["doc_id"] for h in hits} == {one}


def test_search_errors(client):
    assert client.post("/api/search", json={"query": ""}).status_code == 400
    assert client.post("/api/search", json={"query": "x", "method": "magic"}).status_code == 422


# -- feedback

def test_feedback_is_appended_as_json_lines(client, home):
    path = home / "eval" / "feedback.jsonl"
    before = path.read_text(encoding="utf-8").count("\n") if path.exists() else 0
    for vote in ("up", "down"):
        r = client.post("/api/feedback", json={"question": Q, "answer": "超90座[1]", "vote": vote,
                                               "citations": [{"n": 1}], "comment": "很好"})
        assert r.status_code == 200
    lines = path.read_text(encoding="utf-8").splitlines()[before:]
    recs = [json.loads(x) for x in lines]
    assert [r["vote"] for r in recs] == ["up", "down"]
    assert recs[0]["question"] == Q and recs[0]["comment"] == "很好" and recs[0]["time"]
    assert client.post("/api/feedback", json={"question": Q, "answer": "a",
                                              "vote": "meh"}).status_code == 422


def test_feedback_log_is_thread_safe(tmp_path):
    log = FeedbackLog(tmp_path / "new" / "dir" / "fb.jsonl")  # folder is created
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda i: log.append(question=f"q{i}", answer="长" * 2000, citations=[],
                                         vote="up"), range(200)))
    recs = [json.loads(x) for x in log.path.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["question"] for r in recs) == sorted(f"q{i}" for i in range(200))


# -- article view and pages

def test_article_view_highlights_the_cited_passage(client):
    c = client.post("/api/ask", json={"question": Q}).json()
    cit = (c["citations"] or c["related"])[0]
    r = client.get(f"/article/{cit['doc_id']}?start={cit['start']}&end={cit['end']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    m = re.search(r'<mark id="hl">(.*?)</mark>', r.text, re.S)
    import html as _html

    assert m and _html.unescape(m.group(1)) == cit["snippet"]
    assert "scrollIntoView" in r.text


def test_article_view_unknown_doc_and_bad_range(client, docs):
    assert client.get("/article/nope").status_code == 404
    r = client.get(f"/article/{docs[0]['doc_id']}?start=5&end=99999999")
    assert r.status_code == 200 and 'id="hl"' not in r.text and "超出" in r.text
    assert client.get(f"/article/{docs[0]['doc_id']}?start=-1&end=3").status_code == 422


def test_article_view_escapes_script():
    text = "前言<script>alert('x')</script>目标是200个充电站。"
    doc = Document("d1", text, DocMeta("d1", "标题<script>bad()</script>", date="2026-03",
                                       date_inferred=True, source="<b>来源</b>"))
    start = text.index("200")
    page = render_article(doc, start, start + 3)
    assert "<script>alert" not in page and "<script>bad" not in page and "<b>来源" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert '<mark id="hl">200</mark>' in page and "2026-03(推断)" in page


def test_ui_and_openapi_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/search", "/api/docs", "/api/docs/{doc_id}", "/api/health",
            "/api/feedback"} <= set(paths)


# -- broken index, auth

def test_health_is_503_and_ask_503_when_index_is_corrupted(tmp_path):
    home = tmp_path / "h"
    write_madeup_corpus(home / "corpus")
    s = Settings.load(env={}, home=home, model="hash")
    Pipeline(s).build_index()
    for f in (home / "index").rglob("*"):
        if f.is_file() and f.name != "CURRENT":
            f.write_bytes(b"\x00garbage")
    app = create_app(Pipeline(s), with_ui=False)
    c = TestClient(app)  # no lifespan: the startup rebuild would repair the damage
    r = c.get("/api/health")
    assert r.status_code == 503 and r.json()["status"] == "error" and r.json()["error"]
    r = c.post("/api/ask", json={"question": Q})
    assert r.status_code == 503 and "index" in r.json()["error"].lower()


def test_missing_index_is_503(tmp_path):
    s = Settings.load(env={}, home=tmp_path, model="hash")
    c = TestClient(create_app(Pipeline(s), with_ui=False))
    assert c.get("/api/health").status_code == 503
    assert c.get("/api/docs").status_code == 503


def test_basic_auth_protects_api(home, tmp_path):
    h = tmp_path / "h"
    shutil.copytree(home / "index", h / "index")  # reuse the module's index
    s = Settings.load(env={}, home=h, corpus_dir=home / "corpus", model="hash",
                      auth="staff:pw1,boss:pw2")
    c = TestClient(create_app(Pipeline(s), with_ui=False))
    assert c.get("/api/docs").status_code == 401
    assert c.get("/api/docs", auth=("staff", "wrong")).status_code == 401
    assert c.get("/api/docs", auth=("boss", "pw2")).status_code == 200
    assert c.get("/api/health").status_code == 200  # probes need no login
    assert parse_auth("a:b, c:d:e") == [("a", "b"), ("c", "d:e")]


# -- UI rendering helpers (pure functions)

def _cit(**kw) -> Citation:
    base = dict(n=1, doc_id="d1", title="标题<script>x()</script>", date="2026-03",
                source="来源", start=5, end=8, snippet="200", date_inferred=True)
    base.update(kw)
    return Citation(**base)


def test_sources_panel_escapes_and_marks_the_span():
    text = "<img>目标是200个充电站。"
    c = _cit(start=text.index("200"), end=text.index("200") + 3)
    out = sources_html(Answer("q", "200个[1]", citations=(c,), note="LLM 超时"), {"d1": text})
    assert "<script>x()" not in out and "&lt;script&gt;" in out and "<img>" not in out
    assert "<mark>200</mark>" in out and "2026-03(推断)" in out and "LLM 超时" in out
    assert f'href="/article/d1?start={c.start}&amp;end={c.end}"' in out


def test_refused_answer_shows_possibly_related():
    text = "无关的一段话,关于别的事情。"
    rel = _cit(start=0, end=5, snippet=text[:5])
    out = sources_html(Answer("q", "文章中没有找到答案。", refused=True, related=(rel,)),
                       {"d1": text})
    assert "可能相关" in out and "<mark>无关的一段</mark>" in out


def test_chat_markdown_escapes_text_and_links_markers():
    c = _cit()
    md = answer_markdown(Answer("q", "目标<script>x</script> *200* 个[1]", citations=(c,),
                                timings_ms=(("total", 412.0),)))
    assert "<script>" not in md and "&lt;script&gt;" in md and "\\*200\\*" in md
    assert "[\\[1\\]](/article/d1?start=5&end=8)" in md and "0.41 秒" in md
    assert md_escape("a_b [c]") == "a\\_b \\[c\\]"


def test_ingest_report_lists_per_file_errors():
    from types import SimpleNamespace

    rep = SimpleNamespace(added=("a.txt",), updated=(), unchanged=("b.md",),
                          errors=(("/tmp/x/坏文件<1>.pdf", "PDF has no text layer"),))
    out = ingest_report_html(rep, 1.23, {"a.txt": "新文章"})
    assert "新增 1 篇:《新文章》" in out and "未变化 1 篇:b.md" in out
    assert "坏文件&lt;1&gt;.pdf:PDF has no text layer" in out


def test_display_date():
    assert display_date("2026-03", True) == "2026-03(推断)"
    assert display_date("2025-02-15", False) == "2025-02-15"
    assert display_date(None, False) == "日期不详"
