"""Judging a chunk by its best single sentence, twice.

A 220-character chunk can match the question's words spread over unrelated sentences, and its
vector averages three or four sentences; the chunk whose one sentence says it all is the one
that answers. So every fused candidate gains its best sentence's dense similarity to the
question (sentence vectors are stored in the index), and the top fused chunks gain the
IDF-weighted share of the question's words that one sentence holds.
"""

from __future__ import annotations

import numpy as np

from rag.index.snapshot import IndexSnapshot
from rag.retrieve.fusion import Fused
from rag.text.tokenize import Tokenizer

__all__ = ["sentence_dense", "sentence_lexical"]


def sentence_dense(snap: IndexSnapshot, qv: np.ndarray, fused: Fused, weight: float) -> Fused:
    """Add ``weight`` x each candidate's best single-sentence similarity to ``qv`` (min-max
    scaled over the candidates; eval: R@5 0.968 -> 0.972, MRR 0.911 -> 0.921)."""
    sv = snap.sentence_vectors
    if not fused or sv is None:
        return fused
    spans = [snap.chunk_sentence_rows(snap.chunks[row]) for row, _, _ in fused]
    rows = np.fromiter((r for sp in spans for r in sp), dtype=np.int64)
    if rows.size == 0:
        return fused
    sims = sv[rows] @ qv
    best, i = [], 0
    for sp in spans:
        best.append(float(sims[i:i + len(sp)].max()) if len(sp) else float("nan"))
        i += len(sp)
    vals = np.array(best)
    ok = ~np.isnan(vals)
    lo, hi = float(vals[ok].min()), float(vals[ok].max())
    out = []
    for (row, score, details), b in zip(fused, best, strict=True):
        if b == b:  # not NaN
            score += weight * ((b - lo) / (hi - lo) if hi > lo else 1.0)
            details = tuple(sorted((*details, ("sentence_dense", round(b, 4)))))
        out.append((row, score, details))
    return sorted(out, key=lambda x: (-x[1], x[0]))


def sentence_lexical(snap: IndexSnapshot, tokenizer: Tokenizer, query: str, fused: Fused,
                     weight: float, top: int) -> Fused:
    """Add ``weight`` x the best sentence's IDF coverage of the question to the ``top`` fused
    chunks (eval: MRR 0.882 -> 0.909, R@5 unchanged)."""
    toks = list(dict.fromkeys(tokenizer.tokens(query)))
    if not toks:
        return fused
    idf = snap.idf
    total = sum(idf.get(t, 1.0) for t in toks)
    out = []
    for i, (row, score, details) in enumerate(fused):
        if i < top:
            ch = snap.chunks[row]
            doc = snap.docs[ch.doc_id]
            best = 0.0
            for r in snap.chunk_sentence_rows(ch):
                _, s, e = snap.sentence_spans[r]
                words = set(tokenizer.tokens(doc.text[max(s, ch.start):min(e, ch.end)]))
                best = max(best, sum(idf.get(t, 1.0) for t in toks if t in words) / total)
            score += weight * best
            details = tuple(sorted((*details, ("sentence", round(best, 4)))))
        out.append((row, score, details))
    return sorted(out, key=lambda x: (-x[1], x[0]))
