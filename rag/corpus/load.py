"""Files -> :class:`~rag.types.Document`: read, clean, describe.

Example::

    >>> docs, errors = load_corpus(Path("corpus"))          # doctest: +SKIP
    >>> docs[0].doc_id, docs[0].meta.date                   # doctest: +SKIP
    ('000_e71591340c5b937c', '2026-03')
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rag.corpus.clean import clean_text
from rag.corpus.formats import DEFAULT_MAX_BYTES, SUPPORTED_EXTENSIONS, read_raw
from rag.corpus.metadata import SIDECAR_NAME, extract_meta, load_sidecar, meta_from_entry
from rag.errors import IngestError
from rag.text.patterns import paragraph_spans, sentence_spans
from rag.types import DocMeta, Document

__all__ = ["corpus_files", "file_fingerprint", "load_corpus", "load_document", "source_stamps"]


def file_fingerprint(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_document(
    path: Path, meta: dict | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Document:
    """Read, clean and describe one file; ``meta`` is its sidecar entry, if any.

    ``doc_id`` is the file name without extension. Raises :class:`IngestError` when the
    file cannot be read or has no text left after cleaning.
    """
    path = Path(path)
    doc_id = path.stem
    raw = read_raw(path, max_bytes=max_bytes)
    text = clean_text(raw)
    if not text:
        raise IngestError(f"File '{path.name}' has no article text left after cleaning.")
    if meta:
        doc_meta = meta_from_entry(doc_id, meta, path.name)
    else:
        auto = extract_meta(doc_id, raw, text)
        doc_meta = DocMeta(**{**auto.to_dict(), "file": path.name})
    return Document(
        doc_id=doc_id,
        text=text,
        meta=doc_meta,
        paragraphs=tuple(paragraph_spans(text)),
        sentences=tuple(sentence_spans(text)),
        raw_sha256=file_fingerprint(path),
    )


def corpus_files(corpus_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in Path(corpus_dir).iterdir()
        if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS and not p.name.startswith(".")
    )


def load_corpus(corpus_dir: Path) -> tuple[list[Document], list[str]]:
    """Load every supported file of ``corpus_dir``, sorted by doc id.

    Returns ``(documents, errors)``: a file that fails is skipped with a one-line error
    and the rest still load. The sidecar ``metadata.toml`` is read, never loaded as a
    document.
    """
    errors: list[str] = []
    try:
        sidecar = load_sidecar(corpus_dir)
    except IngestError as exc:
        errors.append(str(exc))
        sidecar = {}
    docs: dict[str, Document] = {}
    for path in corpus_files(corpus_dir):
        doc_id = path.stem
        if doc_id in docs:
            errors.append(
                f"File '{path.name}' has the same doc id as '{docs[doc_id].meta.file}'; rename one of them."
            )
            continue
        try:
            docs[doc_id] = load_document(path, sidecar.get(doc_id))
        except IngestError as exc:
            errors.append(str(exc))
    return [docs[k] for k in sorted(docs)], errors


def source_stamps(corpus_dir: Path) -> dict[str, list[int]]:
    """File name -> [size, mtime_ns] of every corpus file and the metadata sidecar.

    Stored in the index manifest at build time; comparing stamps tells an unchanged corpus
    in a few ``stat`` calls, without reading or cleaning any article. Take them *before*
    reading the files, so a file changed meanwhile shows as changed next time.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        return {}
    paths = corpus_files(corpus_dir)
    sidecar = corpus_dir / SIDECAR_NAME
    if sidecar.is_file():
        paths.append(sidecar)
    out = {}
    for p in paths:
        st = p.stat()
        out[p.name] = [st.st_size, st.st_mtime_ns]
    return out
