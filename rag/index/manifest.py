"""What one build folder holds and says about itself: the manifest, the fingerprints that tell
whether the corpus changed, the texts given to the embedder and to BM25, and the docs.jsonl
row format.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.errors import IndexStateError
from rag.index.dense import REBUILD_HINT
from rag.types import Chunk, DocMeta, Document

__all__ = [
    "check_model",
    "FORMAT_VERSION", "PASSAGE_CONTEXT", "Manifest", "corpus_fingerprint", "doc_fingerprint",
    "doc_from_row", "doc_to_row", "indexed_sentences", "keyword_input", "passage_input",
    "write_jsonl",
]

FORMAT_VERSION = 3  # 2: sentence vectors; 3: source file stamps


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
    # file name -> [size, mtime_ns] of every corpus file (and the metadata sidecar) when the
    # build read them: a later call compares these stamps instead of re-reading the corpus.
    source_stamps: dict

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


def indexed_sentences(docs) -> list[tuple[str, int, int]]:
    """The sentences that get a vector, in row order: every non-blank sentence of every
    document, documents by id. Derived from the documents, so it is not stored twice."""
    out = []
    for d in sorted(docs, key=lambda d: d.doc_id):
        out.extend((d.doc_id, s, e) for s, e in d.sentences if d.text[s:e].strip())
    return out


def write_jsonl(path: Path, rows) -> None:
    """Write ``rows`` as JSON lines (UTF-8, Chinese kept readable)."""
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def doc_to_row(d: Document) -> dict:
    """One line of docs.jsonl."""
    return {"doc_id": d.doc_id, "text": d.text, "meta": d.meta.to_dict(),
            "paragraphs": d.paragraphs, "sentences": d.sentences, "raw_sha256": d.raw_sha256}


def doc_from_row(r: dict) -> Document:
    """The Document of one docs.jsonl line."""
    return Document(r["doc_id"], r["text"], DocMeta(**r["meta"]),
                    tuple(tuple(p) for p in r["paragraphs"]),
                    tuple(tuple(s) for s in r["sentences"]), r.get("raw_sha256", ""))


def check_model(manifest: Manifest, model_id: str | None, model_checksum: str | None) -> None:
    """Refuse a build embedded with another model than the configured one (its vectors would
    not be comparable with the question's)."""
    if model_checksum and manifest.model_checksum != model_checksum:
        raise IndexStateError(
            f"The index was built with model {manifest.model_id} ({manifest.model_checksum}) "
            f"but the configured model is {model_id} ({model_checksum}); {REBUILD_HINT}.")
