"""Faults: a process killed mid-build or mid-ingest, a damaged index, an LLM server that is
down, slow or talks garbage. The last good index must keep answering and every failure must
reach the user as one sentence that says what to do. Uses the fast fake encoder and the made-up
corpus of conftest.py."""

import http.server
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.app.api import create_app
from rag.app.cli import main
from rag.index.store import IndexStore
from rag.pipeline import Pipeline
from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
QUESTION = "从化区已集聚了多少家智能农机企业？"  # made up; the answer holds 45家
FIGURE = "45"

# Runs the CLI in a child process whose index writer pauses after its first file, so the
# kill lands while builds/.tmp-* exists: the moment a crash is most likely to do damage.
_SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import rag.index.store as ix
    _orig = ix.write_jsonl
    def _slow(path, rows):
        _orig(path, rows)
        time.sleep(120)
    ix.write_jsonl = _slow
    from rag.app.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _env(home: Path) -> dict:
    env = dict(os.environ, RAG_HOME=str(home), RAG_MODEL="hash")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _start_and_kill_when_tmp_appears(args, home: Path) -> None:
    builds = home / "index" / "builds"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, *args], env=_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not any(p.name.startswith(".tmp-") for p in builds.iterdir()):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the build never started writing"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL


def _answer_hits(home: Path):
    p = Pipeline(Settings.load())
    p.retriever()  # load only; ensure_index would repair what we want to inspect
    return p, [h.chunk.chunk_id for h in p.search(QUESTION).hits]


@pytest.mark.slow
def test_kill_during_rebuild_leaves_last_good_index_answering(madeup_pipeline, madeup_home):
    store = madeup_pipeline.store
    live = store.current_path()
    before = [h.chunk.chunk_id for h in madeup_pipeline.search(QUESTION).hits]

    _start_and_kill_when_tmp_appears(["index", "--rebuild"], madeup_home)

    assert any(p.name.startswith(".tmp-") for p in (store.root / "builds").iterdir())
    assert store.current_path() == live  # CURRENT still names the last good build
    snap = IndexStore(store.root).load("hash-256", "hash:v1:256")
    assert snap.manifest.n_chunks == len(snap.chunks) > 0
    p, hits = _answer_hits(madeup_home)
    assert hits == before and FIGURE in p.ask(QUESTION).text
    # The next build succeeds (the killed writer's lock died with it) and sweeps the debris.
    p.build_index(rebuild=True)
    assert store.current_path() != live
    assert not [x for x in (store.root / "builds").iterdir() if x.name.startswith(".tmp-")]


@pytest.mark.slow
def test_kill_during_ingest_leaves_last_good_index_answering(madeup_pipeline, madeup_home,
                                                            tmp_path):
    store = madeup_pipeline.store
    live = store.current_path()
    new = tmp_path / "incoming" / "新政策.txt"
    new.parent.mkdir()
    new.write_text("溪云镇发布数字乡村行动方案\n\n溪云镇将建设10个数字乡村服务站。\n",
                   encoding="utf-8")

    _start_and_kill_when_tmp_appears(["ingest", str(new)], madeup_home)

    assert store.current_path() == live
    corpus = madeup_home / "corpus"
    assert not [f for f in corpus.iterdir() if f.name.startswith(".upload-")]
    copied = corpus / "新政策.txt"
    assert not copied.exists() or copied.read_bytes() == new.read_bytes()  # never half a file
    p, hits = _answer_hits(madeup_home)
    assert hits and FIGURE in p.ask(QUESTION).text
    # Restarting catches up: the article that was copied before the kill gets indexed.
    p.ensure_index()
    assert "新政策" in p.snapshot.docs


