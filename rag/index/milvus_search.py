"""Talking to Milvus: one connection per URI whose failures come back as one sentence, and the
two search interfaces (``VectorIndex``, ``KeywordIndex``) over one build's chunk collection.

The pymilvus import is here and in :mod:`rag.index.milvus` only; nothing else imports these
modules at load time, so the default install runs without pymilvus.

A search names the build's own collection, never the alias, so a question that started on a
build finishes on it while an ingest switches the alias. Milvus errors map to:

- server unreachable -> :class:`~rag.errors.BackendUnavailable` (HTTP 503), one sentence;
- collection released (the server restarted) -> loaded again and the call retried once;
- collection gone (dropped two builds later) -> :class:`~rag.errors.BuildGone`, so the
  pipeline reloads the live build and asks again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pymilvus import MilvusClient, MilvusException

from rag.errors import BackendUnavailable, BuildGone, IndexStateError
from rag.index.filter import RowFilter
from rag.index.sparse import KeywordStats

__all__ = ["HNSW_EF", "MilvusConn", "MilvusKeywordIndex", "MilvusVectorIndex",
           "batched", "doc_filter"]

# pymilvus logs every failed RPC with a traceback; the app says it in one sentence instead.
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

HNSW_EF = 128  # as the local HNSW's efSearch
_NOT_LOADED = 101
_NOT_FOUND = (4, 100)
_UNREACHABLE = (1, 2)  # UNEXPECTED (a broken channel) and "fail connecting"


def doc_filter(doc_ids: Sequence[str]) -> str:
    """A Milvus filter expression: ``doc_id in ["a", "b"]`` (JSON quoting escapes quotes)."""
    return f"doc_id in {json.dumps(list(doc_ids), ensure_ascii=False)}"


class MilvusConn:
    """One lazily made client for ``uri``; every call goes through :meth:`call`."""

    def __init__(self, uri: str, timeout: float = 5.0, token: str = "") -> None:
        self.uri, self.timeout, self.token = uri, timeout, token
        self._client: MilvusClient | None = None
        self._lock = threading.Lock()

    def _unreachable(self, e: Exception) -> BackendUnavailable:
        why = getattr(e, "message", None) or str(e)
        return BackendUnavailable(f"The Milvus server at {self.uri} is not reachable "
                                  f"({why[:120]}); start it or set RAG_MILVUS_URI.")

    def client(self) -> MilvusClient:
        with self._lock:
            if self._client is None:
                try:
                    self._client = MilvusClient(uri=self.uri, token=self.token,
                                                timeout=self.timeout)
                except MilvusException as e:
                    raise self._unreachable(e) from None
            return self._client

    def call(self, method: str, *args, **kwargs) -> Any:
        """``client.<method>(*args, timeout=..., **kwargs)`` with errors mapped (see above)."""
        kwargs.setdefault("timeout", self.timeout)
        for attempt in (1, 2):
            try:
                return getattr(self.client(), method)(*args, **kwargs)
            except MilvusException as e:
                name = kwargs.get("collection_name") or (args[0] if args else "")
                if e.code == _NOT_LOADED and attempt == 1 and name:
                    self.call("load_collection", name)  # released by a server restart
                    continue
                if e.code in _NOT_FOUND or "not found" in str(e.message).lower() \
                        or "not exist" in str(e.message).lower():
                    raise BuildGone(f"The index collection {name!r} is gone; the live index "
                                    "is loaded again.") from None
                if e.code in _UNREACHABLE or "connect" in str(e.message).lower():
                    raise self._unreachable(e) from None
                raise IndexStateError(f"Milvus refused {method} ({e.message[:160]}).") from None
            except Exception as e:  # grpc channel errors surface as plain RpcErrors
                if "grpc" in type(e).__module__:
                    raise self._unreachable(e) from None
                raise
        raise AssertionError("unreachable")

    def rows(self, collection: str, expr: str, fields: list[str], batch: int = 1000) -> list[dict]:
        """Every row matching ``expr`` (a query iterator: no 16384-row cap)."""
        it = self.call("query_iterator", collection_name=collection, filter=expr,
                       output_fields=fields, batch_size=batch)
        out: list[dict] = []
        try:
            while page := self._next(it):
                out.extend(dict(r) for r in page)
        finally:
            it.close()
        return out

    def _next(self, it) -> list:
        try:
            return it.next()
        except MilvusException as e:
            raise self._unreachable(e) from None


def _hits(result, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """One query's hits as (scores[1, limit], rows[1, limit]) padded with -1, FAISS style."""
    scores = np.full((1, max(1, limit)), -np.inf, dtype=np.float32)
    rows = np.full((1, max(1, limit)), -1, dtype=np.int64)
    for i, h in enumerate(list(result[0])[:limit] if result else []):
        rows[0, i] = int(h.get("row", h.get("id")))
        scores[0, i] = float(h["distance"])
    return scores, rows


