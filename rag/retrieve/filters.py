"""Article and date filters as a row filter over the snapshot's chunks: a mask for in-memory
indexes and the article ids for a server-side one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.errors import InputError
from rag.index.filter import RowFilter
from rag.index.snapshot import IndexSnapshot

__all__ = ["date_in_range", "row_filter"]


def date_in_range(date: str | None, since: str | None, until: str | None) -> bool:
    """Is an article's (possibly partial) ISO date within [since, until]?

    Partial dates compare on their own precision: "2026-03" is within since=2026-03-15's
    month, so it is kept rather than silently dropped.

    >>> date_in_range("2026-03", "2026-03-15", None), date_in_range(None, "2025", None)
    (True, False)
    """
    if since is None and until is None:
        return True
    if not date:
        return False  # an undated article cannot be shown to fall in a date range
    if since and date < since[: len(date)]:
        return False
    if until and date[: len(until)] > until:
        return False
    return True


def row_filter(snap: IndexSnapshot, row_doc: np.ndarray, doc_ids: Sequence[str] | None,
               since: str | None, until: str | None) -> RowFilter | None:
    """The rows and articles a filtered search keeps, or None when nothing is filtered.
    ``row_doc`` gives each chunk row's article as its position in ``snap.docs``."""
    if not doc_ids and since is None and until is None:
        return None
    unknown = [d for d in (doc_ids or []) if d not in snap.docs]
    if unknown:
        raise InputError(f"Unknown article id {unknown[0]!r}; `rag docs` lists the ids.")
    wanted = set(doc_ids or ())
    keep = np.array([(not wanted or d.doc_id in wanted) and date_in_range(d.meta.date, since, until)
                     for d in snap.docs.values()], dtype=bool)
    allowed = tuple(sorted(doc_id for doc_id, k in zip(snap.docs, keep, strict=True) if k))
    return RowFilter(keep[row_doc], allowed)
