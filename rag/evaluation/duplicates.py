"""Is a reviewed question already in a set? Same text after folding, or a near paraphrase.

Two checks, cheapest first:

1. **Same text**: equal after :func:`fold` (NFKC, no whitespace, no punctuation, lower case),
   so "海珠区算法备案项目有多少个？" and "海珠区 算法备案项目有多少个" are one question. It is
   refused outright.
2. **Near duplicate**: the cosine of the two e5 query vectors is at least ``NEAR_THRESHOLD``,
   the questions do not name different numbers ("2025年" against "2026年"), and the answers
   agree (:func:`same_answer`). It is flagged; the reviewer may still save it.

Why the answer must agree: measured with the real e5-small on 75 hand-written pairs
(``eval/duplicate_pairs.jsonl``: 35 duplicates: paraphrases, typos, English against
Chinese; 40 different questions: another year, another place, another figure of the same
topic, unrelated), question vectors do not tell a paraphrase from another question on the
same topic: paraphrases score 0.887-0.993 (median 0.979), "全国排第几" against "全省排第几"
scores 0.993 and other-figure pairs have a median of 0.964. No threshold separates them
(the best, 0.97 with the number rule, gets 56 of 75 right). So the vectors only find
candidates, at 0.88, which keeps 33 of 35 duplicates (the two missed are English against
Chinese, 0.796 and 0.858) and passes 28 of 40 different pairs (with the number rule), and
the reviewer's answer decides. Re-measure::

    python -m rag.evaluation.duplicates measure eval/duplicate_pairs.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import InputError, RagError
from rag.evaluation.questions import Question
from rag.linefile import read_jsonl
from rag.settings import Settings
from rag.text.patterns import NUMBER_RE, normalize

__all__ = ["NEAR_THRESHOLD", "DuplicateFinder", "Match", "fold", "main", "measure",
           "numbers_conflict", "same_answer"]

# Measured (module docstring): keeps 33 of 35 duplicate pairs; unrelated pairs reach 0.888.
NEAR_THRESHOLD = 0.88


def fold(text: str) -> str:
    """The text two questions must share to be the same question.

    >>> fold("海珠区 算法备案项目有多少个？") == fold("海珠区算法备案项目有多少个")
    True
    """
    return "".join(ch for ch in normalize(text).lower()
                   if not unicodedata.category(ch).startswith(("P", "S")))


def numbers_conflict(a: str, b: str) -> bool:
    """True when both texts name numbers and not the same ones (2025 against 2026)."""
    na, nb = set(NUMBER_RE.findall(normalize(a))), set(NUMBER_RE.findall(normalize(b)))
    return bool(na and nb and na != nb)


@dataclass(frozen=True)
class Match:
    """An existing question that a new one duplicates."""

    kind: str  # "same" (same folded text) or "near" (cosine >= threshold)
    set: str  # which question set holds it, e.g. "reviewed" or "dev"
    id: str
    question: str
    similarity: float


class DuplicateFinder:
    """Finds the existing question a new one duplicates; question vectors are cached."""

    def __init__(self, encoder, threshold: float = NEAR_THRESHOLD) -> None:
        self.encoder = encoder
        self.threshold = threshold
        self._vectors: dict[str, np.ndarray] = {}

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit query vectors of ``texts`` (each text embedded once per finder)."""
        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            for t, v in zip(new, self.encoder.encode(new, kind="query"), strict=True):
                self._vectors[t] = np.asarray(v, dtype=np.float32)
        if not texts:
            return np.zeros((0, getattr(self.encoder, "dim", 1)), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    def find(self, new: Question, existing: Sequence[tuple[str, Question]]) -> Match | None:
        """The existing question ``new`` duplicates, a same-text one first; None when there
        is none. ``existing`` holds (set name, question) pairs."""
        folded = fold(new.question)
        for set_name, q in existing:
            if fold(q.question) == folded:
                return Match("same", set_name, q.id, q.question, 1.0)
        if not existing:
            return None
        sims = self.vectors([q.question for _, q in existing]) @ self.vectors([new.question])[0]
        for i in np.argsort(-sims, kind="stable"):
            set_name, q = existing[int(i)]
            if sims[i] < self.threshold:
                break
            if not numbers_conflict(new.question, q.question) and same_answer(new, q):
                return Match("near", set_name, q.id, q.question, round(float(sims[i]), 4))
        return None


def same_answer(a: Question, b: Question) -> bool:
    """Both refused, or both answered from a shared article with a shared answer key (one
    key folded inside the other: "320" and "320个")."""
    if not (a.answerable and b.answerable):
        return a.answerable == b.answerable
    if not set(a.doc) & set(b.doc):
        return False
    ka, kb = [fold(k) for k in a.answer_keys], [fold(k) for k in b.answer_keys]
    return any(x and y and (x in y or y in x) for x in ka for y in kb)


def measure(pairs: Sequence[dict], encoder) -> dict:
    """Cosines of labelled pairs (``{"a", "b", "same"}``) and, for each candidate threshold,
    how many pairs the finder's rule gets right, with and without the number rule."""
    finder = DuplicateFinder(encoder)
    a = finder.vectors([p["a"] for p in pairs])
    b = finder.vectors([p["b"] for p in pairs])
    sims = np.sum(a * b, axis=1)
    same = np.array([bool(p["same"]) for p in pairs])
    conflict = np.array([numbers_conflict(p["a"], p["b"]) for p in pairs])
    rows = []
    for t in np.round(np.arange(0.80, 0.991, 0.01), 2):
        for rule in (False, True):
            flagged = (sims >= t) & ~(conflict if rule else False)
            rows.append({"threshold": float(t), "number_rule": rule,
                         "correct": int(np.sum(flagged == same)),
                         "missed": int(np.sum(same & ~flagged)),
                         "false_flags": int(np.sum(~same & flagged))})
    by_kind: dict[str, list[float]] = {}
    for p, s in zip(pairs, sims, strict=True):
        by_kind.setdefault(f"{'same' if p['same'] else 'different'}:{p.get('kind', '')}",
                           []).append(round(float(s), 4))
    return {"n": len(pairs), "same": int(same.sum()), "thresholds": rows,
            "by_kind": {k: {"min": min(v), "median": float(np.median(v)), "max": max(v)}
                        for k, v in sorted(by_kind.items())},
            "pairs": [{**p, "cosine": round(float(s), 4)} for p, s in zip(pairs, sims,
                                                                         strict=True)]}


def _read_pairs(path: Path) -> list[dict]:
    pairs = read_jsonl(path)
    if not pairs or not all({"a", "b", "same"} <= set(p) for p in pairs):
        raise InputError(f"{path} needs one {{\"a\", \"b\", \"same\"}} object per line.")
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rag.evaluation.duplicates measure PAIRS``: cosines and threshold table."""
    ap = argparse.ArgumentParser(prog="python -m rag.evaluation.duplicates",
                                 description=main.__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="measure the near-duplicate threshold on labelled pairs")
    m.add_argument("pairs", type=Path)
    m.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    # Imported here: the encoder factory pulls the model stack, which only measuring needs.
    from rag.models.encoder import get_encoder

    try:
        result = measure(_read_pairs(args.pairs), get_encoder(Settings.load()))
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    print(f"{result['n']} pairs, {result['same']} duplicates")
    for k, v in result["by_kind"].items():
        print(f"  {k:<24} cosine min {v['min']:.3f}  median {v['median']:.3f}  max {v['max']:.3f}")
    print("threshold  number-rule  correct  missed  false-flags")
    for r in result["thresholds"]:
        print(f"  {r['threshold']:.2f}     {'yes' if r['number_rule'] else 'no ':<11}"
              f"{r['correct']:>6}  {r['missed']:>6}  {r['false_flags']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
