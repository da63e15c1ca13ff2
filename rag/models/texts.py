"""What every encoder accepts: a list of texts and a kind (``query`` or ``passage``).

Example::

    >>> as_list(("海珠", "南沙"))
    ['海珠', '南沙']
    >>> check_kind("query")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rag.errors import InputError

__all__ = ["KINDS", "Kind", "as_list", "check_kind"]

Kind = Literal["query", "passage"]
KINDS = ("query", "passage")


def check_kind(kind: str) -> None:
    """Raise InputError unless ``kind`` is ``query`` or ``passage``."""
    if kind not in KINDS:
        raise InputError(f"Encoding kind must be 'query' or 'passage', not {kind!r}.")


def as_list(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list; a bare string is refused rather than encoded per character."""
    # A bare string is a Sequence[str] too; encoding it character by character is never meant.
    if isinstance(texts, str):
        raise InputError("encode() takes a list of texts, not a single string; wrap it in a list.")
    return list(texts)
