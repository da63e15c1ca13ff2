"""The scale test, run in its own process: a synthetic corpus of N chunks indexed with FAISS
exact and HNSW and with BM25, each timed alone, then searched end to end through
:class:`rag.retrieve.search.Retriever`.

``measure_scale(cfg)`` takes the config :func:`rag.evaluation.bench.run.run_bench` writes
(``n``, ``seed``, ``sigma``, ``questions``, ``candidates``, ``index_dir``) and returns the
figures as a dict.
"""

from __future__ import annotations

import gc
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.bench.measure import (
    ALT_HYBRID_QUESTIONS,
    RECALL_K,
    ann_recall_at_k,
    latency_stats,
    memory_mb,
    timed,
)
from rag.evaluation.bench.synthetic import SyntheticCorpus, synthetic_corpus, synthetic_documents
from rag.index.dense import FaissVectorIndex, choose_ann
from rag.index.keyword import BM25KeywordIndex
from rag.index.snapshot import IndexSnapshot
from rag.index.store import IndexStore
from rag.models.encoder import get_encoder
from rag.retrieve.search import Retriever
from rag.settings import Settings
from rag.text.tokenize import default_tokenizer

__all__ = ["measure_scale"]


def measure_scale(cfg: dict) -> dict:
    """One scale size: build exact/HNSW/BM25 over ``cfg["n"]`` chunks, time queries."""
    n = int(cfg["n"])
    settings = Settings.load()
    questions = cfg["questions"]
    enc = get_encoder(settings)
    base = IndexStore(Path(cfg["index_dir"])).load(enc.model_id, enc.fingerprint)
    qv = enc.encode(questions, kind="query")  # loads the model: not part of any figure
    tok = default_tokenizer()
    tok.tokens("预热")
    mem0 = memory_mb()["vmrss_mb"]
    res: dict[str, Any] = {"n_chunks": n, "base_chunks": len(base.chunks),
                           "noise_sigma": cfg["sigma"], "seed": cfg["seed"]}

    # Uncached jieba throughput on real chunks, to project what a real build would spend.
    sample = [f"{base.docs[c.doc_id].meta.title}\n{c.text}" for c in base.chunks][:300]
    _, ms = timed(lambda: [tok.tokens(s) for s in sample])
    per_chunk_s = ms / 1000 / max(1, len(sample))

    t = time.perf_counter()
    syn = synthetic_corpus([c.text for c in base.chunks],
                           [base.docs[c.doc_id].meta.title for c in base.chunks],
                           base.vectors, n, seed=cfg["seed"], sigma=cfg["sigma"], tokenizer=tok)
    res["generate_s"] = round(time.perf_counter() - t - syn.tokenize_seconds, 2)
    k = int(cfg["candidates"])
    qs = [qv[i : i + 1] for i in range(len(qv))]
    exact, res["exact"] = _dense(syn, "exact", qs, k)
    res["exact"].update(_one_thread(exact, qs, k))
    hnsw, res["hnsw"] = _dense(syn, "hnsw", qs, k)
    res["hnsw"].update(_hnsw_recall(exact, hnsw, syn, qv, qs, k))
    kw, res["bm25"] = _bm25(syn, [tok.tokens(q) for q in questions], k, per_chunk_s)

    ann_used = choose_ann(settings.ann, n, settings.ann_threshold)
    dense = {"exact": exact, "hnsw": hnsw}
    res["hybrid"] = _hybrid(base, syn, dense, kw, ann_used, enc, settings, tok, questions)
    gc.collect()
    mem = memory_mb()
    res["rss"] = {"vmrss_mb": mem["vmrss_mb"], "vmhwm_mb": mem["vmhwm_mb"],
                  "model_and_base_mb": mem0, "note": "one process holding the model, both "
                  "dense indexes, BM25 and the documents; VmHWM includes the build"}
    return res


def _dense(syn: SyntheticCorpus, kind: str, qs: list[np.ndarray],
           k: int) -> tuple[FaissVectorIndex, dict]:
    """Build a FAISS index of ``kind`` over the synthetic vectors; its build time, query
    latency and memory."""
    gc.collect()
    before = memory_mb()["vmrss_mb"]
    idx = FaissVectorIndex(syn.vectors.shape[1], kind)
    ids = np.arange(len(syn.vectors), dtype=np.int64)
    _, ms = timed(lambda: idx.add(ids, syn.vectors))
    lat = [timed(lambda q=q: idx.search(q, k))[1] for q in qs]
    return idx, {"build_s": round(ms / 1000, 3), "query_ms": latency_stats(lat),
                 "rss_delta_mb": round(memory_mb()["vmrss_mb"] - before, 1)}


