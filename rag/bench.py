"""Speed and memory: ``rag bench`` measures everything in one run and writes a report.

What one run measures (all on a private copy of the index, so the live one is untouched):

- model load (the first ``encode`` of the configured encoder), index build of the corpus
  with every chunk embedded (``rebuild``), chunks per second;
- warm latency p50/p95/p99 of ``search`` (hybrid, dense, bm25) and of extractive ``ask``
  over the questions of ``eval/questions.jsonl``;
- cold start to the first answer: a fresh ``python -m rag ask "..." --json`` timed end to
  end, and the same inside a fresh process (model load + index load + first answer);
- peak RSS (``VmHWM``) of a serving process that loads the pipeline and answers questions;
- the naive pipeline of ``rag eval`` (raw text, 500-character windows, dense only) built and
  queried in the same run, with ours/naive ratios that stay comparable on a noisy machine;
- scale: a synthetic corpus of N chunks per ``--scale`` size, grown from the real chunks by
  deterministic perturbation (see :func:`synthetic_corpus`), indexed with FAISS exact and
  HNSW, BM25, and searched end to end through :class:`rag.retrieve.Retriever`.

Each scale size and the serving process run in their own subprocess
(``python -m rag.bench scale|serve CONFIG``), so every RSS figure belongs to one workload.
Example::

    rag bench                      # full run, writes eval/bench.md, bench.json, bench.png
    rag bench --scale 2000 --json  # the quick run the tests use
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, RagError
from .settings import PROJECT_ROOT, Settings

SEED = 20260301
NOISE_SIGMA = 0.02  # per dimension: a perturbed copy keeps cosine ~0.93 to its original
RECALL_K = 10
SERVING_QUESTIONS = 10
ALT_HYBRID_QUESTIONS = 40  # the non-configured ANN's hybrid run is a comparison: a sample
TARGETS = {
    "serving_rss_mb": 1536,  # five articles, serving process
    "scale_hybrid_p50_ms": 100,  # at 100k chunks
    "scale_rss_mb": 4096,  # at 100k chunks
}
SCALE_TARGET_N = 100_000
_ROOT_FOR_SUBPROCESS = str(PROJECT_ROOT)

# Guangzhou districts: swapping them is the perturbation that most changes what a chunk is
# "about" while keeping it a plausible article sentence.
DISTRICTS = ("海珠", "天河", "越秀", "荔湾", "白云", "黄埔", "番禺", "花都", "南沙", "从化", "增城")
_DISTRICT_RE = re.compile("|".join(DISTRICTS))
_NUMBER_RE = re.compile(r"(?<!\d)\d+(?!\d)")
_SENTENCE_RE = re.compile(r"[^。!?;…]*[。!?;…]+[”’」』)）】》\"']*|[^。!?;…]+$")
_SCALE_FACTORS = (0.8, 0.9, 1.1, 1.25, 1.5, 2.0)
_YEAR_SHIFTS = (-2, -1, 1, 2)


# ----------------------------------------------------------------------------- small helpers
def percentiles(values: Sequence[float]) -> dict[str, float]:
    """``[1, 2, 3, 4]`` -> ``{"p50": 2.5, "p95": 3.85, "p99": 3.97, "mean": 2.5, "n": 4}`` (ms)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0, "n": 0}
    a = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(a, 50)), 2),
            "p95": round(float(np.percentile(a, 95)), 2),
            "p99": round(float(np.percentile(a, 99)), 2),
            "mean": round(float(a.mean()), 2), "n": int(a.size)}


