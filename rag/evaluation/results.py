"""What one eval run produces: ranked chunks per question, and the TREC run files.

A run file has one line per ranked chunk, ``qid Q0 chunk_id rank score tag``::

    q001 Q0 000_e71591340c5b937c#3 1 0.912345 rag-hybrid
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EvalResult", "Ranked", "canonical_order", "write_trec"]


@dataclass(frozen=True)
class Ranked:
    """One ranked chunk as the metrics and run files see it."""

    chunk_id: str
    doc_id: str
    text: str
    score: float


@dataclass
class EvalResult:
    """Everything one run produced; ``summary`` is what must be reproducible."""

    summary: dict
    latency: dict
    runs: dict[str, dict[str, list[Ranked]]] = field(default_factory=dict)
    answers: list[dict] = field(default_factory=list)
    answers_llm: list[dict] = field(default_factory=list)  # rag eval --llm


def canonical_order(ranked: Iterable[Ranked]) -> list[Ranked]:
    """Sort by ``(-score, chunk_id)``: the run-file convention, so ties never depend on
    the order an index happened to return them in."""
    return sorted(ranked, key=lambda r: (-r.score, r.chunk_id))


def write_trec(path: Path, runs: Mapping[str, Sequence[Ranked]], tag: str) -> None:
    """Write a TREC run file ``qid Q0 chunk_id rank score tag``, ties broken by
    ``(-score, chunk_id)``; questions in the order given."""
    lines = []
    for qid, ranked in runs.items():
        for rank, r in enumerate(canonical_order(ranked), start=1):
            lines.append(f"{qid} Q0 {r.chunk_id} {rank} {r.score:.6f} {tag}\n")
    Path(path).write_text("".join(lines), encoding="utf-8")
