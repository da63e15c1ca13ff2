"""What the eval and the bench share: latency percentiles, markdown tables, progress bars.

Both load their questions with :func:`rag.evaluation.questions.load_eval_questions`.

    >>> percentiles([1, 2, 3, 4])
    {'p50': 2.5, 'p95': 3.85, 'n': 4}
    >>> print(markdown_table(["a", "b"], [[1, 2]]))
    | a | b |
    |---|---|
    | 1 | 2 |
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["markdown_table", "percentiles", "progress_bar"]


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95),
                mean: bool = False) -> dict[str, float]:
    """``p<point>`` for each of ``points`` (linear interpolation), the mean if asked, and
    ``n``; figures in milliseconds rounded to 0.01 ms, zeros for no values."""
    a = np.asarray(values, dtype=float)
    out: dict[str, float] = {
        f"p{p}": round(float(np.percentile(a, p)), 2) if a.size else 0.0 for p in points}
    if mean:
        out["mean"] = round(float(a.mean()), 2) if a.size else 0.0
    out["n"] = int(a.size)
    return out


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]],
                   fmt: Callable[[Any], str] = str) -> str:
    """A markdown table; ``fmt`` turns each cell into text."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A progress bar on stderr (a no-op when not ``enabled``); use it as a context manager."""
    from tqdm import tqdm  # lazy: only a running eval needs tqdm, not its importers

    return tqdm(total=total, desc=desc, unit="q", file=sys.stderr, disable=not enabled,
                leave=False)