def memory_mb() -> dict[str, float]:
    """This process's current and peak resident memory in MB (``/proc/self/status``, with
    ``getrusage`` as the portable peak)."""
    out = {"ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key.lower() + "_mb"] = round(int(val.split()[0]) / 1024, 1)
    except OSError:  # not Linux: getrusage is all there is
        pass
    out.setdefault("vmhwm_mb", out["ru_maxrss_mb"])
    out.setdefault("vmrss_mb", out["ru_maxrss_mb"])
    return out


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1000


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_scales(spec: str | None) -> list[int]:
    """``"10000,100000"`` -> ``[10000, 100000]``; ``""``/``"0"``/``"none"`` -> no scale run."""
    spec = (spec or "").strip().lower()
    if spec in ("", "0", "none"):
        return []
    out = []
    for part in spec.split(","):
        part = part.strip().replace("_", "")
        if part.endswith("k") and part[:-1].isdigit():
            part = str(int(part[:-1]) * 1000)
        if not part.isdigit() or int(part) <= 0:
            raise InputError(f"--scale takes chunk counts such as 10000,100000, not {spec!r}.")
        out.append(int(part))
    return out


def load_question_texts(settings: Settings) -> list[str]:
    """Question texts of ``eval/questions.jsonl`` (the workload every latency is over)."""
    path = Path(settings.eval_dir) / "questions.jsonl"
    if not path.is_file():
        raise InputError(f"The bench needs a question file at {path}; copy eval/questions.jsonl "
                         "there or set RAG_EVAL_DIR.")
    out = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if line.strip():
            q = json.loads(line).get("question", "")
            if q and q.strip():
                out.append(q)
    if not out:
        raise InputError(f"{path} holds no questions; the bench needs some to time.")
    return out


# ----------------------------------------------------------------------------- synthetic data
@dataclass(frozen=True)
class SyntheticCorpus:
    """N perturbed chunks: texts, titles, keyword tokens and vectors (row i = chunk i)."""

    texts: list[str]
    titles: list[str]
    base_rows: np.ndarray  # row of the real chunk each one was grown from
    tokens: list[list[str]]
    vectors: np.ndarray
    tokenize_seconds: float


def perturb(text: str, rng: random.Random, districts: dict[str, str] | None = None,
            year_shift: int | None = None, factor: float | None = None,
            shuffle: bool = True) -> str:
    """A plausible variant of ``text``: districts swapped, years shifted, other numbers
    scaled, sentences shuffled. Deterministic for a given ``rng`` state, e.g.
    ``perturb("海珠2026年新增200个。", r, {"海珠": "南沙"}, 1, 1.5)`` -> ``"南沙2027年新增300个。"``."""
    if districts is None:
        perm = list(DISTRICTS)
        rng.shuffle(perm)
        districts = dict(zip(DISTRICTS, perm, strict=True))
    dy = rng.choice(_YEAR_SHIFTS) if year_shift is None else year_shift
    f = rng.choice(_SCALE_FACTORS) if factor is None else factor

    def number(m: re.Match) -> str:
        s = m.group(0)
        n = int(s)
        if len(s) == 4 and 1990 <= n <= 2099:
            return str(n + dy)
        return str(max(1, round(n * f))) if n > 1 else s

    out = _DISTRICT_RE.sub(lambda m: districts[m.group(0)], text)
    out = _NUMBER_RE.sub(number, out)
    if shuffle:
        sents = _SENTENCE_RE.findall(out)
        if len(sents) > 1 and "".join(sents) == out:
            rng.shuffle(sents)
            out = "".join(sents)
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences with their terminators; ``"".join(split_sentences(t)) == t``."""
    parts = [p for p in re.split(r"(?<=[。!?;…\n])", text) if p]
    return parts or [text]


class CachedTokens:
    """Keyword tokens of a text, memoised per sentence.

    jieba never joins words across a sentence terminator or a newline (they are outside its
    Han blocks) and the figure regex stops there too, so the tokens of a text are the
    concatenation of its sentences' tokens. Perturbed copies reuse most sentences, which
    turns a 100k-chunk tokenisation from minutes into seconds; the result is the same
    multiset of tokens as ``Tokenizer.tokens(text)`` (tests check this).
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[str, list[str]] = {}

    def tokens(self, text: str) -> list[str]:
        out: list[str] = []
        for s in split_sentences(text):
            t = self.cache.get(s)
            if t is None:
                t = self.cache[s] = self.tokenizer.tokens(s)
            out.extend(t)
        return out


def synthetic_corpus(texts: Sequence[str], titles: Sequence[str], vectors: np.ndarray, n: int,
                     seed: int = SEED, sigma: float = NOISE_SIGMA,
                     tokenizer=None) -> SyntheticCorpus:
    """Grow ``n`` chunks from the real ones: row i copies real chunk ``i % len(texts)``.

    The first ``len(texts)`` rows are the real chunks unchanged (so every question still
    has its answer in the corpus); later rows are perturbed copies (:func:`perturb`, same
    mapping for title and text). Embedding 100k chunks with the real model would take about
    an hour on 2 cores, so a copy's vector is its original's plus Gaussian noise
    (``sigma`` per dimension), renormalised; the keyword index gets the perturbed text.
    """
    from .tokenize import default_tokenizer

    nb = len(texts)
    if nb == 0:
        raise InputError("The bench needs at least one real chunk to grow a synthetic corpus.")
    rows = np.arange(n) % nb
    out_texts: list[str] = []
    out_titles: list[str] = []
    for i in range(n):
        b = int(rows[i])
        if i < nb:
            out_texts.append(texts[b])
            out_titles.append(titles[b])
            continue
        rng = random.Random(seed * 1_000_003 + i)
        perm = list(DISTRICTS)
        rng.shuffle(perm)
        mapping = dict(zip(DISTRICTS, perm, strict=True))
        dy, f = rng.choice(_YEAR_SHIFTS), rng.choice(_SCALE_FACTORS)
        out_titles.append(perturb(titles[b], rng, mapping, dy, f, shuffle=False))
        out_texts.append(perturb(texts[b], rng, mapping, dy, f))
    vrng = np.random.default_rng(seed)
    vecs = np.asarray(vectors, dtype=np.float32)[rows].copy()
    if n > nb:
        noise = vrng.standard_normal((n - nb, vecs.shape[1]), dtype=np.float32) * sigma
        vecs[nb:] += noise
        del noise
        vecs[nb:] /= np.linalg.norm(vecs[nb:], axis=1, keepdims=True)
    tok = CachedTokens(tokenizer or default_tokenizer())
    t = time.perf_counter()
    tokens = [tok.tokens(f"{ti}\n{tx}") for ti, tx in zip(out_titles, out_texts, strict=True)]
    return SyntheticCorpus(out_texts, out_titles, rows, tokens, vecs, time.perf_counter() - t)


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray, k: int = RECALL_K) -> float:
    """Mean share of the exact top ``k`` (as a set) that the approximate search also returned,
    e.g. ``recall_at_k([[1, 2]], [[2, 3]], 2) -> 0.5``."""
    hits = []
    for a, e in zip(approx_ids, exact_ids, strict=True):
        want = set(np.asarray(e[:k]).tolist())
        hits.append(len(set(np.asarray(a[:k]).tolist()) & want) / max(1, len(want)))
    return round(float(np.mean(hits)), 4) if hits else 0.0


