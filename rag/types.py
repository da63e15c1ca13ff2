"""Frozen records passed between stages. Plain dicts appear only at file/HTTP boundaries.

The citation contract: every ``start``/``end`` is a character offset into
``Document.text`` (the cleaned text), so ``doc.text[c.start:c.end] == c.text`` for a
chunk and ``doc.text[cit.start:cit.end] == cit.snippet`` for a citation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Answer", "Chunk", "Citation", "DocMeta", "Document", "Hit"]

@dataclass(frozen=True)
class DocMeta:
    """What a user sees beside a citation.

    ``date`` is ISO ``YYYY-MM-DD`` (or ``YYYY-MM`` / ``YYYY`` when only that is known);
    ``date_inferred`` is True when the date was reasoned from the text rather than printed
    in it, and ``date_note`` says how.
    """

    doc_id: str
    title: str
    date: str | None = None
    date_inferred: bool = False
    date_note: str = ""
    source: str = ""  # publisher / outlet, e.g. "经济日报"
    author: str = ""
    url: str = ""
    region: str = ""  # e.g. "海珠区"; helps users see which district an article is about
    file: str = ""  # file name in corpus/

    def year(self) -> int | None:
        """Publication year, used to resolve 今年/去年/明年 in this article."""
        return int(self.date[:4]) if self.date and self.date[:4].isdigit() else None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Document:
    """One article: its cleaned canonical text and metadata.

    ``paragraphs`` are (start, end) spans of ``text``; ``sentences`` likewise. Both are
    derived by ``rag.clean`` and stored so later stages never re-split differently.
    """

    doc_id: str
    text: str
    meta: DocMeta
    paragraphs: tuple[tuple[int, int], ...] = ()
    sentences: tuple[tuple[int, int], ...] = ()
    raw_sha256: str = ""

    @property
    def title(self) -> str:
        return self.meta.title


@dataclass(frozen=True)
class Chunk:
    """A passage of one document. ``text == document.text[start:end]``."""

    chunk_id: str  # "<doc_id>#<n>"
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the per-method scores behind it."""

    chunk: Chunk
    score: float
    rank: int  # 1-based
    method: str = "hybrid"
    details: tuple[tuple[str, float], ...] = ()  # e.g. (("dense", 0.83), ("bm25", 11.2))


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer; ``snippet == doc.text[start:end]``."""

    n: int
    doc_id: str
    title: str
    date: str | None
    source: str
    start: int
    end: int
    snippet: str
    chunk_id: str = ""
    date_inferred: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """The answer shown to the user.

    ``text`` carries inline markers ``[n]`` that refer to ``citations``. When ``refused``
    is True, ``text`` says the articles do not contain the answer and ``related`` holds the
    closest passages, shown as "possibly related".
    """

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    mode: str = "extractive"  # or "llm"
    note: str = ""  # e.g. "LLM timed out; extractive answer shown"
    related: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    timings_ms: tuple[tuple[str, float], ...] = field(default=())
    confidence: float = 0.0  # evidence strength the refusal decision was based on
