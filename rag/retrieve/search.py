"""Hybrid retrieval: dense (FAISS) + keyword (BM25), fused, then a sentence-match boost.

Dense search finds paraphrases and English questions; BM25 finds exact names and figures.
The default fusion is ``weighted``: each method's scores min-max normalised over its
candidates, then summed; it beat reciprocal rank fusion (``fusion="rrf"``, ``sum 1/(k + rank)``)
on the eval (README). BM25 counts for less on English questions, where it sees only the
glossary's Chinese words.

Then each chunk is judged by its best single *sentence* too, twice: every fused candidate gains
its best sentence's dense similarity to the question (sentence vectors are stored in the
index), and the top fused chunks gain the IDF-weighted share of the question's words that one
sentence holds. A 220-character chunk can match the question's words spread over unrelated
sentences, and its vector averages them; the chunk whose one sentence says it all is the one
that answers. Ties are broken by chunk row, so results are deterministic.

English questions also get the Chinese names they spell in pinyin ("Wang Jianguo" -> 王建国),
looked up in the corpus vocabulary (``TypoCorrector.pinyin_names``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from rag.errors import InputError
from rag.index.filter import RowFilter
from rag.index.snapshot import IndexSnapshot
from rag.retrieve.boosts import sentence_dense, sentence_lexical
from rag.retrieve.filters import row_filter
from rag.retrieve.fusion import Fused, fuse
from rag.retrieve.query import QueryAnalysis, analyze
from rag.settings import Settings
from rag.text.glossary import expand_english
from rag.text.patterns import is_english
from rag.text.spelling import TypoCorrector
from rag.text.tokenize import Tokenizer, default_tokenizer
from rag.types import Hit

__all__ = ["METHODS", "Retriever", "SearchResult"]

METHODS = ("hybrid", "dense", "bm25")
_NGRAM_CAP = 2_000_000  # characters of corpus scanned for the typo corrector's "known" set
_QUERY_CACHE = 512  # query vectors kept (staff re-ask the same questions)


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits, the query actually searched (after typo correction) and stage timings."""

    query: str
    searched: str
    hits: tuple[Hit, ...]
    timings_ms: tuple[tuple[str, float], ...] = ()

    @property
    def corrected(self) -> bool:
        return self.searched != self.query


