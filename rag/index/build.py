"""What every back-end does to build an index: chunk the documents, embed what an earlier
build cannot give, and describe the result in a manifest.

The back-ends (the local folder, :mod:`rag.index.store`; Milvus, :mod:`rag.index.milvus`)
differ only in where the rows go. Reuse goes through a small protocol: an earlier build says
which documents it holds (by fingerprint) and hands over the stored vectors of the unchanged
ones, so adding one article embeds that article only, whichever back-end holds the index.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rag.corpus.chunk import chunk_document
from rag.index.dense import choose_ann
from rag.index.manifest import (
    FORMAT_VERSION,
    PASSAGE_CONTEXT,
    Manifest,
    corpus_fingerprint,
    doc_fingerprint,
    indexed_sentences,
    keyword_input,
    passage_input,
)
from rag.index.snapshot import IndexSnapshot
from rag.text.tokenize import Tokenizer, default_tokenizer
from rag.types import Chunk, Document

__all__ = ["EMBED_BATCH", "Embedded", "Reuse", "SnapshotReuse", "embed_documents",
           "keyword_tokens", "new_manifest", "prepare_build", "reusable"]

EMBED_BATCH = 64

SentenceKey = tuple[str, int, int]


@dataclass
class Embedded:
    """What one build embedded or reused."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentence_vectors: np.ndarray
    n_sentences: int
    embedded_chunks: int
    embedded_sentences: int
    seconds: float


class Reuse(Protocol):
    """An earlier build whose vectors a new build may reuse."""

    manifest: Manifest

    def vectors_for(self, doc_ids: set[str]) -> tuple[dict[str, np.ndarray],
                                                       dict[SentenceKey, np.ndarray]]:
        """Stored vectors of ``doc_ids``' chunks (by chunk id) and sentences (by span)."""
        ...


class SnapshotReuse:
    """Reuse from a loaded snapshot that holds its vectors in memory (the local back-end)."""

    def __init__(self, snap: IndexSnapshot) -> None:
        self.snap = snap
        self.manifest = snap.manifest

    def vectors_for(self, doc_ids: set[str]):
        s = self.snap
        chunks = {c.chunk_id: s.vectors[i] for i, c in enumerate(s.chunks) if c.doc_id in doc_ids}
        sents = {span: s.sentence_vectors[i]
                 for i, span in enumerate(s.sentence_spans) if span[0] in doc_ids}
        return chunks, sents


def reusable(manifest: Manifest, chunk_chars: int, overlap: int) -> bool:
    """Can a build with ``manifest`` lend vectors to one with this chunking?"""
    return (manifest.chunk_chars, manifest.chunk_overlap_sentences, manifest.passage_context) \
        == (chunk_chars, overlap, PASSAGE_CONTEXT)


