"""Plain-dict shapes at the file and HTTP boundaries (CLI ``--json``, batch files, REST API).

One place, so ``rag search --json``, ``rag search --batch`` and ``POST /api/search`` agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from rag.retrieve.search import SearchResult
from rag.types import Answer, Document, Hit

__all__ = ["answer_to_dict", "document_to_dict", "search_to_dict"]


def _hit_to_dict(hit: Hit, docs: Mapping[str, Document]) -> dict:
    meta = docs[hit.chunk.doc_id].meta if hit.chunk.doc_id in docs else None
    return {
        "rank": hit.rank,
        "doc_id": hit.chunk.doc_id,
        "chunk_id": hit.chunk.chunk_id,
        "title": meta.title if meta else "",
        "date": meta.date if meta else None,
        "source": meta.source if meta else "",
        "start": hit.chunk.start,
        "end": hit.chunk.end,
        "text": hit.chunk.text,
        "score": round(float(hit.score), 6),
        "scores": dict(hit.details),
    }


def search_to_dict(res: SearchResult, docs: Mapping[str, Document]) -> dict:
    """``{question, searched, hits: [{rank, doc_id, chunk_id, title, date, source, start, end,
    text, score, scores}], timings_ms}``; ``docs`` supplies each hit's title, date, source."""
    return {
        "question": res.query,
        "searched": res.searched,
        "hits": [_hit_to_dict(h, docs) for h in res.hits],
        "timings_ms": {k: round(v, 2) for k, v in res.timings_ms},
    }


def answer_to_dict(ans: Answer, docs: Mapping[str, Document]) -> dict:
    """``{question, answer, refused, mode, note, citations, related, hits, timings_ms}``;
    ``answer`` carries ``[n]`` markers that refer to ``citations[i]["n"]``."""
    return {
        "question": ans.question,
        "answer": ans.text,
        "refused": ans.refused,
        "mode": ans.mode,
        "note": ans.note,
        "citations": [c.to_dict() for c in ans.citations],
        "related": [c.to_dict() for c in ans.related],
        "hits": [_hit_to_dict(h, docs) for h in ans.hits],
        "timings_ms": {k: round(v, 2) for k, v in ans.timings_ms},
    }


def document_to_dict(doc: Document, with_text: bool = False) -> dict:
    """An article's metadata and length; ``with_text`` adds the cleaned text (the one all
    citation offsets point into) and its paragraph spans."""
    d = {
        "doc_id": doc.doc_id,
        "title": doc.meta.title,
        "date": doc.meta.date,
        "date_inferred": doc.meta.date_inferred,
        "date_note": doc.meta.date_note,
        "source": doc.meta.source,
        "author": doc.meta.author,
        "region": doc.meta.region,
        "url": doc.meta.url,
        "chars": len(doc.text),
    }
    if with_text:
        d["text"] = doc.text
        d["paragraphs"] = [list(p) for p in doc.paragraphs]
    return d
