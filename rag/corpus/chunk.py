"""Sentence-aware chunking with sentence overlap, never across documents.

Sentences are packed in order until adding the next would pass ``target_chars``; the next
chunk starts ``overlap`` sentences back, so a fact that straddles a boundary is whole in one
of the two chunks. A sentence longer than ``target_chars`` is a chunk of its own: splitting it
would cut a figure from its subject. Offsets are the contract::

    >>> doc = Document("d", "甲。乙。丙。", DocMeta("d", "t"), sentences=((0, 2), (2, 4), (4, 6)))
    >>> [c.text for c in chunk_document(doc, target_chars=4, overlap=1)]
    ['甲。乙。', '乙。丙。']
"""

from __future__ import annotations

from rag.types import Chunk, DocMeta, Document  # noqa: F401  (DocMeta: doctest)

__all__ = ["chunk_corpus", "chunk_document", "fixed_windows"]


def chunk_document(doc: Document, target_chars: int = 220, overlap: int = 1) -> list[Chunk]:
    """Split one document into chunks whose text is ``doc.text[start:end]``."""
    sents = list(doc.sentences) or ([(0, len(doc.text))] if doc.text else [])
    if not sents:
        return []
    overlap = max(0, overlap)
    chunks: list[Chunk] = []
    i = 0
    while i < len(sents):
        j = i + 1
        while j < len(sents) and sents[j][1] - sents[i][0] <= target_chars:
            j += 1
        start, end = sents[i][0], sents[j - 1][1]
        chunks.append(
            Chunk(f"{doc.doc_id}#{len(chunks)}", doc.doc_id, start, end, doc.text[start:end])
        )
        if j >= len(sents):
            break
        # Step back `overlap` sentences, but always move forward by at least one.
        i = max(j - overlap, i + 1)
    return chunks


def chunk_corpus(docs: list[Document], target_chars: int = 220, overlap: int = 1) -> list[Chunk]:
    """Chunks of all documents, in document order."""
    return [c for d in docs for c in chunk_document(d, target_chars, overlap)]


def fixed_windows(doc_id: str, text: str, size: int = 500, overlap: int = 50) -> list[Chunk]:
    """The naive baseline's chunks: fixed character windows over raw text (no sentence care)."""
    step = max(1, size - overlap)
    out = []
    for n, s in enumerate(range(0, max(len(text) - overlap, 1), step)):
        e = min(len(text), s + size)
        out.append(Chunk(f"{doc_id}#w{n}", doc_id, s, e, text[s:e]))
    return out