def embed_documents(docs: list[Document], encoder, old: Reuse | None, chunk_chars: int,
                    overlap: int, progress=None) -> Embedded:
    """Chunk ``docs`` and embed what ``old`` cannot give: chunks and sentences of new or
    changed articles only."""
    fps = {d.doc_id: doc_fingerprint(d) for d in docs}
    reuse: dict[str, np.ndarray] = {}
    reuse_sent: dict[SentenceKey, np.ndarray] = {}
    if old is not None:
        same = {d for d, fp in old.manifest.doc_fingerprints.items() if fps.get(d) == fp}
        if same:
            reuse, reuse_sent = old.vectors_for(same)
    chunks = [c for d in docs for c in chunk_document(d, chunk_chars, overlap)]
    metas = {d.doc_id: d.meta for d in docs}
    texts = {d.doc_id: d.text for d in docs}
    # Sentences alone, without the title: on the eval, sentence vectors with the title
    # matched questions worse than the bare sentence (the chunk vector has the title).
    spans = indexed_sentences(docs)
    vectors = np.zeros((len(chunks), encoder.dim), dtype=np.float32)
    sentence_vectors = np.zeros((len(spans), encoder.dim), dtype=np.float32)
    todo = [i for i, c in enumerate(chunks) if c.chunk_id not in reuse]
    todo_sent = [i for i, span in enumerate(spans) if span not in reuse_sent]
    for i, c in enumerate(chunks):
        if c.chunk_id in reuse:
            vectors[i] = reuse[c.chunk_id]
    for i, span in enumerate(spans):
        if span in reuse_sent:
            sentence_vectors[i] = reuse_sent[span]
    t0 = time.perf_counter()
    total = len(todo) + len(todo_sent)
    jobs = [(vectors, todo, lambda i: passage_input(chunks[i], metas[chunks[i].doc_id]), 0),
            (sentence_vectors, todo_sent,
             lambda i: texts[spans[i][0]][spans[i][1]:spans[i][2]], len(todo))]
    for out, rows_todo, text_of, done_before in jobs:
        for s in range(0, len(rows_todo), EMBED_BATCH):
            rows = rows_todo[s : s + EMBED_BATCH]
            out[rows] = encoder.encode([text_of(i) for i in rows], kind="passage")
            if progress:
                progress(done_before + min(s + EMBED_BATCH, len(rows_todo)), total)
    return Embedded(chunks, vectors, sentence_vectors, len(spans), len(todo), len(todo_sent),
                    time.perf_counter() - t0)


def keyword_tokens(chunks: Sequence[Chunk], docs: Sequence[Document],
                   tokenizer: Tokenizer) -> list[list[str]]:
    """BM25 tokens of every chunk (title included, see ``keyword_input``), row order."""
    metas = {d.doc_id: d.meta for d in docs}
    return [tokenizer.tokens(keyword_input(c, metas[c.doc_id])) for c in chunks]


def new_manifest(docs: Sequence[Document], encoder, emb: Embedded, *, chunk_chars: int,
                 overlap: int, ann: str, started: float, source_stamps: dict | None) -> Manifest:
    """The manifest of a build of ``docs`` that began at ``started`` (``perf_counter``)."""
    return Manifest(
        format_version=FORMAT_VERSION, model_id=encoder.model_id,
        model_checksum=encoder.fingerprint, dim=encoder.dim, chunk_chars=chunk_chars,
        chunk_overlap_sentences=overlap, corpus_fingerprint=corpus_fingerprint(docs),
        doc_fingerprints={d.doc_id: doc_fingerprint(d) for d in docs}, n_docs=len(docs),
        n_chunks=len(emb.chunks), ann=ann, built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        build_seconds=round(time.perf_counter() - started, 3),
        embed_seconds=round(emb.seconds, 3), embedded_chunks=emb.embedded_chunks,
        passage_context=PASSAGE_CONTEXT, n_sentences=emb.n_sentences,
        embedded_sentences=emb.embedded_sentences, source_stamps=dict(source_stamps or {}))


def prepare_build(docs: list[Document], encoder, old: Reuse | None, *, chunk_chars: int,
                  overlap: int, ann: str, ann_threshold: int, tokenizer: Tokenizer | None,
                  progress, source_stamps: dict | None, started: float,
                  fail_after_embed: bool = False) -> tuple[Embedded, list[list[str]], Manifest]:
    """Everything a back-end writes for ``docs``: the rows and vectors (reusing ``old``'s),
    the BM25 tokens and the manifest. ``fail_after_embed`` simulates a crash (tests)."""
    emb = embed_documents(docs, encoder, old, chunk_chars, overlap, progress)
    if fail_after_embed:
        raise RuntimeError("simulated crash during index build")
    kind = choose_ann(ann, len(emb.chunks), ann_threshold)
    tokens = keyword_tokens(emb.chunks, docs, tokenizer or default_tokenizer())
    manifest = new_manifest(docs, encoder, emb, chunk_chars=chunk_chars, overlap=overlap,
                            ann=kind, started=started, source_stamps=source_stamps)
    return emb, tokens, manifest