# ----------------------------------------------------------------------------- workers
def _scale_worker(cfg: dict) -> dict:
    """One scale size in its own process: build exact/HNSW/BM25 over N chunks, time queries."""
    from .embed import get_encoder
    from .index import BM25KeywordIndex, FaissVectorIndex, IndexSnapshot, IndexStore
    from .retrieve import Retriever
    from .tokenize import default_tokenizer
    from .types import Chunk, DocMeta, Document

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
    _, ms = _timed(lambda: [tok.tokens(s) for s in sample])
    per_chunk_s = ms / 1000 / max(1, len(sample))

    t = time.perf_counter()
    syn = synthetic_corpus([c.text for c in base.chunks],
                           [base.docs[c.doc_id].meta.title for c in base.chunks],
                           base.vectors, n, seed=cfg["seed"], sigma=cfg["sigma"], tokenizer=tok)
    res["generate_s"] = round(time.perf_counter() - t - syn.tokenize_seconds, 2)
    dim = syn.vectors.shape[1]
    ids = np.arange(n, dtype=np.int64)
    k = int(cfg["candidates"])
    qs = [qv[i : i + 1] for i in range(len(qv))]

    def ann(kind: str) -> tuple[FaissVectorIndex, dict]:
        gc.collect()
        before = memory_mb()["vmrss_mb"]
        idx = FaissVectorIndex(dim, kind)
        _, ms = _timed(lambda: idx.add(ids, syn.vectors))
        lat = [_timed(lambda q=q: idx.search(q, k))[1] for q in qs]
        return idx, {"build_s": round(ms / 1000, 3), "query_ms": percentiles(lat),
                     "rss_delta_mb": round(memory_mb()["vmrss_mb"] - before, 1)}

    import faiss

    exact, res["exact"] = ann("exact")
    # FAISS parallelises one query over OpenMP threads; on a busy 2-core box the barrier
    # costs more than the search, so the same search pinned to one thread is reported too.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        lat1 = [_timed(lambda q=q: exact.search(q, k))[1] for q in qs]
    finally:
        faiss.omp_set_num_threads(threads)
    res["exact"]["query_ms_1thread"] = percentiles(lat1)
    res["exact"]["omp_threads"] = threads
    hnsw, res["hnsw"] = ann("hnsw")
    _, e_ids = exact.search(qv, RECALL_K)
    _, h_ids = hnsw.search(qv, RECALL_K)
    res["hnsw"]["recall_at_10"] = recall_at_k(h_ids, e_ids)
    # Copies of one real chunk are near-ties, so "which copy" is partly luck; whether HNSW
    # found copies of the same real passages as exact search is what retrieval feels.
    res["hnsw"]["source_recall_at_10"] = recall_at_k(syn.base_rows[h_ids], syn.base_rows[e_ids])
    graph = faiss.downcast_index(hnsw._index.index).hnsw
    configured_ef = int(graph.efSearch)
    res["hnsw"]["ef_search"] = configured_ef
    sweep = []
    for ef in (2 * configured_ef, 4 * configured_ef):
        graph.efSearch = ef
        _, ids_ef = hnsw.search(qv, RECALL_K)
        lat = [_timed(lambda q=q: hnsw.search(q, k))[1] for q in qs]
        sweep.append({"ef_search": ef, "recall_at_10": recall_at_k(ids_ef, e_ids),
                      "query_ms": percentiles(lat)})
    graph.efSearch = configured_ef
    res["hnsw"]["ef_sweep"] = sweep

    gc.collect()
    before = memory_mb()["vmrss_mb"]
    kw = BM25KeywordIndex()
    _, ms = _timed(lambda: kw.add(list(range(n)), syn.tokens))
    qtok = [tok.tokens(q) for q in questions]
    lat = [_timed(lambda t=t: kw.search(t, k))[1] for t in qtok]
    res["bm25"] = {"tokenize_s": round(syn.tokenize_seconds, 2),
                   "tokenize_uncached_projected_s": round(per_chunk_s * n, 1),
                   "build_s": round(ms / 1000, 3), "query_ms": percentiles(lat),
                   "rss_delta_mb": round(memory_mb()["vmrss_mb"] - before, 1)}

    # A snapshot shaped like a real index: one document per synthetic chunk (offsets hold).
    docs: dict[str, Document] = {}
    chunks: list[Chunk] = []
    for i, (text, title) in enumerate(zip(syn.texts, syn.titles, strict=True)):
        bm = base.docs[base.chunks[int(syn.base_rows[i])].doc_id].meta
        did = f"syn{i:06d}"
        docs[did] = Document(did, text, DocMeta(did, title, bm.date, source=bm.source),
                             ((0, len(text)),), ((0, len(text)),))
        chunks.append(Chunk(f"{did}#0", did, 0, len(text), text))
    manifest = replace(base.manifest, n_docs=n, n_chunks=n, ann="exact")
    res["hybrid"] = {}
    corrector = None
    ann_used = "hnsw" if settings.ann == "hnsw" or (settings.ann == "auto"
                                                    and n >= settings.ann_threshold) else "exact"
    pairs = [("exact", exact), ("hnsw", hnsw)]
    pairs.sort(key=lambda kv: kv[0] != ann_used)  # the configured one first, on every question
    for kind, dense in pairs:
        # Each synthetic document is one sentence, the chunk itself: its sentence vector is
        # the chunk vector, so the sentence stage is timed at full size too.
        snap = IndexSnapshot(base.path, replace(manifest, ann=kind), docs, chunks, syn.vectors,
                             dense, kw, sentence_vectors=syn.vectors)
        r = Retriever(snap, enc, settings, tok)
        if corrector is not None:
            r._corrector = corrector  # same texts: building it twice only costs time
        _, warm_ms = _timed(lambda r=r: r.search(questions[0], method="hybrid"))
        corrector = r.corrector()
        lat, stages = [], {}
        for q in (questions if kind == ann_used else questions[:ALT_HYBRID_QUESTIONS]):
            out, ms = _timed(lambda q=q, r=r: r.search(q, method="hybrid"))
            lat.append(ms)
            for name, v in out.timings_ms:
                stages.setdefault(name, []).append(v)
        res["hybrid"][kind] = {"query_ms": percentiles(lat), "first_query_ms": round(warm_ms, 1),
                               "stage_p50_ms": {k: percentiles(v)["p50"]
                                                for k, v in stages.items()}}
    res["hybrid"]["configured_ann"] = ann_used
    gc.collect()
    mem = memory_mb()
    res["rss"] = {"vmrss_mb": mem["vmrss_mb"], "vmhwm_mb": mem["vmhwm_mb"],
                  "model_and_base_mb": mem0, "note": "one process holding the model, both "
                  "dense indexes, BM25 and the documents; VmHWM includes the build"}
    return res


