"""Run the eval: rank every question with each method, answer it, and summarise.

Every quality claim in this project comes from here. Each method ranks ``EVAL_K`` chunks per
question (metrics in :mod:`rag.evaluation.metrics`). Methods:

- ``bm25``, ``dense``, ``hybrid``: the project's retriever (``Pipeline.search``);
- ``hybrid-weighted``: the same with ``fusion="weighted"``, to compare fusions;
- ``naive``: the baseline of :mod:`rag.evaluation.baseline`.

From the shell::

    rag eval --methods naive,bm25,dense,hybrid --report eval/report
    rag eval --write-expected     # also refresh eval/expected.json (the guard's floor)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.evaluation.baseline import NAIVE_OVERLAP, NAIVE_WINDOW, NaiveRetriever, raw_corpus
from rag.evaluation.common import percentiles, progress_bar
from rag.evaluation.guard import write_expected
from rag.evaluation.metrics import (
    EVAL_K,
    answer_correct,
    relevant_counts,
    retrieval_metrics,
    strip_markers,
)
from rag.evaluation.questions import (
    DEFAULT_FILE,
    Question,
    load_eval_questions,
    report_problems,
    validate,
)
from rag.evaluation.report import format_table, write_report
from rag.evaluation.results import EvalResult, Ranked, canonical_order
from rag.evaluation.summary import (
    ROUND,
    answer_figures,
    breakdown,
    describe_questions,
    describe_settings,
    group_indices,
    retrieval_figures,
)
from rag.pipeline import Pipeline
from rag.settings import Settings

__all__ = ["DEFAULT_METHODS", "METHODS", "main_cli", "parse_methods", "run_eval",
           "validate_all"]

DEFAULT_METHODS = ("naive", "bm25", "dense", "hybrid")
METHODS = (*DEFAULT_METHODS, "hybrid-weighted")

Search = Callable[[str], tuple[list[Ranked], dict[str, float]]]


def parse_methods(arg: str | Sequence[str] | None) -> list[str]:
    """``"naive, bm25,bm25"`` -> ``["naive", "bm25"]``; None -> the default methods."""
    if arg is None:
        return list(DEFAULT_METHODS)
    items = arg.split(",") if isinstance(arg, str) else list(arg)
    out = [m.strip() for m in items if m.strip()]
    if not out:
        raise InputError(f"--methods is empty; give some of {', '.join(METHODS)}.")
    _check_methods(out)
    return list(dict.fromkeys(out))


def _check_methods(methods: Sequence[str]) -> None:
    for m in methods:
        if m not in METHODS:
            raise InputError(f"Unknown eval method {m!r}; use some of {', '.join(METHODS)}.")


def run_eval(pipeline, questions: Sequence[Question], methods: Sequence[str] = DEFAULT_METHODS,
             answers: bool = True, questions_file: Path | None = None,
             progress: bool = True) -> EvalResult:
    """Evaluate ``methods`` (and, unless ``answers`` is False, ``pipeline.ask``) on
    ``questions``. The pipeline's index must exist (``pipeline.ensure_index()``)."""
    _check_methods(methods)
    questions = list(questions)
    answerable = {i: q for i, q in enumerate(questions) if q.answerable}
    groups = group_indices(questions)
    result = EvalResult(summary={}, latency={"search": {}, "answer": {}})
    retrieval: dict[str, dict] = {}
    pipeline_rel = relevant_counts(answerable.values(),
                                   [c.text for c in pipeline.snapshot.chunks])
    naive_info: dict[str, Any] = {}

    for method in methods:
        if method == "naive":
            naive = NaiveRetriever(raw_corpus(pipeline), pipeline.encoder)
            rel = relevant_counts(answerable.values(), [c.text for c in naive.chunks])
            naive_info = {"window": NAIVE_WINDOW, "overlap": NAIVE_OVERLAP,
                          "n_chunks": len(naive.chunks)}
            search: Search = naive.search
        else:
            rel, search = pipeline_rel, _pipeline_search(pipeline, method)
        run, per_q, timings = _rank_all(questions, answerable, search, rel, method, progress)
        result.runs[method] = run
        retrieval[method] = breakdown(per_q, groups, retrieval_figures)
        if method.startswith("hybrid"):
            retrieval[method]["fusion"] = ("weighted" if method == "hybrid-weighted"
                                           else pipeline.settings.fusion)
        result.latency["search"][method] = {k: percentiles(v) for k, v in timings.items()}

    answer_summary = None
    if answers:
        rows, result.answers, timings = _answer_all(pipeline, questions, progress)
        answer_summary = breakdown(rows, groups, answer_figures)
        result.latency["answer"] = {k: percentiles(v) for k, v in timings.items()}

    result.summary = {
        "questions": describe_questions(questions, groups, questions_file),
        "settings": describe_settings(pipeline.snapshot.manifest, pipeline.settings,
                                      naive_info),
        "retrieval": retrieval,
    }
    if answer_summary is not None:
        result.summary["answers"] = answer_summary
    return result


