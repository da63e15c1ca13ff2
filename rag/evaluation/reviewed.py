"""eval/reviewed.jsonl: staff questions reviewed from feedback, in the eval format
(eval/README.md) plus where each came from.

One line::

    {"id": "rv-3f2a9c1b7d44", "question": "海珠的算法备案有几个", "doc": "000_e71591340c5b937c",
     "evidence": ["算法备案项目320个"], "answer": "320个", "answer_keys": ["320"],
     "type": "number", "source": "feedback", "feedback_id": "3f2a9c1b7d44",
     "asked_on": "2026-11-30", "reviewed_at": "2026-11-30"}

The origin says which feedback entry and when, never who asked. ``rag eval`` scores the file
as its own set; the loader ignores the origin keys. An office shares its set with
``rag review export FILE`` / ``rag review import FILE``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError, NotFoundError
from rag.evaluation.duplicates import DuplicateFinder, Match
from rag.evaluation.questions import (
    QUESTION_TYPES,
    Question,
    load_questions,
    parse_question,
    validate,
)
from rag.linefile import LineFile, write_atomic
from rag.text.patterns import is_english, normalize

__all__ = ["EVIDENCE_CHARS", "ORIGIN_KEYS", "ImportReport", "ReviewedSet", "build_question"]

ORIGIN_KEYS = ("source", "feedback_id", "asked_on", "reviewed_at")
EVIDENCE_CHARS = (8, 50)  # eval/README.md: short clauses within one sentence
MAX_QUESTION_CHARS = 1000


def _check(obj: dict) -> str | None:
    try:
        parse_question(obj)
    except ValueError as e:
        return str(e)
    return None


def build_question(*, qid: str, question: str, evidence: Sequence[tuple[str, str]],
                   answer: str, keys: Sequence[str], qtype: str, unanswerable: bool,
                   texts: Mapping[str, str], origin: Mapping[str, str] | None = None) -> dict:
    """A reviewed question as a record of the eval format, checked against ``texts``
    (doc id -> cleaned article); raises InputError with the first problem.

    ``evidence`` holds (doc id, verbatim text) pairs; their articles become ``doc``.
    """
    question = " ".join(str(question or "").split())
    if not question:
        raise InputError("The question is empty; type the question as the user asked it.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"The question has {len(question)} characters, over "
                         f"{MAX_QUESTION_CHARS}; shorten it.")
    if unanswerable:
        rec = {"id": qid, "question": question, "doc": None, "evidence": [], "answer": "",
               "answer_keys": [], "type": "unanswerable"}
    else:
        rec = _answerable(qid, question, evidence, answer, keys, qtype)
    if is_english(question):
        rec["tags"] = ["en"]
    rec.update({k: v for k, v in (origin or {}).items() if k in ORIGIN_KEYS and v})
    problems = validate([parse_question(rec)], texts)
    if problems:
        raise InputError(problems[0].split(": ", 1)[-1])
    return rec


def _answerable(qid: str, question: str, evidence: Sequence[tuple[str, str]], answer: str,
                keys: Sequence[str], qtype: str) -> dict:
    ev = [(d, str(t).strip()) for d, t in evidence if str(t).strip()]
    if not ev:
        raise InputError("Select the evidence in the article view, or mark the question "
                         "无答案 (unanswerable).")
    lo, hi = EVIDENCE_CHARS
    for _, t in ev:
        if not lo <= len(normalize(t)) <= hi:
            raise InputError(f"Evidence {t[:20]!r}… has {len(normalize(t))} characters; "
                             f"select a clause of {lo}-{hi} characters within one sentence.")
    keys = [k.strip() for k in keys if k and k.strip()]
    if not keys:
        raise InputError("Give at least one answer key word that every right answer contains.")
    docs = list(dict.fromkeys(d for d, _ in ev))
    if len(docs) > 1:
        qtype = "multi_doc"
    if qtype not in QUESTION_TYPES or qtype in ("unanswerable", "multi_doc") and len(docs) < 2:
        raise InputError(f"Question type {qtype!r} does not fit; pick one of fact, number, "
                         "entity, date, temporal.")
    return {"id": qid, "question": question, "doc": docs[0] if len(docs) == 1 else docs,
            "evidence": [t for _, t in ev], "answer": str(answer or "").strip() or keys[0],
            "answer_keys": keys, "type": qtype}


@dataclass(frozen=True)
class ImportReport:
    """What ``ReviewedSet.import_file`` did."""

    added: tuple[str, ...]
    duplicates: tuple[tuple[str, Match], ...]  # (imported id, the question it duplicates)
    renamed: tuple[tuple[str, str], ...]  # (id in the file, id given)


class ReviewedSet:
    """The reviewed question file; every write is locked and atomic (rag.linefile)."""

    def __init__(self, path: Path) -> None:
        self.file = LineFile(Path(path), check=_check)
        self.path = self.file.path

    def records(self) -> list[dict]:
        """Every reviewed question as stored, in file order."""
        return self.file.read()

    def questions(self) -> list[Question]:
        """Every reviewed question, parsed."""
        return [parse_question(r) for r in self.records()]

    def get(self, qid: str) -> dict:
        """One record by id, or NotFoundError."""
        for r in self.records():
            if r["id"] == qid:
                return r
        raise NotFoundError(f"No reviewed question with id {qid!r}; refresh the list.")

    def save(self, record: dict) -> dict:
        """Add ``record``, or replace the one with its id (an edit keeps the first
        ``reviewed_at`` and adds ``edited_at``)."""
        parse_question(record)  # never write a line the loader would reject

        def change(records: list[dict]) -> list[dict]:
            out, done = [], False
            for r in records:
                if r["id"] == record["id"]:
                    new = {**record, "reviewed_at": r.get("reviewed_at", "")}
                    out.append({k: v for k, v in new.items() if v != ""}
                               | {"edited_at": time.strftime("%Y-%m-%d")})
                    done = True
                else:
                    out.append(r)
            return out if done else [*records, record]

        self.file.update(change)
        return record

    def delete(self, qid: str) -> dict:
        """Remove one question; returns it."""
        gone: list[dict] = []

        def change(records: list[dict]) -> list[dict]:
            gone.extend(r for r in records if r["id"] == qid)
            return [r for r in records if r["id"] != qid]

        self.file.update(change)
        if not gone:
            raise NotFoundError(f"No reviewed question with id {qid!r}; refresh the list.")
        return gone[0]

    def export(self, dest: Path) -> int:
        """Write every reviewed question to ``dest`` (JSONL, atomic); returns how many."""
        records = self.records()
        write_atomic(Path(dest), records)
        return len(records)

    def import_file(self, src: Path, *, texts: Mapping[str, str], finder: DuplicateFinder,
                    others: Sequence[tuple[str, Question]] = ()) -> ImportReport:
        """Add the questions of another office's export. The file is checked whole first
        (format, then against ``texts``): one bad line and nothing is added. Questions
        that duplicate one already here or in ``others`` are skipped and reported."""
        loaded = load_questions(Path(src))  # raises on the first malformed line
        problems = validate(loaded, texts)
        if problems:
            raise InputError(f"{Path(src).name}: {problems[0]} Nothing was imported.")
        raw = {r["id"]: r for r in map(json.loads, filter(str.strip, Path(src).read_text(
            encoding="utf-8-sig").splitlines()))}
        report = {"added": [], "duplicates": [], "renamed": []}

        def change(records: list[dict]) -> list[dict]:
            ids = {r["id"] for r in records}
            known = [*others, *(("reviewed", parse_question(r)) for r in records)]
            for q in loaded:
                match = finder.find(q, known)
                if match is not None:
                    report["duplicates"].append((q.id, match))
                    continue
                rec = dict(raw[q.id])
                rec.setdefault("source", "import")
                if rec["id"] in ids:
                    n = 2
                    while f"{q.id}-{n}" in ids:
                        n += 1
                    report["renamed"].append((q.id, f"{q.id}-{n}"))
                    rec["id"] = f"{q.id}-{n}"
                ids.add(rec["id"])
                records.append(rec)
                known.append(("reviewed", parse_question(rec)))
                report["added"].append(rec["id"])
            return records

        self.file.update(change)
        return ImportReport(tuple(report["added"]), tuple(report["duplicates"]),
                            tuple(report["renamed"]))
