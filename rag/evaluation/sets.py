"""Several question sets side by side: dev (tuned on), test (sealed, scored at the end),
reviewed (staff questions reviewed from feedback).

Each set is evaluated on its own and written to ``<report>/<set>/``; ``<report>/summary.json``
holds ``{"sets": {name: summary}}`` and ``<report>/report.md`` one table with a column per set,
so a gap between dev and test (over-tuning) shows at a glance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from rag.errors import InputError, NotFoundError
from rag.evaluation.common import markdown_table
from rag.evaluation.report import write_report
from rag.evaluation.results import EvalResult

__all__ = ["EVAL_SETS", "COMPARE_ROWS", "compare_table", "find_figure", "resolve_sets",
           "write_sets_report"]

EVAL_SETS = ("dev", "test", "reviewed")  # eval/<name>.jsonl, in this order
# (label, dotted path into one set's summary, format)
COMPARE_ROWS = (
    ("questions", "questions.n", "d"),
    ("answerable", "questions.answerable", "d"),
    ("retrieval R@5 (hybrid)", "retrieval.hybrid.all.recall@5", ".3f"),
    ("retrieval MRR@10 (hybrid)", "retrieval.hybrid.all.mrr@10", ".3f"),
    ("answer accuracy (answerable)", "answers.all.accuracy", ".3f"),
    ("refused (unanswerable)", "answers.all.refusal_rate", ".3f"),
    ("false refusals (answerable)", "answers.all.false_refusal_rate", ".3f"),
    ("median answer (chars)", "answers.all.median_chars", ".0f"),
    ("relative-date questions: accuracy", "answers.by_tag.reldate.accuracy", ".3f"),
    ("multi-part questions: accuracy", "answers.by_tag.multipart.accuracy", ".3f"),
    ("English questions: accuracy", "answers.by_tag.en.accuracy", ".3f"),
    ("LLM: questions scored", "answers_llm.all.n", "d"),
    ("LLM accuracy", "answers_llm.all.accuracy", ".3f"),
    ("LLM refused (unanswerable)", "answers_llm.all.refusal_rate", ".3f"),
    ("LLM false refusals", "answers_llm.all.false_refusal_rate", ".3f"),
    ("LLM seconds per answer (median)", "answers_llm.seconds_per_answer", ".1f"),
)


def resolve_sets(eval_dir: Path, names: str | None, questions: str | None) -> dict[str, Path]:
    """Set name -> question file. ``questions`` (a file) is one set named by its stem;
    ``names`` ("dev,test") picks sets of ``eval_dir``; neither: every set whose file exists."""
    if questions:
        path = Path(questions)
        return {path.stem: path}
    eval_dir = Path(eval_dir)
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in EVAL_SETS]
        if unknown:
            raise InputError(f"Unknown question set {unknown[0]!r}; use some of "
                             f"{', '.join(EVAL_SETS)}, or --questions FILE.")
        missing = [n for n in wanted if not (eval_dir / f"{n}.jsonl").is_file()]
        if missing:
            raise NotFoundError(f"There is no {missing[0]} set at {eval_dir / missing[0]}.jsonl; "
                                "check RAG_EVAL_DIR.")
        return {n: eval_dir / f"{n}.jsonl" for n in wanted}
    found = {n: eval_dir / f"{n}.jsonl" for n in EVAL_SETS if (eval_dir / f"{n}.jsonl").is_file()}
    if not found:
        raise NotFoundError(f"There is no question set in {eval_dir} (dev.jsonl, test.jsonl, "
                            "reviewed.jsonl); add one or pass --questions FILE.")
    return found


def find_figure(summary: Mapping, dotted: str):
    """``summary["answers"]["all"]["accuracy"]`` for "answers.all.accuracy"; None if absent."""
    cur = summary
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def compare_table(summaries: Mapping[str, dict], markdown: bool = True) -> str:
    """One row per figure, one column per set; rows no set has are left out."""
    names = list(summaries)
    rows = []
    for label, path, fmt in COMPARE_ROWS:
        vals = [find_figure(summaries[n], path) for n in names]
        if all(v is None for v in vals):
            continue
        rows.append([label, *("-" if v is None else format(v, fmt) for v in vals)])
    if markdown:
        return markdown_table(["figure", *names], rows)
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':<{width}}" + "".join(f"{n:>10}" for n in names)]
    lines += [f"{r[0]:<{width}}" + "".join(f"{c:>10}" for c in r[1:]) for r in rows]
    return "\n".join(lines)


def write_sets_report(results: Mapping[str, EvalResult], folder: Path) -> Path:
    """Each set's full report in ``folder/<set>/``; the side-by-side report and summary in
    ``folder``. Returns the combined report's path."""
    folder = Path(folder)
    for name, result in results.items():
        write_report(result, folder / name)
    summaries = {name: r.summary for name, r in results.items()}
    (folder / "summary.json").write_text(
        json.dumps({"sets": summaries}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lines = ["# Evaluation report", "",
             "Each question set on its own: `dev` is what the answerer was tuned on; `test` was "
             "written from the articles alone by someone who saw neither the code nor dev, and "
             "is scored only to check the work; `reviewed` holds staff questions reviewed from "
             "feedback. Full tables per set: " + ", ".join(f"[{n}]({n}/report.md)" for n in results)
             + ".", "", compare_table(summaries), ""]
    out = folder / "report.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    return out