def _one_thread(exact: FaissVectorIndex, qs: list[np.ndarray], k: int) -> dict:
    """Exact search latency pinned to one OpenMP thread, and how many threads FAISS has."""
    import faiss  # lazy with the index it serves: faiss loads OpenMP and BLAS

    # FAISS parallelises one query over OpenMP threads; on a busy 2-core box the barrier
    # costs more than the search, so the same search pinned to one thread is reported too.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        lat1 = [timed(lambda q=q: exact.search(q, k))[1] for q in qs]
    finally:
        faiss.omp_set_num_threads(threads)
    return {"query_ms_1thread": latency_stats(lat1), "omp_threads": threads}


def _hnsw_recall(exact: FaissVectorIndex, hnsw: FaissVectorIndex, syn: SyntheticCorpus,
                 qv: np.ndarray, qs: list[np.ndarray], k: int) -> dict:
    """HNSW's recall against exact search, at its ``ef_search`` and at 2x and 4x that."""
    _, e_ids = exact.search(qv, RECALL_K)
    _, h_ids = hnsw.search(qv, RECALL_K)
    out: dict[str, Any] = {"recall_at_10": ann_recall_at_k(h_ids, e_ids)}
    # Copies of one real chunk are near-ties, so "which copy" is partly luck; whether HNSW
    # found copies of the same real passages as exact search is what retrieval feels.
    out["source_recall_at_10"] = ann_recall_at_k(syn.base_rows[h_ids], syn.base_rows[e_ids])
    configured_ef = hnsw.ef_search
    out["ef_search"] = configured_ef
    sweep = []
    try:
        for ef in (2 * configured_ef, 4 * configured_ef):
            hnsw.ef_search = ef
            _, ids_ef = hnsw.search(qv, RECALL_K)
            lat = [timed(lambda q=q: hnsw.search(q, k))[1] for q in qs]
            sweep.append({"ef_search": ef, "recall_at_10": ann_recall_at_k(ids_ef, e_ids),
                          "query_ms": latency_stats(lat)})
    finally:
        hnsw.ef_search = configured_ef
    out["ef_sweep"] = sweep
    return out


def _bm25(syn: SyntheticCorpus, query_tokens: list[list[str]], k: int,
          per_chunk_s: float) -> tuple[BM25KeywordIndex, dict]:
    """Build BM25 over the synthetic tokens; tokenising, build and query figures."""
    gc.collect()
    before = memory_mb()["vmrss_mb"]
    kw = BM25KeywordIndex()
    _, ms = timed(lambda: kw.add(list(range(len(syn.tokens))), syn.tokens))
    lat = [timed(lambda t=t: kw.search(t, k))[1] for t in query_tokens]
    return kw, {"tokenize_s": round(syn.tokenize_seconds, 2),
                "tokenize_uncached_projected_s": round(per_chunk_s * len(syn.tokens), 1),
                "build_s": round(ms / 1000, 3), "query_ms": latency_stats(lat),
                "rss_delta_mb": round(memory_mb()["vmrss_mb"] - before, 1)}


def _hybrid(base: IndexSnapshot, syn: SyntheticCorpus, dense: dict[str, FaissVectorIndex],
            kw: BM25KeywordIndex, ann_used: str, enc, settings: Settings, tok,
            questions: list[str]) -> dict:
    """``Retriever.search`` over the synthetic corpus with each dense index; the configured
    one runs every question, the other a sample."""
    docs, chunks = synthetic_documents(base, syn)
    manifest = replace(base.manifest, n_docs=len(chunks), n_chunks=len(chunks), ann="exact")
    out: dict[str, Any] = {}
    corrector = None
    # The configured index first, so it is the one that pays for building the corrector.
    for kind in sorted(dense, key=lambda name: name != ann_used):
        # Each synthetic document is one sentence, the chunk itself: its sentence vector is
        # the chunk vector, so the sentence stage is timed at full size too.
        snap = IndexSnapshot(base.path, replace(manifest, ann=kind), docs, chunks, syn.vectors,
                             dense[kind], kw, sentence_vectors=syn.vectors)
        # Same texts for both: building the typo corrector twice would only cost time.
        r = Retriever(snap, enc, settings, tok, corrector=corrector)
        _, warm_ms = timed(lambda r=r: r.search(questions[0], method="hybrid"))
        corrector = r.corrector()
        lat, stages = [], {}
        for q in (questions if kind == ann_used else questions[:ALT_HYBRID_QUESTIONS]):
            found, ms = timed(lambda q=q, r=r: r.search(q, method="hybrid"))
            lat.append(ms)
            for name, v in found.timings_ms:
                stages.setdefault(name, []).append(v)
        out[kind] = {"query_ms": latency_stats(lat), "first_query_ms": round(warm_ms, 1),
                     "stage_p50_ms": {k: latency_stats(v)["p50"] for k, v in stages.items()}}
    out["configured_ann"] = ann_used
    return out
