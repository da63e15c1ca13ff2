"""Which rows a filtered search may return, in both forms an index can use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RowFilter"]


@dataclass(frozen=True)
class RowFilter:
    """A mask over chunk rows (in-memory indexes) and the article ids it keeps (a
    server-side filter expression, e.g. Milvus' ``doc_id in [...]``)."""

    mask: np.ndarray
    doc_ids: tuple[str, ...]
