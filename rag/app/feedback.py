"""Staff votes on answers (👍 / 👎 with an optional comment), one JSON line each.

Both the REST API (``POST /api/feedback``) and the chat's like buttons write here::

    log = FeedbackLog(settings.feedback_path)
    log.append(question="…", answer="200个[1]", citations=[...], vote="up")
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rag.errors import InputError

__all__ = ["FeedbackLog"]


class FeedbackLog:
    """Appends one JSON line per vote to ``path``; safe to call from many threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, *, question: str, answer: str, citations: Sequence[dict], vote: str,
               comment: str = "") -> dict:
        """Write one record and return it. ``vote`` is "up" or "down"."""
        if vote not in ("up", "down"):
            raise InputError(f"vote must be 'up' or 'down', not {vote!r}.")
        record = {"question": question, "answer": answer, "citations": list(citations),
                  "vote": vote, "comment": comment or "",
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        # One write of one line under a lock: concurrent votes never interleave.
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
        return record
