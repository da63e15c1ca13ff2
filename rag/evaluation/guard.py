"""The regression guard's floor: the figures eval/expected.json holds, and which moved.

``rag eval --write-expected`` refreshes the file from a run; ``tests/test_eval_guard.py``
fails when a fresh run is worse than it by more than the tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import InputError

__all__ = ["EXPECTED_FIGURES", "TOLERANCE", "expected_from", "lookup", "regressions",
           "write_expected"]

TOLERANCE = 0.01  # how far a guarded figure may move the wrong way
EXPECTED_FIGURES = {  # dotted path into summary.json -> which direction is better
    "retrieval.hybrid.all.recall@5": "higher",
    "retrieval.hybrid.all.mrr@10": "higher",
    "retrieval.hybrid.all.top1_article": "higher",
    "answers.all.accuracy": "higher",
    "answers.all.refusal_rate": "higher",
    "answers.all.false_refusal_rate": "lower",
}


def lookup(summary: dict, dotted: str) -> float:
    """``lookup(s, "answers.all.accuracy")`` -> ``s["answers"]["all"]["accuracy"]``."""
    cur: Any = summary
    for part in dotted.split("."):
        cur = cur[part]
    return float(cur)


def expected_from(summary: dict) -> dict:
    """The guarded figures of one set's ``summary``: ``{"figures": {path: {value, better}}}``."""
    try:
        figures = {k: {"value": lookup(summary, k), "better": b}
                   for k, b in EXPECTED_FIGURES.items()}
    except KeyError as err:
        raise InputError(f"The run has no {err} figure; write expected figures from a run "
                         "with the hybrid method and answers.") from None
    return {"figures": figures}


def write_expected(summaries: dict[str, dict], path: Path) -> Path:
    """Write the guarded figures of each set's summary to ``path`` (eval/expected.json),
    keeping the entries of sets this run did not evaluate."""
    path = Path(path)
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    sets = dict(old.get("sets", {}))
    sets.update({name: expected_from(s) for name, s in summaries.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {"tolerance": old.get("tolerance", TOLERANCE), "sets": dict(sorted(sets.items()))}
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return path


def regressions(summary: dict, expected: dict, tolerance: float = TOLERANCE) -> list[str]:
    """Guarded figures of one set that moved the wrong way by more than ``tolerance``;
    ``expected`` is that set's entry of eval/expected.json."""
    tol = float(tolerance)
    out = []
    for key, spec in expected["figures"].items():
        now, then = lookup(summary, key), float(spec["value"])
        worse = then - now if spec["better"] == "higher" else now - then
        if worse > tol + 1e-9:
            out.append(f"{key} is {now:.4f}, expected {then:.4f} (tolerance {tol}).")
    return out
