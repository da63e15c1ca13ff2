"""Dense nearest-neighbour search behind a small interface, with FAISS as the embedded back-end.

Inner product equals cosine because every vector is L2-normalised by the encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import IndexStateError
from rag.index.filter import RowFilter

__all__ = ["REBUILD_HINT", "FaissVectorIndex", "VectorIndex", "choose_ann"]

REBUILD_HINT = "run `rag index --rebuild` to rebuild it"


class VectorIndex(Protocol):
    """Nearest neighbours by inner product over L2-normalised vectors (= cosine): what a
    search asks of a loaded build. Writing a build is the store's business (each back-end
    writes its own way)."""

    def search(self, queries: np.ndarray, k: int,
               where: RowFilter | None = None) -> tuple[np.ndarray, np.ndarray]: ...
    def count(self) -> int: ...


def choose_ann(setting: str, n: int, threshold: int) -> str:
    """The ANN kind for ``n`` vectors: ``auto`` is exact below ``threshold``, HNSW above
    (HNSW's recall at 100k near-duplicate vectors was 0.59 in the bench, so exact stays the
    default as long as it is fast enough)."""
    if setting == "auto":
        return "hnsw" if n >= threshold else "exact"
    return setting


class FaissVectorIndex:
    """FAISS back-end: exact ``IndexFlatIP`` by default, HNSW when asked for or large.

    Inner product equals cosine because every vector is L2-normalised by the encoder.
    """

    def __init__(self, dim: int, kind: str = "exact", hnsw_m: int = 32) -> None:
        import faiss  # lazy: faiss loads OpenMP and BLAS, which a --help should not pay for

        # Single queries gain nothing from OpenMP threads but lose a lot when the other core
        # is busy (measured at 100k vectors: 14 ms on one thread, 72 ms on two).
        faiss.omp_set_num_threads(1)
        self.dim, self.kind = dim, kind
        if kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = 80
            base.hnsw.efSearch = 128
            self._index = faiss.IndexIDMap(base)
        else:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                 np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int,
               where: RowFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows per query; ``where`` limits them to the rows its mask keeps."""
        import faiss

        k = max(1, min(k, self.count()))
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if where is None:
            return self._index.search(q, k)
        sel = faiss.IDSelectorBatch(np.flatnonzero(where.mask).astype(np.int64))
        return self._index.search(q, k, params=faiss.SearchParameters(sel=sel))

    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def ef_search(self) -> int:
        """HNSW's search breadth (recall against speed); HNSW only."""
        return int(self._hnsw().efSearch)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._hnsw().efSearch = int(value)

    def _hnsw(self):
        import faiss

        if self.kind != "hnsw":
            raise ValueError("ef_search applies to HNSW indexes only")
        return faiss.downcast_index(self._index.index).hnsw

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int, kind: str) -> FaissVectorIndex:
        import faiss

        faiss.omp_set_num_threads(1)
        obj = cls.__new__(cls)
        obj.dim, obj.kind = dim, kind
        obj._index = faiss.read_index(str(path))
        if obj._index.d != dim:
            raise IndexStateError(f"{path} holds {obj._index.d}-d vectors, expected {dim}; "
                                  f"{REBUILD_HINT}.")
        return obj

