"""Run the eval: rank every question with each method, answer it, and summarise.

Every quality claim in this project comes from here. Each method ranks ``EVAL_K`` chunks per
question (metrics in :mod:`rag.evaluation.metrics`). Methods:

- ``bm25``, ``dense``, ``hybrid``: the project's retriever (``Pipeline.search``);
- ``hybrid-weighted``: the same with ``fusion="weighted"``, to compare fusions;
- ``naive``: the baseline of :mod:`rag.evaluation.baseline`.

From the shell::

    rag eval --sets dev                   # one set; default: dev, test, reviewed side by side
    rag eval --questions my.jsonl --methods hybrid
    rag eval --llm                        # the LLM answerer too (RAG_LLM_BASE_URL)
    rag eval --write-expected             # also refresh eval/expected.json (the guard's floor)
    rag eval --sets dev --history         # also append to eval/history.jsonl, plot history.png
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.evaluation.baseline import NAIVE_OVERLAP, NAIVE_WINDOW, NaiveRetriever, raw_corpus
from rag.evaluation.common import percentiles, progress_bar
from rag.evaluation.guard import write_expected
from rag.evaluation.history import record_run
from rag.evaluation.metrics import (
    EVAL_K,
    answer_correct,
    relevant_counts,
    retrieval_metrics,
    strip_markers,
)
from rag.evaluation.questions import Question, load_questions, report_problems, validate
from rag.evaluation.report import format_table
from rag.evaluation.results import EvalResult, Ranked, canonical_order
from rag.evaluation.sets import compare_table, resolve_sets, write_sets_report
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
from rag.settings import PROJECT_ROOT, Settings

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


# The day eval/dev.jsonl and eval/test.jsonl were written (a question's 今年 is 2026). Runs
# with RAG_TODAY set use that instead.
EVAL_TODAY = "2026-11-30"


def _naive(pipeline) -> NaiveRetriever:
    """The naive baseline over the raw corpus, embedded once for every set scored."""
    return _naive_for(pipeline, pipeline.snapshot.manifest.corpus_fingerprint)


@lru_cache(maxsize=1)
def _naive_for(pipeline, corpus: str) -> NaiveRetriever:
    return NaiveRetriever(raw_corpus(pipeline), pipeline.encoder)


def run_eval(pipeline, questions: Sequence[Question], methods: Sequence[str] = DEFAULT_METHODS,
             answers: bool = True, questions_file: Path | None = None,
             progress: bool = True, llm: bool = False, llm_sample: int = 0) -> EvalResult:
    """Evaluate ``methods`` (and, unless ``answers`` is False, ``pipeline.ask``) on
    ``questions``; with ``llm`` also the LLM answerer (``answers_llm``, with seconds per
    answer), on every question or on ``llm_sample`` of them spread evenly over the set (a
    small local model takes seconds per answer). The pipeline's index must exist (``pipeline.ensure_index()``)."""
    _check_methods(methods)
    if not pipeline.settings.today:
        # 今年/去年 in a question mean the year it was asked: the sets' figures must not move
        # with the calendar.
        pipeline = Pipeline(pipeline.settings.replace(today=EVAL_TODAY), encoder=pipeline.encoder)
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
            naive = _naive(pipeline)
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
    llm_summary = None
    if llm:
        sample = questions
        if 0 < llm_sample < len(questions):
            step = len(questions) / llm_sample
            sample = [questions[int(i * step)] for i in range(llm_sample)]
        rows, result.answers_llm, timings = _answer_all(pipeline, sample, progress, llm=True)
        llm_summary = breakdown(rows, group_indices(sample), answer_figures)
        llm_summary["seconds_per_answer"] = round(percentiles(timings["wall"])["p50"] / 1000, 2)
        result.latency["answer_llm"] = {k: percentiles(v) for k, v in timings.items()}

    result.summary = {
        "questions": describe_questions(questions, groups, questions_file),
        "settings": describe_settings(pipeline.snapshot.manifest, pipeline.settings,
                                      naive_info),
        "retrieval": retrieval,
    }
    if answer_summary is not None:
        result.summary["answers"] = answer_summary
    if llm_summary is not None:
        result.summary["answers_llm"] = llm_summary
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


def _answer_all(pipeline, questions: Sequence[Question], show: bool, llm: bool = False):
    """Ask every question; returns rows for the figures, answers.jsonl rows and timings."""
    rows: dict[int, dict] = {}
    answers: list[dict] = []
    timings: dict[str, list[float]] = {}
    with progress_bar(len(questions), "llm answers" if llm else "answers", show) as bar:
        for i, q in enumerate(questions):
            t0 = time.perf_counter()
            ans = pipeline.ask(q.question, llm=llm)
            total = (time.perf_counter() - t0) * 1000
            for k, v in {**dict(ans.timings_ms), "wall": total}.items():
                timings.setdefault(k, []).append(v)
            # An LLM answer that fell back to the extractive one is scored as it was shown.
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
    """``rag eval``: validate (``--validate``) or evaluate every question set side by side
    (``--sets dev,test``, or one ``--questions FILE``), write the reports, print a table; with
    ``--write-expected`` also write the guarded figures to eval/expected.json.

    Returns the exit code: 0, or 1 when ``--validate`` finds problems.
    """
    sets = resolve_sets(settings.eval_dir, getattr(args, "sets", None),
                        getattr(args, "questions", None))
    loaded = {name: load_questions(path) for name, path in sets.items()}
    methods = parse_methods(getattr(args, "methods", None))
    llm = bool(getattr(args, "llm", False))
    if llm and not settings.llm_base_url:
        raise InputError("--llm needs an LLM server; set RAG_LLM_BASE_URL.")
    # One pipeline (today pinned, see run_eval) for every set: the index is loaded once.
    pipeline = Pipeline(settings if settings.today else settings.replace(today=EVAL_TODAY))
    pipeline.ensure_index()
    problems = {name: validate_all(qs, pipeline) for name, qs in loaded.items()}
    if getattr(args, "validate", False):
        return max(report_problems(problems[n], len(loaded[n])) for n in loaded)
    for name, found in problems.items():
        if found:  # scores over a broken question set would mislead; say so, still report
            print(f"warning: {len(found)} problem(s) in {sets[name]}; run `rag eval --validate`.",
                  file=sys.stderr)
    results = {name: run_eval(pipeline, qs, methods,
                              answers=not getattr(args, "no_answers", False),
                              questions_file=sets[name], llm=llm,
                              llm_sample=getattr(args, "llm_sample", 0) or 0)
               for name, qs in loaded.items()}
    report = Path(args.report) if getattr(args, "report", None) else (
        Path(settings.eval_dir) / "report")
    combined = write_sets_report(results, report)
    if getattr(args, "history", False):
        png = record_run({n: r.summary for n, r in results.items()},
                         history=Path(settings.eval_dir) / "history.jsonl", root=PROJECT_ROOT,
                         snapshot=pipeline.snapshot, report_dir=report)
        print(f"history: {Path(settings.eval_dir) / 'history.jsonl'}, plot {png}",
              file=sys.stderr)
    if getattr(args, "write_expected", False):
        path = write_expected({n: r.summary for n, r in results.items()},
                              Path(settings.eval_dir) / "expected.json")
        print(f"wrote {path}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"sets": {n: r.summary for n, r in results.items()}},
                         ensure_ascii=False))
    else:
        for name, r in results.items():
            print(f"== {name} ({sets[name]})\n{format_table(r.summary)}")
        if len(results) > 1:
            print(compare_table({n: r.summary for n, r in results.items()}, markdown=False))
        print(f"report: {combined}", file=sys.stderr)
    return 0
