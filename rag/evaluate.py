"""Evaluation: retrieval and answer quality on a question file, run files and a report.

Every quality claim in this project comes from here. Each method ranks ``EVAL_K`` chunks per
question; a chunk is *relevant* when its text contains one of the question's evidence strings
(both folded by :func:`rag.evalset.normalize`, because the corpus text is damaged). Methods:

- ``bm25``, ``dense``, ``hybrid``: the project's retriever (``Pipeline.search``);
- ``hybrid-weighted``: the same with ``fusion="weighted"``, to compare fusions;
- ``naive``: what a tutorial would build: raw files, fixed 500-character windows with 50
  overlap, the same encoder, exact inner product. It is the baseline every gain is quoted from.

Outputs (``write_report``): ``run.<method>.trec`` (``qid Q0 chunk_id rank score tag``),
``answers.jsonl``, ``summary.json`` (reproducible: no timestamps, no latencies),
``latency.json``, ``report.md`` and ``chart.png``. From the shell::

    rag eval --methods naive,bm25,dense,hybrid --report eval/report
    python -m rag.evaluate --write-expected     # refresh eval/expected.json (the guard's floor)

The metric functions are pure and take ranked chunk texts, e.g.
``recall_at_k(q, ["...新增大模型和算法备案项目超200个...", "..."], 1) -> 1.0``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, RagError
from .evalset import Question, load_questions, normalize, report_problems, validate
from .settings import Settings

K_VALUES = (1, 3, 5, 10)
EVAL_K = 10  # chunks ranked per question; MRR and nDCG are @10
PREFIX_CHARS = 1000  # "recall within the first 1000 characters" budget
NAIVE_WINDOW = 500
NAIVE_OVERLAP = 50
DEFAULT_METHODS = ("naive", "bm25", "dense", "hybrid")
METHODS = (*DEFAULT_METHODS, "hybrid-weighted")
ROUND = 4  # summary figures are rounded so float noise never changes summary.json
TOLERANCE = 0.01  # how far a guarded figure may move the wrong way
EXPECTED_FIGURES = {  # dotted path into summary.json -> which direction is better
    "retrieval.hybrid.all.recall@5": "higher",
    "retrieval.hybrid.all.mrr@10": "higher",
    "retrieval.hybrid.all.top1_article": "higher",
    "answers.all.accuracy": "higher",
    "answers.all.refusal_rate": "higher",
    "answers.all.false_refusal_rate": "lower",
}
_MARKER = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class Ranked:
    """One ranked chunk as the metrics and run files see it."""

    chunk_id: str
    doc_id: str
    text: str
    score: float


# ----------------------------------------------------------------------------- metrics


def _found(evidence: Sequence[str], texts: Iterable[str]) -> list[bool]:
    """For each evidence string: is it inside one of ``texts`` (each text checked alone)?"""
    norm_texts = [normalize(t) for t in texts]
    return [any(normalize(ev) in t for t in norm_texts) for ev in evidence]


def evidence_score(q: Question, texts: Iterable[str]) -> float:
    """How much of ``q``'s evidence ``texts`` hold: the share of evidence strings for a
    question over several articles (each article must be found), else 1.0 if any is found.

    >>> q = Question("x", "?", ("a", "b"), ("甲乙", "丙丁"), "", ("甲",), "multi_doc")
    >>> evidence_score(q, ["…甲 乙…"])
    0.5
    """
    if not q.evidence:
        return 0.0
    found = _found(q.evidence, texts)
    if len(set(q.doc)) > 1:
        return sum(found) / len(found)
    return 1.0 if any(found) else 0.0


def is_relevant(q: Question, text: str) -> bool:
    """A chunk is relevant when it contains any of ``q``'s evidence strings."""
    return any(_found(q.evidence, [text]))


def recall_at_k(q: Question, texts: Sequence[str], k: int) -> float:
    """Evidence recall of the first ``k`` ranked chunk texts."""
    return evidence_score(q, texts[:k])


def prefix_texts(texts: Sequence[str], chars: int = PREFIX_CHARS) -> list[str]:
    """The ranked texts cut so their concatenation is ``chars`` long, kept per chunk.

    Kept per chunk so evidence is never "found" across the seam of two unrelated chunks.

    >>> prefix_texts(["abcd", "efgh", "ijkl"], 6)
    ['abcd', 'ef']
    """
    out, left = [], chars
    for t in texts:
        if left <= 0:
            break
        out.append(t[:left])
        left -= len(t)
    return out


