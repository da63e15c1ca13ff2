"""``rag bench``: measure speed and memory in one run and write a report.

What one run measures (all on a private copy of the index, so the live one is untouched):

- model load (the first ``encode`` of the configured encoder), index build of the corpus
  with every chunk embedded (``rebuild``), chunks per second;
- warm latency p50/p95/p99 of ``search`` (hybrid, dense, bm25) and of extractive ``ask``
  over the questions of ``eval/dev.jsonl``;
- cold start to the first answer: a fresh ``python -m rag ask "..." --json`` timed end to
  end, and the same inside a fresh process (model load + index load + first answer);
- peak RSS (``VmHWM``) of a serving process that loads the pipeline and answers questions;
- the naive pipeline of ``rag eval`` (raw text, 500-character windows, dense only) built and
  queried in the same run, with ours/naive ratios that stay comparable on a noisy machine;
- scale: a synthetic corpus of N chunks per ``--scale`` size
  (:mod:`rag.evaluation.bench.synthetic`), indexed and searched in its own process
  (:mod:`rag.evaluation.bench.scale`);
- both index back-ends side by side (``--backends local,milvus``): five articles and
  ``--backend-chunks`` synthetic chunks, search p50/p95, ingest throughput, RSS
  (:mod:`rag.evaluation.bench.backends`).

Example::

    rag bench                      # full run, writes eval/bench.md, bench.json, bench.png
    rag bench --scale 2000 --json  # the quick run the tests use
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.errors import InputError, RagError
from rag.evaluation.baseline import NaiveRetriever, raw_corpus
from rag.evaluation.bench.compare import compare_backends
from rag.evaluation.bench.measure import (
    SCALE_TARGET_N,
    SERVING_QUESTIONS,
    TARGETS,
    latency_stats,
    loadavg,
    log_progress,
    memory_mb,
    ratio,
    timed,
)
from rag.evaluation.bench.report import format_table, write_report
from rag.evaluation.bench.synthetic import NOISE_SIGMA, SEED
from rag.evaluation.bench.worker import child_env, run_worker
from rag.evaluation.questions import load_eval_questions
from rag.models.encoder import get_encoder
from rag.pipeline import Pipeline
from rag.settings import Settings

__all__ = ["main_cli", "parse_scales", "run_bench"]


def parse_scales(spec: str | None) -> list[int]:
    """``"10000,100k"`` -> ``[10000, 100000]``; ``""``/``"0"``/``"none"`` -> no scale run."""
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


def run_bench(settings: Settings, scales: Sequence[int] = (10_000, 100_000),
              max_questions: int | None = None, seed: int = SEED,
              log: Callable[[str], None] = log_progress,
              backends: Sequence[str] = ("local", "milvus"),
              backend_chunks: int = 10_000) -> dict:
    """Measure everything (see the module docstring) and return the raw numbers as a dict.

    The corpus folder is only read; the index is built in a temporary folder, so the live
    index and a running server are not disturbed.
    """
    questions = [q.question for q in load_eval_questions(settings)][: max_questions or None]
    t_all = time.perf_counter()
    result: dict[str, Any] = {
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "python": platform.python_version(), "machine": platform.machine(),
                 "cpus": len(os.sched_getaffinity(0)), "model": str(settings.model),
                 "questions": len(questions), "seed": seed, "scales": list(scales),
                 "loadavg_start": loadavg()},
        "targets": dict(TARGETS),
    }
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        s = settings.replace(home=Path(tmp), index_dir=Path(tmp) / "index",
                             eval_dir=Path(tmp) / "eval", feedback_path=Path(tmp) / "fb.jsonl",
                             corpus_dir=settings.corpus_dir, models_dir=settings.models_dir,
                             model=settings.model)
        log("loading the embedding model")
        enc = get_encoder(s)
        result["model"] = _model_load(enc)
        log("building the index (every chunk embedded)")
        p = Pipeline(s, encoder=enc)
        result["build"], build_ms = _build(p)
        log(f"warm latency over {len(questions)} questions")
        result["latency_ms"] = _warm_latency(p, questions)
        log("naive pipeline (raw text, 500-char windows, dense only)")
        result["naive"] = _naive(p, enc, questions, result["latency_ms"], build_ms)
        env = child_env(s)
        result.update(_cold_start_and_serving(questions, env, log))
        result["scale"] = []
        for n in scales:
            log(f"scale: {n} chunks (synthetic)")
            cfg = {"n": n, "seed": seed, "sigma": NOISE_SIGMA, "questions": questions,
                   "candidates": max(s.candidates, s.top_k), "index_dir": str(s.index_dir)}
            r = run_worker("scale", cfg, env, 1800)
            r["ok"] = _scale_ok(r) if n >= SCALE_TARGET_N else None
            result["scale"].append(r)
        result["backends"] = compare_backends(backends, questions, backend_chunks, env, log)
        result["bench_process"] = memory_mb()
    result["meta"]["total_s"] = round(time.perf_counter() - t_all, 1)
    result["meta"]["loadavg_end"] = loadavg()
    return result


def _model_load(enc) -> dict:
    _, first_ms = timed(lambda: enc.encode(["预热"], kind="query"))
    return {"model_id": enc.model_id, "dim": enc.dim,
            "runtime": getattr(enc, "runtime", None) or "hash",
            "first_encode_s": round(first_ms / 1000, 3),
            "load_s": round(float(getattr(enc, "load_seconds", 0.0) or 0.0), 3)}


def _build(p: Pipeline) -> tuple[dict, float]:
    rep, build_ms = timed(lambda: p.build_index(rebuild=True))
    m = rep.manifest
    return {"docs": m.n_docs, "chunks": m.n_chunks, "sentences": m.n_sentences,
            "seconds": round(build_ms / 1000, 3), "embed_seconds": m.embed_seconds,
            "chunks_per_s": round(m.n_chunks / (build_ms / 1000), 1)}, build_ms


def _warm_latency(p: Pipeline, questions: list[str]) -> dict:
    p.warm_up()
    p.ask(questions[0])
    lat: dict[str, Any] = {}
    # Each pass starts with an empty query-vector cache: otherwise every pass after the
    # first would time cache hits, not encoding.
    for method in ("hybrid", "dense", "bm25"):
        p.retriever().clear_query_cache()
        lat[f"search_{method}"] = latency_stats(
            [timed(lambda q=q, m=method: p.search(q, method=m))[1] for q in questions])
    p.retriever().clear_query_cache()
    lat["ask"] = latency_stats([timed(lambda q=q: p.ask(q))[1] for q in questions])
    return lat


def _naive(p: Pipeline, enc, questions: list[str], lat: dict, build_ms: float) -> dict:
    """The naive baseline built and queried, with ratios of ours (``lat``, ``build_ms``)
    over it."""
    raw, raw_ms = timed(lambda: raw_corpus(p))
    naive, naive_ms = timed(lambda: NaiveRetriever(raw, enc))
    naive.search(questions[0])
    nq = latency_stats(
        [timed(lambda q=q: naive.search(q, k=p.settings.top_k))[1] for q in questions])
    return {
        "chunks": len(naive.chunks), "read_s": round(raw_ms / 1000, 3),
        "build_s": round(naive_ms / 1000, 3),
        "chunks_per_s": round(len(naive.chunks) / (naive_ms / 1000), 1),
        "query_ms": nq,
        "ratios_ours_over_naive": {
            "build_s": ratio(build_ms, naive_ms),
            "hybrid_p50": ratio(lat["search_hybrid"]["p50"], nq["p50"]),
            "dense_p50": ratio(lat["search_dense"]["p50"], nq["p50"]),
            "ask_p50": ratio(lat["ask"]["p50"], nq["p50"]),
        },
    }


def _cold_start_and_serving(questions: list[str], env: dict[str, str],
                            log: Callable[[str], None]) -> dict:
    """A fresh ``rag ask`` process timed end to end, then a serving process's own figures."""
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
    serve = run_worker("serve", {"questions": questions[:SERVING_QUESTIONS]}, env, 900)
    serving = {k: serve[k] for k in ("vmhwm_mb", "vmrss_mb", "ru_maxrss_mb", "questions")}
    serving["ok"] = serve["vmhwm_mb"] <= TARGETS["serving_rss_mb"]
    return {"cold_start": {"subprocess_s": round(cold_s, 3),
                           "in_process_s": serve["first_answer_s"],
                           "import_s": serve["import_s"],
                           "answer_chars": len(answer.get("answer", "")),
                           "note": "files in the OS page cache (warm disk, cold process)"},
            "serving": serving}


