"""BM25 as sparse vectors: a document's vector holds each term's BM25 weight, a query's vector
its term counts, and their inner product is the BM25 score bm25s computes (Lucene IDF,
``tf / (tf + k1 (1 - b + b |d| / avgdl))``). A vector store that can only take inner products
of sparse vectors (Milvus' ``SPARSE_INVERTED_INDEX`` with ``IP``) so ranks exactly as the
local :class:`~rag.index.keyword.BM25KeywordIndex`, over the project's own tokens.

>>> st = KeywordStats.of([["海珠", "模型"], ["南沙"]])
>>> q = st.query_vector(["海珠", "海珠", "未知"])
>>> round(sum(w * st.doc_vectors([["海珠", "模型"]])[0].get(t, 0) for t, w in q.items()), 3)
0.555
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EMPTY_TOKEN", "KeywordStats"]

EMPTY_TOKEN = "\u2400"  # stands in for a chunk without tokens, as in BM25KeywordIndex


@dataclass(frozen=True)
class KeywordStats:
    """Corpus statistics of one build's keyword tokens: what BM25 weights and the retriever's
    IDF and typo-correction vocabulary need, kept beside the index."""

    n_docs: int
    avg_len: float
    df: dict[str, int]  # token -> rows holding it
    counts: dict[str, int]  # token -> occurrences over all rows
    k1: float = 1.2
    b: float = 0.75

    @classmethod
    def of(cls, token_lists: Sequence[list[str]], k1: float = 1.2,
           b: float = 0.75) -> KeywordStats:
        lists = [t or [EMPTY_TOKEN] for t in token_lists]
        df: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        for toks in lists:
            df.update(set(toks))
            counts.update(toks)
        avg = sum(len(t) for t in lists) / max(1, len(lists))
        return cls(len(lists), avg, dict(df), dict(counts), k1, b)

    def term_ids(self) -> dict[str, int]:
        """Token -> sparse dimension: its rank in sorted order (stable for one build)."""
        return {t: i for i, t in enumerate(sorted(self.df))}

    def idf(self, token: str) -> float:
        n, c = self.n_docs, self.df.get(token, 0)
        return math.log(1 + (n - c + 0.5) / (c + 0.5))

    def doc_vectors(self, token_lists: Sequence[list[str]]) -> list[dict[int, float]]:
        """One sparse vector per row: term id -> BM25 weight of the term in that row."""
        ids = self.term_ids()
        out = []
        for toks in token_lists:
            toks = toks or [EMPTY_TOKEN]
            norm = self.k1 * (1 - self.b + self.b * len(toks) / self.avg_len)
            out.append({ids[t]: self.idf(t) * tf / (tf + norm)
                        for t, tf in Counter(toks).items() if t in ids})
        return out

    def query_vector(self, tokens: Sequence[str], ids: dict[str, int] | None = None
                     ) -> dict[int, float]:
        """Term id -> count for the query's known tokens (a repeated word counts again, as
        in bm25s); empty when no token is in the index."""
        ids = ids if ids is not None else self.term_ids()
        return {ids[t]: float(c) for t, c in Counter(tokens).items() if t in ids}

    def to_dict(self) -> dict:
        return {"n_docs": self.n_docs, "avg_len": self.avg_len, "df": self.df,
                "counts": self.counts, "k1": self.k1, "b": self.b}