class Retriever:
    """Searches one index snapshot with one encoder. Thread-safe; holds no per-query state."""

    def __init__(self, snapshot: IndexSnapshot, encoder, settings: Settings,
                 tokenizer: Tokenizer | None = None,
                 corrector: TypoCorrector | None = None) -> None:
        self.snap = snapshot
        self.encoder = encoder
        self.settings = settings
        self.tokenizer = tokenizer or default_tokenizer()
        self._corrector = corrector  # built on first use: it scans the corpus vocabulary
        self._lock = threading.Lock()
        self._reranker = None
        # Each chunk row's article as an index into snapshot.docs: a filter's row mask is then
        # one array lookup, not a Python loop over every chunk.
        order = {doc_id: i for i, doc_id in enumerate(snapshot.docs)}
        self._row_doc = np.array([order[c.doc_id] for c in snapshot.chunks], dtype=np.int64)
        self._qvecs: OrderedDict[str, np.ndarray] = OrderedDict()

    def clear_query_cache(self) -> None:
        """Forget cached query vectors (benchmarks time encoding, not the cache)."""
        with self._lock:
            self._qvecs.clear()

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding, from a small LRU cache: staff re-ask the same questions,
        and the answerer needs the vector again for English questions."""
        with self._lock:
            v = self._qvecs.get(query)
            if v is not None:
                self._qvecs.move_to_end(query)
                return v
        v = self.encoder.encode([query], kind="query")[0]
        with self._lock:
            self._qvecs[query] = v
            if len(self._qvecs) > _QUERY_CACHE:
                self._qvecs.popitem(last=False)
        return v

    def corrector(self) -> TypoCorrector:
        """The spelling corrector over this snapshot's vocabulary, built once."""
        with self._lock:
            if self._corrector is None:
                text = "".join(d.text for d in self.snap.docs.values())[:_NGRAM_CAP]
                self._corrector = TypoCorrector(self.snap.keyword.token_counts(), text,
                                                self.tokenizer)
            return self._corrector

    def analyze(self, question: str, today: date | None = None) -> QueryAnalysis:
        """What ``question`` asks (``rag.retrieve.query``), read once for retrieval and the
        answerer; 今年/去年 in it mean ``today``'s year (default: the settings' today)."""
        text = " ".join(question.split())
        if not text:
            raise InputError("The question is empty; type a question.")
        return analyze(text, self.tokenizer, self.corrector(), today or self.settings.today_date)

    def sentence_similarities(self, query: str, hits) -> dict[tuple[str, int, int], float]:
        """Dense similarity of ``query`` to every stored sentence of ``hits``' chunks, by
        (doc_id, start, end): the answerer ranks sentences with it."""
        sv = self.snap.sentence_vectors
        if sv is None or not hits:
            return {}
        rows = sorted({r for h in hits for r in self.snap.chunk_sentence_rows(h.chunk)})
        if not rows:
            return {}
        sims = sv[np.array(rows)] @ self.query_vector(query)
        return {self.snap.sentence_spans[r]: float(v) for r, v in zip(rows, sims, strict=True)}

    def prepare(self, query: str) -> str:
        """The text actually searched: typos corrected, English terms given in Chinese."""
        corrector = self.corrector()
        return expand_english(corrector.correct(query), corrector.pinyin_names(query))

    def _dense(self, query: str, n: int, where: RowFilter | None) -> list[tuple[int, float]]:
        q = self.query_vector(query)[None, :]
        if where is not None and self.snap.vectors is not None:
            rows = np.flatnonzero(where.mask)
            s = self.snap.vectors[rows] @ q[0]  # exact over the filtered rows
            top = rows[np.lexsort((rows, -s))][:n]
            sc = {int(r): float(v) for r, v in zip(rows, s, strict=True)}
            return [(int(r), sc[int(r)]) for r in top]
        if where is not None and not where.doc_ids:
            return []
        # A server-side index (Milvus) filters by article id; FAISS by the row mask.
        scores, ids = self.snap.dense.search(q, n, where)
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def _bm25(self, query: str, n: int, where: RowFilter | None) -> list[tuple[int, float]]:
        if where is not None and not where.doc_ids:
            return []
        return self.snap.keyword.top(self.tokenizer.tokens(query), n, where)

    def search(self, query: str, k: int | None = None, method: str = "hybrid",
               doc_ids: Sequence[str] | None = None, since: str | None = None,
               until: str | None = None, searched: str | None = None) -> SearchResult:
        """Top ``k`` chunks for ``query``, optionally within articles / a date range.
        ``searched``: the text to search when the question was already prepared (analyzed)."""
        if method not in METHODS:
            raise InputError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")
        query_in = query
        query = " ".join(query.split())
        if not query:
            raise InputError("The question is empty; type a question.")
        k = k or self.settings.top_k
        n = max(self.settings.candidates, k)
        timings: list[tuple[str, float]] = []
        t = time.perf_counter()
        searched = searched or self.prepare(query)
        where = row_filter(self.snap, self._row_doc, doc_ids, since, until)
        timings.append(("prepare", (time.perf_counter() - t) * 1000))

        ranked: dict[str, list[tuple[int, float]]] = {}
        if method in ("hybrid", "dense"):
            t = time.perf_counter()
            ranked["dense"] = self._dense(searched, n, where)
            timings.append(("dense", (time.perf_counter() - t) * 1000))
        if method in ("hybrid", "bm25"):
            t = time.perf_counter()
            ranked["bm25"] = self._bm25(searched, n, where)
            timings.append(("bm25", (time.perf_counter() - t) * 1000))

        t = time.perf_counter()
        fused = self._rank(ranked, searched, n, english=is_english(query),
                           hybrid=method == "hybrid")
        hits = tuple(Hit(self.snap.chunks[row], score, rank, method, details)
                     for rank, (row, score, details) in enumerate(fused[:k], start=1))
        timings.append(("fuse", (time.perf_counter() - t) * 1000))
        return SearchResult(query_in, searched, hits, tuple(timings))

    def weights(self, english: bool) -> dict[str, float]:
        """Fusion weight of each method for a Chinese or an English question."""
        s = self.settings
        # BM25 sees only the glossary's Chinese words of an English question: trust it less
        # (eval: English R@5 0.833 -> 0.917 at 0.5; Chinese questions unchanged).
        return {"dense": s.dense_weight,
                "bm25": s.bm25_weight * (s.english_bm25_weight if english else 1.0)}

    def _rank(self, ranked, searched: str, n: int, *, english: bool, hybrid: bool) -> Fused:
        s = self.settings
        fused = fuse(ranked, self.weights(english), s.fusion, s.rrf_k)
        if hybrid and s.sentence_dense_weight and self.snap.sentence_vectors is not None:
            fused = sentence_dense(self.snap, self.query_vector(searched), fused,
                                   s.sentence_dense_weight)
        if hybrid and not english and s.sentence_weight:
            fused = sentence_lexical(self.snap, self.tokenizer, searched, fused,
                                     s.sentence_weight, s.sentence_top)
        if s.reranker:
            fused = self._rerank(searched, fused[:n])
        return fused

    def _rerank(self, query: str, fused: Fused) -> Fused:
        """Optional cross-encoder (``RAG_RERANKER`` = a local model path), loaded once."""
        with self._lock:
            if self._reranker is None:
                # lazy: an optional model, loaded only when configured
                from sentence_transformers import CrossEncoder

                self._reranker = CrossEncoder(self.settings.reranker)
        pairs = [(query, self.snap.chunks[r].text) for r, _, _ in fused]
        scores = self._reranker.predict(pairs) if pairs else []
        out = [(r, float(s), d + (("rerank", float(s)),))
               for (r, _, d), s in zip(fused, scores, strict=True)]
        return sorted(out, key=lambda x: (-x[1], x[0]))
