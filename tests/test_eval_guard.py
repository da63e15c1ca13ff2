"""Regression guard: the real model on the project's question sets must not lose quality.

eval/expected.json holds each set's guarded figures (written by ``rag eval --write-expected``);
a figure that drops by more than the tolerance fails here, and so does a checked-in
eval/report/summary.json that a fresh run no longer reproduces (regenerate it with
``rag eval``). The sets checked are those the checked-in summary holds; one eval run per set
serves the whole module.
"""

from __future__ import annotations

import json

import pytest
from conftest import REPO

from rag.evaluation.guard import EXPECTED_FIGURES, regressions
from rag.evaluation.questions import load_questions
from rag.evaluation.run import DEFAULT_METHODS, run_eval

pytestmark = pytest.mark.model

EXPECTED = REPO / "eval" / "expected.json"
CHECKED_IN = REPO / "eval" / "report" / "summary.json"
SETS = sorted(json.loads(CHECKED_IN.read_text(encoding="utf-8"))["sets"])


@pytest.fixture(scope="module")
def fresh(real_pipeline) -> dict:
    """Each checked-in set's summary from one full eval run (default methods and answers)."""
    out = {}
    for name in SETS:
        path = REPO / "eval" / f"{name}.jsonl"
        result = run_eval(real_pipeline, load_questions(path), DEFAULT_METHODS, answers=True,
                          questions_file=path, progress=False)
        out[name] = json.loads(json.dumps(result.summary))  # as summary.json reads back
    return out


def test_the_run_used_the_real_model(fresh):
    assert "dev" in fresh
    for summary in fresh.values():
        assert summary["settings"]["model_id"] != "hash-256"
        assert summary["questions"]["answerable"] > 100


def test_no_guarded_figure_dropped(fresh):
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    for name, summary in fresh.items():
        spec = expected["sets"][name]
        assert set(spec["figures"]) == set(EXPECTED_FIGURES)
        assert regressions(summary, spec, expected["tolerance"]) == [], name


def _leaves(d, prefix=""):
    if not isinstance(d, dict):
        return {prefix: d}
    return {k: v for key, val in d.items() for k, v in _leaves(val, f"{prefix}.{key}").items()}


def test_checked_in_report_matches_a_fresh_run(fresh):
    # The LLM column comes from a separate run against an LLM server (rag eval --llm): not
    # reproduced here.
    checked_in = {k: v for k, v in
                  _leaves(json.loads(CHECKED_IN.read_text(encoding="utf-8"))["sets"]).items()
                  if ".answers_llm." not in k}
    now = _leaves(fresh)
    diff = [f"{k}: checked in {checked_in.get(k)!r}, fresh {now.get(k)!r}"
            for k in sorted(set(checked_in) | set(now)) if checked_in.get(k) != now.get(k)]
    assert not diff, ("eval/report/summary.json differs from a fresh run; regenerate it with "
                      "`rag eval` and review the change:\n" + "\n".join(diff[:20]))
