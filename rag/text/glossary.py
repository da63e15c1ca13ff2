"""English questions meet Chinese articles: the Chinese names of an English query's terms.

Keyword search cannot match English words against Chinese articles; the glossary
(``rag/text/data/glossary.tsv``: districts, parks, organisations, policy terms) bridges it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

from rag.text.patterns import is_english

__all__ = ["english_terms", "expand_english"]


@cache  # read once per process, on the first English query
def _glossary() -> tuple[tuple[re.Pattern, str], ...]:
    rows = []
    text = (resources.files("rag.text") / "data" / "glossary.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        en, zh = line.split("\t", 1)
        rows.append((re.compile(rf"(?<![a-z]){re.escape(en.strip())}(?![a-z])"), zh.strip()))
    # Longest terms first, so "large model" wins over "model".
    rows.sort(key=lambda r: -len(r[0].pattern))
    return tuple(rows)


def expand_english(query: str, names: Iterable[str] = ()) -> str:
    """Append the Chinese names of domain terms an English query uses.

    ``expand_english("Nansha AI subsidy")`` -> ``"Nansha AI subsidy 南沙 人工智能 补贴 扶持"``.
    ``names`` (the corpus words the query spells in pinyin, ``TypoCorrector.pinyin_names``)
    are appended too. Chinese queries are returned unchanged.
    """
    if not is_english(query):
        return query
    low = query.lower()
    added: list[str] = []
    for pat, zh in _glossary():
        if pat.search(low):
            low = pat.sub(" ", low)  # a phrase consumed by a longer term is not matched again
            added.extend(w for w in zh.split() if w not in added)
    added.extend(w for w in names if w not in added)
    return f"{query} {' '.join(added)}" if added else query


def english_terms(query: str) -> list[tuple[str, ...]]:
    """The Chinese words of each glossary term an English query uses, one tuple per term
    (``"annual output"`` -> ``[("年",), ("产值", "产量")]``): alternatives for one thing asked."""
    low = query.lower()
    out = []
    for pat, zh in _glossary():
        if pat.search(low):
            low = pat.sub(" ", low)
            out.append(tuple(zh.split()))
    return out
