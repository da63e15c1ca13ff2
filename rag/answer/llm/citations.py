"""Checking an LLM answer's ``[n]`` markers against the passages.

Small local models cite the wrong passage number now and then, so every marker is checked
after generation: a marker must point at a passage that holds the figures of the sentence it
ends.

    >>> ps = [Passage(1, "d1", "某区", "2026-03", "", 0, 12, "新增备案项目超200个", "d1#0")]
    >>> validate_citations("目标是超200个[2]。", ps)
    ('目标是超200个[1]。', [1])
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.llm.prompt import Passage
from rag.text.patterns import (
    ANSWER_SENTENCE_END,
    BARE_NUMBER,
    FIGURE_PARTS,
    has_cjk,
    holds_figure,
    is_year_number,
)

__all__ = ["renumber", "validate_citations"]

# Citation markers as models write them: [1], [1,2], 【1】, [1][2].
_MARKERS = re.compile(r"(?:\s*[\[【]\s*\d+(?:\s*[,,、]\s*\d+)*\s*[\]】])+")


def _plain(text: str) -> str:
    # NFKC folds full-width digits and units; thousands separators would split a number.
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", unicodedata.normalize("NFKC", text))


def _figures(text: str) -> list[tuple[str, str]]:
    """Figures of an answer sentence as ``(number, unit)``, unit "" for English ones."""
    text = _plain(text)
    found = [(m.group(1), m.group(2)) for m in FIGURE_PARTS.finditer(text)]
    if not found and not has_cjk(text):
        found = [(m.group(1), "") for m in BARE_NUMBER.finditer(text)
                 if not is_year_number(m.group(1))]
    return list(dict.fromkeys(found))


def _holds(passage_text: str, fig: tuple[str, str]) -> bool:
    return holds_figure(_plain(passage_text), *fig)


@dataclass
class _Piece:
    body: str
    markers: list[int]
    tail: str


def _split(answer: str) -> list[_Piece]:
    """Split into pieces that each end at a marker group or at sentence punctuation."""
    pieces: list[_Piece] = []
    pos, buf = 0, ""
    for m in re.finditer(f"({_MARKERS.pattern})|({ANSWER_SENTENCE_END.pattern})", answer):
        buf += answer[pos:m.start()]
        pos = m.end()
        if m.group(1):
            nums = [int(x) for x in re.findall(r"\d+", m.group(1))]
            if not buf.strip() and pieces:  # "…个。[1]": the marker ends the last sentence
                pieces[-1].markers += nums
            else:
                pieces.append(_Piece(buf.rstrip(), nums, ""))
            buf = ""
        else:
            if not buf.strip() and pieces:
                pieces[-1].tail += buf + m.group(2)
            else:
                pieces.append(_Piece(buf, [], m.group(2)))
            buf = ""
    buf += answer[pos:]
    if buf:
        pieces.append(_Piece(buf, [], ""))
    return pieces


def _cover(figs: list[tuple[str, str]], markers: list[int],
           by_n: dict[int, Passage]) -> list[int]:
    """The fewest passages holding the sentence's figures; the model's own choice wins ties."""
    holds = {n: {f for f in figs if _holds(p.snippet, f)} for n, p in by_n.items()}
    chosen: list[int] = []
    left = set(figs)
    while left and by_n:
        # Greedy set cover, deterministic: most new figures, then cited by the model, then n.
        best = min(by_n, key=lambda n: (-len(holds[n] & left), n not in markers, n))
        gain = holds[best] & left
        if not gain:
            break  # remaining figures are in no passage: nothing can cite them
        chosen.append(best)
        left -= gain
    return chosen


def validate_citations(answer: str, passages: Sequence[Passage]) -> tuple[str, list[int]]:
    """Fix the ``[n]`` markers of ``answer``; return ``(text, passage numbers cited)``.

    - a marker pointing at no passage is removed;
    - when the sentence a marker ends has figures (numbers with units, "200个",
      "1000万元"), its markers are replaced by the passages that hold those figures (the
      model's choice is kept when it holds them), or removed when no passage does;
    - a sentence with figures and no marker gets the marker of the passage holding them.

    Markers are normalised to ``[n]`` before the sentence punctuation. The cited numbers
    are returned in order of first use. ``"超200个[2]。"`` with 200个 only in passage 1
    becomes ``"超200个[1]。"``.
    """
    by_n = {p.n: p for p in passages}
    out, cited = [], []
    for piece in _split(answer):
        marks = [n for n in dict.fromkeys(piece.markers) if n in by_n]
        figs = _figures(piece.body)
        if figs:
            marks = _cover(figs, marks, by_n)
        body = piece.body.rstrip() if marks else piece.body
        # "projects [1]" in English, "200个[1]" in Chinese.
        sep = " " if marks and body[-1:].isascii() and body[-1:].isalnum() else ""
        out.append(body + sep + "".join(f"[{n}]" for n in marks) + piece.tail)
        cited += [n for n in marks if n not in cited]
    return "".join(out), cited


def renumber(text: str, order: list[int]) -> str:
    new = {old: i for i, old in enumerate(order, 1)}
    return re.sub(r"\[(\d+)\]", lambda m: f"[{new[int(m.group(1))]}]", text)
