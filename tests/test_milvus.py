"""The Milvus back-end against a real `milvus-lite server` (conftest.milvus_server): the same
results as the local index, builds switched in by an alias that a failed build never moves,
replicas that pick up each other's builds, removal, and the server going away and coming
back. Uses the fast deterministic fake encoder."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import CORPUS, REPO, MilvusServer, free_port
from fastapi.testclient import TestClient

from rag.app.api import create_app
from rag.app.cli import main
from rag.errors import BackendUnavailable, IndexStateError, InputError, NotFoundError
from rag.index.keyword import BM25KeywordIndex
from rag.index.sparse import KeywordStats
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.text.tokenize import default_tokenizer

QUESTIONS = ["海珠2026年大模型目标是多少", "南沙扶持办法最高给多少钱", "琶洲试验区有哪些龙头企业",
             "广州有多少款备案人工智能大模型", "What is Haizhu's 2026 target?"]
NEW_ARTICLE = ("白云区数字经济新政\n2026年5月1日 白云日报\n"
               "白云区提出，到2027年建成算力中心3个，培育数字经济企业超过80家。")


def _pipeline(**kw) -> Pipeline:
    return Pipeline(Settings.load(model="hash", **kw))


def _ranked(p: Pipeline, q: str, method: str, **kw) -> list[tuple[str, float]]:
    return [(h.chunk.chunk_id, round(h.score, 4)) for h in p.search(q, k=10, method=method,
                                                                    **kw).hits]


def test_sparse_bm25_vectors_score_as_the_local_bm25():
    tok = default_tokenizer()
    texts = [p.read_text(encoding="utf-8")[i:i + 220] for p in sorted(CORPUS.glob("*.txt"))
             for i in range(0, 3000, 220)]
    lists = [tok.tokens(t) for t in texts] + [[]]  # an empty chunk too
    local = BM25KeywordIndex()
    local.add(list(range(len(lists))), lists)
    stats = KeywordStats.of(lists)
    docs = stats.doc_vectors(lists)
    for q in QUESTIONS[:4] + ["海珠 海珠 大模型"]:
        qv = stats.query_vector(tok.tokens(q))
        mine = np.array([sum(w * d.get(t, 0.0) for t, w in qv.items()) for d in docs])
        assert np.allclose(mine, local.scores(tok.tokens(q)), rtol=1e-4, atol=1e-5), q


def test_milvus_answers_as_the_local_index(corpus_home, milvus_env):
    local = _pipeline(backend="local")
    local.build_index()
    remote = _pipeline()
    assert remote.settings.backend == "milvus"
    rep = remote.build_index()
    assert rep.manifest.n_chunks == local.snapshot.manifest.n_chunks
    assert remote.snapshot.vectors is None  # chunk vectors stay on the server
    for q in QUESTIONS:
        for method in ("bm25", "dense", "hybrid"):
            assert _ranked(remote, q, method) == _ranked(local, q, method), (q, method)
        assert remote.ask(q).text == local.ask(q).text
    doc = local.documents()[1]
    for kw in ({"doc_ids": [doc.doc_id]}, {"since": "2026"}, {"until": "2024"}):
        for method in ("bm25", "dense", "hybrid"):
            assert _ranked(remote, "人工智能", method, **kw) == _ranked(local, "人工智能",
                                                                       method, **kw), kw


def test_ingest_switches_the_alias_and_a_second_replica_picks_it_up(corpus_home, milvus_env,
                                                                     tmp_path):
    writer = _pipeline()
    writer.build_index()
    reader = _pipeline(reload_seconds=0.5)
    held = reader.retriever()  # a question in flight holds this one
    before = {d.doc_id for d in reader.documents()}
    new = tmp_path / "baiyun_digital.txt"
    new.write_text(NEW_ARTICLE, encoding="utf-8")
    rep = writer.ingest([new])
    assert rep.added == ("baiyun_digital",)
    t0 = time.monotonic()
    while "baiyun_digital" not in {d.doc_id for d in reader.documents()}:
        assert time.monotonic() - t0 < 5, "the reader did not pick up the new build in 5 s"
        time.sleep(0.1)
    hits = reader.search("白云区算力中心", k=3).hits
    assert hits[0].chunk.doc_id == "baiyun_digital"
    # The old build is kept as "previous": the question that held it still finishes on it.
    assert {h.chunk.doc_id for h in held.search("白云区算力中心", k=5).hits} <= before
    # Unchanged articles reused their vectors: only the new article was embedded.
    m = writer.snapshot.manifest
    assert m.n_docs == len(before) + 1 and m.embedded_chunks == 1


def test_an_updated_article_replaces_its_old_text_and_alone_is_embedded(corpus_home,
                                                                         milvus_env, tmp_path):
    p = _pipeline()
    p.build_index()
    new = tmp_path / "baiyun_digital.txt"
    new.write_text(NEW_ARTICLE, encoding="utf-8")
    p.ingest([new])
    n_docs = p.snapshot.manifest.n_docs
    new.write_text(NEW_ARTICLE.replace("算力中心3个", "无人机起降点12个"), encoding="utf-8")
    rep = p.ingest([new])
    assert rep.updated == ("baiyun_digital",)
    m = p.snapshot.manifest
    assert m.n_docs == n_docs and m.embedded_chunks == 1  # the others reused their vectors
    reader = _pipeline()  # another replica reads the same build
    for q in (p, reader):
        text = "".join(h.chunk.text for h in q.search("白云区无人机起降点", k=5).hits
                       if h.chunk.doc_id == "baiyun_digital")
        assert "无人机起降点12个" in text and "算力中心3个" not in text


def test_a_build_made_with_another_model_is_refused_with_the_rebuild_hint(corpus_home,
                                                                          milvus_env):
    p = _pipeline()
    p.build_index()
    m = p.snapshot.manifest
    with pytest.raises(IndexStateError, match="rag index --rebuild") as e:
        p.store.load("another-model", "0" * 16)
    assert "\n" not in str(e.value)
    assert p.store.load(m.model_id, m.model_checksum).manifest.n_chunks == m.n_chunks


def test_a_failed_build_leaves_the_live_build_serving(corpus_home, milvus_env, tmp_path,
                                                      monkeypatch):
    import rag.index.milvus as mv

    p = _pipeline()
    p.build_index()
    live = p.store.live_name()
    before = p.store._builds()

    def broken(self, name, *a, **kw):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(mv.MilvusStore, "_fill", broken)
    new = tmp_path / "n.txt"
    new.write_text(NEW_ARTICLE, encoding="utf-8")
    with pytest.raises(RuntimeError):
        p.ingest([new])
    assert p.store.live_name() == live
    assert p.store._builds() == before  # the half-made collections were dropped
    fresh = _pipeline()
    assert "n" not in {d.doc_id for d in fresh.documents()}
    assert fresh.search("海珠", k=1).hits


def test_a_build_based_on_an_old_live_build_is_not_switched_in(corpus_home, milvus_env):
    p = _pipeline()
    p.build_index()
    live = p.store.live_name()
    with pytest.raises(IndexStateError, match="Another process"):
        _build_expecting(p, "b_other")  # as if another machine had switched in its build
    assert p.store.live_name() == live
    assert p.store._builds() == {live}


def _build_expecting(p: Pipeline, base: str) -> None:
    from rag.index.build import embed_documents, keyword_tokens, new_manifest

    docs = p.documents()[:2]
    emb = embed_documents(docs, p.encoder, None, 220, 1)
    toks = keyword_tokens(emb.chunks, docs, default_tokenizer())
    m = new_manifest(docs, p.encoder, emb, chunk_chars=220, overlap=1, ann="exact",
                     started=time.perf_counter(), source_stamps={})
    p.store.write_build(docs, emb, toks, m, expect_live=base)


def test_old_builds_are_dropped_keeping_the_previous_one(corpus_home, milvus_env):
    p = _pipeline()
    names = []
    for _ in range(3):
        p.build_index(rebuild=True)
        names.append(p.store.live_name())
    assert p.store._builds() == set(names[-2:])


def test_remove_on_milvus(corpus_home, milvus_env):
    p = _pipeline()
    p.build_index()
    victim = p.documents()[0].doc_id
    with pytest.raises(NotFoundError):
        p.remove([victim, "no_such_article"])
    assert victim in {d.doc_id for d in p.documents()}  # nothing changed
    assert p.remove([victim]) == (victim,)
    assert victim not in {d.doc_id for d in p.documents()}
    assert all(h.chunk.doc_id != victim for h in p.search("人工智能", k=20).hits)
    assert not (corpus_home / "corpus" / f"{victim}.txt").exists()
    assert victim not in {d.doc_id for d in _pipeline().documents()}


def test_cli_remove_and_ingest_exit_codes_on_milvus(corpus_home, milvus_env, tmp_path, capsys,
                                                    monkeypatch):
    monkeypatch.setenv("RAG_MODEL", "hash")
    assert main(["index"]) == 0
    good, bad = tmp_path / "baiyun.txt", tmp_path / "bad.exe"
    good.write_text(NEW_ARTICLE, encoding="utf-8")
    bad.write_bytes(b"MZ\x00")
    capsys.readouterr()
    assert main(["ingest", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 files failed" in err
    assert main(["remove", "baiyun"]) == 0
    assert "removed 1: baiyun" in capsys.readouterr().out
    assert main(["remove", "baiyun"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0  # one line


def test_milvus_down_gives_503_and_recovers(corpus_home, tmp_path, monkeypatch):
    server = MilvusServer(tmp_path / "mdata").start()
    try:
        monkeypatch.setenv("RAG_BACKEND", "milvus")
        monkeypatch.setenv("RAG_MILVUS_URI", server.uri)
        monkeypatch.setenv("RAG_MILVUS_TIMEOUT", "2")
        monkeypatch.setenv("RAG_RELOAD_SECONDS", "0.2")
        p = _pipeline()
        with TestClient(create_app(p, with_ui=False)) as c:
            assert c.get("/api/health").status_code == 200
            assert c.post("/api/ask", json={"question": QUESTIONS[0]}).status_code == 200
            server.stop()
            t0 = time.monotonic()
            h = c.get("/api/health")
            assert h.status_code == 503 and "Milvus" in h.json()["error"]
            time.sleep(0.3)
            r = c.post("/api/ask", json={"question": QUESTIONS[0]})
            assert r.status_code == 503 and "Milvus server" in r.json()["error"]
            assert "\n" not in r.json()["error"]
            assert time.monotonic() - t0 < 15  # reported, not waited on
            server.start()
            deadline = time.monotonic() + 30
            while c.get("/api/health").status_code != 200:
                assert time.monotonic() < deadline, "did not recover after the restart"
                time.sleep(0.5)
            r = c.post("/api/ask", json={"question": QUESTIONS[0]})
            assert r.status_code == 200 and r.json()["answer"]
    finally:
        server.stop()


def test_serve_exits_with_one_line_when_milvus_is_down(corpus_home):
    env = dict(os.environ, RAG_BACKEND="milvus", RAG_MODEL="hash",
               RAG_MILVUS_URI=f"http://127.0.0.1:{free_port()}", RAG_MILVUS_TIMEOUT="2",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "rag", "serve", "--port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Milvus server" in lines[0] and "not reachable" in lines[0]


def test_unreachable_milvus_is_one_sentence(corpus_home):
    p = _pipeline(backend="milvus", milvus_uri=f"http://127.0.0.1:{free_port()}",
                  milvus_timeout=1)
    with pytest.raises(BackendUnavailable, match="not reachable"):
        p.ensure_index()
    assert p.health()["status"] == "error"


def test_pymilvus_stays_optional(corpus_home):
    """No module outside the Milvus back-end imports pymilvus at load time, and the default
    back-end runs in a process where importing pymilvus fails."""
    rag = REPO / "rag"
    allowed = {rag / "index" / "milvus.py", rag / "index" / "milvus_search.py"}
    for path in rag.rglob("*.py"):
        if path in allowed:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad = [n for n in names if n.split(".")[0] == "pymilvus"
                   or n.startswith("rag.index.milvus")]
            assert not bad, f"{path.relative_to(REPO)} imports {bad[0]} at module level"
    code = ("import sys; sys.modules['pymilvus'] = None; sys.modules['milvus_lite'] = None\n"
            "from rag.app.cli import main\n"
            "assert main(['index']) == 0 and main(['search', '海珠', '-k', '1']) == 0\n"
            "import os; os.environ['RAG_BACKEND'] = 'milvus'\n"
            "sys.exit(main(['docs']))")
    env = dict(os.environ, RAG_MODEL="hash",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: RAG_BACKEND=milvus needs pymilvus; install it with `pip install -e '.[milvus]'`.")


def test_bad_backend_setting_is_one_sentence():
    with pytest.raises(InputError, match="RAG_BACKEND must be 'local' or 'milvus'"):
        Settings.load(env={"RAG_BACKEND": "elastic"})
