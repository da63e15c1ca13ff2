"""The persistent index: chunks, dense vectors (FAISS), keyword index (BM25), manifest.

Folder layout (``settings.index_dir``)::

    index/
      CURRENT                 name of the live build, replaced atomically (os.replace)
      builds/<name>/
        manifest.json         model id + checksum, dim, chunking, corpus fingerprint, build time
        docs.jsonl            cleaned documents (text + metadata): citations point into these
        chunks.jsonl          line i = row i of the vectors
        vectors.npy           float32, L2-normalised
        sentence_vectors.npy  one float32 row per sentence (``sentence_spans`` order): the
                              retriever re-scores candidate chunks by their best sentence
        faiss.index           exact inner product (or HNSW), ids = row numbers
        bm25/                 bm25s index over jieba tokens

A build is written into a fresh ``builds/`` folder and only then named in ``CURRENT``, so a
crash mid-build leaves the last good index answering. Back-ends sit behind two small
interfaces, ``VectorIndex`` and ``KeywordIndex`` (add, delete, search, count, save, load), so
OpenSearch or Milvus can replace them without touching retrieval.
"""

from __future__ import annotations

import bisect
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import IndexStateError
from .tokenize import Tokenizer, default_tokenizer
from .types import Chunk, DocMeta, Document

FORMAT_VERSION = 2  # 2: sentence vectors
REBUILD_HINT = "run `rag index --rebuild` to rebuild it"


# ----------------------------------------------------------------------------- interfaces
class VectorIndex(Protocol):
    """Nearest neighbours by inner product over L2-normalised vectors (= cosine)."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def delete(self, ids: np.ndarray) -> None: ...
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def count(self) -> int: ...
    def save(self, path: Path) -> None: ...


class KeywordIndex(Protocol):
    """Ranked keyword search over token lists."""

    def add(self, ids: Sequence[int], token_lists: Sequence[list[str]]) -> None: ...
    def delete(self, ids: Sequence[int]) -> None: ...
    def search(self, query_tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def count(self) -> int: ...
    def save(self, path: Path) -> None: ...


# ----------------------------------------------------------------------------- FAISS
class FaissVectorIndex:
    """FAISS back-end: exact ``IndexFlatIP`` by default, HNSW when asked for or large.

    Inner product equals cosine because every vector is L2-normalised by the encoder.
    """

    def __init__(self, dim: int, kind: str = "exact", hnsw_m: int = 32) -> None:
        import faiss

        # Single queries gain nothing from OpenMP threads but lose a lot when the other core
        # is busy (measured at 100k vectors: 14 ms on one thread, 72 ms on two).
        faiss.omp_set_num_threads(1)
        self.dim, self.kind = dim, kind
        if kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = 80
            base.hnsw.efSearch = 128
            self._index = faiss.IndexIDMap(base)  # HNSW cannot remove: delete rebuilds
        else:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                 np.asarray(ids, dtype=np.int64))

    def delete(self, ids: np.ndarray) -> None:
        import faiss

        if self.kind == "hnsw":
            raise NotImplementedError("HNSW indexes are rebuilt, not edited")
        self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, self.count()))
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def count(self) -> int:
        return int(self._index.ntotal)

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


# ----------------------------------------------------------------------------- BM25
class BM25KeywordIndex:
    """bm25s back-end. bm25s has no incremental add, so add/delete re-index all rows
    (a few hundred ms per 10k chunks): cheap next to embedding, which is incremental."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._ids: list[int] = []
        self._tokens: list[list[str]] = []
        self._bm25 = None

    def _reindex(self) -> None:
        import bm25s

        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        if self._tokens:
            # An empty token list would break bm25s; a sentinel keeps row numbers aligned.
            self._bm25.index([t or ["\u2400"] for t in self._tokens], show_progress=False)

    def add(self, ids: Sequence[int], token_lists: Sequence[list[str]]) -> None:
        self._ids.extend(int(i) for i in ids)
        self._tokens.extend(list(t) for t in token_lists)
        self._reindex()

    def delete(self, ids: Sequence[int]) -> None:
        drop = set(int(i) for i in ids)
        keep = [n for n, i in enumerate(self._ids) if i not in drop]
        self._ids = [self._ids[n] for n in keep]
        self._tokens = [self._tokens[n] for n in keep]
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
        return list(self._bm25.vocab_dict) if self._bm25 is not None else []

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


