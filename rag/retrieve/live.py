"""The retriever over whichever build is live now, for a process that serves for hours.

Another process (``rag ingest`` on this machine, another replica on a shared Milvus) may switch
the live build at any time. :meth:`LiveRetriever.get` looks at the store's live name at most
every ``settings.reload_seconds`` (one small file read, or one alias lookup on Milvus) and loads
the new build when it changed. One caller loads; the others keep the retriever they had, so
no question waits for a load, and a question holds its retriever from start to end: it
finishes on the build it started on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rag.retrieve.search import Retriever
from rag.settings import Settings

__all__ = ["LiveRetriever"]


class LiveRetriever:
    """The current ``Retriever``, switched when the store's live build changes."""

    def __init__(self, store, encoder: Callable[[], object], settings: Settings) -> None:
        self.store = store
        self._encoder = encoder
        self.settings = settings
        self._retriever: Retriever | None = None
        self._live: str | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> Retriever:
        """The retriever over the live build (loading or switching it when needed)."""
        r = self._retriever
        fresh = time.monotonic() - self._checked < self.settings.reload_seconds
        if r is not None and (fresh or not self._lock.acquire(blocking=False)):
            return r  # checked a moment ago, or another thread is checking right now
        if r is None:
            self._lock.acquire()
        try:
            if self._retriever is None or not fresh:
                self._refresh()
            return self._retriever
        finally:
            self._lock.release()

    def _refresh(self) -> None:
        live = self.store.live_name()  # Milvus down: BackendUnavailable, checked again next call
        if self._retriever is None or live != self._live:
            self._load(live)
        self._checked = time.monotonic()

    def _load(self, live: str | None) -> None:
        enc = self._encoder()
        snap = self.store.load(enc.model_id, enc.fingerprint)
        self._retriever = Retriever(snap, enc, self.settings)
        self._live = live

    def reload(self) -> Retriever:
        """Load the live build now (after this process built one, or found its build gone)."""
        with self._lock:
            self._load(self.store.live_name())
            self._checked = time.monotonic()
            return self._retriever