def _damage(index_dir: Path, how: str) -> None:
    build = IndexStore(index_dir).current_path()
    if how == "garbage faiss.index":
        (build / "faiss.index").write_bytes(b"\x00not a faiss index\xff" * 10)
    elif how == "missing vectors.npy":
        (build / "vectors.npy").unlink()
    elif how == "truncated chunks.jsonl":
        data = (build / "chunks.jsonl").read_bytes()
        (build / "chunks.jsonl").write_bytes(data[: len(data) // 2])
    elif how == "garbage manifest.json":
        (build / "manifest.json").write_text("{not json", encoding="utf-8")


DAMAGE = ["garbage faiss.index", "missing vectors.npy", "truncated chunks.jsonl",
          "garbage manifest.json"]


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_index_cli_prints_one_line_with_the_fix(madeup_pipeline, capsys, how):
    _damage(madeup_pipeline.settings.index_dir, how)
    code = main(["ask", QUESTION])
    err = capsys.readouterr().err.strip()
    assert code == 2, f"`rag ask` on an index with {how} answered instead of refusing"
    assert "Traceback" not in err and err.count("\n") == 0
    assert "rag index --rebuild" in err


@pytest.mark.parametrize("how", ["garbage faiss.index", "missing vectors.npy"])
def test_damaged_index_reported_by_health(madeup_pipeline, how):
    _damage(madeup_pipeline.settings.index_dir, how)
    p = Pipeline(madeup_pipeline.settings)
    with TestClient(create_app(p, with_ui=False)) as client:
        r = client.get("/api/health")
        assert r.status_code == 503, r.json()
        assert r.json()["status"] == "error" and "rag index --rebuild" in r.json()["error"]
        r = client.post("/api/ask", json={"question": QUESTION})
        assert r.status_code == 503 and "rebuild" in r.json()["error"]


# ----------------------------------------------------------------------------- the LLM


class _LLMHandler(http.server.BaseHTTPRequestHandler):
    mode = "garbage"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "slow":
            time.sleep(8)
        body = {"garbage": b"\x00\xffthis is not json{{{",
                "garbage-sse": b"data: {broken json\n\ndata: [DONE]\n\n",
                "slow": b"data: [DONE]\n\n"}[self.mode]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream" if "sse" in self.mode
                             or self.mode == "slow" else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up first, as it should


@pytest.fixture
def llm_server(request):
    handler = type("H", (_LLMHandler,), {"mode": request.param})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _ask_with_llm(madeup_pipeline, url: str, timeout: float = 1.5):
    s = madeup_pipeline.settings.replace(llm_base_url=url, llm_timeout=timeout)
    p = Pipeline(s, encoder=madeup_pipeline.encoder)
    p.ask(QUESTION)  # warm: the timing below is the LLM path only
    t = time.perf_counter()
    ans = p.ask(QUESTION, llm=True)
    return ans, time.perf_counter() - t


def _assert_extractive_fallback(ans, elapsed, timeout=1.5):
    assert ans.mode == "extractive" and not ans.refused
    assert FIGURE in ans.text and ans.citations
    assert ans.note and "抽取式" in ans.note  # the user is told why
    assert elapsed < timeout + 3.0, f"took {elapsed:.1f}s with a {timeout}s LLM timeout"


def test_llm_down_gives_extractive_answer_with_note(madeup_pipeline):
    ans, elapsed = _ask_with_llm(madeup_pipeline, _closed_port_url())
    _assert_extractive_fallback(ans, elapsed)


@pytest.mark.parametrize("llm_server", ["slow", "garbage", "garbage-sse"], indirect=True)
def test_llm_slow_or_garbage_gives_extractive_answer_within_timeout(madeup_pipeline, llm_server):
    ans, elapsed = _ask_with_llm(madeup_pipeline, llm_server)
    _assert_extractive_fallback(ans, elapsed)


def test_llm_fallback_over_http(madeup_pipeline):
    s = madeup_pipeline.settings.replace(llm_base_url=_closed_port_url(), llm_timeout=1.0)
    with TestClient(create_app(Pipeline(s, encoder=madeup_pipeline.encoder),
                               with_ui=False)) as client:
        r = client.post("/api/ask", json={"question": QUESTION, "llm": True})
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "extractive" and body["note"] and FIGURE in body["answer"]

