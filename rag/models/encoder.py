"""Text -> vector: the ``Encoder`` protocol, a deterministic fake, and the factory.

``Encoder.encode(texts, kind)`` returns float32 rows of unit length, so an inner product
is a cosine. ``get_encoder(settings)`` picks the fake (``RAG_MODEL=hash``) or the real model
(rag.models.st); neither loads anything until it encodes.

Example::

    >>> enc = HashEncoder(dim=64)
    >>> enc.encode(["海珠区", "海珠"]).shape
    (2, 64)
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from rag.errors import InputError
from rag.models.st import SentenceTransformerEncoder
from rag.models.texts import Kind, as_list, check_kind
from rag.settings import Settings

__all__ = ["Encoder", "HashEncoder", "get_encoder"]


class Encoder(Protocol):
    """What the index and retriever need from an embedding model."""

    model_id: str
    dim: int
    fingerprint: str  # changes whenever the vectors would; stored in the index manifest

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Return float32 array (len(texts), dim) with L2-normalised rows."""
        ...


# ---------------------------------------------------------------- test fake


class HashEncoder:
    """A deterministic stand-in for unit tests: character uni- and bi-grams hashed into ``dim``.

    Texts sharing characters get a positive cosine; identical texts get identical vectors in
    every process (crc32, not Python's salted ``hash``). Queries and passages are encoded the
    same way. A text with no non-space characters maps to a fixed unit vector so every row
    stays normalised.

    Example: ``HashEncoder(64).encode(["海珠区"]) @ HashEncoder(64).encode(["海珠"]).T > 0``.
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 2:
            raise InputError(f"HashEncoder needs dim >= 2, not {dim}.")
        self.dim = dim
        self.model_id = f"hash-{dim}"
        self.fingerprint = f"hash:v1:{dim}"
        self.load_seconds = 0.0

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        chars = [c for c in text.lower() if not c.isspace()]
        grams = chars + [a + b for a, b in zip(chars, chars[1:], strict=False)]
        for g in grams:
            h = zlib.crc32(g.encode("utf-8"))
            # The top bit picks a sign so unrelated grams cancel instead of piling up.
            v[h % self.dim] += -1.0 if h & 0x80000000 else 1.0
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0
            return v
        return v / norm

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Embed ``texts``; ``kind`` is checked but does not change the vectors."""
        check_kind(kind)
        items = as_list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in items]).astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"HashEncoder(dim={self.dim})"


# ---------------------------------------------------------------- factory


def get_encoder(settings: Settings) -> Encoder:
    """The encoder ``settings.model`` names: ``hash`` / ``hash:128`` -> HashEncoder, else a model.

    Nothing is loaded here; a SentenceTransformerEncoder loads on its first ``encode``.
    """
    model = str(settings.model)
    if model == "hash" or model.startswith("hash:"):
        _, _, size = model.partition(":")
        try:
            return HashEncoder(int(size) if size else 256)
        except ValueError:
            raise InputError(
                f"RAG_MODEL={model!r}: the size after 'hash:' must be a whole number."
            ) from None
    return SentenceTransformerEncoder(
        model,
        query_prefix=settings.query_prefix,
        passage_prefix=settings.passage_prefix,
        batch_size=settings.embed_batch_size,
        threads=settings.torch_threads,
        backend=settings.embed_backend,
        workers=settings.embed_workers,
    )
