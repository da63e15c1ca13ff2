"""The naive baseline every gain is quoted from: what a tutorial would build.

Raw files, fixed 500-character windows with 50 overlap, the project's encoder, exact inner
product; no cleaning, no sentence chunks, no titles, no BM25.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rag.corpus.chunk import fixed_windows
from rag.corpus.formats import read_raw
from rag.errors import InputError
from rag.evaluation.metrics import EVAL_K
from rag.evaluation.results import Ranked, canonical_order

__all__ = ["NAIVE_OVERLAP", "NAIVE_WINDOW", "NaiveRetriever", "raw_corpus"]

NAIVE_WINDOW = 500
NAIVE_OVERLAP = 50


class NaiveRetriever:
    """The tutorial pipeline: raw text, fixed windows, dense only, exact inner product.

    Passages get the encoder's passage prefix and no title context, unlike the project's
    index, so the gap to it shows what cleaning, sentence chunks, titles and BM25 buy.
    """

    def __init__(self, raw_texts: Mapping[str, str], encoder, size: int = NAIVE_WINDOW,
                 overlap: int = NAIVE_OVERLAP) -> None:
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
    """Raw text of every indexed article's file (``rag.corpus.formats.read_raw``), by doc id."""
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
