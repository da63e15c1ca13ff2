"""`rag eval --llm` scores the LLM answerer beside the extractive one, with seconds per answer,
on every question or an even sample. A small OpenAI-compatible fake stands in for the server
(the real llama.cpp server is exercised in tests/test_llm.py)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.evaluation.questions import Question
from rag.evaluation.run import run_eval
from rag.evaluation.sets import compare_table
from rag.pipeline import Pipeline
from rag.settings import Settings

ANSWER = "甲区共有企业300家[1]。"


class _Fake(BaseHTTPRequestHandler):
    calls = 0

    def log_message(self, *a):  # keep pytest output clean
        pass

    def do_POST(self):  # noqa: N802 (http.server naming)
        type(self).calls += 1
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        if req.get("stream"):  # the pipeline streams: server-sent events, then [DONE]
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            delta = json.dumps({"choices": [{"delta": {"content": ANSWER}}]})
            self.wfile.write(f"data: {delta}\n\ndata: [DONE]\n\n".encode())
            return
        body = json.dumps({"choices": [{"message": {"content": ANSWER}}]}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def llm_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def _questions(n: int) -> list[Question]:
    return [Question(f"x{i}", "甲区共有多少家企业?" + "?" * i, ("a",), ("甲区共有企业300家",), "300家",
                     ("300家",), "number") for i in range(n)]


def test_llm_mode_is_scored_on_an_even_sample_with_seconds_per_answer(isolated_home, llm_url):
    corpus = isolated_home / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("甲区产业报告\n\n甲区共有企业300家,去年新增20家。", encoding="utf-8")
    p = Pipeline(Settings.load(env={}, home=isolated_home, model="hash", llm_base_url=llm_url))
    p.build_index()
    qs = _questions(6)
    result = run_eval(p, qs, ["hybrid"], answers=True, progress=False, llm=True, llm_sample=3)
    llm = result.summary["answers_llm"]
    assert llm["all"]["n"] == 3 and llm["all"]["accuracy"] == 1.0, result.answers_llm
    assert llm["seconds_per_answer"] >= 0 and len(result.answers_llm) == 3
    assert [r["id"] for r in result.answers_llm] == ["x0", "x2", "x4"]  # spread evenly
    assert result.summary["answers"]["all"]["n"] == 6  # the extractive column is whole
    table = compare_table({"dev": result.summary}, markdown=True)
    assert "LLM accuracy" in table and "LLM seconds per answer" in table
    # without --llm there is no LLM column
    plain = run_eval(p, qs, ["hybrid"], answers=True, progress=False)
    assert "answers_llm" not in plain.summary
    assert "LLM accuracy" not in compare_table({"dev": plain.summary})


def test_the_llm_is_not_asked_when_no_sentence_passes_the_evidence_checks(isolated_home,
                                                                          llm_url):
    corpus = isolated_home / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("甲区产业报告\n\n甲区共有企业300家,去年新增20家。", encoding="utf-8")
    p = Pipeline(Settings.load(env={}, home=isolated_home, model="hash", llm_base_url=llm_url))
    p.build_index()
    before = _Fake.calls
    ans = p.ask("荔湾区共有多少家企业?", llm=True)  # a district no article names
    assert ans.refused and "未请 LLM 作答" in ans.note and _Fake.calls == before
    ans = p.ask("甲区共有多少家企业?", llm=True)
    assert not ans.refused and "300家" in ans.text and _Fake.calls == before + 1
