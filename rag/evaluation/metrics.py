"""Pure metric functions over ranked chunk texts and answers.

A chunk is *relevant* when its text contains one of the question's evidence strings, both
folded by :func:`rag.text.patterns.normalize` because the corpus text is damaged, e.g.
``recall_at_k(q, ["...新建智慧充电站超90座...", "..."], 1) -> 1.0``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from rag.evaluation.questions import Question
from rag.evaluation.results import Ranked
from rag.text.patterns import normalize

__all__ = ["EVAL_K", "K_VALUES", "PREFIX_CHARS", "answer_correct", "evidence_score",
           "is_relevant", "ndcg_at_k", "prefix_recall", "prefix_texts", "recall_at_k",
           "reciprocal_rank", "relevant_counts", "retrieval_metrics", "strip_markers",
           "top1_article"]

K_VALUES = (1, 3, 5, 10)
EVAL_K = 10  # chunks ranked per question; MRR and nDCG are @10
PREFIX_CHARS = 1000  # "recall within the first 1000 characters" budget
_MARKER = re.compile(r"\[\d+\]")


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


def relevant_counts(questions: Iterable[Question], chunk_texts: Sequence[str]) -> dict[str, int]:
    """For nDCG's ideal: how many chunks of a collection contain each question's evidence."""
    norm = [normalize(t) for t in chunk_texts]
    out = {}
    for q in questions:
        evs = [normalize(e) for e in q.evidence]
        out[q.id] = sum(1 for t in norm if any(e in t for e in evs))
    return out


def retrieval_metrics(q: Question, ranked: Sequence[Ranked], n_relevant: int) -> dict[str, float]:
    """All retrieval figures of one question for one ranking, in summary order."""
    texts = [r.text for r in ranked]
    m = {f"recall@{k}": recall_at_k(q, texts, k) for k in K_VALUES}
    m[f"recall@{PREFIX_CHARS}ch"] = prefix_recall(q, texts)
    m[f"mrr@{EVAL_K}"] = reciprocal_rank(q, texts)
    m[f"ndcg@{EVAL_K}"] = ndcg_at_k(q, texts, n_relevant)
    m["top1_article"] = top1_article(q, [r.doc_id for r in ranked])
    return m


def strip_markers(text: str) -> str:
    """Answer text without its ``[n]`` citation markers."""
    return _MARKER.sub("", text)


def answer_correct(q: Question, text: str, refused: bool) -> bool:
    """An answer is correct when it is not a refusal and contains every answer key."""
    if refused or not q.answerable:
        return False
    got = normalize(strip_markers(text))
    return all(normalize(k) in got for k in q.answer_keys)
