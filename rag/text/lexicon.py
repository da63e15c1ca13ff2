"""Word classes from ``data/lexicon.tsv``: measures named alike, plan and result markers, and
words too general to name what a question asks. Read once, on first use.

    >>> LEXICON.same_measure("挣", "营收"), LEXICON.same_measure("营收", "年龄")
    (True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

__all__ = ["LEXICON", "Lexicon"]


@dataclass
class Lexicon:
    """The classes of the lexicon file, by kind."""

    path: str = "lexicon.tsv"
    _classes: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    @cached_property
    def classes(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """kind -> class name -> words."""
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        text = (resources.files("rag.text") / "data" / self.path).read_text(encoding="utf-8")
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            kind, name, words = line.split("\t")[:3]
            out.setdefault(kind, {})[name] = tuple(words.split())
        return out

    @cached_property
    def measure_of(self) -> dict[str, frozenset[str]]:
        """word -> the measure classes it names."""
        out: dict[str, set[str]] = {}
        for name, words in self.classes.get("measure", {}).items():
            for w in words:
                out.setdefault(w, set()).add(name)
        return {w: frozenset(v) for w, v in out.items()}

    @cached_property
    def generic(self) -> frozenset[str]:
        """Question words and words too general to name a measure."""
        return frozenset(w for ws in self.classes.get("generic", {}).values() for w in ws)

    @cached_property
    def _words(self) -> dict[str, tuple[str, ...]]:
        return {kind: tuple(sorted({w for ws in names.values() for w in ws},
                                   key=lambda w: (-len(w), w)))
                for kind, names in self.classes.items()}

    def words(self, kind: str) -> tuple[str, ...]:
        """Every word of ``kind`` ("plan", "result"), longest first (sorted once)."""
        return self._words.get(kind, ())

    def same_measure(self, a: str, b: str) -> bool:
        """Do ``a`` and ``b`` name the same measure (one class holds both)?"""
        return bool(self.measure_of.get(a, frozenset()) & self.measure_of.get(b, frozenset()))

    def measure_classes(self, word: str) -> frozenset[str]:
        """The measure classes ``word`` names (empty when it names none)."""
        return self.measure_of.get(word, frozenset())


LEXICON = Lexicon()