def _pipeline_search(pipeline, method: str) -> Search:
    """``Pipeline.search`` with ``method``'s base method, ranked as run files order it."""
    p = pipeline
    if method == "hybrid-weighted":
        p = Pipeline(pipeline.settings.replace(fusion="weighted"), encoder=pipeline.encoder)
    base = "hybrid" if method.startswith("hybrid") else method

    def search(text: str) -> tuple[list[Ranked], dict[str, float]]:
        res = p.search(text, k=EVAL_K, method=base)
        ranked = [Ranked(h.chunk.chunk_id, h.chunk.doc_id, h.chunk.text, h.score)
                  for h in res.hits]
        return canonical_order(ranked), dict(res.timings_ms)

    return search


def _rank_all(questions: Sequence[Question], answerable: dict[int, Question], search: Search,
              rel: dict[str, int], method: str, show: bool):
    """Rank every question; returns the run, per-question figures and stage timings (ms)."""
    timings: dict[str, list[float]] = {}
    run: dict[str, list[Ranked]] = {}
    per_q: dict[int, dict[str, float]] = {}
    with progress_bar(len(questions), method, show) as bar:
        for i, q in enumerate(questions):
            t0 = time.perf_counter()
            ranked, stages = search(q.question)
            total = (time.perf_counter() - t0) * 1000
            for k, v in {**stages, "total": total}.items():
                timings.setdefault(k, []).append(v)
            run[q.id] = ranked
            if i in answerable:
                per_q[i] = retrieval_metrics(q, ranked, rel[q.id])
            bar.update()
    return run, per_q, timings


def _answer_all(pipeline, questions: Sequence[Question], show: bool):
    """Ask every question; returns rows for the figures, answers.jsonl rows and timings."""
    rows: dict[int, dict] = {}
    answers: list[dict] = []
    timings: dict[str, list[float]] = {}
    with progress_bar(len(questions), "answers", show) as bar:
        for i, q in enumerate(questions):
            t0 = time.perf_counter()
            ans = pipeline.ask(q.question)
            total = (time.perf_counter() - t0) * 1000
            for k, v in {**dict(ans.timings_ms), "wall": total}.items():
                timings.setdefault(k, []).append(v)
            correct = answer_correct(q, ans.text, ans.refused)
            rows[i] = {"answerable": q.answerable, "refused": ans.refused,
                       "correct": correct, "chars": len(strip_markers(ans.text).strip())}
            answers.append({
                "id": q.id, "question": q.question, "type": q.type, "answer": ans.text,
                "refused": ans.refused,
                # What the refusal decision saw; lets refuse_threshold be tuned from the file.
                "confidence": round(float(getattr(ans, "confidence", 0.0)), ROUND),
                "citations": [{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id,
                               "start": c.start, "end": c.end} for c in ans.citations],
                # For an unanswerable question the right behaviour is to refuse.
                "correct": correct if q.answerable else ans.refused,
            })
            bar.update()
    return rows, answers, timings


def validate_all(questions: Sequence[Question], pipeline) -> list[str]:
    """Problems of ``questions`` against both the cleaned articles and the raw files.

    Evidence must be in the cleaned text (what retrieval ranks) and in the raw file (what
    the naive baseline ranks), or the comparison is unfair to one of them.
    """
    cleaned = {doc_id: d.text for doc_id, d in pipeline.snapshot.docs.items()}
    problems = [f"[cleaned] {p}" for p in validate(questions, cleaned)]
    problems += [f"[raw] {p}" for p in validate(questions, raw_corpus(pipeline))]
    return problems


def main_cli(args, settings: Settings) -> int:
    """``rag eval``: validate (``--validate``) or evaluate, write the report, print a table;
    with ``--write-expected`` also write the guarded figures to eval/expected.json.

    Returns the exit code: 0, or 1 when ``--validate`` finds problems.
    """
    given = Path(args.questions) if getattr(args, "questions", None) else None
    questions = load_eval_questions(settings, given)
    qpath = given or Path(settings.eval_dir) / DEFAULT_FILE
    methods = parse_methods(getattr(args, "methods", None))
    pipeline = Pipeline(settings)
    pipeline.ensure_index()
    problems = validate_all(questions, pipeline)
    if getattr(args, "validate", False):
        return report_problems(problems, len(questions))
    if problems:  # scores over a broken question set would mislead; say so, still report
        print(f"warning: {len(problems)} problem(s) in {qpath}; run `rag eval --validate`.",
              file=sys.stderr)
    result = run_eval(pipeline, questions, methods, answers=not getattr(args, "no_answers", False),
                      questions_file=qpath)
    report = Path(args.report) if getattr(args, "report", None) else (
        Path(settings.eval_dir) / "report")
    write_report(result, report)
    if getattr(args, "write_expected", False):
        path = write_expected(result.summary, Path(settings.eval_dir) / "expected.json")
        print(f"wrote {path}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps(result.summary, ensure_ascii=False))
    else:
        print(format_table(result.summary))
        print(f"report: {report / 'report.md'}", file=sys.stderr)
    return 0
