"""The index folder: builds written beside the live one, switched atomically, loaded checked.

Folder layout (``settings.index_dir``)::

    index/
      CURRENT                 name of the live build, replaced atomically (os.replace)
      builds/<name>/
        manifest.json         model id + checksum, dim, chunking, fingerprints, build time
        docs.jsonl            cleaned documents (text + metadata): citations point into these
        chunks.jsonl          line i = row i of the vectors
        vectors.npy           float32, L2-normalised
        sentence_vectors.npy  one float32 row per sentence (``indexed_sentences`` order): the
                              retriever re-scores candidate chunks by their best sentence
        faiss.index           exact inner product (or HNSW), ids = row numbers
        bm25/                 bm25s index over jieba tokens

A build is written into a fresh ``builds/`` folder and only then named in ``CURRENT``, so a
crash mid-build leaves the last good index answering. Back-ends sit behind two small
interfaces, ``VectorIndex`` and ``KeywordIndex`` (rag.index.dense, rag.index.keyword).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.errors import IndexStateError
from rag.index.build import (
    Embedded,
    SnapshotReuse,
    prepare_build,
    reusable,
)
from rag.index.dense import REBUILD_HINT, FaissVectorIndex
from rag.index.keyword import BM25KeywordIndex
from rag.index.manifest import (
    FORMAT_VERSION,
    Manifest,
    check_model,
    doc_from_row,
    doc_to_row,
    write_jsonl,
)
from rag.index.snapshot import IndexSnapshot
from rag.text.tokenize import Tokenizer
from rag.types import Chunk, Document

__all__ = ["IndexStore"]


class IndexStore:
    """Builds, updates and loads the index folder. Writers never disturb readers."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- reading
    def current_path(self) -> Path | None:
        """The live build's folder, or None when there is none."""
        cur = self.root / "CURRENT"
        if not cur.exists():
            return None
        p = self.root / "builds" / cur.read_text().strip()
        return p if p.is_dir() else None

    def live_name(self) -> str | None:
        """The live build's name, read fresh from ``CURRENT`` (another process may have
        switched it since this one loaded)."""
        try:
            return (self.root / "CURRENT").read_text().strip() or None
        except OSError:
            return None

    def ping(self) -> None:
        """Nothing to reach: the folder is local (the Milvus store checks its server)."""

    def exists(self) -> bool:
        """True when a live build exists (it may still be damaged: ``load`` checks)."""
        return self.current_path() is not None

    def manifest(self) -> Manifest:
        """The live build's manifest, read without loading the build."""
        path = self.current_path()
        if path is None:
            raise IndexStateError(f"No index found in {self.root}; run `rag index` to build it.")
        return _read_manifest(path)

    def load(self, model_id: str | None = None, model_checksum: str | None = None) -> IndexSnapshot:
        """Load the live build; refuse one made with another model, or a damaged one."""
        path = self.current_path()
        if path is None:
            raise IndexStateError(f"No index found in {self.root}; run `rag index` to build it.")
        manifest = _read_manifest(path)
        check_model(manifest, model_id, model_checksum)
        try:
            snap = _read_build(path, manifest)
        except IndexStateError:
            raise
        except Exception as e:  # any damaged file: one sentence, never a traceback
            raise IndexStateError(f"The index in {path} is damaged ({e.__class__.__name__}: "
                                  f"{str(e)[:80]}); {REBUILD_HINT}.") from None
        _check_consistent(snap)
        return snap

    # -- writing
    def build(self, docs: Sequence[Document], encoder, *, chunk_chars: int, overlap: int,
              ann: str = "auto", ann_threshold: int = 200_000, rebuild: bool = False,
              tokenizer: Tokenizer | None = None, progress=None,
              source_stamps: dict | None = None, _fail_after_embed: bool = False) -> Manifest:
        """Build (or incrementally update) the index for ``docs`` and make it live.

        Chunks of documents whose fingerprint is unchanged reuse their stored vectors, so
        adding or changing one article embeds that article only. ``rebuild`` embeds all.
        ``source_stamps`` (file name -> [size, mtime_ns], taken before the files were read)
        is stored so a later call can tell an unchanged corpus without reading it.
        ``_fail_after_embed`` is a test hook that simulates a crash mid-build.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            # One writer at a time (CLI and app may both ingest); readers never take it.
            fcntl.flock(lock, fcntl.LOCK_EX)
            t0 = time.perf_counter()
            docs = sorted(docs, key=lambda d: d.doc_id)
            old = None if rebuild else self._reusable(encoder, chunk_chars, overlap)
            emb, tokens, manifest = prepare_build(
                docs, encoder, old, chunk_chars=chunk_chars, overlap=overlap, ann=ann,
                ann_threshold=ann_threshold, tokenizer=tokenizer, progress=progress,
                source_stamps=source_stamps, started=t0, fail_after_embed=_fail_after_embed)
            name = self.write_build(docs, emb, tokens, manifest)
        self._collect_garbage(keep=name)
        return manifest

    def write_build(self, docs: Sequence[Document], emb: Embedded, tokens: list[list[str]],
                    manifest: Manifest) -> str:
        """Index ``emb``'s rows (FAISS over its vectors, BM25 over ``tokens``), write the build
        folder and make it live; returns its name. The caller holds the writer lock (``build``
        does) or owns the folder (the bench)."""
        dense = FaissVectorIndex(manifest.dim, manifest.ann)
        ids = np.arange(len(emb.chunks), dtype=np.int64)
        if len(emb.chunks):
            dense.add(ids, emb.vectors)
        keyword = BM25KeywordIndex()
        keyword.add(list(ids), tokens)
        return self._write(docs, emb, dense, keyword, manifest)

    def _reusable(self, encoder, chunk_chars: int, overlap: int) -> SnapshotReuse | None:
        """The live build, when its vectors can be reused (same model, chunking, context)."""
        if not self.exists():
            return None
        try:
            old = self.load(encoder.model_id, encoder.fingerprint)
        except IndexStateError:
            return None  # a damaged or other-model index is simply not reused
        return SnapshotReuse(old) if reusable(old.manifest, chunk_chars, overlap) else None

    def _write(self, docs, emb: Embedded, dense: FaissVectorIndex, keyword: BM25KeywordIndex,
               manifest: Manifest) -> str:
        """Write a build folder, fsync it, then switch ``CURRENT`` to it; returns its name."""
        builds = self.root / "builds"
        builds.mkdir(parents=True, exist_ok=True)
        name = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.perf_counter_ns() % 10**6}"
        tmp = builds / (".tmp-" + name)
        tmp.mkdir()
        try:
            write_jsonl(tmp / "docs.jsonl", (doc_to_row(d) for d in docs))
            write_jsonl(tmp / "chunks.jsonl", ({"chunk_id": c.chunk_id, "doc_id": c.doc_id,
                                                "start": c.start, "end": c.end, "text": c.text}
                                               for c in emb.chunks))
            np.save(tmp / "vectors.npy", emb.vectors)
            np.save(tmp / "sentence_vectors.npy", emb.sentence_vectors)
            dense.save(tmp / "faiss.index")
            keyword.save(tmp / "bm25")
            (tmp / "manifest.json").write_text(json.dumps(manifest.to_dict(), ensure_ascii=False,
                                                          indent=2))
            for f in tmp.rglob("*"):  # data on disk before the switch names it
                if f.is_file():
                    with open(f, "rb") as fh:
                        os.fsync(fh.fileno())
            os.rename(tmp, builds / name)
            cur_tmp = self.root / ".CURRENT.tmp"
            cur_tmp.write_text(name)
            os.replace(cur_tmp, self.root / "CURRENT")  # the atomic switch
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return name

    def _collect_garbage(self, keep: str) -> None:
        """Remove old builds and leftovers of crashed ones. The live build and the one before
        it stay: a reader that started loading the previous build a moment ago still finds it."""
        builds = sorted((p for p in (self.root / "builds").iterdir() if p.name != keep),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        previous = next((p for p in builds if not p.name.startswith(".tmp-")), None)
        for p in builds:
            if p is not previous:
                shutil.rmtree(p, ignore_errors=True)


def _read_manifest(path: Path) -> Manifest:
    try:
        raw = json.loads((path / "manifest.json").read_text())
        version = raw.get("format_version")
        # An older format lacks newer fields: say so rather than "unreadable".
        if version == FORMAT_VERSION:
            return Manifest(**raw)
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise IndexStateError(f"The index manifest in {path} is unreadable "
                              f"({e.__class__.__name__}); {REBUILD_HINT}.") from None
    raise IndexStateError(f"The index in {path} has format {version}, "
                          f"this version reads {FORMAT_VERSION}; {REBUILD_HINT}.")


def _read_build(path: Path, manifest: Manifest) -> IndexSnapshot:
    docs = {}
    with open(path / "docs.jsonl", encoding="utf-8") as f:
        for line in f:
            d = doc_from_row(json.loads(line))
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
    return IndexSnapshot(path, manifest, docs, chunks, vectors, dense, keyword, sentence_vectors)


def _check_consistent(snap: IndexSnapshot) -> None:
    m, path = snap.manifest, snap.path
    sv = snap.sentence_vectors
    if not (len(snap.chunks) == snap.vectors.shape[0] == snap.dense.count()
            == snap.keyword.count() == m.n_chunks) or not (
            sv is not None and len(snap.sentence_spans) == sv.shape[0] == m.n_sentences):
        raise IndexStateError(f"The index in {path} is inconsistent (chunk and vector counts "
                              f"differ); {REBUILD_HINT}.")
    for c in snap.chunks[:: max(1, len(snap.chunks) // 50)]:  # spot-check the offset contract
        d = snap.docs.get(c.doc_id)
        if d is None or d.text[c.start:c.end] != c.text:
            raise IndexStateError(f"The index in {path} has chunks that do not match their "
                                  f"documents; {REBUILD_HINT}.")