def _scale_ok(r: dict) -> bool:
    hyb = r["hybrid"][r["hybrid"]["configured_ann"]]["query_ms"]["p50"]
    return hyb <= TARGETS["scale_hybrid_p50_ms"] and r["rss"]["vmhwm_mb"] <= TARGETS["scale_rss_mb"]


def main_cli(args, settings: Settings) -> int:
    """``rag bench [--json] [--scale 10000,100000] [--out FILE]``: run, print, write report."""
    scales = parse_scales(getattr(args, "scale", "10000,100000"))
    backends = [b for b in (getattr(args, "backends", "local,milvus") or "").split(",") if b]
    unknown = [b for b in backends if b not in ("local", "milvus")]
    if unknown:
        raise InputError(f"--backends takes local and/or milvus, not {unknown[0]!r}.")
    chunks = parse_scales(str(getattr(args, "backend_chunks", 10_000)))
    r = run_bench(settings, scales, backends=backends,
                  backend_chunks=chunks[0] if chunks else 10_000)
    out = Path(args.out) if getattr(args, "out", None) else Path(settings.eval_dir) / "bench.md"
    md, js, png = write_report(r, out)
    if getattr(args, "json", False):
        print(json.dumps(r, ensure_ascii=False))
    else:
        print(format_table(r))
        print(f"report: {md} ({js.name}, {png.name})")
    return 0