def prefix_recall(q: Question, texts: Sequence[str], chars: int = PREFIX_CHARS) -> float:
    """Evidence recall within the first ``chars`` characters of ranked text.

    Fair across chunk sizes: a method with long chunks gets fewer of them.
    """
    return evidence_score(q, prefix_texts(texts, chars))


def reciprocal_rank(q: Question, texts: Sequence[str], k: int = EVAL_K) -> float:
    """1 / rank of the first relevant chunk within the first ``k``, else 0."""
    for i, t in enumerate(texts[:k], start=1):
        if is_relevant(q, t):
            return 1.0 / i
    return 0.0


def ndcg_at_k(q: Question, texts: Sequence[str], n_relevant: int, k: int = EVAL_K) -> float:
    """nDCG@k with binary gains; the ideal ranking has ``n_relevant`` relevant chunks on top.

    ``n_relevant`` is how many chunks of the method's whole collection contain evidence, so a
    method that splits the evidence over more chunks needs to rank all of them.
    """
    dcg = sum(1.0 / math.log2(i + 1)
              for i, t in enumerate(texts[:k], start=1) if is_relevant(q, t))
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(n_relevant, k) + 1))
    return dcg / ideal if ideal > 0 else 0.0


def top1_article(q: Question, doc_ids: Sequence[str]) -> float:
    """1.0 when the top chunk comes from one of the question's articles."""
    return 1.0 if doc_ids and doc_ids[0] in q.doc else 0.0


def strip_markers(text: str) -> str:
    """Answer text without its ``[n]`` citation markers."""
    return _MARKER.sub("", text)


def answer_correct(q: Question, text: str, refused: bool) -> bool:
    """An answer is correct when it is not a refusal and contains every answer key."""
    if refused or not q.answerable:
        return False
    got = normalize(strip_markers(text))
    return all(normalize(k) in got for k in q.answer_keys)


def canonical_order(ranked: Iterable[Ranked]) -> list[Ranked]:
    """Sort by ``(-score, chunk_id)``: the run-file convention, so ties never depend on
    the order an index happened to return them in."""
    return sorted(ranked, key=lambda r: (-r.score, r.chunk_id))


def write_trec(path: Path, runs: Mapping[str, Sequence[Ranked]], tag: str) -> None:
    """Write a TREC run file ``qid Q0 chunk_id rank score tag``, ties broken by
    ``(-score, chunk_id)``; questions in the order given."""
    lines = []
    for qid, ranked in runs.items():
        for rank, r in enumerate(canonical_order(ranked), start=1):
            lines.append(f"{qid} Q0 {r.chunk_id} {rank} {r.score:.6f} {tag}\n")
    Path(path).write_text("".join(lines), encoding="utf-8")


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds (linear interpolation), rounded to 0.01 ms."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "n": 0}
    a = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(a, 50)), 2),
            "p95": round(float(np.percentile(a, 95)), 2), "n": len(values)}


# ----------------------------------------------------------------------------- naive baseline


class NaiveRetriever:
    """The tutorial pipeline: raw text, fixed windows, dense only, exact inner product.

    Passages get the encoder's passage prefix and no title context, unlike the project's
    index, so the gap to it shows what cleaning, sentence chunks, titles and BM25 buy.
    """

    def __init__(self, raw_texts: Mapping[str, str], encoder, size: int = NAIVE_WINDOW,
                 overlap: int = NAIVE_OVERLAP) -> None:
        from .chunk import fixed_windows

        self.encoder = encoder
        self.chunks = [c for doc_id in sorted(raw_texts)
                       for c in fixed_windows(doc_id, raw_texts[doc_id], size, overlap)]
        self.vectors = encoder.encode([c.text for c in self.chunks], kind="passage")

    def search(self, query: str, k: int = EVAL_K) -> tuple[list[Ranked], dict[str, float]]:
        """Top ``k`` windows for ``query`` and the stage timings in ms."""
        t0 = time.perf_counter()
        qv = self.encoder.encode([query], kind="query")[0]
        t1 = time.perf_counter()
        scores = self.vectors @ qv  # inner product = cosine on unit vectors
        rows = np.arange(len(scores))
        top = rows[np.lexsort((rows, -scores))][:k]
        out = [Ranked(self.chunks[i].chunk_id, self.chunks[i].doc_id, self.chunks[i].text,
                      float(scores[i])) for i in top]
        t2 = time.perf_counter()
        return canonical_order(out), {"dense": (t1 - t0) * 1000, "search": (t2 - t1) * 1000}


