"""Fusing ranked lists of several methods into one (rows, fused score, per-method scores).

``weighted``: each method's scores min-max normalised over its candidates, then summed with the
method's weight; it beat reciprocal rank fusion (``rrf``: sum of ``w / (k + rank)``) on the
eval. A single method keeps its own scores, which mean more than ranks.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Fused", "fuse"]

# (row, fused score, (("bm25", raw), ("dense", raw), ...)) sorted by (-score, row)
Fused = list[tuple[int, float, tuple[tuple[str, float], ...]]]


def fuse(ranked: dict[str, list[tuple[int, float]]], weights: dict[str, float],
         fusion: str = "weighted", rrf_k: int = 60) -> Fused:
    """Fuse ``ranked`` (method -> [(row, raw score)] best first); ties broken by row.

    >>> fuse({"dense": [(3, 0.9), (1, 0.5)], "bm25": [(1, 7.0)]}, {"dense": 1, "bm25": 1})[0][:2]
    (1, 1.0)
    """
    total: dict[int, float] = {}
    details: dict[int, dict[str, float]] = {}
    for m, lst in ranked.items():
        if not lst:
            continue
        if fusion == "rrf" or len(ranked) == 1:
            contrib = [(row, weights[m] / (rrf_k + r)) for r, (row, _) in enumerate(lst, start=1)]
            if len(ranked) == 1:  # single method: keep its own score, it means more
                contrib = lst
        else:
            vals = np.array([s for _, s in lst])
            lo, hi = float(vals.min()), float(vals.max())
            contrib = [(row, weights[m] * ((s - lo) / (hi - lo) if hi > lo else 1.0))
                       for row, s in lst]
        for (row, c), (_, raw) in zip(contrib, lst, strict=True):
            total[row] = total.get(row, 0.0) + c
            details.setdefault(row, {})[m] = round(raw, 4)
    order = sorted(total, key=lambda r: (-total[r], r))
    return [(r, total[r], tuple(sorted(details[r].items()))) for r in order]