# ----------------------------------------------------------------------------- store
@dataclass(frozen=True)
class Manifest:
    """What the index folder says about itself."""

    format_version: int
    model_id: str
    model_checksum: str
    dim: int
    chunk_chars: int
    chunk_overlap_sentences: int
    corpus_fingerprint: str
    doc_fingerprints: dict
    n_docs: int
    n_chunks: int
    ann: str
    built_at: str
    build_seconds: float
    embed_seconds: float
    embedded_chunks: int  # how many chunks this build embedded (the rest were reused)
    passage_context: str  # how title/date were given to the embedder
    n_sentences: int  # rows of sentence_vectors.npy
    embedded_sentences: int  # how many sentences this build embedded

    def to_dict(self) -> dict:
        return asdict(self)


def doc_fingerprint(doc: Document) -> str:
    """Changes when the cleaned text or the metadata shown with it changes."""
    h = hashlib.sha256(doc.text.encode("utf-8"))
    h.update(json.dumps(doc.meta.to_dict(), sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def corpus_fingerprint(docs: Sequence[Document]) -> str:
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.doc_id):
        h.update(f"{d.doc_id}:{doc_fingerprint(d)}\n".encode())
    return h.hexdigest()[:16]


def passage_input(chunk: Chunk, meta: DocMeta) -> str:
    """What the embedder sees for a chunk: title and date as context, then the passage.

    The title says which district/topic a passage belongs to when the passage itself only says
    "全区" or "今年"; the date anchors the year.
    """
    date = f"({meta.date})" if meta.date else ""
    return f"{meta.title}{date}\n{chunk.text}"


PASSAGE_CONTEXT = "title(date)\\ntext"


def keyword_input(chunk: Chunk, meta: DocMeta) -> str:
    """What BM25 indexes: the title too, so district names in titles count for every chunk."""
    return f"{meta.title}\n{chunk.text}"


def sentence_spans(docs) -> list[tuple[str, int, int]]:
    """The sentences that get a vector, in row order: every non-blank sentence of every
    document, documents by id. Derived from the documents, so it is not stored twice."""
    out = []
    for d in sorted(docs, key=lambda d: d.doc_id):
        out.extend((d.doc_id, s, e) for s, e in d.sentences if d.text[s:e].strip())
    return out


class IndexSnapshot:
    """A loaded, immutable view of one build: everything a query needs."""

    def __init__(self, path: Path, manifest: Manifest, docs: dict[str, Document],
                 chunks: list[Chunk], vectors: np.ndarray, dense: FaissVectorIndex,
                 keyword: BM25KeywordIndex, sentence_vectors: np.ndarray | None = None) -> None:
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
        self.sentence_spans = sentence_spans(docs.values())
        # doc_id -> (sentence starts, sentence ends, first row): a chunk's sentences by bisection
        self.sentence_rows: dict[str, tuple[list[int], list[int], int]] = {}
        for row, (doc_id, s, e) in enumerate(self.sentence_spans):
            starts, ends, first = self.sentence_rows.setdefault(doc_id, ([], [], row))
            starts.append(s)
            ends.append(e)
        self.derived: dict = {}  # caches of values computed from this snapshot (rag.answer)

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


def _write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _doc_to_row(d: Document) -> dict:
    return {"doc_id": d.doc_id, "text": d.text, "meta": d.meta.to_dict(),
            "paragraphs": d.paragraphs, "sentences": d.sentences, "raw_sha256": d.raw_sha256}


def _doc_from_row(r: dict) -> Document:
    return Document(r["doc_id"], r["text"], DocMeta(**r["meta"]),
                    tuple(tuple(p) for p in r["paragraphs"]),
                    tuple(tuple(s) for s in r["sentences"]), r.get("raw_sha256", ""))


def _ann_kind(setting: str, n: int, threshold: int) -> str:
    if setting == "auto":
        return "hnsw" if n >= threshold else "exact"
    return setting


class IndexStore:
    """Builds, updates and loads the index folder. Writers never disturb readers."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- reading
    def current_path(self) -> Path | None:
        cur = self.root / "CURRENT"
        if not cur.exists():
            return None
        p = self.root / "builds" / cur.read_text().strip()
        return p if p.is_dir() else None

    def exists(self) -> bool:
        return self.current_path() is not None

    def load(self, model_id: str | None = None, model_checksum: str | None = None) -> IndexSnapshot:
        """Load the live build; refuse one made with another model, or a damaged one."""
        path = self.current_path()
        if path is None:
            raise IndexStateError(f"No index found in {self.root}; run `rag index` to build it.")
        try:
            raw = json.loads((path / "manifest.json").read_text())
            version = raw.get("format_version")
            # An older format lacks newer fields: say so rather than "unreadable".
            if version == FORMAT_VERSION:
                manifest = Manifest(**raw)
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise IndexStateError(f"The index manifest in {path} is unreadable ({e.__class__.__name__}); "
                                  f"{REBUILD_HINT}.") from None
        if version != FORMAT_VERSION:
            raise IndexStateError(f"The index in {path} has format {version}, "
                                  f"this version reads {FORMAT_VERSION}; {REBUILD_HINT}.")
        if model_checksum and manifest.model_checksum != model_checksum:
            raise IndexStateError(
                f"The index was built with model {manifest.model_id} ({manifest.model_checksum}) "
                f"but the configured model is {model_id} ({model_checksum}); {REBUILD_HINT}.")
        try:
            docs = {}
            with open(path / "docs.jsonl", encoding="utf-8") as f:
                for line in f:
                    d = _doc_from_row(json.loads(line))
                    docs[d.doc_id] = d
            chunks = []
            with open(path / "chunks.jsonl", encoding="utf-8") as f:
                for line in f:
                    r = json.loads(line)
                    chunks.append(Chunk(r["chunk_id"], r["doc_id"], r["start"], r["end"], r["text"]))
            vectors = np.load(path / "vectors.npy", allow_pickle=False)
            sentence_vectors = np.load(path / "sentence_vectors.npy", allow_pickle=False)
            dense = FaissVectorIndex.load(path / "faiss.index", manifest.dim, manifest.ann)
            keyword = BM25KeywordIndex.load(path / "bm25")
        except IndexStateError:
            raise
        except Exception as e:  # any damaged file: one sentence, never a traceback
            raise IndexStateError(f"The index in {path} is damaged ({e.__class__.__name__}: "
                                  f"{str(e)[:80]}); {REBUILD_HINT}.") from None
        snap = IndexSnapshot(path, manifest, docs, chunks, vectors, dense, keyword,
                             sentence_vectors)
        if not (len(chunks) == vectors.shape[0] == dense.count() == keyword.count()
                == manifest.n_chunks) or not (
                len(snap.sentence_spans) == sentence_vectors.shape[0] == manifest.n_sentences):
            raise IndexStateError(f"The index in {path} is inconsistent (chunk and vector counts "
                                  f"differ); {REBUILD_HINT}.")
        for c in chunks[:: max(1, len(chunks) // 50)]:  # spot-check the offset contract
            d = docs.get(c.doc_id)
            if d is None or d.text[c.start:c.end] != c.text:
                raise IndexStateError(f"The index in {path} has chunks that do not match their "
                                      f"documents; {REBUILD_HINT}.")
        return snap

    # -- writing
    def build(self, docs: Sequence[Document], encoder, *, chunk_chars: int, overlap: int,
              ann: str = "auto", ann_threshold: int = 200_000, rebuild: bool = False,
              tokenizer: Tokenizer | None = None, progress=None,
              _fail_after_embed: bool = False) -> Manifest:
        """Build (or incrementally update) the index for ``docs`` and make it live.

        Chunks of documents whose fingerprint is unchanged reuse their stored vectors, so
        adding or changing one article embeds that article only. ``rebuild`` embeds all.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            # One writer at a time (CLI and app may both ingest); readers never take it.
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._build(docs, encoder, chunk_chars=chunk_chars, overlap=overlap, ann=ann,
                               ann_threshold=ann_threshold, rebuild=rebuild, tokenizer=tokenizer,
                               progress=progress, _fail_after_embed=_fail_after_embed)

    def _build(self, docs, encoder, *, chunk_chars, overlap, ann, ann_threshold, rebuild,
               tokenizer, progress, _fail_after_embed) -> Manifest:
        from .chunk import chunk_document

        t0 = time.perf_counter()
        tokenizer = tokenizer or default_tokenizer()
        docs = sorted(docs, key=lambda d: d.doc_id)
        fps = {d.doc_id: doc_fingerprint(d) for d in docs}

        reuse: dict[str, np.ndarray] = {}
        reuse_sent: dict[tuple[str, int, int], np.ndarray] = {}
        old = None
        if not rebuild and self.exists():
            try:
                old = self.load(encoder.model_id, encoder.fingerprint)
            except IndexStateError:
                old = None  # a damaged or other-model index is simply not reused
        if old is not None and (old.manifest.chunk_chars, old.manifest.chunk_overlap_sentences,
                                old.manifest.passage_context) == (chunk_chars, overlap,
                                                                  PASSAGE_CONTEXT):
            for i, c in enumerate(old.chunks):
                if old.manifest.doc_fingerprints.get(c.doc_id) == fps.get(c.doc_id):
                    reuse[c.chunk_id] = old.vectors[i]
            for i, span in enumerate(old.sentence_spans):
                if old.manifest.doc_fingerprints.get(span[0]) == fps.get(span[0]):
                    reuse_sent[span] = old.sentence_vectors[i]

        chunks: list[Chunk] = []
        for d in docs:
            chunks.extend(chunk_document(d, chunk_chars, overlap))
        metas = {d.doc_id: d.meta for d in docs}
        todo = [i for i, c in enumerate(chunks) if c.chunk_id not in reuse]
        # Sentences alone, without the title: on the eval, sentence vectors with the title
        # matched questions worse than the bare sentence (the chunk vector has the title).
        spans = sentence_spans(docs)
        texts_by_doc = {d.doc_id: d.text for d in docs}
        sentence_vectors = np.zeros((len(spans), encoder.dim), dtype=np.float32)
        todo_sent = []
        for i, span in enumerate(spans):
            if span in reuse_sent:
                sentence_vectors[i] = reuse_sent[span]
            else:
                todo_sent.append(i)
        t_embed = time.perf_counter()
        vectors = np.zeros((len(chunks), encoder.dim), dtype=np.float32)
        for i, c in enumerate(chunks):
            if c.chunk_id in reuse:
                vectors[i] = reuse[c.chunk_id]
        batch = 64
        for s in range(0, len(todo), batch):
            rows = todo[s : s + batch]
            texts = [passage_input(chunks[i], metas[chunks[i].doc_id]) for i in rows]
            vectors[rows] = encoder.encode(texts, kind="passage")
            if progress:
                progress(min(s + batch, len(todo)), len(todo) + len(todo_sent))
        for s in range(0, len(todo_sent), batch):
            rows = todo_sent[s : s + batch]
            texts = [texts_by_doc[spans[i][0]][spans[i][1]:spans[i][2]] for i in rows]
            sentence_vectors[rows] = encoder.encode(texts, kind="passage")
            if progress:
                progress(len(todo) + min(s + batch, len(todo_sent)), len(todo) + len(todo_sent))
        embed_seconds = time.perf_counter() - t_embed
        if _fail_after_embed:  # test hook: simulate a crash mid-build
            raise RuntimeError("simulated crash during index build")

        kind = _ann_kind(ann, len(chunks), ann_threshold)
        dense = FaissVectorIndex(encoder.dim, kind)
        ids = np.arange(len(chunks), dtype=np.int64)
        if len(chunks):
            dense.add(ids, vectors)
        keyword = BM25KeywordIndex()
        keyword.add(list(ids), [tokenizer.tokens(keyword_input(c, metas[c.doc_id]))
                                for c in chunks])

        manifest = Manifest(
            format_version=FORMAT_VERSION, model_id=encoder.model_id,
            model_checksum=encoder.fingerprint, dim=encoder.dim, chunk_chars=chunk_chars,
            chunk_overlap_sentences=overlap, corpus_fingerprint=corpus_fingerprint(docs),
            doc_fingerprints=fps, n_docs=len(docs), n_chunks=len(chunks), ann=kind,
            built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            build_seconds=round(time.perf_counter() - t0, 3),
            embed_seconds=round(embed_seconds, 3), embedded_chunks=len(todo),
            passage_context=PASSAGE_CONTEXT, n_sentences=len(spans),
            embedded_sentences=len(todo_sent))

        builds = self.root / "builds"
        builds.mkdir(parents=True, exist_ok=True)
        name = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.perf_counter_ns() % 10**6}"
        tmp = builds / (".tmp-" + name)
        tmp.mkdir()
        try:
            _write_jsonl(tmp / "docs.jsonl", (_doc_to_row(d) for d in docs))
            _write_jsonl(tmp / "chunks.jsonl", ({"chunk_id": c.chunk_id, "doc_id": c.doc_id,
                                                 "start": c.start, "end": c.end, "text": c.text}
                                                for c in chunks))
            np.save(tmp / "vectors.npy", vectors)
            np.save(tmp / "sentence_vectors.npy", sentence_vectors)
            dense.save(tmp / "faiss.index")
            keyword.save(tmp / "bm25")
            (tmp / "manifest.json").write_text(json.dumps(manifest.to_dict(), ensure_ascii=False,
                                                          indent=2))
            for f in tmp.rglob("*"):  # data on disk before the switch names it
                if f.is_file():
                    with open(f, "rb") as fh:
                        os.fsync(fh.fileno())
            final = builds / name
            os.rename(tmp, final)
            cur_tmp = self.root / ".CURRENT.tmp"
            cur_tmp.write_text(name)
            os.replace(cur_tmp, self.root / "CURRENT")  # the atomic switch
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._collect_garbage(keep=name)
        return manifest

    def _collect_garbage(self, keep: str) -> None:
        """Remove old builds and leftovers of crashed ones. The live build and the one before
        it stay: a reader that started loading the previous build a moment ago still finds it."""
        builds = sorted((p for p in (self.root / "builds").iterdir() if p.name != keep),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        previous = next((p for p in builds if not p.name.startswith(".tmp-")), None)
        for p in builds:
            if p is not previous:
                shutil.rmtree(p, ignore_errors=True)