def raw_corpus(pipeline) -> dict[str, str]:
    """Raw text of every indexed article's file (``rag.ingest.read_raw``), by doc id."""
    from .ingest import read_raw

    corpus_dir = Path(pipeline.settings.corpus_dir)
    out = {}
    for doc_id, doc in sorted(pipeline.snapshot.docs.items()):
        path = corpus_dir / doc.meta.file if doc.meta.file else None
        if path is None or not path.is_file():
            path = next(iter(sorted(corpus_dir.glob(f"{doc_id}.*"))), None)
        if path is None:
            raise InputError(f"The corpus file of article {doc_id!r} is missing from "
                             f"{corpus_dir}; run `rag ingest` to re-index.")
        out[doc_id] = read_raw(path)
    return out


# ----------------------------------------------------------------------------- running


@dataclass
class EvalResult:
    """Everything one run produced; ``summary`` is what must be reproducible."""

    summary: dict
    latency: dict
    runs: dict[str, dict[str, list[Ranked]]] = field(default_factory=dict)
    answers: list[dict] = field(default_factory=list)


def _mean(xs: Sequence[float]) -> float:
    return round(sum(xs) / len(xs), ROUND) if xs else 0.0


def _groups(questions: Sequence[Question]) -> dict[str, dict[str, list[int]]]:
    """Question indices by type and by tag (sorted keys, so the summary is stable)."""
    by_type: dict[str, list[int]] = {}
    by_tag: dict[str, list[int]] = {}
    for i, q in enumerate(questions):
        by_type.setdefault(q.type, []).append(i)
        for t in q.tags:
            by_tag.setdefault(t, []).append(i)
    return {"by_type": dict(sorted(by_type.items())), "by_tag": dict(sorted(by_tag.items()))}


def retrieval_metrics(q: Question, ranked: Sequence[Ranked], n_relevant: int) -> dict[str, float]:
    """All retrieval figures of one question for one ranking."""
    texts = [r.text for r in ranked]
    m = {f"recall@{k}": recall_at_k(q, texts, k) for k in K_VALUES}
    m[f"recall@{PREFIX_CHARS}ch"] = prefix_recall(q, texts)
    m[f"mrr@{EVAL_K}"] = reciprocal_rank(q, texts)
    m[f"ndcg@{EVAL_K}"] = ndcg_at_k(q, texts, n_relevant)
    m["top1_article"] = top1_article(q, [r.doc_id for r in ranked])
    return m


def _aggregate(per_q: Sequence[dict[str, float]]) -> dict[str, float]:
    if not per_q:
        return {"n": 0}
    keys = list(per_q[0])
    return {"n": len(per_q), **{k: _mean([m[k] for m in per_q]) for k in keys}}


def _breakdown(per_q: dict[int, Any], groups: dict[str, dict[str, list[int]]],
               agg: Callable[[list], dict]) -> dict:
    out = {"all": agg(list(per_q.values()))}
    for name, g in groups.items():
        out[name] = {key: agg([per_q[i] for i in idx if i in per_q])
                     for key, idx in g.items() if any(i in per_q for i in idx)}
    return out


