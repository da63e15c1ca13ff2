"""What every bench step measures with: timers, memory, latency figures, ANN recall, and the
targets the figures are judged against.

    >>> latency_stats([1, 2, 3, 4])
    {'p50': 2.5, 'p95': 3.85, 'p99': 3.97, 'mean': 2.5, 'n': 4}
    >>> ann_recall_at_k([[1, 2]], [[2, 3]], 2)
    0.5
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.common import percentiles

__all__ = ["ALT_HYBRID_QUESTIONS", "RECALL_K", "SCALE_TARGET_N", "SERVING_QUESTIONS", "TARGETS",
           "ann_recall_at_k", "latency_stats", "loadavg", "log_progress", "memory_mb", "process_rss_mb", "ratio",
           "timed"]

RECALL_K = 10
SERVING_QUESTIONS = 10
ALT_HYBRID_QUESTIONS = 40  # the non-configured ANN's hybrid run is a comparison: a sample
TARGETS = {
    "serving_rss_mb": 1536,  # five articles, serving process
    "scale_hybrid_p50_ms": 100,  # at 100k chunks
    "scale_rss_mb": 4096,  # at 100k chunks
}
SCALE_TARGET_N = 100_000


def latency_stats(values: Sequence[float]) -> dict[str, float]:
    """The bench's latency figures in ms: p50, p95, p99, mean and n."""
    return percentiles(values, (50, 95, 99), mean=True)


def process_rss_mb(pid: int | str) -> dict[str, float]:
    """VmRSS / VmHWM of a process (``"self"`` for this one) in MB; empty where /proc is not
    there."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key.lower() + "_mb"] = round(int(val.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def memory_mb() -> dict[str, float]:
    """This process's current and peak resident memory in MB (``/proc/self/status``, with
    ``getrusage`` as the portable peak where there is no /proc)."""
    out = {"ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           **process_rss_mb("self")}
    out.setdefault("vmhwm_mb", out["ru_maxrss_mb"])
    out.setdefault("vmrss_mb", out["ru_maxrss_mb"])
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and how long it took in ms."""
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1000


def log_progress(msg: str) -> None:
    """A timestamped progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    """The 1/5/15-minute load average, [] where the OS has none."""
    # Other work on the machine inflates every latency; the report says how busy it was.
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def ratio(a: float, b: float) -> float:
    """``a / b`` to three decimals, 0.0 when ``b`` is 0."""
    return round(a / b, 3) if b else 0.0


def ann_recall_at_k(approx_ids, exact_ids, k: int = RECALL_K) -> float:
    """ANN recall: the mean share of the exact search's top ``k`` (as a set) that the
    approximate search also returned. Not the eval's evidence recall."""
    hits = []
    for a, e in zip(approx_ids, exact_ids, strict=True):
        want = set(np.asarray(e[:k]).tolist())
        hits.append(len(set(np.asarray(a[:k]).tolist()) & want) / max(1, len(want)))
    return round(float(np.mean(hits)), 4) if hits else 0.0
