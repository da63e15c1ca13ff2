"""One loaded, immutable build: everything a query needs, and the values derived from it.

Row i of ``sentence_vectors`` is ``sentence_spans[i]``; a chunk finds its sentences by
bisection over per-article start and end offsets.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.index.dense import VectorIndex
from rag.index.keyword import KeywordIndex
from rag.index.manifest import Manifest, indexed_sentences
from rag.text.patterns import normalize
from rag.types import Chunk, Document

__all__ = ["IndexSnapshot", "SnapshotCache"]


@dataclass
class SnapshotCache:
    """Values later stages derive from one snapshot, filled on first use. They live on the
    snapshot, so an ingest that swaps it never serves values derived from the old one; a race
    computes a value twice at worst, with the same result."""

    folded: dict[str, str] = field(default_factory=dict)  # doc id -> folded text
    # doc id -> the answerer's sentence spans (;-separated parts joined again)
    answer_sentences: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


class IndexSnapshot:
    """A loaded, immutable view of one build: everything a query needs.

    ``vectors`` (chunk vectors) is None when the dense index lives on a server (Milvus): a
    filtered search then goes to the server with the article ids instead."""

    def __init__(self, path: Path | str, manifest: Manifest, docs: dict[str, Document],
                 chunks: list[Chunk], vectors: np.ndarray | None, dense: VectorIndex,
                 keyword: KeywordIndex, sentence_vectors: np.ndarray | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self.docs = docs
        self.chunks = chunks
        self.vectors = vectors
        self.dense = dense
        self.keyword = keyword
        self.chunk_row = {c.chunk_id: i for i, c in enumerate(chunks)}
        self.sentence_vectors = sentence_vectors
        # Row i of sentence_vectors is sentence_spans[i]; kept without vectors too (bench
        # snapshots): the lexical sentence boost finds a chunk's sentences through it.
        self.sentence_spans = indexed_sentences(docs.values())
        # doc_id -> (sentence starts, sentence ends, first row): a chunk's sentences by bisection
        self.sentence_rows: dict[str, tuple[list[int], list[int], int]] = {}
        for row, (doc_id, s, e) in enumerate(self.sentence_spans):
            starts, ends, first = self.sentence_rows.setdefault(doc_id, ([], [], row))
            starts.append(s)
            ends.append(e)
        self.cache = SnapshotCache()

    @cached_property
    def idf(self) -> dict[str, float]:
        """BM25-style IDF of every keyword-index token (computed once, on first use)."""
        df = self.keyword.document_frequencies()
        n = max(1, self.keyword.count())
        return {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}

    @cached_property
    def max_idf(self) -> float:
        """The rarest token's IDF: the weight of a word the index has never seen."""
        return max(self.idf.values(), default=1.0)

    @cached_property
    def folded_corpus(self) -> str:
        """Every article's text, NFKC, whitespace removed, lower case: "does the corpus
        mention X at all" is a substring test on this."""
        return "".join(self.folded_text(d) for d in self.docs).lower()

    def folded_text(self, doc_id: str) -> str:
        """One article's text, folded as in :attr:`folded_corpus`."""
        t = self.cache.folded.get(doc_id)
        if t is None:
            t = self.cache.folded[doc_id] = normalize(self.docs[doc_id].text).lower()
        return t

    def sentence_row(self, doc_id: str, start: int, end: int) -> int | None:
        """Row of ``sentence_vectors`` for exactly this sentence span, or None."""
        entry = self.sentence_rows.get(doc_id)
        if entry is None or self.sentence_vectors is None:
            return None
        starts, ends, first = entry
        i = bisect.bisect_left(starts, start)
        return first + i if i < len(starts) and (starts[i], ends[i]) == (start, end) else None

    def chunk_sentence_rows(self, chunk: Chunk) -> range:
        """Rows of ``sentence_vectors`` for the sentences overlapping ``chunk``."""
        entry = self.sentence_rows.get(chunk.doc_id)
        if entry is None:
            return range(0)
        starts, ends, first = entry
        lo = bisect.bisect_right(ends, chunk.start)  # first sentence ending after the start
        hi = bisect.bisect_left(starts, chunk.end)  # first sentence starting at/after the end
        return range(first + lo, first + max(lo, hi))