class MilvusVectorIndex:
    """Dense search over one build's chunk collection (inner product = cosine on unit
    vectors; ``FLAT`` is exact as FAISS' flat index, HNSW above the ANN threshold)."""

    def __init__(self, conn: MilvusConn, collection: str, n: int, kind: str) -> None:
        self.conn, self.collection, self.n, self.kind = conn, collection, n, kind

    def search(self, queries: np.ndarray, k: int,
               where: RowFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, self.n))
        params: dict = {"metric_type": "IP"}
        if self.kind == "hnsw":
            params["params"] = {"ef": max(HNSW_EF, k)}
        res = self.conn.call("search", collection_name=self.collection,
                             data=[np.asarray(queries[0], dtype=np.float32).tolist()],
                             anns_field="vector", limit=k, search_params=params,
                             filter=doc_filter(where.doc_ids) if where is not None else "",
                             output_fields=["row"])  # [] means all fields in Milvus Lite
        return _hits(res, k)

    def count(self) -> int:
        return self.n


class MilvusKeywordIndex:
    """BM25 over one build's chunk collection: documents hold BM25 weights of the project's
    tokens, a query its term counts, and Milvus ranks by their inner product (the local
    bm25s ranking, see rag.index.sparse). The token statistics stay client-side for IDF
    weights and the typo corrector's vocabulary."""

    def __init__(self, conn: MilvusConn, collection: str, stats: KeywordStats) -> None:
        self.conn, self.collection, self.stats = conn, collection, stats
        self._ids = stats.term_ids()

    def top(self, tokens: list[str], n: int,
            where: RowFilter | None = None) -> list[tuple[int, float]]:
        """(row, BM25 score) of the best ``n`` rows with a score above 0, best first."""
        qv = self.stats.query_vector(tokens, self._ids)
        if not qv:
            return []
        res = self.conn.call("search", collection_name=self.collection, data=[qv],
                             anns_field="sparse", limit=max(1, n),
                             search_params={"metric_type": "IP"},
                             filter=doc_filter(where.doc_ids) if where is not None else "",
                             output_fields=["row"])  # [] means all fields in Milvus Lite
        scores, rows = _hits(res, n)
        out = [(int(r), float(s)) for s, r in zip(scores[0], rows[0], strict=True)
               if r >= 0 and s > 0]
        return sorted(out, key=lambda x: (-x[1], x[0]))

    def count(self) -> int:
        return self.stats.n_docs

    def vocabulary(self) -> list[str]:
        return list(self.stats.df)

    def document_frequencies(self) -> dict[str, int]:
        return dict(self.stats.df)

    def token_counts(self) -> Counter[str]:
        return Counter(self.stats.counts)


def batched(rows: list, size: int, fn: Callable[[list], Any]) -> None:
    """``fn`` over ``rows`` in slices of ``size`` (inserts stay under gRPC's message cap)."""
    for s in range(0, len(rows), size):
        fn(rows[s : s + size])
