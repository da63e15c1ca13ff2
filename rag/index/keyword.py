"""Keyword search behind a small interface, with bm25s over jieba tokens as the embedded back-end."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.index.filter import RowFilter
from rag.index.sparse import EMPTY_TOKEN

__all__ = ["BM25KeywordIndex", "KeywordIndex"]


class KeywordIndex(Protocol):
    """Ranked keyword search over token lists, and the token statistics the retriever needs
    (IDF weights, the typo corrector's vocabulary)."""

    def top(self, tokens: list[str], n: int,
            where: RowFilter | None = None) -> list[tuple[int, float]]: ...
    def count(self) -> int: ...
    def vocabulary(self) -> list[str]: ...
    def document_frequencies(self) -> dict[str, int]: ...
    def token_counts(self) -> Counter[str]: ...


class BM25KeywordIndex:
    """bm25s back-end. bm25s has no incremental add, so add re-indexes all rows (a few
    hundred ms per 10k chunks): cheap next to embedding, which is incremental."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._ids: list[int] = []
        self._tokens: list[list[str]] = []
        self._bm25 = None

    def _reindex(self) -> None:
        import bm25s  # lazy: pulls scipy

        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        if self._tokens:
            # An empty token list would break bm25s; a sentinel keeps row numbers aligned.
            self._bm25.index([t or [EMPTY_TOKEN] for t in self._tokens], show_progress=False)

    def add(self, ids: Sequence[int], token_lists: Sequence[list[str]]) -> None:
        self._ids.extend(int(i) for i in ids)
        self._tokens.extend(list(t) for t in token_lists)
        self._reindex()

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every row (0 where no query token occurs)."""
        if self._bm25 is None or not self._ids:
            return np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in query_tokens if t in vocab]
        if not known:
            return np.zeros(len(self._ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def top(self, tokens: list[str], n: int,
            where: RowFilter | None = None) -> list[tuple[int, float]]:
        """(row, score) of the best ``n`` rows scoring above 0, ties by row."""
        s = self.scores(tokens)
        if s.size == 0:
            return []
        if where is not None:
            s = np.where(where.mask, s, 0.0)
        nz = np.flatnonzero(s > 0)
        if nz.size == 0:
            return []
        order = nz[np.lexsort((nz, -s[nz]))][:n]
        ids = self._ids
        return [(int(ids[i]), float(s[i])) for i in order]

    def search(self, query_tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.scores(query_tokens)
        if s.size == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        k = min(k, s.size)
        top = np.argpartition(-s, k - 1)[:k]
        # Deterministic ties: (-score, row id), as pyserini does.
        ids = np.asarray(self._ids, dtype=np.int64)[top]
        order = np.lexsort((ids, -s[top]))
        return s[top][order], ids[order]

    def count(self) -> int:
        return len(self._ids)

    def vocabulary(self) -> list[str]:
        """Every distinct token of the index."""
        return list(self._bm25.vocab_dict) if self._bm25 is not None else []

    def document_frequencies(self) -> dict[str, int]:
        """How many rows hold each token (for IDF weights)."""
        df: Counter[str] = Counter()
        for toks in self._tokens:
            df.update(set(toks))
        return dict(df)

    def token_counts(self) -> Counter[str]:
        """How often each token occurs over all rows (the spelling corrector's vocabulary)."""
        return Counter(w for toks in self._tokens for w in toks)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "tokens.jsonl", "w", encoding="utf-8") as f:
            for i, t in zip(self._ids, self._tokens, strict=True):
                f.write(json.dumps([i, t], ensure_ascii=False) + "\n")
        json.dump({"k1": self.k1, "b": self.b}, open(path / "params.json", "w"))

    @classmethod
    def load(cls, path: Path) -> BM25KeywordIndex:
        params = json.loads((path / "params.json").read_text())
        obj = cls(**params)
        with open(path / "tokens.jsonl", encoding="utf-8") as f:
            for line in f:
                i, t = json.loads(line)
                obj._ids.append(i)
                obj._tokens.append(t)
        obj._reindex()
        return obj

