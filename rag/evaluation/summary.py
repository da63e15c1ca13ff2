"""Per-question figures folded into the summary.json layout: overall, by type, by tag.

Figures are rounded to ``ROUND`` decimals and keys kept in a fixed order, so an unchanged
run writes a byte-identical summary.json (no timestamps, no latencies).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.metrics import EVAL_K, PREFIX_CHARS
from rag.evaluation.questions import Question
from rag.settings import Settings

__all__ = ["ROUND", "answer_figures", "breakdown", "describe_questions", "describe_settings",
           "group_indices", "mean", "retrieval_figures"]

ROUND = 4  # summary figures are rounded so float noise never changes summary.json


def mean(xs: Sequence[float]) -> float:
    """The rounded mean, 0.0 for no values."""
    return round(sum(xs) / len(xs), ROUND) if xs else 0.0


def group_indices(questions: Sequence[Question]) -> dict[str, dict[str, list[int]]]:
    """Question indices by type and by tag (sorted keys, so the summary is stable)."""
    by_type: dict[str, list[int]] = {}
    by_tag: dict[str, list[int]] = {}
    for i, q in enumerate(questions):
        by_type.setdefault(q.type, []).append(i)
        for t in q.tags:
            by_tag.setdefault(t, []).append(i)
    return {"by_type": dict(sorted(by_type.items())), "by_tag": dict(sorted(by_tag.items()))}


def breakdown(per_q: dict[int, Any], groups: dict[str, dict[str, list[int]]],
              agg: Callable[[list], dict]) -> dict:
    """``agg`` over all questions, then over each group that has any of them."""
    out = {"all": agg(list(per_q.values()))}
    for name, g in groups.items():
        out[name] = {key: agg([per_q[i] for i in idx if i in per_q])
                     for key, idx in g.items() if any(i in per_q for i in idx)}
    return out


def retrieval_figures(per_q: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each retrieval figure over questions, with their count ``n``."""
    if not per_q:
        return {"n": 0}
    keys = list(per_q[0])
    return {"n": len(per_q), **{k: mean([m[k] for m in per_q]) for k in keys}}


def answer_figures(rows: list[dict]) -> dict:
    """Accuracy and false refusals over answerable questions, refusals over unanswerable
    ones, median answer length over answers given."""
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    lengths = [r["chars"] for r in rows if not r["refused"]]
    out: dict[str, Any] = {"n": len(rows), "n_answerable": len(ans), "n_unanswerable": len(una)}
    if ans:
        out["accuracy"] = mean([float(r["correct"]) for r in ans])
        out["false_refusal_rate"] = mean([float(r["refused"]) for r in ans])
    if una:
        out["refusal_rate"] = mean([float(r["refused"]) for r in una])
    out["median_chars"] = float(np.median(lengths)) if lengths else 0.0
    return out


def describe_questions(questions: Sequence[Question], groups: dict[str, dict[str, list[int]]],
                       questions_file: Path | None) -> dict:
    """The summary's ``questions`` part: which file (and its checksum), how many of each."""
    n_answerable = sum(1 for q in questions if q.answerable)
    return {
        "file": questions_file.name if questions_file else "",
        "sha256": _sha256(questions_file) if questions_file else "",
        "n": len(questions), "answerable": n_answerable,
        "unanswerable": len(questions) - n_answerable,
        "by_type": {t: len(v) for t, v in groups["by_type"].items()},
        "by_tag": {t: len(v) for t, v in groups["by_tag"].items()},
    }


def describe_settings(man, s: Settings, naive_info: dict) -> dict:
    """The summary's ``settings`` part: the index manifest ``man`` and the settings that
    move scores."""
    return {
        "model_id": man.model_id, "model_checksum": man.model_checksum,
        "corpus_fingerprint": man.corpus_fingerprint, "n_docs": man.n_docs,
        "n_chunks": man.n_chunks, "chunk_chars": man.chunk_chars,
        "chunk_overlap_sentences": man.chunk_overlap_sentences,
        "passage_context": man.passage_context, "fusion": s.fusion, "rrf_k": s.rrf_k,
        "candidates": s.candidates, "dense_weight": s.dense_weight,
        "bm25_weight": s.bm25_weight, "reranker": Path(s.reranker).name if s.reranker else "",
        "answer_passages": s.answer_passages, "refuse_threshold": s.refuse_threshold,
        "k": EVAL_K, "prefix_chars": PREFIX_CHARS, "naive": naive_info,
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
