"""Which index back-end the settings ask for: the local folder (default) or a Milvus server.

Both stores answer the same calls (``live_name``, ``ping``, ``exists``, ``manifest``, ``load``,
``build``, ``current_path``, ``root``), so the pipeline does not care which one it holds.
"""

from __future__ import annotations

from rag.errors import InputError
from rag.index.store import IndexStore
from rag.settings import Settings

__all__ = ["open_store"]


def open_store(settings: Settings):
    """The store ``settings.backend`` names: ``IndexStore`` or ``MilvusStore``."""
    if settings.backend != "milvus":
        return IndexStore(settings.index_dir)
    try:
        # Imported here: pymilvus is an optional extra, and only this back-end needs it.
        from rag.index.milvus import MilvusStore
    except ImportError:
        raise InputError("RAG_BACKEND=milvus needs pymilvus; install it with "
                         "`pip install -e '.[milvus]'`.") from None
    return MilvusStore(settings.milvus_uri, settings.milvus_prefix,
                       timeout=settings.milvus_timeout, lock_dir=settings.index_dir, token=settings.milvus_token)
