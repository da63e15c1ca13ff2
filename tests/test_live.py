"""The local back-end as a long-running server sees it: a build switched in by `rag ingest` in
another process is picked up within 5 s while questions in flight finish on their build;
articles are removed by `rag remove`, the API (behind RAG_AUTH) and the 文章 tab; `rag ingest`
exits 1 when a file failed. Uses the fast fake encoder."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time

from conftest import REPO
from fastapi.testclient import TestClient

from rag.app.api import create_app
from rag.app.cli import main
from rag.pipeline import Pipeline
from rag.settings import Settings

NEW_ARTICLE = ("白云区数字经济新政\n2026年5月1日 白云日报\n"
               "白云区提出，到2027年建成算力中心3个，培育数字经济企业超过80家。")


def test_a_build_from_another_process_is_served_within_5_s(corpus_home, tmp_path,
                                                         monkeypatch):
    monkeypatch.setenv("RAG_MODEL", "hash")
    p = Pipeline(Settings.load())
    p.build_index()
    held = p.retriever()  # a question in flight
    before = {d.doc_id for d in p.documents()}
    new = tmp_path / "baiyun.txt"
    new.write_text(NEW_ARTICLE, encoding="utf-8")
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "rag", "ingest", str(new)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    t0 = time.monotonic()
    while "baiyun" not in {d.doc_id for d in p.documents()}:
        assert time.monotonic() - t0 < 5, "the new build was not served within 5 s"
        time.sleep(0.1)
    assert p.search("白云区算力中心", k=1).hits[0].chunk.doc_id == "baiyun"
    # The retriever taken before the switch still answers from its own build.
    assert set(held.snap.docs) == before
    assert held.search("白云区算力中心", k=5).hits


def test_remove_local_cli(corpus_home, monkeypatch, capsys):
    monkeypatch.setenv("RAG_MODEL", "hash")
    assert main(["index"]) == 0
    p = Pipeline(Settings.load())
    victim = p.documents()[0].doc_id
    capsys.readouterr()
    assert main(["remove", victim, "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: No article with id 'nope'")
    assert main(["remove", victim, "--json"]) == 0
    assert victim in capsys.readouterr().out
    assert not (corpus_home / "corpus" / f"{victim}.txt").exists()
    fresh = Pipeline(Settings.load())
    assert victim not in {d.doc_id for d in fresh.documents()}
    ids = [d.doc_id for d in fresh.documents()]
    assert main(["remove", *ids]) == 2
    assert "empty" in capsys.readouterr().err  # the last article is never removed


def test_ingest_exits_1_when_a_file_failed_and_indexes_the_rest(corpus_home, tmp_path,
                                                                monkeypatch, capsys):
    monkeypatch.setenv("RAG_MODEL", "hash")
    good, bad = tmp_path / "baiyun.txt", tmp_path / "empty.txt"
    good.write_text(NEW_ARTICLE, encoding="utf-8")
    bad.write_text("  \n", encoding="utf-8")
    assert main(["ingest", str(good), str(bad)]) == 1
    out = capsys.readouterr()
    assert "added 1, updated 0, unchanged 0, failed 1" in out.out
    assert "1 of 2 files failed; the others were indexed." in out.err
    assert "baiyun" in {d.doc_id for d in Pipeline(Settings.load()).documents()}
    assert main(["ingest", str(good)]) == 0  # unchanged: nothing failed


def test_api_delete_is_behind_auth(corpus_home, monkeypatch):
    monkeypatch.setenv("RAG_MODEL", "hash")
    monkeypatch.setenv("RAG_AUTH", "staff:secret")
    p = Pipeline(Settings.load())
    with TestClient(create_app(p, with_ui=False)) as c:
        victim = p.documents()[0].doc_id
        assert c.delete(f"/api/docs/{victim}").status_code == 401
        auth = {"Authorization": "Basic " + base64.b64encode(b"staff:secret").decode()}
        assert c.delete("/api/docs/nope", headers=auth).status_code == 404
        r = c.delete(f"/api/docs/{victim}", headers=auth)
        assert r.status_code == 200 and r.json() == {"removed": [victim]}
        ids = [d["doc_id"] for d in c.get("/api/docs", headers=auth).json()]
        assert victim not in ids


def test_docs_tab_removes_articles(madeup_pipeline, tmp_path):
    from rag.app.feedback import FeedbackLog
    from rag.app.handlers import UIHandlers

    on = UIHandlers(madeup_pipeline, FeedbackLog(tmp_path / "fb.jsonl"))
    assert "请先选择" in on.do_remove([])[0]
    victim = madeup_pipeline.documents()[0]
    msg, table, chat_docs, search_docs, remove_docs = on.do_remove([victim.doc_id])
    assert "已删除 1 篇" in msg and victim.doc_id in msg
    assert victim.meta.title not in table
    assert victim.doc_id not in [v for _, v in remove_docs["choices"]]
    assert "No article with id" in on.do_remove(["nope"])[0]
