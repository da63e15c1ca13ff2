"""The worker side of the back-end comparison (``worker backend CFG``): one back-end in a
process of its own, so its RSS is its own. What is measured: see
:mod:`rag.evaluation.bench.compare`, which starts these workers and the Milvus Lite server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.bench.measure import latency_stats, memory_mb, timed
from rag.evaluation.bench.synthetic import synthetic_corpus, synthetic_documents
from rag.index.backend import open_store
from rag.index.build import Embedded, new_manifest
from rag.index.dense import choose_ann
from rag.pipeline import Pipeline
from rag.retrieve.search import Retriever
from rag.settings import Settings

__all__ = ["measure_backend"]


def measure_backend(cfg: dict) -> dict:
    """The worker side: build, search and answer on one back-end; figures as a dict."""
    s = Settings.load().replace(backend=cfg["backend"], index_dir=Path(cfg["index_dir"]),
                                milvus_prefix="bench")
    if cfg["uri"]:
        s = s.replace(milvus_uri=cfg["uri"])
    questions = cfg["questions"]
    p = Pipeline(s)
    p.encoder.encode(["预热"], kind="query")  # the model load is no part of any figure
    rep, ms = timed(lambda: p.build_index(rebuild=True))
    m = rep.manifest
    res: dict[str, Any] = {"backend": s.backend,
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
    by_id, chunks = synthetic_documents(base, syn)
    docs = list(by_id.values())
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