def _answer_agg(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    lengths = [r["chars"] for r in rows if not r["refused"]]
    out: dict[str, Any] = {"n": len(rows), "n_answerable": len(ans), "n_unanswerable": len(una)}
    if ans:
        out["accuracy"] = _mean([float(r["correct"]) for r in ans])
        out["false_refusal_rate"] = _mean([float(r["refused"]) for r in ans])
    if una:
        out["refusal_rate"] = _mean([float(r["refused"]) for r in una])
    out["median_chars"] = float(np.median(lengths)) if lengths else 0.0
    return out


def _relevant_counts(questions: Sequence[Question], chunk_texts: Sequence[str]) -> dict[str, int]:
    """For nDCG's ideal: how many chunks of a collection contain each question's evidence."""
    norm = [normalize(t) for t in chunk_texts]
    out = {}
    for q in questions:
        evs = [normalize(e) for e in q.evidence]
        out[q.id] = sum(1 for t in norm if any(e in t for e in evs))
    return out


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="q", file=sys.stderr, disable=not enabled,
                leave=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def run_eval(pipeline, questions: Sequence[Question], methods: Sequence[str] = DEFAULT_METHODS,
             answers: bool = True, questions_file: Path | None = None,
             progress: bool = True) -> EvalResult:
    """Evaluate ``methods`` (and, unless ``answers`` is False, ``pipeline.ask``) on
    ``questions``. The pipeline's index must exist (``pipeline.ensure_index()``)."""
    for m in methods:
        if m not in METHODS:
            raise InputError(f"Unknown eval method {m!r}; use some of {', '.join(METHODS)}.")
    questions = list(questions)
    answerable = {i: q for i, q in enumerate(questions) if q.answerable}
    groups = _groups(questions)
    snap = pipeline.snapshot
    man = snap.manifest
    s = pipeline.settings
    result = EvalResult(summary={}, latency={"search": {}, "answer": {}})
    retrieval: dict[str, dict] = {}
    pipeline_rel = _relevant_counts(answerable.values(), [c.text for c in snap.chunks])
    naive_info: dict[str, Any] = {}

    for method in methods:
        timings: dict[str, list[float]] = {}
        if method == "naive":
            naive = NaiveRetriever(raw_corpus(pipeline), pipeline.encoder)
            rel = _relevant_counts(answerable.values(), [c.text for c in naive.chunks])
            naive_info = {"window": NAIVE_WINDOW, "overlap": NAIVE_OVERLAP,
                          "n_chunks": len(naive.chunks)}

            def search(text: str, naive=naive):
                return naive.search(text, EVAL_K)
        else:
            rel = pipeline_rel
            p = pipeline
            if method == "hybrid-weighted":
                from .pipeline import Pipeline

                p = Pipeline(s.replace(fusion="weighted"), encoder=pipeline.encoder)
            base = "hybrid" if method.startswith("hybrid") else method

            def search(text: str, p=p, base=base):
                res = p.search(text, k=EVAL_K, method=base)
                ranked = [Ranked(h.chunk.chunk_id, h.chunk.doc_id, h.chunk.text, h.score)
                          for h in res.hits]
                return canonical_order(ranked), dict(res.timings_ms)

        run: dict[str, list[Ranked]] = {}
        per_q: dict[int, dict[str, float]] = {}
        with _progress(len(questions), method, progress) as bar:
            for i, q in enumerate(questions):
                t0 = time.perf_counter()
                ranked, stages = search(q.question)
                total = (time.perf_counter() - t0) * 1000
                for k, v in {**stages, "total": total}.items():
                    timings.setdefault(k, []).append(v)
                run[q.id] = ranked
                if i in answerable:
                    per_q[i] = retrieval_metrics(q, ranked, rel[q.id])
                bar.update()
        result.runs[method] = run
        retrieval[method] = _breakdown(per_q, groups, _aggregate)
        if method.startswith("hybrid"):
            retrieval[method]["fusion"] = "weighted" if method == "hybrid-weighted" else s.fusion
        result.latency["search"][method] = {k: percentiles(v) for k, v in timings.items()}

    answer_summary = None
    if answers:
        rows: dict[int, dict] = {}
        timings = {}
        with _progress(len(questions), "answers", progress) as bar:
            for i, q in enumerate(questions):
                t0 = time.perf_counter()
                ans = pipeline.ask(q.question)
                total = (time.perf_counter() - t0) * 1000
                for k, v in {**dict(ans.timings_ms), "wall": total}.items():
                    timings.setdefault(k, []).append(v)
                correct = answer_correct(q, ans.text, ans.refused)
                rows[i] = {"answerable": q.answerable, "refused": ans.refused,
                           "correct": correct, "chars": len(strip_markers(ans.text).strip())}
                result.answers.append({
                    "id": q.id, "question": q.question, "type": q.type, "answer": ans.text,
                    "refused": ans.refused,
                    # What the refusal decision saw; lets refuse_threshold be tuned from the file.
                    "confidence": round(float(getattr(ans, "confidence", 0.0)), ROUND),
                    "citations": [{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id,
                                   "start": c.start, "end": c.end} for c in ans.citations],
                    # For an unanswerable question the right behaviour is to refuse.
                    "correct": correct if q.answerable else ans.refused,
                })
                bar.update()
        answer_summary = _breakdown(rows, groups, _answer_agg)
        result.latency["answer"] = {k: percentiles(v) for k, v in timings.items()}

    type_counts = {t: len(v) for t, v in groups["by_type"].items()}
    tag_counts = {t: len(v) for t, v in groups["by_tag"].items()}
    result.summary = {
        "questions": {
            "file": questions_file.name if questions_file else "",
            "sha256": _sha256(questions_file) if questions_file else "",
            "n": len(questions), "answerable": len(answerable),
            "unanswerable": len(questions) - len(answerable),
            "by_type": type_counts, "by_tag": tag_counts,
        },
        "settings": {
            "model_id": man.model_id, "model_checksum": man.model_checksum,
            "corpus_fingerprint": man.corpus_fingerprint, "n_docs": man.n_docs,
            "n_chunks": man.n_chunks, "chunk_chars": man.chunk_chars,
            "chunk_overlap_sentences": man.chunk_overlap_sentences,
            "passage_context": man.passage_context, "fusion": s.fusion, "rrf_k": s.rrf_k,
            "candidates": s.candidates, "dense_weight": s.dense_weight,
            "bm25_weight": s.bm25_weight, "reranker": Path(s.reranker).name if s.reranker else "",
            "answer_passages": s.answer_passages, "refuse_threshold": s.refuse_threshold,
            "k": EVAL_K, "prefix_chars": PREFIX_CHARS, "naive": naive_info,
        },
        "retrieval": retrieval,
    }
    if answer_summary is not None:
        result.summary["answers"] = answer_summary
    return result


def validate_all(questions: Sequence[Question], pipeline) -> list[str]:
    """Problems of ``questions`` against both the cleaned articles and the raw files.

    Evidence must be in the cleaned text (what retrieval ranks) and in the raw file (what
    the naive baseline ranks), or the comparison is unfair to one of them.
    """
    cleaned = {doc_id: d.text for doc_id, d in pipeline.snapshot.docs.items()}
    problems = [f"[cleaned] {p}" for p in validate(questions, cleaned)]
    problems += [f"[raw] {p}" for p in validate(questions, raw_corpus(pipeline))]
    return problems


# ----------------------------------------------------------------------------- report


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


RETRIEVAL_COLS = (*(f"recall@{k}" for k in K_VALUES), f"recall@{PREFIX_CHARS}ch",
                  f"mrr@{EVAL_K}", f"ndcg@{EVAL_K}", "top1_article")
ANSWER_COLS = ("accuracy", "false_refusal_rate", "refusal_rate", "median_chars")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _gain(summary: dict, method: str, col: str) -> str:
    base = summary["retrieval"].get("naive", {}).get("all", {})
    if method == "naive" or col not in base:
        return "-"
    return f"{summary['retrieval'][method]['all'][col] - base[col]:+.3f}"


def render_markdown(summary: dict, latency: dict, chart: str | None = "chart.png") -> str:
    """The human report: retrieval, answers, by type, latency, the chart."""
    r = summary["retrieval"]
    st = summary["settings"]
    qs = summary["questions"]
    out = ["# Evaluation report", "",
           f"{qs['n']} questions ({qs['answerable']} answerable, {qs['unanswerable']} "
           f"unanswerable) from `{qs['file']}`; model `{st['model_id']}`, chunks of "
           f"~{st['chunk_chars']} characters, fusion `{st['fusion']}`, refuse threshold "
           f"{st['refuse_threshold']}, corpus `{st['corpus_fingerprint']}`.", "",
           "A chunk is relevant when it contains an evidence string (NFKC, whitespace "
           "removed). Recall@k: share of answerable questions whose evidence is in the top k "
           "(multi-document questions score the share of their evidence found). "
           f"Recall@{PREFIX_CHARS}ch counts evidence within the first {PREFIX_CHARS} "
           "characters of ranked text, which is fair across chunk sizes. `naive` = raw text, "
           f"{NAIVE_WINDOW}-character windows with {NAIVE_OVERLAP} overlap, same encoder, "
           "dense only.", "", "## Retrieval", ""]
    rows = [[m, *(r[m]["all"].get(c, "-") for c in RETRIEVAL_COLS),
             _gain(summary, m, "recall@5"), _gain(summary, m, f"mrr@{EVAL_K}")] for m in r]
    out += [_table(["method", *RETRIEVAL_COLS, "Δrecall@5 vs naive", "ΔMRR vs naive"], rows), ""]
    if chart:
        out += [f"![recall and MRR per method]({chart})", ""]
    if "answers" in summary:
        a = summary["answers"]
        out += ["## Answers (extractive, default pipeline)", "",
                "Correct = not refused and contains every answer key (normalised); refusal "
                "rate over unanswerable questions; false refusals over answerable ones; "
                "median length without [n] markers, over answers given.", ""]
        rows = [["all", a["all"]["n"], *(a["all"].get(c, "-") for c in ANSWER_COLS)]]
        rows += [[t, v["n"], *(v.get(c, "-") for c in ANSWER_COLS)]
                 for t, v in {**a.get("by_type", {}), **{f"tag:{k}": v for k, v in
                                                        a.get("by_tag", {}).items()}}.items()]
        out += [_table(["group", "n", *ANSWER_COLS], rows), ""]
    out += ["## Retrieval by question type", ""]
    cols = ("recall@1", "recall@5", f"mrr@{EVAL_K}", "top1_article")
    rows = []
    for m in r:
        for group in ("by_type", "by_tag"):
            for t, v in r[m].get(group, {}).items():
                label = t if group == "by_type" else f"tag:{t}"
                rows.append([m, label, v["n"], *(v.get(c, "-") for c in cols)])
    out += [_table(["method", "group", "n", *cols], rows), ""]
    out += ["## Latency (ms, this run; varies between runs)", ""]
    rows = []
    for m, stages in latency.get("search", {}).items():
        rows += [[f"search {m}", k, v["p50"], v["p95"]] for k, v in stages.items()]
    rows += [["answer", k, v["p50"], v["p95"]] for k, v in latency.get("answer", {}).items()]
    out += [_table(["what", "stage", "p50", "p95"], rows), ""]
    return "\n".join(out)


def write_chart(summary: dict, path: Path) -> None:
    """Grouped bars: recall@1/3/5/10 and MRR@10 for each method."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    metrics = [*(f"recall@{k}" for k in K_VALUES), f"mrr@{EVAL_K}"]
    methods = list(summary["retrieval"])
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(metrics))
    for i, m in enumerate(methods):
        vals = [summary["retrieval"][m]["all"].get(c, 0.0) for c in metrics]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, vals, width, label=m)
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (answerable questions)")
    ax.set_title("Retrieval quality per method")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    # No software/date metadata, so an unchanged run writes an unchanged file.
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def write_report(result: EvalResult, folder: Path) -> None:
    """Write run files, answers.jsonl, summary.json, latency.json, chart.png, report.md."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for method, run in result.runs.items():
        write_trec(folder / f"run.{method}.trec", run, f"rag-{method}")
    if result.answers:
        with open(folder / "answers.jsonl", "w", encoding="utf-8") as f:
            for row in result.answers:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    dump = dict(ensure_ascii=False, indent=2, sort_keys=False)
    (folder / "summary.json").write_text(json.dumps(result.summary, **dump) + "\n",
                                         encoding="utf-8")
    (folder / "latency.json").write_text(json.dumps(result.latency, **dump) + "\n",
                                         encoding="utf-8")
    write_chart(result.summary, folder / "chart.png")
    (folder / "report.md").write_text(render_markdown(result.summary, result.latency) + "\n",
                                      encoding="utf-8")


def format_table(summary: dict) -> str:
    """The compact plain-text table ``rag eval`` prints."""
    cols = (*(f"recall@{k}" for k in K_VALUES), f"recall@{PREFIX_CHARS}ch", f"mrr@{EVAL_K}",
            f"ndcg@{EVAL_K}", "top1_article")
    short = ("R@1", "R@3", "R@5", "R@10", "R@1kch", "MRR", "nDCG", "Top1doc")
    lines = [f"{'method':<16}" + "".join(f"{h:>8}" for h in short)]
    for m, v in summary["retrieval"].items():
        lines.append(f"{m:<16}" + "".join(f"{v['all'].get(c, 0.0):>8.3f}" for c in cols))
    if "answers" in summary:
        a = summary["answers"]["all"]
        lines.append(f"answers: accuracy {a.get('accuracy', 0.0):.3f}, refusal (unanswerable) "
                     f"{a.get('refusal_rate', 0.0):.3f}, false refusal "
                     f"{a.get('false_refusal_rate', 0.0):.3f}, median {a['median_chars']:.0f} "
                     "chars")
    q = summary["questions"]
    lines.append(f"({q['answerable']} answerable / {q['n']} questions)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- guard helpers


def lookup(summary: dict, dotted: str) -> float:
    """``lookup(s, "answers.all.accuracy")`` -> ``s["answers"]["all"]["accuracy"]``."""
    cur: Any = summary
    for part in dotted.split("."):
        cur = cur[part]
    return float(cur)


def expected_from(summary: dict) -> dict:
    """The guarded figures of ``summary``, in the eval/expected.json layout."""
    return {"tolerance": TOLERANCE,
            "figures": {k: {"value": lookup(summary, k), "better": b}
                        for k, b in EXPECTED_FIGURES.items()}}


def regressions(summary: dict, expected: dict) -> list[str]:
    """Guarded figures that moved the wrong way by more than the tolerance."""
    tol = float(expected.get("tolerance", TOLERANCE))
    out = []
    for key, spec in expected["figures"].items():
        now, then = lookup(summary, key), float(spec["value"])
        worse = then - now if spec["better"] == "higher" else now - then
        if worse > tol + 1e-9:
            out.append(f"{key} is {now:.4f}, expected {then:.4f} (tolerance {tol}).")
    return out


# ----------------------------------------------------------------------------- entry points


def _methods(arg: str | Sequence[str] | None) -> list[str]:
    if arg is None:
        return list(DEFAULT_METHODS)
    items = arg.split(",") if isinstance(arg, str) else list(arg)
    out = [m.strip() for m in items if m.strip()]
    if not out:
        raise InputError(f"--methods is empty; give some of {', '.join(METHODS)}.")
    for m in out:
        if m not in METHODS:
            raise InputError(f"Unknown eval method {m!r}; use some of {', '.join(METHODS)}.")
    return list(dict.fromkeys(out))


def main_cli(args, settings: Settings) -> int:
    """``rag eval``: validate (``--validate``) or evaluate, write the report, print a table.

    Returns the exit code: 0, or 1 when ``--validate`` finds problems.
    """
    from .pipeline import Pipeline

    qpath = Path(args.questions) if getattr(args, "questions", None) else (
        Path(settings.eval_dir) / "questions.jsonl")
    questions = load_questions(qpath)
    methods = _methods(getattr(args, "methods", None))
    pipeline = Pipeline(settings)
    pipeline.ensure_index()
    problems = validate_all(questions, pipeline)
    if getattr(args, "validate", False):
        return report_problems(problems, len(questions))
    if problems:  # scores over a broken question set would mislead; say so, still report
        print(f"warning: {len(problems)} problem(s) in {qpath}; run `rag eval --validate`.",
              file=sys.stderr)
    result = run_eval(pipeline, questions, methods, answers=not getattr(args, "no_answers", False),
                      questions_file=qpath)
    report = Path(args.report) if getattr(args, "report", None) else (
        Path(settings.eval_dir) / "report")
    write_report(result, report)
    if getattr(args, "json", False):
        print(json.dumps(result.summary, ensure_ascii=False))
    else:
        print(format_table(result.summary))
        print(f"report: {report / 'report.md'}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rag.evaluate [--write-expected]``: run the default eval, write the report
    to eval/report and, with ``--write-expected``, the guard's floor to eval/expected.json."""
    ap = argparse.ArgumentParser(prog="python -m rag.evaluate", description=main.__doc__)
    ap.add_argument("--write-expected", action="store_true")
    ap.add_argument("--questions")
    ap.add_argument("--report")
    a = ap.parse_args(argv)
    settings = Settings.load()
    ns = argparse.Namespace(questions=a.questions, methods=",".join(DEFAULT_METHODS),
                            report=a.report, json=False, validate=False, no_answers=False)
    try:
        code = main_cli(ns, settings)
        if code == 0 and a.write_expected:
            report = Path(a.report) if a.report else Path(settings.eval_dir) / "report"
            summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
            out = Path(settings.eval_dir) / "expected.json"
            out.write_text(json.dumps(expected_from(summary), indent=2) + "\n", encoding="utf-8")
            print(f"wrote {out}", file=sys.stderr)
        return code
    except RagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