def _serve_worker(cfg: dict) -> dict:
    """A fresh serving process: time the first answer, answer more, report its own RSS."""
    t_start = time.perf_counter()
    from .pipeline import Pipeline

    t_import = time.perf_counter()
    questions = cfg["questions"]
    p = Pipeline(Settings.load())
    p.ensure_index()
    first = p.ask(questions[0])
    t_first = time.perf_counter()
    for q in questions[1:]:
        p.ask(q)  # retrieval (dense + BM25) and the answerer's sentence embedding
    mem = memory_mb()
    return {"import_s": round(t_import - t_start, 3),
            "first_answer_s": round(t_first - t_import, 3),
            "first_answer_refused": first.refused,
            "questions": len(questions), **mem}


def _run_worker(role: str, cfg: dict, env: dict[str, str], timeout: float) -> dict:
    """Run ``python -m rag.bench ROLE CONFIG`` and parse its last stdout line as JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False)
        cfg_path = f.name
    try:
        proc = subprocess.run([sys.executable, "-m", "rag.bench", role, cfg_path], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RagError(f"The bench's {role} step took over {timeout:.0f} s; try a smaller "
                       "--scale.") from None
    finally:
        os.unlink(cfg_path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RagError(f"The bench's {role} step failed ({tail[:200]}); run it again with "
                       "the same settings to see the full error.")
    return json.loads(lines[-1])


def _child_env(s: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"RAG_HOME": str(s.home), "RAG_CORPUS_DIR": str(s.corpus_dir),
                "RAG_INDEX_DIR": str(s.index_dir), "RAG_EVAL_DIR": str(s.eval_dir),
                "RAG_MODELS_DIR": str(s.models_dir), "RAG_MODEL": str(s.model),
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    env["PYTHONPATH"] = os.pathsep.join(x for x in (_ROOT_FOR_SUBPROCESS,
                                                    env.get("PYTHONPATH", "")) if x)
    return env


# ----------------------------------------------------------------------------- the run
def run_bench(settings: Settings, scales: Sequence[int] = (10_000, 100_000),
              max_questions: int | None = None, seed: int = SEED,
              log: Callable[[str], None] = _log) -> dict:
    """Measure everything (see the module docstring) and return the raw numbers as a dict.

    The corpus folder is only read; the index is built in a temporary folder, so the live
    index and a running server are not disturbed.
    """
    from .embed import get_encoder
    from .evaluate import NaiveRetriever, raw_corpus
    from .pipeline import Pipeline

    questions = load_question_texts(settings)[: max_questions or None]
    t_all = time.perf_counter()
    result: dict[str, Any] = {
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
                 "machine": platform.machine(), "cpus": len(os.sched_getaffinity(0)),
                 "model": str(settings.model), "questions": len(questions), "seed": seed,
                 "scales": list(scales), "loadavg_start": _loadavg()},
        "targets": dict(TARGETS),
    }
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        s = settings.replace(home=Path(tmp), index_dir=Path(tmp) / "index",
                             eval_dir=Path(tmp) / "eval", feedback_path=Path(tmp) / "fb.jsonl",
                             corpus_dir=settings.corpus_dir, models_dir=settings.models_dir,
                             model=settings.model)

        log("loading the embedding model")
        enc = get_encoder(s)
        _, first_ms = _timed(lambda: enc.encode(["预热"], kind="query"))
        result["model"] = {"model_id": enc.model_id, "dim": enc.dim,
                           "runtime": getattr(enc, "runtime", None) or "hash",
                           "first_encode_s": round(first_ms / 1000, 3),
                           "load_s": round(float(getattr(enc, "load_seconds", 0.0) or 0.0), 3)}

        log("building the index (every chunk embedded)")
        p = Pipeline(s, encoder=enc)
        rep, build_ms = _timed(lambda: p.build_index(rebuild=True))
        m = rep.manifest
        result["build"] = {"docs": m.n_docs, "chunks": m.n_chunks,
                           "sentences": m.n_sentences,
                           "seconds": round(build_ms / 1000, 3),
                           "embed_seconds": m.embed_seconds,
                           "chunks_per_s": round(m.n_chunks / (build_ms / 1000), 1)}

        log(f"warm latency over {len(questions)} questions")
        p.warm_up()
        p.ask(questions[0])
        lat: dict[str, Any] = {}
        # Each pass starts with an empty query-vector cache: otherwise every pass after the
        # first would time cache hits, not encoding.
        for method in ("hybrid", "dense", "bm25"):
            p.retriever().clear_query_cache()
            lat[f"search_{method}"] = percentiles(
                [_timed(lambda q=q, m=method: p.search(q, method=m))[1] for q in questions])
        p.retriever().clear_query_cache()
        lat["ask"] = percentiles([_timed(lambda q=q: p.ask(q))[1] for q in questions])
        result["latency_ms"] = lat

        log("naive pipeline (raw text, 500-char windows, dense only)")
        raw, raw_ms = _timed(lambda: raw_corpus(p))
        naive, naive_ms = _timed(lambda: NaiveRetriever(raw, enc))
        naive.search(questions[0])
        nlat = [_timed(lambda q=q: naive.search(q, k=s.top_k))[1] for q in questions]
        nq = percentiles(nlat)
        result["naive"] = {
            "chunks": len(naive.chunks), "read_s": round(raw_ms / 1000, 3),
            "build_s": round(naive_ms / 1000, 3),
            "chunks_per_s": round(len(naive.chunks) / (naive_ms / 1000), 1),
            "query_ms": nq,
            "ratios_ours_over_naive": {
                "build_s": _ratio(build_ms, naive_ms),
                "hybrid_p50": _ratio(lat["search_hybrid"]["p50"], nq["p50"]),
                "dense_p50": _ratio(lat["search_dense"]["p50"], nq["p50"]),
                "ask_p50": _ratio(lat["ask"]["p50"], nq["p50"]),
            },
        }

        env = _child_env(s)
        log("cold start: fresh `python -m rag ask` process")
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "rag", "ask", questions[0], "--json"],
                              env=env, capture_output=True, text=True, timeout=600)
        cold_s = time.perf_counter() - t
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RagError(f"The cold-start `rag ask` failed ({tail[:200]}).")
        answer = json.loads(proc.stdout)
        log("serving process RSS")
        serve = _run_worker("serve", {"questions": questions[:SERVING_QUESTIONS]}, env, 900)
        result["cold_start"] = {"subprocess_s": round(cold_s, 3),
                                "in_process_s": serve["first_answer_s"],
                                "import_s": serve["import_s"],
                                "answer_chars": len(answer.get("answer", "")),
                                "note": "files in the OS page cache (warm disk, cold process)"}
        result["serving"] = {k: serve[k] for k in ("vmhwm_mb", "vmrss_mb", "ru_maxrss_mb",
                                                   "questions")}
        result["serving"]["ok"] = serve["vmhwm_mb"] <= TARGETS["serving_rss_mb"]

        result["scale"] = []
        for n in scales:
            log(f"scale: {n} chunks (synthetic)")
            cfg = {"n": n, "seed": seed, "sigma": NOISE_SIGMA, "questions": questions,
                   "candidates": max(s.candidates, s.top_k), "index_dir": str(s.index_dir)}
            r = _run_worker("scale", cfg, env, 1800)
            r["ok"] = _scale_ok(r) if n >= SCALE_TARGET_N else None
            result["scale"].append(r)
        result["bench_process"] = memory_mb()
    result["meta"]["total_s"] = round(time.perf_counter() - t_all, 1)
    result["meta"]["loadavg_end"] = _loadavg()
    return result


def _loadavg() -> list[float]:
    # Other work on the machine inflates every latency; the report says how busy it was.
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def _scale_ok(r: dict) -> bool:
    hyb = r["hybrid"][r["hybrid"]["configured_ann"]]["query_ms"]["p50"]
    return hyb <= TARGETS["scale_hybrid_p50_ms"] and r["rss"]["vmhwm_mb"] <= TARGETS["scale_rss_mb"]


# ----------------------------------------------------------------------------- report
def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(r: dict, chart: str | None = "bench.png") -> str:
    """The human report: every table of ``r`` plus the chart."""
    meta, lat, b, nv = r["meta"], r["latency_ms"], r["build"], r["naive"]
    out = [f"# rag bench\n\nRun {meta['started']} on {meta['cpus']} CPU(s), Python "
           f"{meta['python']}, model `{Path(meta['model']).name}`, {meta['questions']} "
           f"questions, {meta['total_s']} s in all. Raw numbers: `bench.json`; rerun with "
           "`rag bench`.\n",
           f"Load average (1/5/15 min) {meta.get('loadavg_start')} at the start and "
           f"{meta.get('loadavg_end')} at the end: other processes shared the CPUs, which "
           "inflates latencies; the ours/naive ratios, measured in the same run, stay "
           "comparable.\n"]
    out.append("## Five articles\n")
    out.append(_md_table(["figure", "value"], [
        ["model load (first encode)", f"{r['model']['first_encode_s']} s ({r['model'].get('runtime', 'torch')})"],
        ["index build, all chunks and sentences embedded",
         f"{b['seconds']} s ({b['docs']} articles, {b['chunks']} chunks, "
         f"{b.get('sentences', 0)} sentences, {b['chunks_per_s']} chunks/s)"],
        ["cold start, `python -m rag ask --json` end to end",
         f"{r['cold_start']['subprocess_s']} s"],
        ["cold start inside a fresh process (model + index + first answer)",
         f"{r['cold_start']['in_process_s']} s (+{r['cold_start']['import_s']} s imports)"],
        ["serving process peak RSS (VmHWM)",
         f"{r['serving']['vmhwm_mb']} MB (target ≤ {TARGETS['serving_rss_mb']} MB: "
         f"{'met' if r['serving']['ok'] else 'MISSED'})"],
    ]))
    out.append("\n### Warm latency (ms)\n")
    out.append(_md_table(["operation", "p50", "p95", "p99", "n"], [
        [k, v["p50"], v["p95"], v["p99"], v["n"]] for k, v in lat.items()]
        + [["naive search (dense)", nv["query_ms"]["p50"], nv["query_ms"]["p95"],
            nv["query_ms"]["p99"], nv["query_ms"]["n"]]]))
    ratios = nv["ratios_ours_over_naive"]
    out.append("\n### Ours vs the naive pipeline (same run, same embedder)\n")
    out.append(_md_table(["figure", "ours", "naive", "ours/naive"], [
        ["build (s)", b["seconds"], nv["build_s"], ratios["build_s"]],
        ["chunks", b["chunks"], nv["chunks"], _ratio(b["chunks"], nv["chunks"])],
        ["search p50 (ms), hybrid vs naive dense", lat["search_hybrid"]["p50"],
         nv["query_ms"]["p50"], ratios["hybrid_p50"]],
        ["search p50 (ms), dense vs naive dense", lat["search_dense"]["p50"],
         nv["query_ms"]["p50"], ratios["dense_p50"]],
        ["answer p50 (ms) vs naive search", lat["ask"]["p50"], nv["query_ms"]["p50"],
         ratios["ask_p50"]],
    ]))
    if r["scale"]:
        out.append("\n## Scale (synthetic chunks)\n")
        out.append(
            "Chunks are perturbed copies of the real ones (districts swapped, years shifted, "
            "other numbers scaled, sentences shuffled; seed "
            f"{meta['seed']}). Embedding 100k chunks with the real model would take about an "
            "hour on 2 cores, so a copy's **vector is its original's plus Gaussian noise** "
            f"(σ={r['scale'][0]['noise_sigma']} per dimension, renormalised); BM25 indexes the "
            "perturbed texts. Query latencies use the real questions; hybrid runs through "
            "`Retriever.search` (query encoding, typo correction, dense + BM25, RRF).\n")
        rows = []
        for s in r["scale"]:
            hy = s["hybrid"]
            rows.append([s["n_chunks"], s["exact"]["build_s"], s["exact"]["query_ms"]["p50"],
                         s["exact"]["query_ms"]["p95"], s["exact"]["query_ms_1thread"]["p50"], s["hnsw"]["build_s"],
                         s["hnsw"]["query_ms"]["p50"], s["hnsw"]["query_ms"]["p95"],
                         s["hnsw"]["recall_at_10"], s["bm25"]["build_s"],
                         s["bm25"]["query_ms"]["p50"], s["bm25"]["query_ms"]["p95"],
                         hy["exact"]["query_ms"]["p50"], hy["hnsw"]["query_ms"]["p50"],
                         s["rss"]["vmrss_mb"], s["rss"]["vmhwm_mb"]])
        out.append(_md_table(
            ["chunks", "exact build s", "exact p50 ms", "exact p95 ms",
             "exact p50 ms (1 thread)", "HNSW build s",
             "HNSW p50 ms", "HNSW p95 ms", "HNSW recall@10", "BM25 build s", "BM25 p50 ms",
             "BM25 p95 ms", "hybrid p50 ms (exact)", "hybrid p50 ms (HNSW)", "RSS MB",
             "peak RSS MB"], rows))
        out.append("\nMemory added by each structure (RSS delta, MB) and BM25 tokenisation "
                   "(jieba; memoised per sentence in the bench, projected without memo):\n")
        out.append(_md_table(["chunks", "exact", "HNSW", "BM25", "tokenise s (memo)",
                              "tokenise s (projected, no memo)"],
                             [[s["n_chunks"], s["exact"]["rss_delta_mb"],
                               s["hnsw"]["rss_delta_mb"], s["bm25"]["rss_delta_mb"],
                               s["bm25"]["tokenize_s"],
                               s["bm25"]["tokenize_uncached_projected_s"]]
                              for s in r["scale"]]))
        out.append("\nWhere a hybrid query's time goes (stage p50, ms, configured index), the "
                   "first query after loading (it builds the typo corrector), and HNSW with a "
                   "wider search (`efSearch`):\n")
        rows = []
        for s in r["scale"]:
            h = s["hybrid"][s["hybrid"]["configured_ann"]]
            st = h["stage_p50_ms"]
            sweep = ", ".join(f"ef {x['ef_search']}: recall {x['recall_at_10']}, "
                              f"p50 {x['query_ms']['p50']} ms" for x in s["hnsw"]["ef_sweep"])
            rows.append([s["n_chunks"], st.get("prepare"), st.get("dense"), st.get("bm25"),
                         st.get("fuse"), h["first_query_ms"],
                         f"ef {s['hnsw']['ef_search']}: recall {s['hnsw']['recall_at_10']} "
                         f"(same source passage: {s['hnsw']['source_recall_at_10']}); {sweep}"])
        out.append(_md_table(["chunks", "prepare (typo corrector)", "dense (encode + FAISS)",
                              "bm25", "fuse", "first query ms", "HNSW recall@10"], rows))
        out.append(f"\nThe hybrid column for the index that is not configured uses the first "
                   f"{ALT_HYBRID_QUESTIONS} questions.")
        big = [s for s in r["scale"] if s["n_chunks"] >= SCALE_TARGET_N]
        for s in big:
            ann = s["hybrid"]["configured_ann"]
            out.append(f"\nTargets at {s['n_chunks']} chunks: hybrid p50 "
                       f"{s['hybrid'][ann]['query_ms']['p50']} ms with the configured "
                       f"`{ann}` index (target ≤ {TARGETS['scale_hybrid_p50_ms']} ms), peak RSS "
                       f"{s['rss']['vmhwm_mb']} MB (target ≤ {TARGETS['scale_rss_mb']} MB): "
                       f"**{'met' if s['ok'] else 'MISSED'}**.")
    if chart:
        out.append(f"\n![latency and build time]({chart})\n")
    return "\n".join(out) + "\n"


def write_chart(r: dict, path: Path) -> None:
    """Two panels: warm latency of each operation; query p50 against corpus size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    names = list(r["latency_ms"]) + ["naive"]
    p50 = [v["p50"] for v in r["latency_ms"].values()] + [r["naive"]["query_ms"]["p50"]]
    p95 = [v["p95"] for v in r["latency_ms"].values()] + [r["naive"]["query_ms"]["p95"]]
    x = np.arange(len(names))
    ax.bar(x - 0.2, p50, 0.4, label="p50")
    ax.bar(x + 0.2, p95, 0.4, label="p95")
    ax.set_xticks(x, [n.replace("search_", "") for n in names])
    ax.set_ylabel("ms")
    ax.set_title(f"Warm latency, {r['build']['chunks']} real chunks")
    ax.legend()
    ax = axes[1]
    if r["scale"]:
        ns = [s["n_chunks"] for s in r["scale"]]
        series = {"exact": [s["exact"]["query_ms"]["p50"] for s in r["scale"]],
                  "HNSW": [s["hnsw"]["query_ms"]["p50"] for s in r["scale"]],
                  "BM25": [s["bm25"]["query_ms"]["p50"] for s in r["scale"]],
                  "hybrid (end to end)": [s["hybrid"][s["hybrid"]["configured_ann"]]
                                          ["query_ms"]["p50"] for s in r["scale"]]}
        for label, ys in series.items():
            ax.plot(ns, ys, marker="o", label=label)
        ax.axhline(TARGETS["scale_hybrid_p50_ms"], color="grey", ls="--", lw=1,
                   label="hybrid target")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks (synthetic)")
        ax.set_ylabel("query p50, ms")
        ax.set_title("Query latency vs corpus size")
        ax.legend(fontsize=8)
    else:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(r: dict, out_md: Path) -> tuple[Path, Path, Path]:
    """Write ``out_md`` and, beside it, ``<stem>.json`` (raw numbers) and ``<stem>.png``."""
    out_md = Path(out_md)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    js, png = out_md.with_suffix(".json"), out_md.with_suffix(".png")
    js.write_text(json.dumps(r, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_chart(r, png)
    out_md.write_text(render_markdown(r, png.name), encoding="utf-8")
    return out_md, js, png


def format_table(r: dict) -> str:
    """A plain-text summary for the terminal."""
    lat = r["latency_ms"]
    lines = [f"model load        {r['model']['first_encode_s']:.2f} s",
             f"index build       {r['build']['seconds']:.2f} s  ({r['build']['chunks']} chunks + "
             f"{r['build'].get('sentences', 0)} sentences, {r['build']['chunks_per_s']} chunks/s; naive {r['naive']['build_s']:.2f} s)",
             f"cold start        {r['cold_start']['subprocess_s']:.2f} s subprocess, "
             f"{r['cold_start']['in_process_s']:.2f} s in process",
             f"serving peak RSS  {r['serving']['vmhwm_mb']:.0f} MB",
             "latency ms        p50 / p95 / p99"]
    for k, v in lat.items():
        lines.append(f"  {k:<15} {v['p50']:>8} / {v['p95']:>8} / {v['p99']:>8}")
    nq = r["naive"]["query_ms"]
    lines.append(f"  {'naive':<15} {nq['p50']:>8} / {nq['p95']:>8} / {nq['p99']:>8}")
    for s in r["scale"]:
        ann = s["hybrid"]["configured_ann"]
        lines.append(f"scale {s['n_chunks']:>7}: exact p50 {s['exact']['query_ms']['p50']} ms, "
                     f"HNSW p50 {s['hnsw']['query_ms']['p50']} ms recall@10 "
                     f"{s['hnsw']['recall_at_10']}, BM25 p50 {s['bm25']['query_ms']['p50']} ms, "
                     f"hybrid p50 {s['hybrid'][ann]['query_ms']['p50']} ms ({ann}), "
                     f"peak RSS {s['rss']['vmhwm_mb']:.0f} MB")
    return "\n".join(lines)


def main_cli(args, settings: Settings) -> int:
    """``rag bench [--json] [--scale 10000,100000] [--out FILE]``: run, print, write report."""
    scales = parse_scales(getattr(args, "scale", "10000,100000"))
    r = run_bench(settings, scales)
    out = Path(args.out) if getattr(args, "out", None) else Path(settings.eval_dir) / "bench.md"
    md, js, png = write_report(r, out)
    if getattr(args, "json", False):
        print(json.dumps(r, ensure_ascii=False))
    else:
        print(format_table(r))
        print(f"report: {md} ({js.name}, {png.name})")
    return 0


def _worker_main(argv: list[str]) -> int:
    role, cfg_path = argv[0], argv[1]
    cfg = json.loads(Path(cfg_path).read_text(encoding="utf-8"))
    fn = {"scale": _scale_worker, "serve": _serve_worker}[role]
    print(json.dumps(fn(cfg), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))


__all__ = ["run_bench", "main_cli", "write_report", "render_markdown", "format_table",
           "synthetic_corpus", "perturb", "recall_at_k", "percentiles", "memory_mb",
           "parse_scales", "CachedTokens"]
