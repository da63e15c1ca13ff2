"""Both index back-ends side by side, each in a process of its own (``worker backend CFG``):

- five articles: a full build of the corpus (every chunk embedded; the same encoder for both,
  so the difference is where the rows go), then warm hybrid search and extractive answers
  over the eval questions;
- N synthetic chunks (:mod:`rag.evaluation.bench.synthetic`, one article per chunk, vectors
  given): the rows written and switched in (embedding excluded), the build loaded as a
  serving process loads it, then warm hybrid search;
- RSS of the client process and, for Milvus, of the Milvus Lite server the bench started.

``compare_backends`` starts a private ``milvus-lite server`` on a free loopback port in a
temporary folder, so the figures do not depend on what else a shared server holds.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.evaluation.bench.measure import latency_stats, memory_mb, timed
from rag.evaluation.bench.synthetic import synthetic_corpus
from rag.evaluation.bench.worker import run_worker
from rag.index.backend import open_store
from rag.index.build import Embedded, new_manifest
from rag.index.dense import choose_ann
from rag.pipeline import Pipeline
from rag.retrieve.search import Retriever
from rag.settings import Settings
from rag.types import Chunk, DocMeta, Document

__all__ = ["compare_backends", "measure_backend", "process_rss_mb"]


def process_rss_mb(pid: int) -> dict[str, float]:
    """VmRSS / VmHWM of another process in MB (empty where /proc is not there)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key.lower() + "_mb"] = round(int(val.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def _start_milvus(data_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                             str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, uri
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RagError("The bench could not start `milvus-lite server`; install the "
                               "Milvus extra with `pip install -e '.[milvus]'`.") from None
            time.sleep(0.2)


def compare_backends(settings: Settings, backends: Sequence[str], questions: list[str],
                     n_synthetic: int, env: dict[str, str],
                     log: Callable[[str], None]) -> list[dict]:
    """One figure set per back-end (see the module doc)."""
    out = []
    for backend in backends:
        log(f"back-end {backend}: five articles, then {n_synthetic} synthetic chunks")
        with tempfile.TemporaryDirectory(prefix=f"rag-bench-{backend}-") as tmp:
            cfg = {"backend": backend, "questions": questions, "n": n_synthetic,
                   "index_dir": str(Path(tmp) / "index"), "uri": "", "keyword":
                   settings.milvus_keyword}
            server = None
            if backend == "milvus":
                server, cfg["uri"] = _start_milvus(Path(tmp) / "milvus")
            try:
                r = run_worker("backend", cfg, env, 3600)
                if server is not None:
                    r["server_rss"] = process_rss_mb(server.pid)
            finally:
                if server is not None:
                    server.terminate()
                    server.wait(timeout=30)
            out.append(r)
    return out


def measure_backend(cfg: dict) -> dict:
    """The worker side: build, search and answer on one back-end; figures as a dict."""
    s = Settings.load().replace(backend=cfg["backend"], index_dir=Path(cfg["index_dir"]),
                                milvus_prefix="bench", milvus_keyword=cfg["keyword"])
    if cfg["uri"]:
        s = s.replace(milvus_uri=cfg["uri"])
    questions = cfg["questions"]
    p = Pipeline(s)
    p.encoder.encode(["预热"], kind="query")  # the model load is no part of any figure
    rep, ms = timed(lambda: p.build_index(rebuild=True))
    m = rep.manifest
    res: dict[str, Any] = {"backend": s.backend, "keyword": s.milvus_keyword
                           if s.backend == "milvus" else "bm25s",
                           "five": {"chunks": m.n_chunks, "sentences": m.n_sentences,
                                    "build_s": round(ms / 1000, 3),
                                    "chunks_per_s": round(m.n_chunks / (ms / 1000), 1)}}
    p.warm_up()
    for name, fn in (("search", lambda q: p.search(q)), ("bm25", lambda q: p.search(
            q, method="bm25")), ("ask", lambda q: p.ask(q))):
        p.retriever().clear_query_cache()
        res["five"][f"{name}_ms"] = latency_stats([timed(lambda q=q, fn=fn: fn(q))[1]
                                                   for q in questions])
    res["five"]["rss"] = memory_mb()
    res["synthetic"] = _synthetic(p, s, questions, int(cfg["n"]))
    res["rss"] = memory_mb()
    return res


def _synthetic(p: Pipeline, s: Settings, questions: list[str], n: int) -> dict:
    base = p.snapshot
    enc = p.encoder
    vecs = (base.vectors if base.vectors is not None else
            _stored_vectors(p.store, base))
    syn = synthetic_corpus([c.text for c in base.chunks],
                           [base.docs[c.doc_id].meta.title for c in base.chunks], vecs, n)
    docs: list[Document] = []
    chunks: list[Chunk] = []
    for i, (text, title) in enumerate(zip(syn.texts, syn.titles, strict=True)):
        bm = base.docs[base.chunks[int(syn.base_rows[i])].doc_id].meta
        did = f"syn{i:06d}"
        docs.append(Document(did, text, DocMeta(did, title, bm.date, source=bm.source),
                             ((0, len(text)),), ((0, len(text)),)))
        chunks.append(Chunk(f"{did}#0", did, 0, len(text), text))
    emb = Embedded(chunks, syn.vectors, syn.vectors, n, n, n, 0.0)
    store = open_store(s.replace(milvus_prefix="benchsyn",
                                 index_dir=Path(s.index_dir).parent / "syn"))
    t0 = time.perf_counter()
    manifest = new_manifest(docs, enc, emb, chunk_chars=s.chunk_chars,
                            overlap=s.chunk_overlap_sentences,
                            ann=choose_ann(s.ann, n, s.ann_threshold), started=t0,
                            source_stamps={})
    _, write_ms = timed(lambda: store.write_build(docs, emb, syn.tokens, manifest))
    snap, load_ms = timed(lambda: store.load(enc.model_id, enc.fingerprint))
    r = Retriever(snap, enc, s)
    _, first_ms = timed(lambda: r.search(questions[0]))
    lat, stages = [], {}
    for q in questions:
        found, ms = timed(lambda q=q: r.search(q))
        lat.append(ms)
        for name, v in found.timings_ms:
            stages.setdefault(name, []).append(v)
    return {"n_chunks": n, "write_s": round(write_ms / 1000, 2),
            "rows_per_s": round(n / (write_ms / 1000), 1), "load_s": round(load_ms / 1000, 2),
            "first_query_ms": round(first_ms, 1), "search_ms": latency_stats(lat),
            "stage_p50_ms": {k: latency_stats(v)["p50"] for k, v in stages.items()}}


def _stored_vectors(store, snap):
    """Chunk vectors of a server-side build, in row order (the synthetic corpus grows from
    them)."""
    # Imported here: only the Milvus back-end keeps its chunk vectors on a server.
    from rag.index.milvus import MilvusReuse

    got, _ = MilvusReuse(store, store.live_name(), snap.manifest).vectors_for(set(snap.docs))
    return np.stack([got[c.chunk_id] for c in snap.chunks])
