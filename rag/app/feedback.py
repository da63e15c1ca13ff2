"""Staff votes on answers (👍 / 👎 with an optional comment), one JSON line each, and their
review state.

Both the REST API (``POST /api/feedback``) and the chat's like buttons write here; the 审核
tab reads it back, newest first, and marks entries reviewed or skipped::

    log = FeedbackLog(settings.feedback_path)
    rec = log.append(question="…", answer="200个[1]", citations=[...], vote="down",
                     mode="extractive", index_build="20261121-101500-4242-1")
    log.mark(rec["id"], "skipped")

A record: ``id, time, question, answer, citations, vote, comment, mode, index_build`` and,
once reviewed, ``status`` ("reviewed" or "skipped"), ``question_id``, ``reviewed_at``. It
never holds who voted. Texts are capped (``CAPS``) so one huge post cannot bloat the file.
Writes go through :class:`rag.linefile.LineFile`: locked, atomic, corrupt lines set aside.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from rag.errors import InputError, NotFoundError
from rag.linefile import LineFile

__all__ = ["CAPS", "STATUSES", "FeedbackLog", "cap"]

# Longest text kept per field (characters); the REST API rejects longer ones outright.
CAPS = {"question": 1000, "answer": 5000, "comment": 2000}
MAX_CITATIONS = 20
STATUSES = ("new", "reviewed", "skipped")


def cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with "…".

    >>> cap("abcdef", 4)
    'abc…'
    """
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check(obj: dict) -> str | None:
    if not isinstance(obj.get("question"), str) or not obj["question"].strip():
        return "no question"
    if obj.get("vote") not in ("up", "down"):
        return f"vote {obj.get('vote')!r} is not 'up' or 'down'"
    if obj.get("status", "new") not in STATUSES:
        return f"status {obj.get('status')!r} is not one of {', '.join(STATUSES)}"
    return None


def _with_id(rec: dict) -> dict:
    """Records written before ids existed get a stable one from their content."""
    if not rec.get("id"):
        key = f"{rec.get('time', '')}\n{rec['question']}\n{rec.get('answer', '')}"
        rec = {"id": hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], **rec}
    return rec


class FeedbackLog:
    """The feedback file at ``path``; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.file = LineFile(Path(path), check=_check)
        self.path = self.file.path

    def append(self, *, question: str, answer: str, citations: Sequence[dict], vote: str,
               comment: str = "", mode: str = "extractive", index_build: str = "") -> dict:
        """Write one record and return it. ``vote`` is "up" or "down"."""
        if vote not in ("up", "down"):
            raise InputError(f"vote must be 'up' or 'down', not {vote!r}.")
        if not str(question or "").strip():
            raise InputError("The feedback has no question; vote on an answer.")
        record = {"id": uuid.uuid4().hex[:12], "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "question": cap(question, CAPS["question"]),
                  "answer": cap(answer, CAPS["answer"]),
                  "citations": [dict(c) for c in list(citations)[:MAX_CITATIONS]],
                  "vote": vote, "comment": cap(comment, CAPS["comment"]),
                  "mode": str(mode or "extractive"), "index_build": str(index_build or "")}
        self.file.append([record])
        return record

    def entries(self) -> list[dict]:
        """Every record in file order (oldest first), each with an ``id`` and a ``status``."""
        return [{"status": "new", **_with_id(r)} for r in self.file.read()]

    def get(self, feedback_id: str) -> dict:
        """One record by id, or NotFoundError."""
        for r in self.entries():
            if r["id"] == feedback_id:
                return r
        raise NotFoundError(f"No feedback with id {feedback_id!r}; refresh the list.")

    def mark(self, feedback_id: str, status: str, question_id: str = "") -> dict:
        """Set an entry's review status ("new", "reviewed", "skipped"); returns it."""
        if status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}, not {status!r}.")
        found: list[dict] = []

        def change(records: list[dict]) -> list[dict]:
            out = []
            for r in map(_with_id, records):
                if r["id"] == feedback_id:
                    r = {k: v for k, v in r.items()
                         if k not in ("status", "question_id", "reviewed_at")}
                    if status != "new":
                        r.update(status=status, reviewed_at=time.strftime("%Y-%m-%d"))
                    if question_id:
                        r["question_id"] = question_id
                    found.append(r)
                out.append(r)
            return out

        self.file.update(change)
        if not found:
            raise NotFoundError(f"No feedback with id {feedback_id!r}; refresh the list.")
        return {"status": "new", **found[0]}

    def delete(self, feedback_id: str) -> None:
        """Remove one entry for good."""
        gone: list[dict] = []

        def change(records: list[dict]) -> list[dict]:
            keep = []
            for r in map(_with_id, records):
                (gone if r["id"] == feedback_id else keep).append(r)
            return keep

        self.file.update(change)
        if not gone:
            raise NotFoundError(f"No feedback with id {feedback_id!r}; refresh the list.")
