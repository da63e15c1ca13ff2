"""The review desk: staff feedback turned into eval questions, behind the 审核 tab and the
review routes (``rag.app.review_api``).

A reviewer picks a logged vote, opens the cited (or another) article in the review article
view, selects the evidence there (the page posts the span here), confirms the answer and its
key words, and saves: the question lands in eval/reviewed.jsonl, checked against the cleaned
article and against the questions already there and in dev::

    desk = ReviewDesk(pipeline, FeedbackLog(settings.feedback_path))
    entry = desk.entries(down_only=True, pending_only=True)[0]
    desk.select(entry["id"], "000_e71591340c5b937c", 120, 134)
    outcome = desk.save(entry["id"], question=entry["question"],
                        evidence=desk.evidence(entry["id"]), answer="320个", keys=["320"],
                        qtype="number")
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rag.app.feedback import FeedbackLog
from rag.errors import InputError, NotFoundError, RagError
from rag.evaluation.duplicates import DuplicateFinder, Match
from rag.evaluation.history import history_entry, latest_figures, read_history
from rag.evaluation.questions import Question, load_questions, parse_question
from rag.evaluation.reviewed import ImportReport, ReviewedSet, build_question
from rag.pipeline import Pipeline

__all__ = ["DUPLICATE_SETS", "ReviewDesk", "SaveOutcome"]

log = logging.getLogger("rag.review")

# Sets a new question is compared with, besides reviewed itself. The sealed test set is
# left out on purpose: the review page would show its questions.
DUPLICATE_SETS = ("dev",)
_TRIM = " \t\r\n\u3000,，、;；:："


@dataclass(frozen=True)
class SaveOutcome:
    """``saved`` is the stored record, or None when ``duplicate`` stopped it."""

    saved: dict | None
    duplicate: Match | None = None


class ReviewDesk:
    """Feedback log + reviewed set + the evidence spans reviewers select, over one pipeline."""

    def __init__(self, pipeline: Pipeline, feedback: FeedbackLog,
                 reviewed: ReviewedSet | None = None) -> None:
        self.pipeline = pipeline
        self.feedback = feedback
        eval_dir = Path(pipeline.settings.eval_dir)
        self.reviewed = reviewed or ReviewedSet(eval_dir / "reviewed.jsonl")
        self.history_path = eval_dir / "history.jsonl"
        self.report_dir = eval_dir / "report"
        self._finder: DuplicateFinder | None = None
        self._lock = threading.Lock()
        # feedback id -> evidence spans picked in the article view, until saved or cleared
        self._evidence: dict[str, list[dict]] = {}

    # -- the list
    def entries(self, *, down_only: bool = False, pending_only: bool = False,
                since: str = "") -> list[dict]:
        """Logged votes, newest first; ``since`` ("2026-11" or "2026-11-30") keeps those
        on or after that day."""
        since = (since or "").strip()
        if since and not (since[:4].isdigit() and len(since) in (4, 7, 10)):
            raise InputError(f"Date {since!r} is not YYYY, YYYY-MM or YYYY-MM-DD.")
        out = []
        for r in reversed(self.feedback.entries()):
            if down_only and r["vote"] != "down":
                continue
            if pending_only and r["status"] != "new":
                continue
            if since and str(r.get("time", ""))[:len(since)] < since:
                continue
            out.append(r)
        return out

    def entry(self, feedback_id: str) -> dict:
        """One logged vote by id."""
        return self.feedback.get(feedback_id)

    # -- evidence picked in the article view
    def select(self, key: str, doc_id: str, start: int, end: int,
               text: str | None = None) -> dict:
        """Add ``doc.text[start:end]`` (whitespace at its ends trimmed) to the evidence kept
        under ``key`` (a feedback id, or a reviewed question's id while editing it);
        ``text``, when sent, must be what the page showed there."""
        if not str(key or "").strip():
            raise InputError("Open the article from an entry of the 审核 tab, then select.")
        doc = self.pipeline.document(doc_id)
        if not 0 <= start < end <= len(doc.text):
            raise InputError(f"The selection {start}-{end} is outside the article; select "
                             "the text again.")
        span = doc.text[start:end]
        if text is not None and " ".join(text.split()) != " ".join(span.split()):
            raise InputError("The selected text does not match the article; reload the page "
                             "and select again.")
        # Spaces and clause punctuation at the ends are not evidence ("320个," -> "320个").
        lead = len(span) - len(span.lstrip(_TRIM))
        start, end = start + lead, start + lead + len(span.strip(_TRIM))
        if start >= end:
            raise InputError("The selection holds no text; select a clause of the article.")
        item = {"doc_id": doc_id, "start": start, "end": end, "text": doc.text[start:end]}
        with self._lock:
            items = self._evidence.setdefault(key, [])
            if item not in items:
                items.append(item)
        return item

    def evidence(self, key: str) -> list[dict]:
        """The evidence spans selected under ``key`` so far."""
        with self._lock:
            return list(self._evidence.get(key, []))

    def set_evidence(self, key: str, items: list[dict]) -> None:
        """Replace the spans kept under ``key`` (an entry being edited starts from its
        saved evidence)."""
        with self._lock:
            self._evidence[key] = [dict(i) for i in items]

    def clear_evidence(self, key: str) -> None:
        """Forget the spans selected under ``key``."""
        with self._lock:
            self._evidence.pop(key, None)

    # -- saving
    def finder(self) -> DuplicateFinder:
        """The duplicate finder over the pipeline's encoder, made on first use."""
        with self._lock:
            if self._finder is None:
                self._finder = DuplicateFinder(self.pipeline.encoder)
            return self._finder

    def others(self, except_id: str = "") -> list[tuple[str, Question]]:
        """Questions a new one must not duplicate: reviewed (but ``except_id``) and dev."""
        out = [("reviewed", q) for q in self.reviewed.questions() if q.id != except_id]
        for name in DUPLICATE_SETS:
            path = Path(self.pipeline.settings.eval_dir) / f"{name}.jsonl"
            if path.is_file():
                try:
                    out += [(name, q) for q in load_questions(path)]
                except RagError as e:  # a broken set must not block reviewing; say so
                    log.warning("duplicate check skips %s: %s", path, e)
        return out

    def save(self, feedback_id: str, *, question: str, evidence: list[dict], answer: str = "",
             keys: list[str] = (), qtype: str = "fact", unanswerable: bool = False,
             confirm_near: bool = False, question_id: str = "") -> SaveOutcome:
        """Save the reviewed question of a feedback entry (or edit ``question_id``).
        A same-text duplicate is never saved; a near one only with ``confirm_near``."""
        entry = self.entry(feedback_id) if feedback_id else None
        qid = question_id or (entry or {}).get("question_id") or f"rv-{feedback_id}"
        if not feedback_id and not question_id:
            raise InputError("Pick a feedback entry or a reviewed question first.")
        origin = {"source": "feedback", "feedback_id": feedback_id,
                  "asked_on": str(entry.get("time", ""))[:10],
                  "reviewed_at": time.strftime("%Y-%m-%d")} if entry else {}
        if not entry:
            old = self.reviewed.get(qid)
            origin = {k: old.get(k, "") for k in ("source", "feedback_id", "asked_on")}
        texts = {d.doc_id: d.text for d in self.pipeline.documents()}
        record = build_question(qid=qid, question=question, texts=texts, origin=origin,
                                evidence=[(e["doc_id"], e["text"]) for e in evidence],
                                answer=answer, keys=keys, qtype=qtype,
                                unanswerable=unanswerable)
        match = self.finder().find(parse_question(record), self.others(except_id=qid))
        if match is not None and (match.kind == "same" or not confirm_near):
            return SaveOutcome(None, match)
        self.reviewed.save(record)
        if feedback_id:
            self.feedback.mark(feedback_id, "reviewed", qid)
        self.clear_evidence(feedback_id or qid)
        return SaveOutcome(record)

    def skip(self, feedback_id: str) -> dict:
        """Mark an entry skipped (it leaves the "not yet reviewed" list)."""
        return self.feedback.mark(feedback_id, "skipped")

    def delete(self, feedback_id: str) -> None:
        """Delete a feedback entry for good (its reviewed question, if any, stays)."""
        self.feedback.delete(feedback_id)
        self.clear_evidence(feedback_id)

    def delete_question(self, qid: str) -> dict:
        """Remove a reviewed question; its feedback entry becomes "new" again."""
        rec = self.reviewed.delete(qid)
        fid = rec.get("feedback_id")
        if fid:
            try:
                self.feedback.mark(fid, "new")
            except NotFoundError:
                pass  # the feedback entry was deleted earlier; the question was its copy
        return rec

    # -- sharing and figures
    def export(self, dest: Path) -> int:
        """Write the reviewed set to ``dest``; returns how many questions."""
        return self.reviewed.export(dest)

    def import_file(self, src: Path) -> ImportReport:
        """Add another office's reviewed questions (checked whole first, duplicates skipped)."""
        texts = {d.doc_id: d.text for d in self.pipeline.documents()}
        others = [o for o in self.others() if o[0] != "reviewed"]
        return self.reviewed.import_file(src, texts=texts, finder=self.finder(), others=others)

    def figures(self) -> tuple[dict[str, dict], Path | None]:
        """The newest eval figures per set (from eval/history.jsonl, else from the last
        report's summaries) and the history plot when there is one."""
        latest = latest_figures(read_history(self.history_path))
        if not latest:
            latest = _report_figures(self.report_dir)
        png = self.report_dir / "history.png"
        return latest, png if png.is_file() else None


def _report_figures(report_dir: Path) -> dict[str, dict]:
    """Set -> figures of the last ``rag eval`` report, for runs made without --history."""
    summaries = {}
    for path in sorted(Path(report_dir).glob("*/summary.json")):
        try:
            summaries[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    entry = history_entry(summaries, commit="", dirty=False, build="")
    return {n: {**f, "date": ""} for n, f in entry["sets"].items()}
