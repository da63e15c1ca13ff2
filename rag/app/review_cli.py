"""``rag review``: the review desk from the shell (list feedback, export, import)."""

from __future__ import annotations

import json
from pathlib import Path

from rag.app.feedback import FeedbackLog, cap
from rag.app.review import ReviewDesk
from rag.errors import InputError
from rag.pipeline import Pipeline

__all__ = ["run_review"]


def run_review(args, pipeline: Pipeline) -> int:
    """``list`` prints logged votes (newest first); ``export FILE`` writes the reviewed set;
    ``import FILE`` adds another office's set (checked whole, duplicates skipped)."""
    desk = ReviewDesk(pipeline, FeedbackLog(pipeline.settings.feedback_path))
    if args.action == "list":
        for e in desk.entries(down_only=args.down, pending_only=args.pending, since=args.since):
            if args.json:
                print(json.dumps(e, ensure_ascii=False))
            else:
                print(f"{e['id']}\t{e.get('time', '')[:16]}\t{e['vote']}\t{e['status']}\t"
                      f"{cap(e['question'], 60)}")
        return 0
    if not args.file:
        raise InputError(f"Give the JSONL file to {args.action}: rag review {args.action} FILE.")
    path = Path(args.file)
    if args.action == "export":
        print(f"exported {desk.export(path)} questions -> {path}")
        return 0
    pipeline.ensure_index()  # the import is checked against the cleaned articles
    rep = desk.import_file(path)
    print(f"imported {len(rep.added)}, skipped {len(rep.duplicates)} duplicates, "
          f"renamed {len(rep.renamed)} -> {desk.reviewed.path}")
    for qid, m in rep.duplicates:
        print(f"  duplicate: {qid} ~ {m.set}:{m.id} ({m.kind}, {m.similarity:.3f})")
    return 0
